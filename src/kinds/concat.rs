//! `concat NAME...`: the current tensor and the named ones joined along
//! the channels, as Keras's `Concatenate(axis=-1)` and PyTorch's
//! `torch.cat(dim=1)` (ONNX's `Concat`). Images must agree in height and
//! width; vectors join end to end. On the GPU each input is copied into its
//! channel slice of the output (one kernel per input), and each input's
//! gradient is its slice of the output's, times that input's producer's
//! derivative.

use super::{Kind, LayerKind, Syntax};
use crate::diagnostic::Span;
use crate::model::{Checker, Spec};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Signature, Value as Takes};

use crate::codegen::{Access, BufferId, BufferRole, Header, Phase, Planner};
use crate::diagnostic::Diagnostic;
use crate::export::layout::{self, Layout, in_cnnc_order};
use crate::export::onnx::{self, Graph, Value, int};
use crate::export::torch::{self, Step};
use crate::model::{KindRule, Model, Operand, Producer, Shape, Site};
use crate::reference::{self, Context, hwc};
use crate::template;

/// A concat, which has no settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Concat;

/// Where a tensor comes from and what it is, for a label.
fn describe(layer: Option<Producer>, shape: Shape, site: &Site) -> (crate::diagnostic::Span, String) {
    match layer {
        Some(l) => (l.span, format!("`{}` outputs {shape}", l.name)),
        None => (site.span, format!("the input is {shape}")),
    }
}

impl Syntax for Concat {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("concat"),
        arguments: &[Argument::required("operands", Takes::Names)],
        options: &[],
        usage: "concat NAME..., for example `concat left` (joined along the channels)",
        example: "concat left right",
        aliases: &["route", "concatenate", "cat"],
    };

    fn lower(_: &LayerStatement, span: Span, _: &mut Checker) -> Option<Spec<LayerKind>> {
        Some(Spec::new(Concat.into(), span))
    }
}

impl KindRule for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }

    /// The first input's height and width with the channels of all; a
    /// tensor of another height and width (or an image among vectors)
    /// names both layers and both shapes.
    fn output(&self, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
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

    fn describe(&self) -> String {
        "concat".to_string()
    }
}

impl Kind for Concat {}

/// Rows of layer `i`'s tensors (pixels of the batch, or samples), and
/// each input's channels with its offset in the output's.
fn slices(p: &Planner<LayerKind>, i: usize) -> (usize, Vec<(Operand, usize, usize)>) {
    let layer = &p.model.layers[i];
    let total = layer.output.channels();
    let rows = p.options.batch * layer.output.elements() / total;
    let mut offset = 0;
    let slices = layer
        .inputs
        .iter()
        .map(|&o| {
            let c = p.model.shape(o).channels();
            offset += c;
            (o, c, offset - c)
        })
        .collect();
    (rows, slices)
}

fn header(rows: usize, c: usize, total: usize, offset: usize) -> Header {
    Header::default()
        .u32("ROWS", rows)
        .u32("C", c)
        .u32("CO", total)
        .u32("OFF", offset)
}

impl crate::codegen::Rule<LayerKind> for Concat {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let (name, total) = (layer.name.clone(), layer.output.channels());
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let (rows, slices) = slices(p, i);
        for (operand, c, offset) in slices {
            let bindings = vec![(p.value(operand), Access::Read), (out, Access::ReadWrite)];
            p.forward_kernel(
                i,
                template!("concat_forward"),
                header(rows, c, total, offset),
                bindings,
                rows * c,
            );
        }
        out
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let layer = &p.model.layers[i];
        let (name, total) = (layer.name.clone(), layer.output.channels());
        let (rows, slices) = slices(p, i);
        for (k, (operand, c, offset)) in slices.into_iter().enumerate() {
            if !p.needs_grad(operand) {
                continue;
            }
            let producer = p.producer_activation(operand);
            let x = p.value(operand);
            let dx = p.input_grad(i, k);
            let header = header(rows, c, total, offset).input_derivative(producer);
            let bindings = vec![(dy, Access::Read), (x, Access::Read), (dx, Access::ReadWrite)];
            p.kernel(
                format!("{name}_backward"),
                template!("concat_backward"),
                Phase::Backward,
                Some(i),
                header,
                bindings,
                rows * c,
                0,
            );
        }
    }
}

/// Each input's channels, and the output's: every input holds
/// `batch * pixels` rows of its channels, the output rows of their sum.
fn channels(c: &Context<LayerKind>, xs: &[&[f64]]) -> (Vec<usize>, usize) {
    let (h, w, total) = hwc(c.layer.output);
    let rows = c.batch() * h * w;
    let each: Vec<usize> = xs.iter().map(|x| x.len() / rows).collect();
    assert_eq!(
        each.iter().sum::<usize>(),
        total,
        "{}: channels add up",
        c.layer.name
    );
    (each, total)
}

impl reference::Rule<LayerKind> for Concat {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        let (each, total) = channels(c, xs);
        let rows = xs[0].len() / each[0];
        let mut y = vec![0.0; rows * total];
        let mut offset = 0;
        for (x, &ch) in xs.iter().zip(&each) {
            for row in 0..rows {
                y[row * total + offset..][..ch].copy_from_slice(&x[row * ch..][..ch]);
            }
            offset += ch;
        }
        y
    }

    /// Each input's gradient is its channel slice of the output's.
    fn backward(
        &self,
        c: &Context<LayerKind>,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let (each, total) = channels(c, xs);
        let rows = dz.len() / total;
        let mut offset = 0;
        each.iter()
            .map(|&ch| {
                let dx = (0..rows * ch)
                    .map(|i| dz[(i / ch) * total + offset + i % ch])
                    .collect();
                offset += ch;
                dx
            })
            .collect()
    }
}

/// Along the channels (axis 1 of NCHW), or end to end for vectors in
/// cnnc's order.
impl onnx::Lower<LayerKind> for Concat {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
        g.node(
            "Concat",
            &layer.name,
            &names,
            vec![int("axis", 1)],
            Layout::of(layer.output),
        )
    }
}

/// Vectors are joined in cnnc's order, whatever made them.
impl layout::Order<LayerKind> for Concat {
    fn layouts(&self, model: &Model<LayerKind>, index: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        (in_cnnc_order(given), Layout::of(model.layers[index].output))
    }
}

impl torch::Lower<LayerKind> for Concat {
    fn torch(&self, _layer: &super::Layer, s: &mut Step) {
        s.merge = Some(|xs| format!("torch.cat([{}], dim=1)", xs.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;
    use crate::kinds::Layer;
    use crate::model::Operand;

    fn site<'a>(from: Option<Producer<'a>>, more: Vec<(Option<Producer<'a>>, Span)>) -> Site<'a> {
        Site {
            span: Span::new(0, 1),
            focus: Span::new(0, 1),
            from,
            more,
        }
    }

    #[test]
    fn channels_add_and_vectors_join() {
        let a = Shape::Image { h: 4, w: 5, c: 3 };
        let b = Shape::Image { h: 4, w: 5, c: 2 };
        let more = vec![(None, Span::new(2, 3)), (None, Span::new(4, 5))];
        let out = Concat.output(&[a, b, a], &site(None, more.clone()));
        assert_eq!(out.ok(), Some(Shape::Image { h: 4, w: 5, c: 8 }));
        let flat = Concat.output(&[Shape::Flat(3), Shape::Flat(4)], &site(None, more));
        assert_eq!(flat.ok(), Some(Shape::Flat(7)));
    }

    #[test]
    fn a_mismatch_names_both_layers_and_shapes() {
        let layer = |name: &str, output: Shape, at: usize| Layer {
            name: name.into(),
            kind: Concat.into(),
            inputs: vec![Operand::Input],
            input: output,
            output,
            span: Span::new(at, at + 1),
            site: Span::new(at, at + 1),
        };
        let a = layer("conv1", Shape::Image { h: 4, w: 4, c: 3 }, 10);
        let b = layer("pool1", Shape::Image { h: 2, w: 2, c: 3 }, 20);
        let s = site(Some(a.producer()), vec![(Some(b.producer()), Span::new(30, 35))]);
        let d = Concat.output(&[a.output, b.output], &s).unwrap_err();
        let text = format!("{d:?}");
        for part in [
            "4x4 (4x4x3)",
            "2x2 (2x2x3)",
            "`conv1` outputs 4x4x3",
            "`pool1` outputs 2x2x3",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let s = site(Some(a.producer()), vec![(None, Span::new(30, 35))]);
        let d = Concat.output(&[a.output, Shape::Flat(7)], &s).unwrap_err();
        assert!(format!("{d:?}").contains("the input is 7"), "{d:?}");
    }
}
