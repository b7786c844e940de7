//! Each layer kind as ONNX nodes: one function per kind, and the
//! activations in one table ([`activation_op`]). Node names follow the
//! layer names of `cnnc summary` and the PyTorch export: a layer's main
//! node is named after it (`conv1`), the activation it carries after both
//! (`conv1_relu`), and every node's one output is a value of its own name.

use super::graph::{Graph, Layout, Value, float, int, ints};
use crate::model::keras::{BATCHNORM_EPSILON, LEAKY_SLOPE};
use crate::model::{Activation, Conv, Layer, LayerKind, Model, Pool, PoolKind};

/// Adds the nodes of `model.layers[index]`, which reads `inputs` (one
/// value per operand); returns its output: after its activation, less a
/// `softmax`, which can only end a model and is the probabilities' own
/// (see [`super::to_proto`]).
pub(super) fn lower(g: &mut Graph, model: &Model, index: usize, inputs: &[Value]) -> Value {
    let layer = &model.layers[index];
    let x = &inputs[0];
    let out = match &layer.kind {
        LayerKind::Conv(c) => conv(g, layer, c, x),
        LayerKind::Pool(p) => pool(g, layer, p, x),
        LayerKind::Dense(_) => dense(g, model, index, x),
        LayerKind::Flatten { .. } => flatten(g, layer, x),
        LayerKind::Dropout { .. } => identity(g, &layer.name, x),
        LayerKind::BatchNorm => batchnorm(g, model, index, x),
        // An activation layer is its activation alone.
        LayerKind::Activation(a) => {
            return apply(g, &layer.name, *a, x).unwrap_or_else(|| identity(g, &layer.name, x));
        }
        LayerKind::Add => add(g, layer, inputs),
        LayerKind::Concat => concat(g, layer, inputs),
        LayerKind::GlobalPool(kind) => globalpool(g, layer, *kind, x),
    };
    let a = layer.activation();
    apply(g, &format!("{}_{}", layer.name, a.keyword()), a, &out).unwrap_or(out)
}

/// The ONNX operator of an activation, with its attributes; none for
/// `linear` and `softmax` (the latter is the probabilities').
fn activation_op(a: Activation) -> Option<(&'static str, Vec<super::proto::AttributeProto>)> {
    match a {
        Activation::Linear | Activation::Softmax => None,
        Activation::Relu => Some(("Relu", Vec::new())),
        Activation::LeakyRelu => Some(("LeakyRelu", vec![float("alpha", LEAKY_SLOPE)])),
        Activation::Sigmoid => Some(("Sigmoid", Vec::new())),
        Activation::Tanh => Some(("Tanh", Vec::new())),
    }
}

/// `x` through activation `a` as node `name`, or None where `a` adds no node.
fn apply(g: &mut Graph, name: &str, a: Activation, x: &Value) -> Option<Value> {
    let (op, attributes) = activation_op(a)?;
    Some(g.node(op, name, &[&x.name], attributes, x.layout))
}

fn identity(g: &mut Graph, name: &str, x: &Value) -> Value {
    g.node("Identity", name, &[&x.name], Vec::new(), x.layout)
}

/// With explicit `pads` (top, left, bottom, right), never `auto_pad`:
/// TensorFlow's `same` with a stride pads the odd pixel after, which
/// ONNX's `SAME_UPPER` matches only by its own arithmetic, so the numbers
/// cnnc trained with are written out.
fn conv(g: &mut Graph, layer: &Layer, c: &Conv, x: &Value) -> Value {
    let name = &layer.name;
    let [[top, bottom], [left, right]] = c.pads(layer.input);
    let weight = g.weight(&format!("{name}.weight"));
    let bias = g.weight(&format!("{name}.bias"));
    let attributes = vec![
        ints("kernel_shape", &c.kernel),
        ints("strides", &[c.stride, c.stride]),
        ints("pads", &[top, left, bottom, right]),
        int("group", c.groups as i64),
    ];
    g.node(
        "Conv",
        name,
        &[&x.name, &weight, &bias],
        attributes,
        Layout::of(layer.output),
    )
}

/// cnnc pools without padding (Keras's `valid`), flooring the output size,
/// as ONNX does by default (`ceil_mode` 0, no `pads`).
fn pool(g: &mut Graph, layer: &Layer, p: &Pool, x: &Value) -> Value {
    let op = match p.kind {
        PoolKind::Max => "MaxPool",
        PoolKind::Avg => "AveragePool",
    };
    let attributes = vec![
        ints("kernel_shape", &p.window),
        ints("strides", &[p.stride, p.stride]),
    ];
    g.node(op, &layer.name, &[&x.name], attributes, Layout::of(layer.output))
}

/// `Gemm` with the saved `[out, in]` weight, transposed (`transB`); its
/// input arrives in the order the saved weight expects.
fn dense(g: &mut Graph, model: &Model, index: usize, x: &Value) -> Value {
    let layer = &model.layers[index];
    let weight = g.weight(&format!("{}.weight", layer.name));
    let bias = g.weight(&format!("{}.bias", layer.name));
    g.node(
        "Gemm",
        &layer.name,
        &[&x.name, &weight, &bias],
        vec![int("transB", 1)],
        Layout::of(layer.output),
    )
}

/// An image flattens channel first (see [`super::order`]); vectors pass.
fn flatten(g: &mut Graph, layer: &Layer, x: &Value) -> Value {
    match x.layout {
        Layout::Nchw { h, w, c } => g.node(
            "Flatten",
            &layer.name,
            &[&x.name],
            vec![int("axis", 1)],
            Layout::ChannelsFirst { h, w, c },
        ),
        _ => identity(g, &layer.name, x),
    }
}

/// Inference form: the running statistics, Keras's ε; vectors arrive in
/// the order the saved statistics expect.
fn batchnorm(g: &mut Graph, model: &Model, index: usize, x: &Value) -> Value {
    let layer = &model.layers[index];
    let inputs: Vec<String> = ["weight", "bias", "running_mean", "running_var"]
        .iter()
        .map(|t| g.weight(&format!("{}.{t}", layer.name)))
        .collect();
    let mut names = vec![x.name.as_str()];
    names.extend(inputs.iter().map(String::as_str));
    g.node(
        "BatchNormalization",
        &layer.name,
        &names,
        vec![float("epsilon", BATCHNORM_EPSILON)],
        x.layout,
    )
}

/// ONNX's variadic `Sum` (vectors arrive in cnnc's order).
fn add(g: &mut Graph, layer: &Layer, inputs: &[Value]) -> Value {
    let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
    g.node("Sum", &layer.name, &names, Vec::new(), Layout::of(layer.output))
}

/// Along the channels (axis 1 of NCHW), or end to end for vectors.
fn concat(g: &mut Graph, layer: &Layer, inputs: &[Value]) -> Value {
    let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
    g.node(
        "Concat",
        &layer.name,
        &names,
        vec![int("axis", 1)],
        Layout::of(layer.output),
    )
}

/// A global pool gives `[N, C, 1, 1]`; a `Flatten` makes it cnnc's `[N, C]`.
fn globalpool(g: &mut Graph, layer: &Layer, kind: PoolKind, x: &Value) -> Value {
    let op = match kind {
        PoolKind::Max => "GlobalMaxPool",
        PoolKind::Avg => "GlobalAveragePool",
    };
    let pooled = g.node(
        op,
        &format!("{}_pool", layer.name),
        &[&x.name],
        Vec::new(),
        Layout::Nchw {
            h: 1,
            w: 1,
            c: layer.output.channels(),
        },
    );
    g.node(
        "Flatten",
        &layer.name,
        &[&pooled.name],
        vec![int("axis", 1)],
        Layout::of(layer.output),
    )
}
