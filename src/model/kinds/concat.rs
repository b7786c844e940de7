//! `concat NAME...` (not yet in the language): the current tensor and the
//! named ones joined along the channels, as Keras's
//! `Concatenate(axis=-1)` and PyTorch's `torch.cat(dim=1)`. Images must
//! agree in height and width; vectors join end to end.

use super::{KindRule, Site};
use crate::diagnostic::Diagnostic;
use crate::model::{Layer, LayerKind, Shape};

pub struct ConcatRule;

/// Where a tensor comes from and what it is, for a label.
fn describe(layer: Option<&Layer>, shape: Shape, site: &Site) -> (crate::diagnostic::Span, String) {
    match layer {
        Some(l) => (l.span, format!("`{}` outputs {shape}", l.name)),
        None => (site.span, format!("the input is {shape}")),
    }
}

impl KindRule for ConcatRule {
    fn kind_name(&self) -> &'static str {
        "concat"
    }

    /// The first input's height and width with the channels of all; a
    /// tensor of another height and width (or an image among vectors)
    /// names both layers and both shapes.
    fn output(&self, _kind: &LayerKind, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let first = inputs[0];
        let mut channels = first.channels();
        for (&shape, (from, named)) in inputs[1..].iter().zip(&site.more) {
            let agrees = match (first, shape) {
                (Shape::Image { h, w, .. }, Shape::Image { h: h2, w: w2, .. }) => (h, w) == (h2, w2),
                (Shape::Flat(_), Shape::Flat(_)) => true,
                _ => false,
            };
            if agrees {
                channels += shape.channels();
                continue;
            }
            let message = match (first, shape) {
                (Shape::Image { h, w, .. }, Shape::Image { h: h2, w: w2, .. }) => format!(
                    "`concat` joins images of one height and width, but gets {h}x{w} ({first}) and {h2}x{w2} ({shape})"
                ),
                _ => format!(
                    "`concat` joins images with images and vectors with vectors, but gets {first} and {shape}"
                ),
            };
            let mut d = Diagnostic::error(message).label(*named, format!("this is {shape}"));
            let (span, text) = describe(site.from, first, site);
            d = d.label(span, text);
            let (span, text) = describe(*from, shape, site);
            d = d.label(span, text);
            return Err(d.help(
                "join tensors of one height and width: change a stride or a pool, or `flatten` both sides first",
            ));
        }
        Ok(match first {
            Shape::Image { h, w, .. } => Shape::Image { h, w, c: channels },
            Shape::Flat(_) => Shape::Flat(channels),
        })
    }

    // No parameters, and no FLOPs: a copy has no multiply-accumulates.

    fn describe(&self, _kind: &LayerKind) -> String {
        "concat".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;
    use crate::model::Operand;

    fn site<'a>(from: Option<&'a Layer>, more: Vec<(Option<&'a Layer>, Span)>) -> Site<'a> {
        Site {
            span: Span::new(0, 1),
            focus: Span::new(0, 1),
            from,
            more,
        }
    }

    #[test]
    fn channels_add_and_vectors_join() {
        let kind = LayerKind::Concat;
        let a = Shape::Image { h: 4, w: 5, c: 3 };
        let b = Shape::Image { h: 4, w: 5, c: 2 };
        let more = vec![(None, Span::new(2, 3)), (None, Span::new(4, 5))];
        let out = ConcatRule.output(&kind, &[a, b, a], &site(None, more.clone()));
        assert_eq!(out.ok(), Some(Shape::Image { h: 4, w: 5, c: 8 }));
        let flat = ConcatRule.output(&kind, &[Shape::Flat(3), Shape::Flat(4)], &site(None, more));
        assert_eq!(flat.ok(), Some(Shape::Flat(7)));
    }

    #[test]
    fn a_mismatch_names_both_layers_and_shapes() {
        let layer = |name: &str, output: Shape, at: usize| Layer {
            name: name.into(),
            kind: LayerKind::Concat,
            inputs: vec![Operand::Input],
            input: output,
            output,
            span: Span::new(at, at + 1),
            site: Span::new(at, at + 1),
        };
        let a = layer("conv1", Shape::Image { h: 4, w: 4, c: 3 }, 10);
        let b = layer("pool1", Shape::Image { h: 2, w: 2, c: 3 }, 20);
        let s = site(Some(&a), vec![(Some(&b), Span::new(30, 35))]);
        let d = ConcatRule
            .output(&LayerKind::Concat, &[a.output, b.output], &s)
            .unwrap_err();
        let text = format!("{d:?}");
        for part in [
            "4x4 (4x4x3)",
            "2x2 (2x2x3)",
            "`conv1` outputs 4x4x3",
            "`pool1` outputs 2x2x3",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let s = site(Some(&a), vec![(None, Span::new(30, 35))]);
        let d = ConcatRule
            .output(&LayerKind::Concat, &[a.output, Shape::Flat(7)], &s)
            .unwrap_err();
        assert!(format!("{d:?}").contains("the input is 7"), "{d:?}");
    }
}
