//! The elementwise sum of a layer's inputs, all of one shape: a residual
//! connection, as Keras's `Add`. The language does not write it yet;
//! tests build it by hand.

use super::{KindRule, Site};
use crate::diagnostic::Diagnostic;
use crate::model::{LayerKind, Shape};

pub struct AddRule;

impl KindRule for AddRule {
    fn kind_name(&self) -> &'static str {
        "add"
    }

    /// The shape of every input.
    fn output(&self, _kind: &LayerKind, input: Shape, _site: &Site) -> Result<Shape, Diagnostic> {
        Ok(input)
    }

    // No parameters, and no FLOPs: a sum has no multiply-accumulates.

    fn describe(&self, _kind: &LayerKind) -> String {
        "add".to_string()
    }
}
