//! `dropout RATE`: inverted dropout, as Keras's `Dropout`; the identity
//! outside training.

use super::{KindRule, Site, Spec};
use crate::diagnostic::{Diagnostic, Span, Spanned};
use crate::model::check::Checker;
use crate::model::{LayerKind, Shape};

/// The rate must lie in [0, 1): 1 would drop everything.
pub(in crate::model) fn lower(rate: &Spanned<f64>, span: Span, cx: &mut Checker) -> Option<Spec> {
    if !(0.0..1.0).contains(&rate.node) {
        cx.error(
            Diagnostic::error(format!("dropout rate {} is outside [0, 1)", rate.node))
                .label(rate.span, "the fraction of values to drop")
                .help("a dropout rate is a fraction: 0 keeps everything, 0.5 drops half; 1 would drop all"),
        );
        return None;
    }
    let kind = LayerKind::Dropout {
        rate: rate.node as f32,
    };
    Some(Spec::new(kind, span))
}

pub struct DropoutRule;

impl KindRule for DropoutRule {
    fn kind_name(&self) -> &'static str {
        "dropout"
    }

    fn output(&self, _kind: &LayerKind, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        Ok(input)
    }

    fn describe(&self, kind: &LayerKind) -> String {
        let LayerKind::Dropout { rate } = kind else {
            unreachable!("the dropout rule is handed dropouts")
        };
        format!("dropout {rate}")
    }
}
