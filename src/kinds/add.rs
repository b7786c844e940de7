//! `add NAME...`: the elementwise sum of the current tensor and the named
//! ones, all of one shape: a residual connection, as Keras's `Add`
//! (PyTorch's `+`, ONNX's `Sum`). Its gradient is each input's, times that
//! input's producer's derivative.

use super::{Kind, LayerKind, Syntax};
use crate::diagnostic::Span;
use crate::model::{Checker, Spec};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Signature, Value as Takes};

use crate::codegen::{BufferId, BufferRole, Phase, Planner};
use crate::diagnostic::Diagnostic;
use crate::export::layout::{self, Layout, in_cnnc_order};
use crate::export::onnx::{self, Graph, Value};
use crate::export::torch::{self, Step};
use crate::model::{KindRule, Model, Producer, Shape, Site};
use crate::reference::{self, Context};

/// An add, which has no settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Add;

impl Syntax for Add {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("add"),
        arguments: &[Argument::required("operands", Takes::Names)],
        options: &[],
        usage: "add NAME..., for example `add skip` (the current tensor plus `skip`)",
        example: "add skip other",
        aliases: &["sum", "shortcut", "residual", "eltwise"],
    };

    fn lower(_: &LayerStatement, span: Span, _: &mut Checker) -> Option<Spec<LayerKind>> {
        Some(Spec::new(Add.into(), span))
    }
}

impl KindRule for Add {
    fn name(&self) -> &'static str {
        "add"
    }

    /// The shape of every input; tensors of two shapes name both layers.
    fn output(&self, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let first = inputs[0];
        for (&shape, (from, named)) in inputs[1..].iter().zip(&site.more) {
            if shape == first {
                continue;
            }
            let mut d = Diagnostic::error(format!(
                "`add` needs tensors of one shape, but gets {first} and {shape}"
            ))
            .label(*named, format!("this is {shape}"));
            let describe = |layer: Option<Producer>, shape: Shape| match layer {
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

    fn describe(&self) -> String {
        "add".to_string()
    }
}

impl Kind for Add {}

impl crate::codegen::Rule<LayerKind> for Add {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let inputs: Vec<BufferId> = layer.inputs.iter().map(|&o| p.value(o)).collect();
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        p.sum_into(format!("{name}_forward"), Phase::Forward, i, &inputs, out);
        out
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        for k in 0..p.model.layers[i].inputs.len() {
            p.apply_derivative(i, k, dy);
        }
    }
}

impl reference::Rule<LayerKind> for Add {
    fn forward(&self, _c: &Context<LayerKind>, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        let mut sum = vec![0.0; xs[0].len()];
        for x in xs {
            sum.iter_mut().zip(*x).for_each(|(s, v)| *s += v);
        }
        sum
    }

    /// Each input's gradient is the sum's.
    fn backward(
        &self,
        _c: &Context<LayerKind>,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![dz.to_vec(); xs.len()]
    }
}

/// ONNX's variadic `Sum`, of vectors in cnnc's order.
impl onnx::Lower<LayerKind> for Add {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
        g.node("Sum", &layer.name, &names, Vec::new(), Layout::of(layer.output))
    }
}

/// Vectors are summed in cnnc's order, whatever made them.
impl layout::Order<LayerKind> for Add {
    fn layouts(&self, model: &Model<LayerKind>, index: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        (in_cnnc_order(given), Layout::of(model.layers[index].output))
    }
}

impl torch::Lower<LayerKind> for Add {
    fn torch(&self, _layer: &super::Layer, s: &mut Step) {
        s.merge = Some(|xs| xs.join(" + "));
    }
}
