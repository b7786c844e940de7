use prost::Message;

use super::*;
use crate::model::CheckOptions;
use crate::source::Source;

fn model(src: &str) -> crate::Model {
    crate::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap()
}

fn export(src: &str) -> ModelProto {
    let m = model(src);
    let layout = ParamLayout::new(&m);
    to_proto(&m, &layout, &layout.init(5))
}

fn node<'a>(proto: &'a ModelProto, name: &str) -> &'a proto::NodeProto {
    let graph = proto.graph.as_ref().unwrap();
    graph
        .node
        .iter()
        .find(|n| n.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn ints_of(node: &proto::NodeProto, attribute: &str) -> Vec<i64> {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(attribute))
        .unwrap_or_else(|| panic!("no attribute {attribute}"))
        .ints
        .clone()
}

#[test]
fn graph_of_a_small_model() {
    let proto = export(
        "model small; input 8x8x3; conv 4 3x3 stride 2 same leaky_relu; pool avg 2; \
         dropout 0.5; flatten; batchnorm; dense 5 tanh; dense 3 softmax",
    );
    insta::assert_snapshot!(describe(&proto));
}

/// TensorFlow's `same`: out = ceil(in / s), pad total = (out - 1) s + k - in,
/// `total / 2` before and the odd pixel after. ONNX's `pads` are
/// [top, left, bottom, right].
#[test]
fn strided_same_pads_as_tensorflow() {
    let proto = export("input 8x7x1; conv 2 3x3 stride 2 same; conv 2 4x4 same; dense 2");
    // 8 rows: out 4, total 3 + 6 - 8 = 1 -> 0 before, 1 after;
    // 7 columns: out 4, total 2 -> 1 and 1.
    assert_eq!(ints_of(node(&proto, "conv1"), "pads"), [0, 1, 1, 1]);
    // A 4x4 kernel at stride 1: total 3 -> 1 before, 2 after, both axes.
    assert_eq!(ints_of(node(&proto, "conv2"), "pads"), [1, 1, 2, 2]);
    let valid = export("input 8x8x1; conv 2 3x3 stride 2; dense 2");
    assert_eq!(ints_of(node(&valid, "conv1"), "pads"), [0, 0, 0, 0]);
    assert!(
        node(&proto, "conv1")
            .attribute
            .iter()
            .all(|a| a.name.as_deref() != Some("auto_pad")),
        "explicit pads, never auto_pad"
    );
}

/// Initializers are the saved tensors: same names, shapes and values.
#[test]
fn initializers_are_the_saved_tensors() {
    let m = model("input 6x6x2; conv 4 3x3 groups 2 relu; flatten; batchnorm; dense 3");
    let layout = ParamLayout::new(&m);
    let params = layout.init(9);
    let bytes = to_bytes(&m, &layout, &params);
    let proto = ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        proto,
        to_proto(&m, &layout, &params),
        "the bytes decode to the model"
    );
    let graph = proto.graph.unwrap();
    for (name, shape, values) in crate::weights::to_torch(&m, &layout, &params) {
        let t = graph
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no initializer {name}"));
        let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        assert_eq!(dims, shape, "{name}");
        let raw: Vec<f32> = t
            .raw_data
            .as_ref()
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(raw, values, "{name}");
    }
    assert_eq!(
        ints_of(node(&to_proto(&m, &layout, &params), "conv1"), "kernel_shape"),
        [3, 3]
    );
}

/// A flatten exports channel first, as the saved dense tensors expect; a
/// reader that wants cnnc's order (a concat, the output) gets the vector
/// reordered to row, column, channel, once however many read it.
#[test]
fn flattened_images_are_reordered_only_where_cnnc_order_is_read() {
    let chain = export("input 2x2x3; conv 2 1x1; flatten; dense 4");
    let ops: Vec<&str> = chain
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.as_deref().unwrap())
        .collect();
    assert_eq!(ops, ["Conv", "Flatten", "Gemm", "Softmax"]);

    let last = export("input 2x2x3; conv 2 1x1; flatten");
    let text = describe(&last);
    assert!(
        text.contains("Transpose flatten1_nchw_nhwc(flatten1_nchw) perm=[0, 2, 3, 1]"),
        "{text}"
    );
    assert!(
        text.contains("Softmax probabilities(flatten1_nchw_nhwc_flat)"),
        "{text}"
    );

    // Names label tensors; the layers keep their kinds' names.
    let joined = export("input 2x2x3; a: flatten; dense 3 from a; concat a; dense 2");
    let text = describe(&joined);
    assert_eq!(text.matches("Reshape flatten1_nchw(").count(), 1, "{text}");
    assert!(
        text.contains("Concat concat1(dense1, flatten1_nchw_nhwc_flat)"),
        "{text}"
    );
    assert!(text.contains("Gemm dense1(flatten1, "), "{text}");
}

#[test]
fn input_and_output_have_a_symbolic_batch() {
    let proto = export("input 5x4x3; conv 2 3x3; dense 7");
    let graph = proto.graph.unwrap();
    let dims = |v: &proto::ValueInfoProto| -> Vec<String> {
        let shape = v
            .r#type
            .as_ref()
            .unwrap()
            .tensor_type
            .as_ref()
            .unwrap()
            .shape
            .as_ref()
            .unwrap();
        shape
            .dim
            .iter()
            .map(|d| {
                d.dim_param
                    .clone()
                    .unwrap_or_else(|| d.dim_value.unwrap().to_string())
            })
            .collect()
    };
    assert_eq!(graph.input[0].name.as_deref(), Some("input"));
    assert_eq!(dims(&graph.input[0]), ["N", "3", "5", "4"]);
    assert_eq!(graph.output[0].name.as_deref(), Some("probabilities"));
    assert_eq!(dims(&graph.output[0]), ["N", "7"]);
    assert_eq!(proto.opset_import[0].version, Some(OPSET));
}
