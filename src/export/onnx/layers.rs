//! Each layer as ONNX nodes: the kind's own (its [`Lower`]), then the
//! activation it carries, from the activation's row. Node names follow the
//! layer names of `cnnc summary` and the PyTorch export: a layer's main
//! node is named after it (`conv1`), the activation it carries after both
//! (`conv1_relu`), and every node's one output is a value of its own name.

use super::graph::{ActivationSink, Graph, Layout, Value};
use super::order::as_flat;
use crate::activation::Activation;
use crate::model::{KindRule, Model, Registry, Shape};

/// How one layer kind is written as ONNX nodes: implemented by each kind's
/// settings type, for its own layers.
pub trait Lower<K: Registry> {
    /// Adds the nodes of `model.layers[index]`, which reads `inputs` (one
    /// value per operand); returns its output before its activation.
    fn onnx(&self, g: &mut Graph, model: &Model<K>, index: usize, inputs: &[Value]) -> Value;
}

/// Adds the nodes of `model.layers[index]` and its activation; returns its
/// output, less a `softmax`, which can only end a model and is the
/// probabilities' own (see [`super::to_proto`]). A layer that is an
/// activation alone is one node named after it (an `Identity` where the
/// activation adds none).
pub(super) fn lower<K: Registry>(g: &mut Graph, model: &Model<K>, index: usize, inputs: &[Value]) -> Value
where
    K::Kind: Lower<K>,
{
    let layer = &model.layers[index];
    let out = layer.kind.rule().onnx(g, model, index, inputs);
    let a = layer.activation();
    if layer.rule().is_activation() {
        return apply(g, &layer.name, a, &out).unwrap_or_else(|| identity(g, &layer.name, &out));
    }
    apply(g, &format!("{}_{}", layer.name, a.keyword()), a, &out).unwrap_or(out)
}

/// `x` through activation `a`, its nodes named from `name`, or `None`
/// where `a` adds none (linear, and softmax: the probabilities').
fn apply(g: &mut Graph, name: &str, a: Activation, x: &Value) -> Option<Value> {
    let nodes = a.row().onnx?;
    let mut sink = ActivationSink {
        graph: g,
        layout: x.layout,
    };
    let name = nodes(&mut sink, name, &x.name);
    Some(Value {
        name,
        layout: x.layout,
    })
}

/// The value unchanged, under a node of its own name.
pub fn identity(g: &mut Graph, name: &str, x: &Value) -> Value {
    g.node("Identity", name, &[&x.name], Vec::new(), x.layout)
}

/// The flat layout in which the saved tensors of `model.layers[index]` (a
/// dense or batchnorm on vectors) expect their input features.
pub fn saved_feature_order<K: Registry>(model: &Model<K>, index: usize) -> Layout {
    match crate::weights::flattened_image(model, index) {
        Some((h, w, c)) => Layout::ChannelsFirst { h, w, c },
        None => Layout::Features(model.layers[index].input.elements()),
    }
}

/// A layer's input as vectors in the order its saved tensors expect (see
/// [`saved_feature_order`]); an image passes unchanged.
pub fn as_saved_features<K: Registry>(g: &mut Graph, model: &Model<K>, index: usize, x: &Value) -> Value {
    match model.layers[index].input {
        Shape::Image { .. } => x.clone(),
        Shape::Flat(_) => as_flat(g, x, saved_feature_order(model, index)),
    }
}

/// Vectors in cnnc's order, so that they line up whatever made them;
/// images pass unchanged.
pub fn flat_inputs(g: &mut Graph, inputs: &[Value]) -> Vec<Value> {
    inputs
        .iter()
        .map(|v| match v.layout {
            Layout::Nchw { .. } => v.clone(),
            flat => as_flat(g, v, Layout::Features(flat.elements())),
        })
        .collect()
}
