//! The trained model as an ONNX file (opset 17) of its inference graph.
//!
//! Input `input`: `[N, C, H, W]` float32 pixels in [0, 1] (a byte / 255,
//! as cnnc scales images for training, `eval` and `predict`), the batch
//! `N` chosen at run time. Output `probabilities`: `[N, classes]`, softmax
//! of the scores (the last layer's output with its activation; a final
//! `softmax` is this same softmax, not a second one).
//!
//! The graph follows PyTorch's layouts, as [`crate::export::torch`] does:
//! images NCHW, and initializers are the saved tensors under their names
//! (`conv1.weight` OIHW, `dense1.weight` `[out, in]`), so an initializer
//! equals the tensor of the same name in `model.safetensors`. Files:
//!
//! - [`proto`]: the messages of `onnx.proto` that it writes;
//! - [`graph`]: nodes, initializers, and values with their layouts;
//! - [`layers`]: each layer's nodes: its kind's ([`Lower`]), then its
//!   activation's;
//! - [`order`]: reordering vectors between cnnc's and ONNX's flatten.

pub mod graph;
mod layers;
pub mod order;
pub mod proto;

use prost::Message;

use crate::export::layout::Order;
use crate::model::{Model, Operand, Registry, Shape};
use crate::params::ParamLayout;
pub use graph::{Graph, Layout, Value, float, int, ints};
pub use layers::{Lower, identity};
use proto::{
    Dimension, GraphProto, ModelProto, OperatorSetIdProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};

/// The operator set the graph is written against.
pub const OPSET: i64 = 17;
/// The IR version that came with opset 17 (ONNX 1.12).
const IR_VERSION: i64 = 8;
/// The graph's input and output.
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "probabilities";

/// The ONNX model of `model` with weights `params` (cnnc's flat layout).
pub fn to_proto<K: Registry>(model: &Model<K>, layout: &ParamLayout, params: &[f32]) -> ModelProto
where
    K::Kind: Lower<K> + Order<K>,
{
    let Shape::Image { h, w, c } = model.input else {
        unreachable!("a model's input is an image")
    };
    let mut g = Graph::new(crate::weights::to_torch(model, layout, params));
    let input = Value {
        name: INPUT.to_string(),
        layout: Layout::Nchw { h, w, c },
    };
    // Where vectors are reordered: the account the PyTorch module follows too.
    let layouts = crate::export::layout::layouts(model);
    let mut outputs: Vec<Value> = Vec::with_capacity(model.layers.len());
    for (i, layer) in model.layers.iter().enumerate() {
        let inputs: Vec<Value> = layer
            .inputs
            .iter()
            .zip(&layouts.reads[i])
            .map(|(&o, &read)| {
                let value = match o {
                    Operand::Input => input.clone(),
                    Operand::Layer(j) => outputs[j].clone(),
                };
                order::as_flat(&mut g, &value, read)
            })
            .collect();
        let output = layers::lower(&mut g, model, i, &inputs);
        debug_assert_eq!(output.layout, layouts.outputs[i], "{}", layer.name);
        outputs.push(output);
    }
    let scores = outputs.last().expect("a model has layers");
    let classes = model.output().elements();
    // cnnc's classes are its last tensor's values in its own order.
    let scores = order::as_flat(&mut g, scores, layouts.scores);
    g.node(
        "Softmax",
        OUTPUT,
        &[&scores.name],
        vec![int("axis", 1)],
        Layout::Features(classes),
    );
    let doc = format!(
        "{}: input [N, {c}, {h}, {w}] float32 pixels in [0, 1] (byte / 255, as cnnc scales them); \
         output [N, {classes}] class probabilities (softmax of the scores)",
        model.name
    );
    ModelProto {
        ir_version: Some(IR_VERSION),
        producer_name: Some("cnnc".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(doc),
        graph: Some(GraphProto {
            node: g.nodes,
            name: Some(model.name.clone()),
            initializer: g.initializers,
            doc_string: None,
            input: vec![tensor_info(INPUT, &[None, Some(c), Some(h), Some(w)])],
            output: vec![tensor_info(OUTPUT, &[None, Some(classes)])],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
    }
}

/// The ONNX file's bytes.
pub fn to_bytes<K: Registry>(model: &Model<K>, layout: &ParamLayout, params: &[f32]) -> Vec<u8>
where
    K::Kind: Lower<K> + Order<K>,
{
    to_proto(model, layout, params).encode_to_vec()
}

/// A float32 tensor's name and shape, `None` for the batch (`N`).
fn tensor_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Some(size) => Dimension {
                dim_value: Some(*size as i64),
                dim_param: None,
            },
            None => Dimension {
                dim_value: None,
                dim_param: Some("N".into()),
            },
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: Some(proto::FLOAT),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

/// The graph as text, one node a line (`Conv conv1(input, conv1.weight,
/// conv1.bias) kernel_shape=[3, 3] …`), then the initializers' shapes:
/// what `cnnc export` wrote, for people and snapshot tests.
pub fn describe(model: &ModelProto) -> String {
    let Some(graph) = &model.graph else {
        return String::new();
    };
    let mut out = String::new();
    for node in &graph.node {
        let attributes: Vec<String> = node
            .attribute
            .iter()
            .map(|a| {
                let value = match (a.i, a.f) {
                    (Some(i), _) => i.to_string(),
                    (_, Some(f)) => f.to_string(),
                    _ => format!("{:?}", a.ints),
                };
                format!(" {}={value}", a.name.as_deref().unwrap_or(""))
            })
            .collect();
        out += &format!(
            "{} {}({}){}\n",
            node.op_type.as_deref().unwrap_or(""),
            node.name.as_deref().unwrap_or(""),
            node.input.join(", "),
            attributes.concat()
        );
    }
    for t in &graph.initializer {
        out += &format!("initializer {} {:?}\n", t.name.as_deref().unwrap_or(""), t.dims);
    }
    out
}

#[cfg(test)]
mod tests;
