//! The equivalent PyTorch module, as Python source: the names and layouts
//! that `model.safetensors` loads into with `load_state_dict`.

use crate::model::{Activation, LayerKind, Model, Padding, PoolKind, Shape};

/// The module of an activation; none for `linear`, nor for `softmax`,
/// which can only end a model and is the loss's own (see [`sequential`]).
fn activation(a: Activation) -> Option<&'static str> {
    match a {
        Activation::Linear | Activation::Softmax => None,
        Activation::Relu => Some("nn.ReLU()"),
        Activation::LeakyRelu => Some("nn.LeakyReLU(0.2)"),
        Activation::Sigmoid => Some("nn.Sigmoid()"),
        Activation::Tanh => Some("nn.Tanh()"),
    }
}

/// Python source that builds the model as an `nn.Sequential` whose
/// `state_dict` names are cnnc's weight names. The module outputs the
/// scores that cnnc's loss reads: the last layer's output with its
/// activation, less a final `softmax`, which is the loss's (PyTorch's
/// `nn.CrossEntropyLoss` takes scores too) and the probabilities'.
pub fn sequential(model: &Model) -> String {
    let mut modules: Vec<(String, String)> = Vec::new();
    for layer in &model.layers {
        let name = layer.name.clone();
        match &layer.kind {
            LayerKind::Conv(c) => {
                let ci = layer.input.channels();
                let pad = c.pad_before(layer.input);
                let (total_h, total_w) = match (c.padding, layer.input, layer.output) {
                    (Padding::Same, Shape::Image { h, w, .. }, Shape::Image { h: oh, w: ow, .. }) => (
                        ((oh - 1) * c.stride + c.kernel[0]).saturating_sub(h),
                        ((ow - 1) * c.stride + c.kernel[1]).saturating_sub(w),
                    ),
                    _ => (0, 0),
                };
                let symmetric = total_h == 2 * pad[0] && total_w == 2 * pad[1];
                let padding = if symmetric {
                    format!("({}, {})", pad[0], pad[1])
                } else {
                    // TensorFlow's `same` puts the odd pixel after: pad first.
                    modules.push((
                        format!("{name}_pad"),
                        format!(
                            "nn.ZeroPad2d(({}, {}, {}, {}))",
                            pad[1],
                            total_w - pad[1],
                            pad[0],
                            total_h - pad[0]
                        ),
                    ));
                    "0".to_string()
                };
                modules.push((
                    name.clone(),
                    format!(
                        "nn.Conv2d({ci}, {}, kernel_size=({}, {}), stride={}, padding={padding})",
                        c.filters, c.kernel[0], c.kernel[1], c.stride
                    ),
                ));
                if let Some(a) = activation(c.activation) {
                    modules.push((format!("{name}_{}", c.activation.keyword()), a.to_string()));
                }
            }
            LayerKind::Pool(p) => {
                let kind = match p.kind {
                    PoolKind::Max => "MaxPool2d",
                    PoolKind::Avg => "AvgPool2d",
                };
                modules.push((
                    name,
                    format!(
                        "nn.{kind}(kernel_size=({}, {}), stride={})",
                        p.window[0], p.window[1], p.stride
                    ),
                ));
            }
            LayerKind::Dense(d) => {
                modules.push((
                    name.clone(),
                    format!("nn.Linear({}, {})", layer.input.elements(), d.units),
                ));
                if let Some(a) = activation(d.activation) {
                    modules.push((format!("{name}_{}", d.activation.keyword()), a.to_string()));
                }
            }
            LayerKind::Flatten { .. } => modules.push((name, "nn.Flatten()".into())),
            LayerKind::Dropout { rate } => modules.push((name, format!("nn.Dropout({rate})"))),
            LayerKind::BatchNorm => {
                let kind = if matches!(layer.input, Shape::Image { .. }) {
                    "BatchNorm2d"
                } else {
                    "BatchNorm1d"
                };
                modules.push((
                    name,
                    format!("nn.{kind}({}, eps=1e-3, momentum=0.01)", layer.input.channels()),
                ));
            }
            LayerKind::Activation(a) => {
                if let Some(m) = activation(*a) {
                    modules.push((name, m.to_string()));
                }
            }
            // The language writes no sums yet (only tests build them), and
            // a sum needs a `forward`, not an `nn.Sequential`.
            LayerKind::Add => modules.push((name, "None  # add: not expressible in nn.Sequential".into())),
            // Minimal arms (graph-kinds) so that the crate compiles; the
            // export's owner writes the real ones.
            LayerKind::Concat => {
                modules.push((name, "None  # concat: not expressible in nn.Sequential".into()))
            }
            LayerKind::GlobalPool(_) => modules.push((name, "None  # globalpool: not yet exported".into())),
        }
    }
    let Shape::Image { h, w, c } = model.input else {
        unreachable!("a model's input is an image")
    };
    let mut out = format!(
        "# {}: the PyTorch equivalent of the cnnc model. Input: N x {c} x {h} x {w} (NCHW).\n\
         from collections import OrderedDict\n\
         from safetensors.torch import load_file\n\
         from torch import nn\n\n\
         model = nn.Sequential(OrderedDict([\n",
        model.name
    );
    for (name, module) in modules {
        out += &format!("    (\"{name}\", {module}),\n");
    }
    out += "]))\nmodel.load_state_dict(load_file(\"model.safetensors\"))\n\
            # model(x) gives the scores: probabilities = model(x).softmax(1), and training\n\
            # minimises nn.CrossEntropyLoss()(model(x), labels), as cnnc does.\n";
    out
}
