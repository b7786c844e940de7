//! An activation alone on a line (`relu`, `softmax`, …), as Keras's
//! `Activation` layer. Its layers are named after it: `relu1`.

use super::{KindRule, Site, Spec};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::{Activation, LayerKind, Shape};

pub(in crate::model) fn lower(activation: Activation, span: Span) -> Spec {
    Spec::new(LayerKind::Activation(activation), span)
}

fn activation(kind: &LayerKind) -> Activation {
    let LayerKind::Activation(a) = kind else {
        unreachable!("the activation rule is handed activation layers")
    };
    *a
}

pub struct ActivationRule;

impl KindRule for ActivationRule {
    fn kind_name(&self) -> &'static str {
        "activation"
    }

    fn stem(&self, kind: &LayerKind) -> &'static str {
        activation(kind).keyword()
    }

    fn output(&self, _kind: &LayerKind, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        Ok(input)
    }

    fn activation(&self, kind: &LayerKind) -> Activation {
        activation(kind)
    }

    fn describe(&self, kind: &LayerKind) -> String {
        activation(kind).keyword().to_string()
    }
}
