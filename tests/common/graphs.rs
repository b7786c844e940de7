//! Models the language cannot write yet, built by hand from ones it can.

use cnnc::model::{CheckOptions, Operand, PoolKind, Shape};
use cnnc::source::Source;
use cnnc::{Layer, LayerKind, Model};

/// A model the language writes, checked (a test's own text: it must check).
pub fn model(src: &str) -> Model {
    cnnc::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap_or_else(|d| panic!("{src}: {d}"))
}

/// Concats of three inputs (one read three times in all, so its gradient
/// is a sum of three), of images and of vectors, before a conv, a dense
/// and a flatten: the cases every test of `concat` runs.
pub fn concat_cases() -> Vec<(&'static str, Model)> {
    [
        (
            "concat images",
            "input 6x6x2; conv 4 3x3 same relu; conv 3 3x3 same tanh; conv 5 1x1 sigmoid; conv 4 1x1 same; dense 3",
            0,
        ),
        (
            "concat vectors",
            "input 5x5x2; conv 3 3x3 relu; dense 4 tanh; dense 5 sigmoid; dense 6 leaky_relu; dense 3",
            2,
        ),
        (
            "concat flatten",
            "input 4x4x2; conv 2 3x3 same; conv 3 1x1 relu; conv 2 1x1 tanh; flatten; dense 3",
            0,
        ),
    ]
    .into_iter()
    .map(|(what, chain, at)| (what, concat(&model(chain), at)))
    .collect()
}

/// Both global pools after a conv with each kind of activation.
pub fn global_pool_cases() -> Vec<(String, Model)> {
    let mut cases = Vec::new();
    for act in ["relu", "sigmoid", "tanh", "linear"] {
        let chain = model(&format!("input 5x4x3; conv 4 3x3 same {act}; flatten; dense 3"));
        for kind in [PoolKind::Avg, PoolKind::Max] {
            cases.push((format!("globalpool {kind:?} {act}"), global_pool(&chain, kind)));
        }
    }
    cases
}

/// Groups of several channels (tiles of 4, 2 and 1 columns), depthwise
/// convolutions (one channel per group), strides, padding and a grouped
/// first layer (no input gradient).
pub fn grouped_cases() -> Vec<(&'static str, Model)> {
    let chain = model(
        "input 6x5x4; conv 8 3x3 same relu; conv 8 3x3 same tanh; conv 4 3x3 stride 2 same sigmoid; conv 4 2x2; dense 3",
    );
    [
        ("groups 2 then 4", [(0, 2), (2, 4)]),
        ("depthwise", [(1, 8), (3, 4)]),
        ("groups 4 then 2", [(1, 2), (2, 2)]),
    ]
    .into_iter()
    .map(|(what, groups)| {
        let m = groups.iter().fold(chain.clone(), |m, &(i, g)| grouped(&m, i, g));
        (what, m)
    })
    .collect()
}

/// From a chain `a; b; c; d…` (with `b` and `c` of one output shape),
/// the graph where `a` feeds both `b` and `c` and `add(b, c)` feeds `d`:
/// `a`'s output has two readers, so its gradient is a sum, and the add's
/// gradient goes to both branches.
pub fn residual(chain: &Model) -> Model {
    let mut m = chain.clone();
    let (b, c) = (&m.layers[1], &m.layers[2]);
    assert_eq!(b.output, c.output, "the two branches must agree in shape");
    m.layers[2].inputs = vec![Operand::Layer(0)];
    m.layers[2].input = m.layers[0].output;
    let add = Layer {
        name: "add1".into(),
        kind: cnnc::kinds::add::Add.into(),
        inputs: vec![Operand::Layer(1), Operand::Layer(2)],
        input: m.layers[1].output,
        output: m.layers[1].output,
        span: m.layers[2].span,
        site: m.layers[2].span,
    };
    m.layers.insert(3, add);
    for layer in &mut m.layers[4..] {
        for operand in &mut layer.inputs {
            if let Operand::Layer(j) = operand {
                *j += 1;
            }
        }
    }
    m.layers[4].inputs = vec![Operand::Layer(3)];
    m
}

/// From a chain whose layers `at`, `at + 1`, `at + 2` are `a; b; c` (with
/// `b` and `c` reading `a`'s shape, and all three of one height and width
/// or all vectors), the graph where `a` feeds `b` and `c`, and
/// `concat(b, c, a)` feeds the layer after `c`: `a`'s gradient sums three
/// readers', and the concat's is split into three slices.
pub fn concat(chain: &Model, at: usize) -> Model {
    let mut m = chain.clone();
    let a = Operand::Layer(at);
    m.layers[at + 2].inputs = vec![a];
    m.layers[at + 2].input = m.layers[at].output;
    let (b, c) = (&m.layers[at + 1], &m.layers[at + 2]);
    let output = match (b.output, c.output, m.layers[at].output) {
        (Shape::Image { h, w, c: c1 }, Shape::Image { c: c2, .. }, Shape::Image { c: c3, .. }) => {
            Shape::Image {
                h,
                w,
                c: c1 + c2 + c3,
            }
        }
        (b, c, a) => Shape::Flat(b.elements() + c.elements() + a.elements()),
    };
    let join = Layer {
        name: "concat1".into(),
        kind: cnnc::kinds::concat::Concat.into(),
        inputs: vec![Operand::Layer(at + 1), Operand::Layer(at + 2), a],
        input: b.output,
        output,
        span: c.span,
        site: c.span,
    };
    m.layers.insert(at + 3, join);
    for layer in &mut m.layers[at + 4..] {
        for operand in &mut layer.inputs {
            if let Operand::Layer(j) = operand {
                *j += 1;
            }
        }
    }
    m.layers[at + 4].inputs = vec![Operand::Layer(at + 3)];
    reader_takes(&mut m, at + 4, output);
    m
}

/// Layer `i` now reads a tensor of shape `input`: a conv or dense keeps its
/// output; a flatten's changes, and so does its reader's input.
fn reader_takes(m: &mut Model, i: usize, input: Shape) {
    m.layers[i].input = input;
    match m.layers[i].kind {
        LayerKind::Conv(_) | LayerKind::Dense(_) => {}
        LayerKind::Flatten(_) => {
            m.layers[i].output = Shape::Flat(input.elements());
            reader_takes(m, i + 1, m.layers[i].output);
        }
        ref kind => panic!("a {kind:?} after the concat would change shape"),
    }
}

/// The chain with its first `flatten` (written or implicit) replaced by a
/// global pool of `kind`: the image becomes its channels, and the dense
/// layer after it reads them.
pub fn global_pool(chain: &Model, kind: PoolKind) -> Model {
    let mut m = chain.clone();
    let i = m
        .layers
        .iter()
        .position(|l| matches!(l.kind, LayerKind::Flatten(_)))
        .expect("a flatten to replace");
    let layer = &mut m.layers[i];
    layer.kind = cnnc::kinds::globalpool::GlobalPool(kind).into();
    layer.name = "globalpool1".into();
    layer.output = Shape::Flat(layer.input.channels());
    let output = layer.output;
    assert!(
        matches!(m.layers[i + 1].kind, LayerKind::Dense(_)),
        "a dense reads it"
    );
    m.layers[i + 1].input = output;
    m
}

/// The chain with conv layer `i` split into `groups` channel groups (its
/// input channels and filters must be multiples of it).
pub fn grouped(chain: &Model, i: usize, groups: usize) -> Model {
    let mut m = chain.clone();
    let ci = m.layers[i].input.channels();
    let LayerKind::Conv(conv) = &mut m.layers[i].kind else {
        panic!("layer {i} is not a conv")
    };
    assert!(
        ci.is_multiple_of(groups) && conv.filters.is_multiple_of(groups),
        "{groups} groups of {ci} -> {}",
        conv.filters
    );
    conv.groups = groups;
    m
}

/// From a chain `a; b…` whose first layer `a` keeps the input's shape, the
/// graph where `add(input, a)` feeds `b`: a layer that reads the model's
/// input beside the first one.
pub fn input_skip(chain: &Model) -> Model {
    let mut m = chain.clone();
    assert_eq!(
        m.input, m.layers[0].output,
        "the first layer must keep the input's shape"
    );
    let add = Layer {
        name: "add1".into(),
        kind: cnnc::kinds::add::Add.into(),
        inputs: vec![Operand::Input, Operand::Layer(0)],
        input: m.input,
        output: m.input,
        span: m.layers[0].span,
        site: m.layers[0].span,
    };
    m.layers.insert(1, add);
    for layer in &mut m.layers[2..] {
        for operand in &mut layer.inputs {
            if let Operand::Layer(j) = operand {
                *j += 1;
            }
        }
    }
    m
}
