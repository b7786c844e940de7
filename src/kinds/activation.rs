//! An activation alone on a line (`relu`, `softmax`, …), as Keras's
//! `Activation` layer. Its layers are named after it (`relu1`), and every
//! stage applies the activation as it applies any layer's (see
//! `crate::activation`): the layer itself computes the identity, in a
//! kernel of its own where the activation fuses (there is no producer to
//! fuse it into), as a view where it does not (the planner applies it) or
//! where it is a final softmax (the loss's).

use super::{Kind, LayerKind, Syntax};
use crate::diagnostic::Span;
use crate::model::{Checker, Spec};
use crate::syntax::signature::{Keyword, LayerStatement, Signature};

use crate::activation::Activation;
use crate::codegen::{Access, BufferId, BufferRole, Header, Planner};
use crate::diagnostic::Diagnostic;
use crate::export::layout::{self, Layout};
use crate::export::onnx::{self, Graph, Value};
use crate::export::torch::{self, Step};
use crate::model::{KindRule, Model, Shape, Site};
use crate::reference::{self, Context};
use crate::template;

/// An activation layer's settings: the activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationLayer(pub Activation);

impl Syntax for ActivationLayer {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Activation,
        arguments: &[],
        options: &[],
        usage: "an activation alone on a line takes no arguments",
        example: "relu",
        aliases: &[],
    };

    fn lower(a: &LayerStatement, span: Span, _: &mut Checker) -> Option<Spec<LayerKind>> {
        let activation = Activation::named(&a.keyword.node).expect("read by the signature");
        Some(Spec::new(ActivationLayer(activation).into(), span))
    }
}

impl KindRule for ActivationLayer {
    fn name(&self) -> &'static str {
        "activation"
    }

    fn stem(&self) -> &'static str {
        self.0.keyword()
    }

    fn output(&self, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        Ok(inputs[0])
    }

    fn activation(&self) -> Activation {
        self.0
    }

    fn is_activation(&self) -> bool {
        true
    }

    fn keeps_feature_order(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        self.0.keyword().to_string()
    }
}

impl Kind for ActivationLayer {}

impl crate::codegen::Rule<LayerKind> for ActivationLayer {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let input = p.input_of(i);
        if self.0 == Activation::SOFTMAX || !self.0.fuses() {
            return input;
        }
        let name = layer.name.clone();
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let n = p.options.batch * layer.output.elements();
        let header = Header::default().u32("N", n).activate(self.0);
        let bindings = vec![(input, Access::Read), (out, Access::ReadWrite)];
        let template = template!("activation_forward");
        p.forward_kernel(i, template, header, bindings, n);
        out
    }

    /// Its own derivative was applied by whoever computed `dy`; only the
    /// producer's is left, if it has one.
    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        p.apply_derivative(i, 0, dy);
    }
}

impl reference::Rule<LayerKind> for ActivationLayer {
    fn forward(&self, _c: &Context<LayerKind>, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        xs[0].to_vec()
    }

    fn backward(
        &self,
        _c: &Context<LayerKind>,
        _xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![dz.to_vec()]
    }
}

/// No node of its own: the activation's, named after the layer.
impl onnx::Lower<LayerKind> for ActivationLayer {
    fn onnx(&self, _g: &mut Graph, _model: &Model<LayerKind>, _index: usize, inputs: &[Value]) -> Value {
        inputs[0].clone()
    }
}

impl layout::Order<LayerKind> for ActivationLayer {
    fn layouts(&self, _model: &Model<LayerKind>, _index: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        layout::elementwise(given)
    }
}

/// No module of its own: the activation's, named after the layer; a
/// softmax is the loss's.
impl torch::Lower<LayerKind> for ActivationLayer {
    fn torch(&self, _layer: &super::Layer, s: &mut Step) {
        if self.0 == Activation::SOFTMAX {
            s.note = Some("softmax: the loss's (see below)");
        }
    }
}
