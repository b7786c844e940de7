//! `batchnorm`: per-channel normalisation with Keras's
//! `BatchNormalization` defaults (see `model::keras`): on the GPU,
//! statistics per channel (one workgroup each) that also move the running
//! ones in training, then the normalisation; backward, the scale and shift
//! gradients per channel, then the input's. PyTorch's `BatchNorm2d`
//! (`BatchNorm1d` on vectors), ONNX's `BatchNormalization`.

// Index loops read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

use super::{Kind, LayerKind, Syntax};
use crate::diagnostic::Span;
use crate::model::{Checker, Spec};
use crate::syntax::signature::{Keyword, LayerStatement, Signature};

use crate::codegen::gemm::weights;
use crate::codegen::{Access, BufferId, BufferRole, Header, Phase, Planner, REDUCE_WG, dispatch};
use crate::diagnostic::Diagnostic;
use crate::export::layout::{self, Layout, saved_feature_order};
use crate::export::onnx::{self, Graph, Value, float};
use crate::export::torch::{self, Step};
use crate::model::keras::{BATCHNORM_EPSILON, BATCHNORM_MOMENTUM, python_float};
use crate::model::{Init, KindRule, Model, ParamRole, Shape, Site, TensorSpec, TorchLayout};
use crate::reference::{self, Context};
use crate::template;

/// A batchnorm, which has no settings: Keras's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNorm;

impl Syntax for BatchNorm {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("batchnorm"),
        arguments: &[],
        options: &[],
        usage: "batchnorm (no arguments)",
        example: "batchnorm",
        aliases: &[
            "bn",
            "batch_norm",
            "batchnormalization",
            "batch_normalization",
            "norm",
        ],
    };

    fn lower(_: &LayerStatement, span: Span, _: &mut Checker) -> Option<Spec<LayerKind>> {
        Some(Spec::new(BatchNorm.into(), span))
    }
}

impl KindRule for BatchNorm {
    fn name(&self) -> &'static str {
        "batchnorm"
    }

    fn output(&self, inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        Ok(inputs[0])
    }

    /// γ and β, trained; the running mean and variance, not: one each per
    /// channel (per feature of a vector), starting as the identity.
    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorSpec> {
        [
            (ParamRole::Weight, Init::Ones),
            (ParamRole::Bias, Init::Zeros),
            (ParamRole::RunningMean, Init::Zeros),
            (ParamRole::RunningVar, Init::Ones),
        ]
        .into_iter()
        .map(|(role, init)| TensorSpec {
            role,
            shape: vec![input.channels()],
            decays: false,
            init,
            torch: TorchLayout::Features,
        })
        .collect()
    }

    fn keeps_feature_order(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "batchnorm".to_string()
    }
}

impl Kind for BatchNorm {}

/// Channels, and the header the per-channel kernels share: batch,
/// positions per sample, channels.
fn shape(p: &Planner<LayerKind>, i: usize) -> (usize, Header) {
    let input = p.model.layers[i].input;
    let c = input.channels();
    let header = Header::default()
        .u32("B", p.options.batch)
        .u32("S", input.elements() / c)
        .u32("C", c);
    (c, header)
}

impl crate::codegen::Rule<LayerKind> for BatchNorm {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let input = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let n = p.options.batch * layer.input.elements();
        let (c, shape) = shape(p, i);
        let (gamma, beta) = weights(p, i);
        let offset = |role| p.layout.get(i, role).expect("batchnorm statistics").offset;
        let (mean, var) = (offset(ParamRole::RunningMean), offset(ParamRole::RunningVar));
        let stats = p.buffer(
            format!("{name}_statistics"),
            8 * c as u64,
            BufferRole::BatchNormStatistics,
        );
        p.save(i, "statistics", stats);
        let header = shape
            .workgroup_sum()
            .f32("MOMENTUM", BATCHNORM_MOMENTUM)
            .f32("EPSILON", BATCHNORM_EPSILON)
            .u32("MEAN_OFF", mean)
            .u32("VAR_OFF", var);
        let bindings = vec![
            (input, Access::Read),
            (p.io.params, Access::ReadWrite),
            (stats, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let (kernel, groups) = (format!("{name}_statistics"), dispatch(c, 1));
        let template = template!("batchnorm_statistics");
        p.kernel_in_groups(
            kernel,
            template,
            Phase::Forward,
            Some(i),
            header,
            bindings,
            REDUCE_WG,
            groups,
            0,
        );
        let header = Header::default()
            .u32("N", n)
            .u32("C", c)
            .u32("GAMMA_OFF", gamma)
            .u32("BETA_OFF", beta);
        let bindings = vec![
            (input, Access::Read),
            (p.io.params, Access::Read),
            (stats, Access::Read),
            (out, Access::ReadWrite),
        ];
        let template = template!("batchnorm_forward");
        p.forward_kernel(i, template, header, bindings, n);
        out
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let layer = &p.model.layers[i];
        let (name, input) = (layer.name.clone(), layer.inputs[0]);
        let n = p.options.batch * layer.input.elements();
        let x = p.input_of(i);
        let (c, shape) = shape(p, i);
        let (gamma, beta) = weights(p, i);
        let stats = p.saved(i, "statistics");
        let header = shape.u32("GAMMA_OFF", gamma).u32("BETA_OFF", beta);
        let bindings = vec![
            (x, Access::Read),
            (dy, Access::Read),
            (stats, Access::Read),
            (p.io.grads, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let (kernel, groups) = (format!("{name}_backward_params"), dispatch(c, 1));
        let (template, summing) = (
            template!("batchnorm_backward_params"),
            header.clone().workgroup_sum(),
        );
        p.kernel_in_groups(
            kernel,
            template,
            Phase::Backward,
            Some(i),
            summing,
            bindings,
            REDUCE_WG,
            groups,
            0,
        );
        if !p.needs_grad(input) {
            return;
        }
        let producer = p.producer_activation(input);
        let dx = p.input_grad(i, 0);
        let bindings = vec![
            (x, Access::Read),
            (dy, Access::Read),
            (stats, Access::Read),
            (p.io.params, Access::Read),
            (p.io.grads, Access::Read),
            (dx, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let header = header.u32("N", n).input_derivative(producer);
        let (kernel, template) = (
            format!("{name}_backward_input"),
            template!("batchnorm_backward_input"),
        );
        p.kernel(kernel, template, Phase::Backward, Some(i), header, bindings, n, 0);
    }
}

// Keras's defaults, as its documentation gives them, written here for the
// reference rather than read from `model::keras`, so that a wrong one
// there shows up as a disagreement with the kernels.
/// `BatchNormalization(momentum=0.99, epsilon=0.001)`.
const REFERENCE_MOMENTUM: f64 = 0.99;
const REFERENCE_EPSILON: f64 = 0.001;

/// Per channel of the input: mean and variance (biased, as Keras's) over
/// the real samples and every position, and how many values that is.
/// Padding samples (past `Reference::samples`) count in neither.
fn statistics(c: &Context<LayerKind>, x: &[f64]) -> (Vec<f64>, Vec<f64>, usize) {
    let channels = c.layer.input.channels();
    let real = c.samples().min(c.batch());
    let count = real * c.layer.input.elements() / channels;
    let mut mean = vec![0.0; channels];
    let mut var = vec![0.0; channels];
    for e in 0..count {
        for ch in 0..channels {
            mean[ch] += x[e * channels + ch] / count as f64;
        }
    }
    for e in 0..count {
        for ch in 0..channels {
            var[ch] += (x[e * channels + ch] - mean[ch]).powi(2) / count as f64;
        }
    }
    (mean, var, count)
}

fn inverse_std(var: &[f64]) -> Vec<f64> {
    var.iter().map(|v| 1.0 / (v + REFERENCE_EPSILON).sqrt()).collect()
}

/// In training, with the batch's statistics, which the running ones move
/// toward; in evaluation, with the running ones.
impl reference::Rule<LayerKind> for BatchNorm {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], params: &mut [f64]) -> Vec<f64> {
        let (channels, x) = (c.layer.input.channels(), xs[0]);
        let (mean_range, var_range) = (c.param(ParamRole::RunningMean), c.param(ParamRole::RunningVar));
        let (mean, var) = if c.mode.training {
            let (mean, var, _) = statistics(c, x);
            let running = |old: f64, new: f64| REFERENCE_MOMENTUM * old + (1.0 - REFERENCE_MOMENTUM) * new;
            for ch in 0..channels {
                params[mean_range.start + ch] = running(params[mean_range.start + ch], mean[ch]);
                params[var_range.start + ch] = running(params[var_range.start + ch], var[ch]);
            }
            (mean, var)
        } else {
            (params[mean_range].to_vec(), params[var_range].to_vec())
        };
        let inv_std = inverse_std(&var);
        let gamma = &params[c.param(ParamRole::Weight)];
        let beta = &params[c.param(ParamRole::Bias)];
        x.iter()
            .enumerate()
            .map(|(e, &v)| {
                let ch = e % channels;
                gamma[ch] * (v - mean[ch]) * inv_std[ch] + beta[ch]
            })
            .collect()
    }

    /// Training mode's: the batch's statistics depend on every input.
    fn backward(
        &self,
        c: &Context<LayerKind>,
        xs: &[&[f64]],
        params: &[f64],
        dz: &[f64],
        grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let (channels, x) = (c.layer.input.channels(), xs[0]);
        let (mean, var, count) = statistics(c, x);
        let inv_std = inverse_std(&var);
        let (g_range, b_range) = (c.param(ParamRole::Weight), c.param(ParamRole::Bias));
        let gamma = &params[g_range.clone()];
        let xhat = |e: usize| (x[e] - mean[e % channels]) * inv_std[e % channels];
        let real = count * channels;
        let (mut dgamma, mut dbeta) = (vec![0.0; channels], vec![0.0; channels]);
        for e in 0..real {
            dgamma[e % channels] += dz[e] * xhat(e);
            dbeta[e % channels] += dz[e];
        }
        let m = count as f64;
        let mut dx = vec![0.0; x.len()];
        for e in 0..real {
            let ch = e % channels;
            dx[e] = gamma[ch] * inv_std[ch] * (dz[e] - dbeta[ch] / m - xhat(e) * dgamma[ch] / m);
        }
        for ch in 0..channels {
            grads[g_range.start + ch] += dgamma[ch];
            grads[b_range.start + ch] += dbeta[ch];
        }
        vec![dx]
    }
}

/// Inference form: the running statistics, Keras's ε; vectors in the
/// order the saved statistics follow.
impl onnx::Lower<LayerKind> for BatchNorm {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let x = &inputs[0];
        let tensors: Vec<String> = ["weight", "bias", "running_mean", "running_var"]
            .iter()
            .map(|t| g.weight(&format!("{}.{t}", layer.name)))
            .collect();
        let mut names = vec![x.name.as_str()];
        names.extend(tensors.iter().map(String::as_str));
        g.node(
            "BatchNormalization",
            &layer.name,
            &names,
            vec![float("epsilon", BATCHNORM_EPSILON)],
            x.layout,
        )
    }
}

/// Vectors arrive in the order its saved statistics expect, and leave so.
impl layout::Order<LayerKind> for BatchNorm {
    fn layouts(&self, model: &Model<LayerKind>, index: usize, given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        match model.layers[index].input {
            Shape::Image { .. } => layout::elementwise(given),
            Shape::Flat(_) => {
                let order = saved_feature_order(model, index);
                (vec![order], order)
            }
        }
    }
}

/// PyTorch's `momentum` is Keras's `1 - momentum`.
impl torch::Lower<LayerKind> for BatchNorm {
    fn torch(&self, layer: &super::Layer, s: &mut Step) {
        let kind = match layer.input {
            Shape::Image { .. } => "BatchNorm2d",
            Shape::Flat(_) => "BatchNorm1d",
        };
        let (c, eps) = (layer.input.channels(), python_float(f64::from(BATCHNORM_EPSILON)));
        let momentum = python_float(1.0 - f64::from(BATCHNORM_MOMENTUM));
        s.push(
            &layer.name,
            format!("nn.{kind}({c}, eps={eps}, momentum={momentum})"),
        );
    }
}
