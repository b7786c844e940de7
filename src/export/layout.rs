//! Feature order in the exports that keep images NCHW, as PyTorch does
//! (the ONNX graph, the PyTorch module): one account of where each tensor
//! is in which order, and so of where a flattened vector must be reordered,
//! which both exports follow.
//!
//! cnnc keeps images NHWC, so its flatten orders an image's features row,
//! column, channel; an NCHW flatten (ONNX's `Flatten`, PyTorch's
//! `nn.Flatten`) orders them channel, row, column. cnnc's saved dense and
//! batchnorm tensors after a flatten are already in the latter order
//! ([`crate::weights::flattened_image`] says where), so a flatten exports
//! as a plain flatten; any other reader of such vectors (a concat, an add,
//! the scores) must get them back in cnnc's order.

use crate::model::{LayerKind, Model, Operand, Shape};

/// How a tensor's values lie in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// An image, `[N, C, H, W]`.
    Nchw { h: usize, w: usize, c: usize },
    /// Vectors `[N, F]` in cnnc's feature order: an image's features row,
    /// column, channel (NHWC), a dense layer's in its units' order.
    Features(usize),
    /// Vectors `[N, H·W·C]` flattened from an NCHW image (channel, row,
    /// column), as ONNX's and PyTorch's flatten order them and as cnnc's
    /// saved dense and batchnorm tensors expect after a flatten.
    ChannelsFirst { h: usize, w: usize, c: usize },
}

impl Layout {
    /// The layout an export gives a tensor of this shape, flat ones in
    /// cnnc's order.
    pub fn of(shape: Shape) -> Layout {
        match shape {
            Shape::Image { h, w, c } => Layout::Nchw { h, w, c },
            Shape::Flat(n) => Layout::Features(n),
        }
    }

    /// Values per sample.
    pub fn elements(self) -> usize {
        match self {
            Layout::Nchw { h, w, c } | Layout::ChannelsFirst { h, w, c } => h * w * c,
            Layout::Features(n) => n,
        }
    }
}

/// Where every tensor of a model is in which layout, in an export.
#[derive(Debug, Clone, PartialEq)]
pub struct Layouts {
    /// For each layer, the layout in which it reads each of its inputs:
    /// where that differs from the input's own layout, the export reorders.
    pub reads: Vec<Vec<Layout>>,
    /// Each layer's output (after its activation).
    pub outputs: Vec<Layout>,
    /// The scores, which are cnnc's classes in cnnc's order.
    pub scores: Layout,
}

impl Layouts {
    /// The layout of a tensor.
    pub fn of(&self, model: &Model, operand: Operand) -> Layout {
        match operand {
            Operand::Input => Layout::of(model.input),
            Operand::Layer(j) => self.outputs[j],
        }
    }

    /// Whether an export must reorder anything: a layer that reads a
    /// tensor in another layout, or scores that are not in cnnc's order.
    pub fn reorders(&self, model: &Model) -> bool {
        let last = self.outputs.last().copied().unwrap_or(Layout::of(model.input));
        last != self.scores
            || model.layers.iter().zip(&self.reads).any(|(layer, reads)| {
                layer
                    .inputs
                    .iter()
                    .zip(reads)
                    .any(|(&o, &read)| self.of(model, o) != read)
            })
    }
}

/// The layouts of `model`'s tensors in an export that keeps images NCHW.
pub fn layouts(model: &Model) -> Layouts {
    let mut layouts = Layouts {
        reads: Vec::with_capacity(model.layers.len()),
        outputs: Vec::with_capacity(model.layers.len()),
        scores: Layout::Features(model.output().elements()),
    };
    for (i, layer) in model.layers.iter().enumerate() {
        let given: Vec<Layout> = layer.inputs.iter().map(|&o| layouts.of(model, o)).collect();
        let (reads, output) = layer_layouts(model, i, given);
        layouts.reads.push(reads);
        layouts.outputs.push(output);
    }
    layouts
}

/// What layer `i` reads its inputs (`given` in these layouts) in, and what
/// its output is in.
fn layer_layouts(model: &Model, i: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
    let layer = &model.layers[i];
    let x = given[0];
    match &layer.kind {
        // Images stay NCHW; a global pool's vector of channels has one order.
        LayerKind::Conv(_) | LayerKind::Pool(_) | LayerKind::GlobalPool(_) => {
            (given, Layout::of(layer.output))
        }
        LayerKind::Dense(_) => (vec![saved_feature_order(model, i)], Layout::of(layer.output)),
        LayerKind::Flatten { .. } => match x {
            Layout::Nchw { h, w, c } => (given, Layout::ChannelsFirst { h, w, c }),
            flat => (given, flat),
        },
        // Elementwise on each value: any order does.
        LayerKind::Dropout { .. } | LayerKind::Activation(_) => (given, x),
        LayerKind::BatchNorm => match layer.input {
            Shape::Image { .. } => (given, x),
            Shape::Flat(_) => {
                let order = saved_feature_order(model, i);
                (vec![order], order)
            }
        },
        // Vectors line up in cnnc's order, whatever made them.
        LayerKind::Add | LayerKind::Concat => {
            let reads = given
                .into_iter()
                .map(|l| match l {
                    Layout::Nchw { .. } => l,
                    flat => Layout::Features(flat.elements()),
                })
                .collect();
            (reads, Layout::of(layer.output))
        }
    }
}

/// The flat layout in which the saved tensors of `model.layers[index]` (a
/// dense or batchnorm on vectors) expect their input features.
fn saved_feature_order(model: &Model, index: usize) -> Layout {
    match crate::weights::flattened_image(model, index) {
        Some((h, w, c)) => Layout::ChannelsFirst { h, w, c },
        None => Layout::Features(model.layers[index].input.elements()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckOptions;
    use crate::source::Source;

    fn model(text: &str) -> Model {
        crate::load(&Source::new("m.cnn", text), &CheckOptions::default()).unwrap()
    }

    #[test]
    fn flattened_vectors_are_reordered_where_something_else_reads_them() {
        // A dense reads a flatten in the saved order: nothing to reorder.
        let chain = model("input 4x4x2; conv 2 1x1; flatten; dense 3");
        assert!(!layouts(&chain).reorders(&chain));
        // An add of two flattens, and scores that are a flatten.
        let m = model(
            "input 8x8x3; x: conv 2 1x1; fa: flatten; conv 8 3x3 stride 2 same from x; flatten; add fa; dense 3",
        );
        let l = layouts(&m);
        assert!(l.reorders(&m));
        let add = m.layers.iter().position(|l| l.kind == LayerKind::Add).unwrap();
        assert_eq!(l.reads[add], vec![Layout::Features(128); 2]);
        let last = model("input 2x1x2; conv 2 1x1; flatten");
        let l = layouts(&last);
        assert_eq!(l.outputs[1], Layout::ChannelsFirst { h: 2, w: 1, c: 2 });
        assert_eq!(l.scores, Layout::Features(4));
        assert!(l.reorders(&last));
    }
}
