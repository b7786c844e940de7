//! The examples' summaries, and their parameter counts against Keras's.

use cnnc::Model;
use cnnc::app::summary::Summary;
use cnnc::model::CheckOptions;
use cnnc::source::Source;

fn load(path: &std::path::Path, overrides: Vec<(String, i64)>) -> Model {
    let source = Source::read(path).unwrap();
    let options = CheckOptions {
        default_name: source.stem(),
        overrides,
        ..CheckOptions::default()
    };
    cnnc::load(&source, &options).unwrap_or_else(|d| panic!("{}: {d}", path.display()))
}

fn example(name: &str) -> Model {
    load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
        vec![],
    )
}

#[test]
fn summaries_of_every_example() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
        "*.cnn",
        |path| {
            let summary = Summary::new(&load(path, vec![]));
            insta::assert_snapshot!(summary.to_table());
        }
    );
}

/// The counts `model.summary()` prints for the same models in Keras.
#[test]
fn parameter_counts_equal_keras() {
    for (file, keras) in [
        ("cifar_model0.cnn", 315_722),
        ("cifar_model1.cnn", 545_098),
        ("cifar_model2.cnn", 2_175_626),
        ("cifar_model3.cnn", 620_362),
        ("mnist.cnn", 421_642),
        ("resnet20.cnn", 274_442),
        // Keras's 2,257,984 without biases or head (see the file), plus
        // cnnc's 17,056 convolution biases and the dense 10.
        ("mobilenet_v2.cnn", 2_257_984 + 17_056 + 12_810),
    ] {
        assert_eq!(example(file).params().total(), keras, "{file}");
    }
    // ResNet-20's one residual block, with its stride as an argument, makes
    // both kinds of stage; Keras's 1,376 running statistics are not trained.
    assert_eq!(example("resnet20.cnn").params().non_trainable, 1_376);
    assert_eq!(example("mobilenet_v2.cnn").params().non_trainable, 34_112);
}

#[test]
fn set_changes_the_filter_count() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mnist.cnn");
    let model = load(&path, vec![("width".into(), 64)]);
    assert_eq!(model.conv_filters(), vec![64, 128]);
    // conv 64: 9*1*64+64; conv 128: 9*64*128+128; dense: 7*7*128*128+128; dense 10.
    assert_eq!(model.params().total(), 640 + 73_856 + 802_944 + 1_290);
    assert_eq!(model.params, vec![("width".to_string(), 64)]);
}

#[test]
fn one_liner_flattens_implicitly() {
    let model = example("tiny.cnn");
    let kinds: Vec<String> = model.layers.iter().map(|l| l.describe()).collect();
    assert_eq!(
        kinds,
        [
            "conv 8 3x3 relu",
            "pool max 2x2",
            "flatten (implicit)",
            "dense 10 softmax"
        ]
    );
    assert_eq!(model.layers[2].output, cnnc::model::Shape::Flat(13 * 13 * 8));
}

#[test]
fn json_has_the_documented_fields() {
    let json: serde_json::Value =
        serde_json::from_str(&Summary::new(&example("cifar_model1.cnn")).to_json()).unwrap();
    assert_eq!(json["total_params"], 545_098);
    assert_eq!(json["total_flops"], 12_257_792);
    let layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 7);
    assert_eq!(layers[0]["kind"], "conv");
    assert_eq!(layers[0]["output_shape"], serde_json::json!([32, 32, 32]));
    assert_eq!(layers[0]["params"], 896);
    assert_eq!(layers[0]["flops"], 2 * 32 * 32 * 32 * 27);
    assert_eq!(layers[5]["output_shape"], serde_json::json!([128]));
}

#[test]
fn strided_same_conv_and_overlapping_pool() {
    let source = Source::new(
        "m.cnn",
        "input 7x9x2\nconv 4 3x3 stride 2 same\npool avg 3 stride 1\nbatchnorm\ndense 5",
    );
    let model = cnnc::load(&source, &CheckOptions::default()).unwrap();
    let shapes: Vec<String> = model.layers.iter().map(|l| l.output.to_string()).collect();
    assert_eq!(shapes, ["4x5x4", "2x3x4", "2x3x4", "24", "5"]);
    // batchnorm: 4 x C, half of it not trainable, as Keras counts.
    assert_eq!(model.layers[2].params().trainable, 8);
    assert_eq!(model.layers[2].params().non_trainable, 8);
}

#[test]
fn pytorch_equivalents_of_every_example() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
        "*.cnn",
        |path| {
            insta::assert_snapshot!(cnnc::export::torch::sequential(&load(path, vec![])));
        }
    );
}

#[test]
fn pytorch_pads_asymmetric_same_convolutions_first() {
    let source = Source::new("m.cnn", "input 8x8x1; conv 2 3x3 stride 2 same; dense 2");
    let model = cnnc::load(&source, &CheckOptions::default()).unwrap();
    let code = cnnc::export::torch::sequential(&model);
    // TensorFlow pads 8 -> 4 with 1 pixel in all: 0 before, 1 after.
    assert!(
        code.contains("(\"conv1_pad\", nn.ZeroPad2d((0, 1, 0, 1))),"),
        "{code}"
    );
    assert!(code.contains("stride=2, padding=0)"), "{code}");
}

/// LeNet-5's first layers as Keras writes them for 28x28 digits:
/// `ZeroPadding2D(2)` (no parameters) then `Conv2D(6, 5)`; PyTorch's
/// module pads (left, right, top, bottom).
#[test]
fn zero_padding_grows_the_image_and_costs_nothing() {
    let text = "input 28x28x1\npad 2\nconv 6 5x5 relu\npad 1x2\nflatten\ndense 10";
    let model = cnnc::load(&Source::new("m.cnn", text), &CheckOptions::default()).unwrap();
    let shapes: Vec<String> = model.layers.iter().map(|l| l.output.to_string()).collect();
    assert_eq!(shapes, ["32x32x1", "28x28x6", "30x32x6", "5760", "10"]);
    let counts: Vec<usize> = model.layers.iter().map(|l| l.params().total()).collect();
    assert_eq!(counts, [0, 5 * 5 * 6 + 6, 0, 0, 5760 * 10 + 10]);
    assert_eq!(
        (model.layers[0].flops(), model.layers[2].describe()),
        (0, "pad 1x2".into())
    );
    let code = cnnc::export::torch::sequential(&model);
    assert!(code.contains("(\"pad2\", nn.ZeroPad2d((2, 2, 1, 1))),"), "{code}");
}

/// A block's default may read the parameters before it.
#[test]
fn a_default_reads_an_earlier_parameter() {
    let text = "input 8x8x1\nblock b(n, m = n*2)\n  conv m 3x3\nend\nb(3)\nb(2, 5)\ndense 2";
    let model = cnnc::load(&Source::new("m.cnn", text), &CheckOptions::default()).unwrap();
    assert_eq!(model.conv_filters(), vec![6, 5]);
}

/// Each activation's module, fused into a layer or alone on a line (issue
/// 22's: `nn.ReLU6`, `nn.GELU` exact as Keras's default, `nn.SiLU` for
/// `silu` and `swish`, `nn.ELU`, `nn.Softplus`, `nn.Hardsigmoid`,
/// `nn.Hardswish`).
#[test]
fn pytorch_modules_of_the_activations() {
    let source = Source::new(
        "activations.cnn",
        "model activations; input 8x8x3; conv 4 3x3 same relu6; conv 4 3x3 gelu; silu; pool 2; dense 6 swish; dense 5 elu; softplus; dense 4 hard_sigmoid; dense 3 hard_swish",
    );
    let model = cnnc::load(&source, &CheckOptions::default()).unwrap();
    insta::assert_snapshot!(cnnc::export::torch::sequential(&model));
}

/// Default names count per kind; a kind whose word ends in a digit keeps
/// the count apart (`relu6_2`, which `relu62` would not).
#[test]
fn default_names_keep_a_digit_stem_apart() {
    let source = Source::new("m.cnn", "input 4x4x1; conv 2 3x3; relu6; relu; relu6; dense 2");
    let model = cnnc::load(&source, &CheckOptions::default()).unwrap();
    let names: Vec<&str> = model.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["conv1", "relu6_1", "relu1", "relu6_2", "flatten1", "dense1"]
    );
}
