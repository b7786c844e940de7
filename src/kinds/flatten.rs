//! `flatten`: NHWC memory read as one vector per sample, as Keras's
//! `Flatten`; also inserted before a `dense` that reads an image. A view:
//! no kernel, no memory, the gradient passes through. PyTorch's and ONNX's
//! flatten order an image's features channel first, where cnnc's run row,
//! column, channel; the saved tensors of what reads a flatten follow
//! PyTorch's (see `weights::flattened_image`), and the exports reorder
//! where something else reads it.

use super::{Kind, LayerKind, Syntax};
use crate::diagnostic::Span;
use crate::model::{Checker, Spec};
use crate::syntax::signature::{Keyword, LayerStatement, Signature};

use crate::codegen::{BufferId, Planner};
use crate::diagnostic::Diagnostic;
use crate::export::layout::{self, Layout};
use crate::export::onnx::{self, Graph, Value, identity, int};
use crate::export::torch::{self, Step};
use crate::model::{KindRule, Model, Shape, Site};
use crate::reference::{self, Context};

/// A flatten's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flatten {
    /// Inserted before a `dense` rather than written.
    pub implicit: bool,
}

impl Syntax for Flatten {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("flatten"),
        arguments: &[],
        options: &[],
        usage: "flatten (no arguments)",
        example: "flatten",
        aliases: &["reshape"],
    };

    fn lower(_: &LayerStatement, span: Span, _: &mut Checker) -> Option<Spec<LayerKind>> {
        Some(Spec::new(Flatten { implicit: false }.into(), span))
    }
}

impl KindRule for Flatten {
    fn name(&self) -> &'static str {
        "flatten"
    }

    fn output(&self, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        Ok(Shape::Flat(inputs[0].elements()))
    }

    fn is_view(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        match self.implicit {
            true => "flatten (implicit)",
            false => "flatten",
        }
        .to_string()
    }
}

impl Kind for Flatten {}

/// A view: the output is the input's buffer.
impl crate::codegen::Rule<LayerKind> for Flatten {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        p.input_of(i)
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let input = p.model.layers[i].inputs[0];
        if p.needs_grad(input) {
            p.give_gradient(input, dy);
        }
    }
}

impl reference::Rule<LayerKind> for Flatten {
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

/// An image flattens channel first (see `onnx::order`); vectors pass.
impl onnx::Lower<LayerKind> for Flatten {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let (layer, x) = (&model.layers[index], &inputs[0]);
        match x.layout {
            Layout::Nchw { h, w, c } => g.node(
                "Flatten",
                &layer.name,
                &[&x.name],
                vec![int("axis", 1)],
                Layout::ChannelsFirst { h, w, c },
            ),
            _ => identity(g, &layer.name, x),
        }
    }
}

/// An NCHW image flattens channel first (as the saved weights after it
/// expect); vectors pass.
impl layout::Order<LayerKind> for Flatten {
    fn layouts(&self, _model: &Model<LayerKind>, _index: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        let output = match given[0] {
            Layout::Nchw { h, w, c } => Layout::ChannelsFirst { h, w, c },
            flat => flat,
        };
        (given, output)
    }
}

impl torch::Lower<LayerKind> for Flatten {
    fn torch(&self, layer: &super::Layer, s: &mut Step) {
        s.push(&layer.name, "nn.Flatten()");
    }
}
