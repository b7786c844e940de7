//! `globalpool avg|max`: each channel's average or maximum over the whole
//! image, an image H x W x C becoming a vector of C: Keras's
//! `GlobalAveragePooling2D` / `GlobalMaxPooling2D`, PyTorch's
//! `AdaptiveAvgPool2d(1)` / `AdaptiveMaxPool2d(1)` then `flatten`. A pool
//! whose window is the whole image: its 1x1xC output is, in NHWC, the flat
//! C it outputs, so it runs the `pool` kind's kernels and reference.

use super::pool::Pool;
use super::{Kind, LayerKind, Syntax};
use crate::diagnostic::Span;
use crate::model::{Checker, Spec};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Signature, Value as Takes};

use crate::codegen::{BufferId, Planner};
use crate::diagnostic::Diagnostic;
use crate::export::onnx::{self, Graph, Layout, Value, int};
use crate::export::torch::{self, Step};
use crate::model::{KindRule, Model, PoolKind, Shape, Site, image_input};
use crate::reference::{self, Context};

/// A global pool's settings: the average or the maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlobalPool(pub PoolKind);

impl Syntax for GlobalPool {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("globalpool"),
        arguments: &[Argument::optional("kind", Takes::Choice(&["avg", "max"]))],
        options: &[],
        usage: "globalpool [avg|max], for example `globalpool avg`",
        example: "globalpool max",
        aliases: &["gap", "global_pool", "globalavgpool", "global_average_pooling2d"],
    };

    /// The average unless `max` is written.
    fn lower(g: &LayerStatement, span: Span, _: &mut Checker) -> Option<Spec<LayerKind>> {
        let kind = match g.word("kind").map(|k| k.node) {
            Some("max") => PoolKind::Max,
            _ => PoolKind::Avg,
        };
        Some(Spec::new(GlobalPool(kind).into(), span))
    }
}

impl KindRule for GlobalPool {
    fn name(&self) -> &'static str {
        "globalpool"
    }

    fn output(&self, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        image_input(inputs[0], "globalpool", site)?;
        Ok(Shape::Flat(inputs[0].channels()))
    }

    fn describe(&self) -> String {
        match self.0 {
            PoolKind::Max => "globalpool max",
            PoolKind::Avg => "globalpool avg",
        }
        .into()
    }
}

impl Kind for GlobalPool {}

impl GlobalPool {
    /// The pool over an input of this shape.
    fn whole(&self, input: Shape) -> Pool {
        let Shape::Image { h, w, .. } = input else {
            unreachable!("a checked globalpool reads an image")
        };
        Pool {
            kind: self.0,
            window: [h, w],
            stride: 1,
        }
    }
}

impl crate::codegen::Rule<LayerKind> for GlobalPool {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        self.whole(p.model.layers[i].input).forward_kernel(p, i, [1, 1])
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        self.whole(p.model.layers[i].input)
            .backward_kernel(p, i, [1, 1], dy);
    }
}

impl reference::Rule<LayerKind> for GlobalPool {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        self.whole(c.layer.input).reference_forward(c, xs[0])
    }

    fn backward(
        &self,
        c: &Context<LayerKind>,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![self.whole(c.layer.input).reference_backward(c, xs[0], dz)]
    }
}

/// A global pool gives `[N, C, 1, 1]`; a `Flatten` makes it cnnc's `[N, C]`.
impl onnx::Lower<LayerKind> for GlobalPool {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let op = match self.0 {
            PoolKind::Max => "GlobalMaxPool",
            PoolKind::Avg => "GlobalAveragePool",
        };
        let channels = layer.output.channels();
        let pooled = g.node(
            op,
            &format!("{}_pool", layer.name),
            &[&inputs[0].name],
            Vec::new(),
            Layout::Nchw {
                h: 1,
                w: 1,
                c: channels,
            },
        );
        g.node(
            "Flatten",
            &layer.name,
            &[&pooled.name],
            vec![int("axis", 1)],
            Layout::of(layer.output),
        )
    }
}

/// Images stay NCHW.
impl crate::export::layout::Order<LayerKind> for GlobalPool {}

impl torch::Lower<LayerKind> for GlobalPool {
    fn torch(&self, layer: &super::Layer, s: &mut Step) {
        let pool = match self.0 {
            PoolKind::Max => "nn.AdaptiveMaxPool2d(1)",
            PoolKind::Avg => "nn.AdaptiveAvgPool2d(1)",
        };
        s.push(format!("{}_pool", layer.name), pool);
        s.push(&layer.name, "nn.Flatten()");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;

    #[test]
    fn an_image_becomes_its_channels() {
        let site = Site {
            span: Span::new(0, 1),
            focus: Span::new(0, 1),
            from: None,
            more: Vec::new(),
        };
        let avg = GlobalPool(PoolKind::Avg);
        let out = avg.output(&[Shape::Image { h: 3, w: 5, c: 7 }], &site);
        assert_eq!(out.ok(), Some(Shape::Flat(7)));
        assert!(avg.output(&[Shape::Flat(7)], &site).is_err());
        assert_eq!(GlobalPool(PoolKind::Max).describe(), "globalpool max");
    }
}
