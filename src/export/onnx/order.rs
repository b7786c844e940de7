//! Reordering vectors between cnnc's feature order and ONNX's flatten, as
//! nodes, where [`crate::export::layout`] says a layer reads a tensor in
//! another layout than its own (the PyTorch module reorders at the same
//! places).

use super::graph::{Graph, Layout, Value, int, ints};

/// `value` as vectors `[N, F]` laid out as `want` (one of the flat
/// layouts), with the nodes that reorder it when it is not already so.
pub fn as_flat(g: &mut Graph, value: &Value, want: Layout) -> Value {
    // An image read as an image, or vectors already in order.
    if value.layout == want {
        return value.clone();
    }
    // A tensor that several layers read is reordered once.
    let key = (value.name.clone(), want);
    if let Some(done) = g.reordered.get(&key) {
        return done.clone();
    }
    let name = value.name.as_str();
    let reordered = match (value.layout, want) {
        (Layout::Nchw { .. }, Layout::ChannelsFirst { .. }) => flatten(g, name, want),
        (Layout::Nchw { .. }, Layout::Features(_)) => {
            let nhwc = g.node(
                "Transpose",
                &format!("{name}_nhwc"),
                &[name],
                vec![ints("perm", &[0, 2, 3, 1])],
                value.layout,
            );
            flatten(g, &nhwc.name, want)
        }
        (Layout::ChannelsFirst { h, w, c }, Layout::Features(_)) => {
            let image = reshape(g, name, "nchw", [c, h, w], Layout::Nchw { h, w, c });
            as_flat(g, &image, want)
        }
        (Layout::Features(_), Layout::ChannelsFirst { h, w, c }) => {
            let hwc = reshape(g, name, "hwc", [h, w, c], Layout::Nchw { h, w, c });
            let nchw = g.node(
                "Transpose",
                &format!("{name}_nchw"),
                &[&hwc.name],
                vec![ints("perm", &[0, 3, 1, 2])],
                Layout::Nchw { h, w, c },
            );
            flatten(g, &nchw.name, want)
        }
        (from, to) => unreachable!("no reordering from {from:?} to {to:?}"),
    };
    g.reordered.insert(key, reordered.clone());
    reordered
}

fn flatten(g: &mut Graph, input: &str, layout: Layout) -> Value {
    g.node(
        "Flatten",
        &format!("{input}_flat"),
        &[input],
        vec![int("axis", 1)],
        layout,
    )
}

/// `[N, F]` as `[N, a, b, c]` (the batch copied: a 0 in the shape).
fn reshape(g: &mut Graph, input: &str, suffix: &str, dims: [usize; 3], layout: Layout) -> Value {
    let name = format!("{input}_{suffix}");
    let [a, b, c] = dims.map(|d| d as i64);
    let shape = g.int64s(&format!("{name}.shape"), &[0, a, b, c]);
    g.node("Reshape", &name, &[input, &shape], Vec::new(), layout)
}
