//! Each layer as PyTorch computes it: the merge of its inputs, if it reads
//! several, then the submodules it owns, applied in order. Both the
//! `nn.Sequential` and the `nn.Module` are written from these steps, so a
//! new layer kind is one arm of [`step`].

use crate::model::{Activation, Conv, Layer, LayerKind, PoolKind, Shape};

/// A submodule: its attribute name, which is the `state_dict` prefix of its
/// tensors (cnnc's weight names: `conv1` holds `conv1.weight`), and the
/// Python that constructs it.
pub(super) struct Module {
    pub name: String,
    pub constructor: String,
}

/// How one layer computes in PyTorch.
#[derive(Default)]
pub(super) struct Step {
    /// The Python expression that makes one tensor of the layer's input
    /// variables, for a layer that reads several (an `nn.Sequential`
    /// cannot write it); `None` for a layer of one input.
    pub merge: Option<fn(&[String]) -> String>,
    /// Applied in order to the (merged) input; none for an identity.
    pub modules: Vec<Module>,
    /// A comment for the `forward` line of a layer that leaves something
    /// to the loss.
    pub note: Option<&'static str>,
}

impl Step {
    fn push(&mut self, name: impl Into<String>, constructor: impl Into<String>) {
        self.modules.push(Module {
            name: name.into(),
            constructor: constructor.into(),
        });
    }
}

/// The module of an activation; none for `linear`, nor for `softmax`,
/// which can only end a model and is the loss's (see [`super::sequential`]).
fn activation(a: Activation) -> Option<&'static str> {
    match a {
        Activation::Linear | Activation::Softmax => None,
        Activation::Relu => Some("nn.ReLU()"),
        Activation::LeakyRelu => Some("nn.LeakyReLU(0.2)"),
        Activation::Sigmoid => Some("nn.Sigmoid()"),
        Activation::Tanh => Some("nn.Tanh()"),
    }
}

/// How `layer` computes: one arm per kind, then the activation a layer
/// carries (`conv 8 3x3 relu`) as a module of its own, `conv1_relu`.
pub(super) fn step(layer: &Layer) -> Step {
    let name = layer.name.as_str();
    let mut s = Step::default();
    match &layer.kind {
        LayerKind::Conv(c) => conv(&mut s, layer, c),
        LayerKind::Pool(p) => {
            let kind = match p.kind {
                PoolKind::Max => "MaxPool2d",
                PoolKind::Avg => "AvgPool2d",
            };
            let [kh, kw] = p.window;
            s.push(
                name,
                format!("nn.{kind}(kernel_size=({kh}, {kw}), stride={})", p.stride),
            );
        }
        LayerKind::Dense(d) => s.push(
            name,
            format!("nn.Linear({}, {})", layer.input.elements(), d.units),
        ),
        LayerKind::Flatten { .. } => s.push(name, "nn.Flatten()"),
        LayerKind::Dropout { rate } => s.push(name, format!("nn.Dropout({rate})")),
        LayerKind::BatchNorm => {
            let kind = match layer.input {
                Shape::Image { .. } => "BatchNorm2d",
                Shape::Flat(_) => "BatchNorm1d",
            };
            let c = layer.input.channels();
            s.push(name, format!("nn.{kind}({c}, eps=1e-3, momentum=0.01)"));
        }
        LayerKind::Activation(Activation::Softmax) => s.note = Some("softmax: the loss's (see below)"),
        LayerKind::Activation(a) => {
            if let Some(m) = activation(*a) {
                s.push(name, m);
            }
            return s;
        }
        LayerKind::Add => s.merge = Some(|xs| xs.join(" + ")),
        LayerKind::Concat => s.merge = Some(|xs| format!("torch.cat([{}], dim=1)", xs.join(", "))),
        LayerKind::GlobalPool(kind) => {
            let pool = match kind {
                PoolKind::Max => "nn.AdaptiveMaxPool2d(1)",
                PoolKind::Avg => "nn.AdaptiveAvgPool2d(1)",
            };
            s.push(format!("{name}_pool"), pool);
            s.push(name, "nn.Flatten()");
        }
    }
    let a = layer.activation();
    if let Some(m) = activation(a) {
        s.push(format!("{name}_{}", a.keyword()), m);
    }
    s
}

/// A convolution, after an `nn.ZeroPad2d` where TensorFlow's `same` pads
/// unevenly (the odd pixel after), which `nn.Conv2d`'s `padding` cannot.
fn conv(s: &mut Step, layer: &Layer, c: &Conv) {
    let name = &layer.name;
    let ci = layer.input.channels();
    let [[top, bottom], [left, right]] = c.pads(layer.input);
    let padding = if top == bottom && left == right {
        format!("({top}, {left})")
    } else {
        s.push(
            format!("{name}_pad"),
            format!("nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))"),
        );
        "0".to_string()
    };
    let [kh, kw] = c.kernel;
    let groups = if c.groups > 1 {
        format!(", groups={}", c.groups)
    } else {
        String::new()
    };
    s.push(
        name.as_str(),
        format!(
            "nn.Conv2d({ci}, {}, kernel_size=({kh}, {kw}), stride={}, padding={padding}{groups})",
            c.filters, c.stride
        ),
    );
}
