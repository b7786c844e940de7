//! `add NAME...`: the elementwise sum of the current tensor and the named
//! ones, all of one shape: a residual connection, as Keras's `Add`.

use super::{KindRule, Site};
use crate::diagnostic::Diagnostic;
use crate::model::{LayerKind, Shape};

pub struct AddRule;

impl KindRule for AddRule {
    fn kind_name(&self) -> &'static str {
        "add"
    }

    /// The shape of every input; tensors of two shapes name both layers.
    fn output(&self, _kind: &LayerKind, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let first = inputs[0];
        for (&shape, (from, named)) in inputs[1..].iter().zip(&site.more) {
            if shape == first {
                continue;
            }
            let mut d = Diagnostic::error(format!(
                "`add` needs tensors of one shape, but gets {first} and {shape}"
            ))
            .label(*named, format!("this is {shape}"));
            let describe = |layer: Option<&crate::model::Layer>, shape: Shape| match layer {
                Some(l) => (l.span, format!("`{}` outputs {shape}", l.name)),
                None => (site.span, format!("the input is {shape}")),
            };
            let (span, text) = describe(site.from, first);
            d = d.label(span, text);
            let (span, text) = describe(*from, shape);
            d = d.label(span, text);
            return Err(d.help("sum tensors of one shape: change a stride or a filter count, or project one side with `conv N 1x1 stride S from NAME`"));
        }
        Ok(first)
    }

    // No parameters, and no FLOPs: a sum has no multiply-accumulates.

    fn describe(&self, _kind: &LayerKind) -> String {
        "add".to_string()
    }
}
