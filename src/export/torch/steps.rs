//! Each layer as PyTorch computes it: the merge of its inputs, if it reads
//! several, then the submodules it owns, applied in order: its kind's
//! (its [`Lower`]), then its activation's. Both the `nn.Sequential` and
//! the `nn.Module` are written from these steps.

use crate::model::{KindRule, Layer, Registry};

/// A submodule: its attribute name, which is the `state_dict` prefix of its
/// tensors (cnnc's weight names: `conv1` holds `conv1.weight`), and the
/// Python that constructs it.
pub struct Module {
    pub name: String,
    pub constructor: String,
}

/// How one layer computes in PyTorch.
#[derive(Default)]
pub struct Step {
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
    pub fn push(&mut self, name: impl Into<String>, constructor: impl Into<String>) {
        self.modules.push(Module {
            name: name.into(),
            constructor: constructor.into(),
        });
    }
}

/// How one layer kind computes in PyTorch: implemented by each kind's
/// settings type, for its own layers.
pub trait Lower<K: Registry> {
    /// Adds to `step` how `layer` computes before its activation.
    fn torch(&self, layer: &Layer<K>, step: &mut Step);
}

/// How `layer` computes: its kind's step, then the activation it carries
/// (`conv 8 3x3 relu`) as a module of its own, `conv1_relu`; a layer that
/// is an activation alone is that module, named after the layer. A
/// `softmax` has no module: it can only end a model and is the loss's
/// (see [`super::sequential`]).
pub(super) fn step<K: Registry>(layer: &Layer<K>) -> Step
where
    K::Kind: Lower<K>,
{
    let mut s = Step::default();
    layer.kind.rule().torch(layer, &mut s);
    let a = layer.activation();
    let name = match layer.rule().is_activation() {
        true => layer.name.clone(),
        false => format!("{}_{}", layer.name, a.keyword()),
    };
    if let Some(module) = a.row().torch {
        s.push(name, module);
    }
    s
}
