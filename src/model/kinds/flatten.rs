//! `flatten`: NHWC memory read as one vector per sample, as Keras's
//! `Flatten`. Also inserted before a `dense` that reads an image.

use super::{KindRule, Site, Spec};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::{Layer, LayerKind, Shape};

pub(in crate::model) fn lower(span: Span) -> Spec {
    Spec::new(LayerKind::Flatten { implicit: false }, span)
}

pub struct FlattenRule;

impl KindRule for FlattenRule {
    fn kind_name(&self) -> &'static str {
        "flatten"
    }

    fn output(&self, _kind: &LayerKind, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        Ok(Shape::Flat(input.elements()))
    }

    /// A view of its input: it holds no memory of its own.
    fn activation_bytes(&self, _layer: &Layer) -> u64 {
        0
    }

    fn describe(&self, kind: &LayerKind) -> String {
        match kind {
            LayerKind::Flatten { implicit: true } => "flatten (implicit)",
            _ => "flatten",
        }
        .to_string()
    }
}
