//! `dropout RATE`: inverted dropout, as Keras's `Dropout`; the identity
//! outside training (ONNX's `Identity`). The mask is not stored: forward
//! and backward kernels, and the reference, hash (step seed, layer,
//! element) to the same keep decision (`rng::dropout_keep`, and
//! `dropout_key` in common.wgsl).

use super::{Kind, LayerKind, Syntax};
use crate::codegen::{Access, BufferId, BufferRole, Header, Phase, Planner};
use crate::diagnostic::{Diagnostic, Span};
use crate::export::layout::{self, Layout};
use crate::export::onnx::{self, Graph, Value, identity};
use crate::export::torch::{self, Step};
use crate::model::{Checker, KindRule, Model, Shape, Site, Spec};
use crate::reference::{self, Context};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Signature, Value as Takes};
use crate::{rng, template};

/// A dropout's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// The fraction dropped, in [0, 1).
    pub rate: f32,
}

impl Syntax for Dropout {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("dropout"),
        arguments: &[Argument::required("rate", Takes::Number)],
        options: &[],
        usage: "dropout RATE, for example `dropout 0.5`",
        example: "dropout 0.5",
        aliases: &["drop"],
    };

    /// The rate must lie in [0, 1): 1 would drop everything.
    fn lower(d: &LayerStatement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>> {
        let rate = d.number("rate").expect("read by the signature");
        if !(0.0..1.0).contains(&rate.node) {
            cx.error(
                Diagnostic::error(format!("dropout rate {} is outside [0, 1)", rate.node))
                    .label(rate.span, "the fraction of values to drop")
                    .help(
                        "a dropout rate is a fraction: 0 keeps everything, 0.5 drops half; 1 would drop all",
                    ),
            );
            return None;
        }
        let dropout = Dropout {
            rate: rate.node as f32,
        };
        Some(Spec::new(dropout.into(), span))
    }
}

impl KindRule for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn output(&self, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        Ok(inputs[0])
    }

    fn keeps_feature_order(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("dropout {}", self.rate)
    }
}

impl Kind for Dropout {}

impl Dropout {
    /// Elements of layer `i`'s output over the batch, and the header both
    /// kernels share.
    fn header(&self, p: &Planner<LayerKind>, i: usize) -> (usize, Header) {
        let n = p.options.batch * p.model.layers[i].output.elements();
        let header = Header::default()
            .u32("N", n)
            .u32("THRESHOLD", rng::dropout_threshold(self.rate) as usize)
            .f32("SCALE", 1.0 / (1.0 - self.rate))
            .u32("SALT", i);
        (n, header)
    }

    /// Each element's factor: in training 0 or 1 / (1 - rate), else 1.
    fn scale(&self, c: &Context<LayerKind>) -> Vec<f64> {
        let n = c.batch() * c.layer.input.elements();
        if !c.mode.training {
            return vec![1.0; n];
        }
        let key = rng::dropout_key(c.mode.seed, c.index as u32);
        let threshold = rng::dropout_threshold(self.rate);
        let kept = 1.0 / (1.0 - self.rate as f64);
        (0..n)
            .map(|e| match rng::dropout_keep(key, e as u32, threshold) {
                true => kept,
                false => 0.0,
            })
            .collect()
    }
}

impl crate::codegen::Rule<LayerKind> for Dropout {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let input = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let (n, header) = self.header(p, i);
        let bindings = vec![
            (input, Access::Read),
            (out, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let template = template!("dropout_forward");
        p.forward_kernel(i, template, header, bindings, n);
        out
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let input = p.model.layers[i].inputs[0];
        if !p.needs_grad(input) {
            return;
        }
        let name = p.model.layers[i].name.clone();
        let x = p.input_of(i);
        let dx = p.input_grad(i, 0);
        let (n, header) = self.header(p, i);
        let header = header.input_derivative(p.producer_activation(input));
        let bindings = vec![
            (dy, Access::Read),
            (x, Access::Read),
            (dx, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let template = template!("dropout_backward");
        p.kernel(
            format!("{name}_backward"),
            template,
            Phase::Backward,
            Some(i),
            header,
            bindings,
            n,
            0,
        );
    }
}

impl reference::Rule<LayerKind> for Dropout {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        xs[0].iter().zip(self.scale(c)).map(|(v, s)| v * s).collect()
    }

    fn backward(
        &self,
        c: &Context<LayerKind>,
        _xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![dz.iter().zip(self.scale(c)).map(|(d, s)| d * s).collect()]
    }
}

/// Off in inference.
impl onnx::Lower<LayerKind> for Dropout {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        identity(g, &model.layers[index].name, &inputs[0])
    }
}

impl layout::Order<LayerKind> for Dropout {
    fn layouts(&self, _model: &Model<LayerKind>, _index: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        layout::elementwise(given)
    }
}

impl torch::Lower<LayerKind> for Dropout {
    fn torch(&self, layer: &super::Layer, s: &mut Step) {
        s.push(&layer.name, format!("nn.Dropout({})", self.rate));
    }
}
