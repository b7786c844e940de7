//! Building an ONNX graph: nodes with attributes, initializers, and the
//! values that flow between them, each knowing its layout.

use std::collections::HashMap;

use super::proto::{self, AttributeProto, NodeProto, TensorProto};
pub use crate::export::layout::Layout;

/// An activation's nodes (see `activation::Row::onnx`), added to a graph
/// with the layout of the value they apply to.
pub struct ActivationSink<'g> {
    pub graph: &'g mut Graph,
    pub layout: Layout,
}

impl crate::activation::NodeSink for ActivationSink<'_> {
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attributes: &[(&str, f32)]) -> String {
        let attributes = attributes.iter().map(|&(n, v)| float(n, v)).collect();
        self.graph.node(op, name, inputs, attributes, self.layout).name
    }

    fn scalar(&mut self, name: &str, value: f32) -> String {
        self.graph.float_scalar(name, value)
    }
}

/// A named tensor of the graph, with its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub name: String,
    pub layout: Layout,
}

/// The nodes and initializers written so far, with the weights they read.
pub struct Graph {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    /// The model's tensors in PyTorch's names and layouts, by name.
    weights: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// Values already reordered ([`super::order`]): (name, layout) to the
    /// reordered value.
    pub reordered: HashMap<(String, Layout), Value>,
}

pub fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        ints: values.iter().map(|&v| v as i64).collect(),
        r#type: Some(proto::ATTRIBUTE_INTS),
        ..AttributeProto::default()
    }
}

pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        i: Some(value),
        r#type: Some(proto::ATTRIBUTE_INT),
        ..AttributeProto::default()
    }
}

pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        f: Some(value),
        r#type: Some(proto::ATTRIBUTE_FLOAT),
        ..AttributeProto::default()
    }
}

impl Graph {
    pub fn new(weights: Vec<(String, Vec<usize>, Vec<f32>)>) -> Graph {
        Graph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            weights: weights.into_iter().map(|(n, s, v)| (n, (s, v))).collect(),
            reordered: HashMap::new(),
        }
    }

    /// Adds node `name` of `op` whose one output is a value named after it.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        layout: Layout,
    ) -> Value {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            attribute: attributes,
        });
        Value {
            name: name.to_string(),
            layout,
        }
    }

    /// Makes the saved tensor `name` (`conv1.weight`) an initializer under
    /// the same name, shape and values; returns the name.
    pub fn weight(&mut self, name: &str) -> String {
        let (shape, values) = self
            .weights
            .get(name)
            .unwrap_or_else(|| panic!("the parameter layout has `{name}`"));
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(proto::FLOAT),
            name: Some(name.to_string()),
            raw_data: Some(raw),
        });
        name.to_string()
    }

    /// A float32 scalar initializer (a constant an activation's nodes use).
    pub fn float_scalar(&mut self, name: &str, value: f32) -> String {
        self.initializers.push(TensorProto {
            dims: Vec::new(),
            data_type: Some(proto::FLOAT),
            name: Some(name.to_string()),
            raw_data: Some(value.to_le_bytes().to_vec()),
        });
        name.to_string()
    }

    /// An int64 vector initializer (a `Reshape`'s target shape).
    pub fn int64s(&mut self, name: &str, values: &[i64]) -> String {
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(proto::INT64),
            name: Some(name.to_string()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        });
        name.to_string()
    }
}
