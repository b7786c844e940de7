//! `batchnorm`: per-channel normalisation with Keras's
//! `BatchNormalization` defaults (see `model::keras`).

use super::{KindRule, Site, Spec};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::{Layer, LayerKind, ParamCount, Shape};

pub(in crate::model) fn lower(span: Span) -> Spec {
    Spec::new(LayerKind::BatchNorm, span)
}

pub struct BatchNormRule;

impl KindRule for BatchNormRule {
    fn kind_name(&self) -> &'static str {
        "batchnorm"
    }

    fn output(&self, _kind: &LayerKind, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        Ok(input)
    }

    /// γ and β are trained; the running mean and variance are not.
    fn params(&self, layer: &Layer) -> ParamCount {
        ParamCount {
            trainable: 2 * layer.input.channels(),
            non_trainable: 2 * layer.input.channels(),
        }
    }

    fn describe(&self, _kind: &LayerKind) -> String {
        "batchnorm".to_string()
    }
}
