//! Each layer as ONNX nodes: the kind's own (its [`Lower`]), then the
//! activation it carries, from the activation's row. Node names follow the
//! layer names of `cnnc summary` and the PyTorch export: a layer's main
//! node is named after it (`conv1`), the activation it carries after both
//! (`conv1_relu`), and every node's one output is a value of its own name.

use super::graph::{ActivationSink, Graph, Value};
use crate::activation::Activation;
use crate::model::{KindRule, Model, Registry};

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
