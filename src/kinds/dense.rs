//! `dense UNITS [ACT] [l2 F]`: a fully connected layer with bias, as
//! Keras's `Dense` (PyTorch's `Linear`, ONNX's `Gemm`). An image input is
//! flattened first. On the GPU and in the reference a dense layer is a 1x1
//! convolution of a 1x1 image, sharing the conv kernels, tiles and tuning.

use super::flatten::Flatten;
use super::{Kind, LayerKind, Syntax, suffix_activation, suffix_l2};
use crate::codegen::gemm::{self, GemmShape};
use crate::codegen::{BufferId, BufferRole, Planner};
use crate::diagnostic::{Diagnostic, Span};
use crate::export::layout::{self, Layout, saved_feature_order};
use crate::export::onnx::{self, Graph, Value, int};
use crate::export::torch::{self, Step};
use crate::model::{
    Activation, Checker, Init, KindRule, Model, ParamRole, Shape, Site, Spec, TensorSpec, TorchLayout,
};
use crate::reference::{self, Context, Geometry};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Opt, Signature, Value as Takes};

/// A dense layer's settings. Its input is `Shape::Flat`; its output is
/// `Shape::Flat(units)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dense {
    /// At least 1.
    pub units: usize,
    pub activation: Activation,
    /// L2 penalty factor on the kernel, 0 if none; never negative.
    pub l2: f32,
}

impl Syntax for Dense {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("dense"),
        arguments: &[Argument::required("units", Takes::Count)],
        options: &[Opt::ACTIVATION, Opt::valued("l2", Takes::Number)],
        usage: "dense UNITS [ACTIVATION] [l2 F], for example `dense 10 softmax`",
        example: "dense 10 softmax l2 0.01",
        aliases: &[
            "fc",
            "fully_connected",
            "connected",
            "full",
            "affine",
            "ip",
            "innerproduct",
        ],
    };

    fn lower(d: &LayerStatement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>> {
        let l2 = cx.l2(&d.number("l2"));
        let dense = Dense {
            units: cx.count(&d.expr("units").expect("read by the signature"), "units")?,
            activation: d.activation("activation").map_or(Activation::LINEAR, |a| a.node),
            l2,
        };
        Some(Spec::new(dense.into(), span))
    }
}

impl KindRule for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn output(&self, _inputs: &[Shape], _site: &Site) -> Result<Shape, Diagnostic> {
        Ok(Shape::Flat(self.units))
    }

    fn largest_weight(&self, input: Shape) -> u128 {
        let elements = input
            .dims()
            .iter()
            .fold(1u128, |a, &d| a.saturating_mul(d as u128));
        elements.saturating_mul(self.units as u128)
    }

    /// The kernel `[IN, OUT]`, then the bias.
    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorSpec> {
        vec![
            TensorSpec {
                role: ParamRole::Weight,
                shape: vec![input.elements(), self.units],
                decays: true,
                init: Init::Glorot,
                torch: TorchLayout::DenseKernel,
            },
            TensorSpec {
                role: ParamRole::Bias,
                shape: vec![self.units],
                decays: false,
                init: Init::Zeros,
                torch: TorchLayout::Same,
            },
        ]
    }

    fn flops(&self, input: Shape, _output: Shape) -> u64 {
        2 * (input.elements() * self.units) as u64
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn l2(&self) -> f32 {
        self.l2
    }

    fn describe(&self) -> String {
        format!(
            "dense {}{}{}",
            self.units,
            suffix_activation(self.activation),
            suffix_l2(self.l2)
        )
    }
}

impl Kind for Dense {
    /// A dense layer straight after a spatial one reads it flattened.
    fn prelude(&self, input: Shape) -> Option<LayerKind> {
        matches!(input, Shape::Image { .. }).then_some(Flatten { implicit: true }.into())
    }
}

/// One implicit GEMM, bias and activation fused into the forward kernel.
impl crate::codegen::Rule<LayerKind> for Dense {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let out = p.tensor(
            format!("{}_out", layer.name),
            layer.output,
            BufferRole::Activation,
        );
        let g = GemmShape::dense((layer.input, layer.output));
        gemm::forward(p, i, g, p.input_of(i), out);
        out
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let layer = &p.model.layers[i];
        gemm::backward(p, i, GemmShape::dense((layer.input, layer.output)), dy);
    }
}

impl reference::Rule<LayerKind> for Dense {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], params: &mut [f64]) -> Vec<f64> {
        let g = Geometry::dense((c.layer.input, c.layer.output));
        reference::gemm_forward(c, &g, xs[0], params)
    }

    fn backward(
        &self,
        c: &Context<LayerKind>,
        xs: &[&[f64]],
        params: &[f64],
        dz: &[f64],
        grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let g = Geometry::dense((c.layer.input, c.layer.output));
        vec![reference::gemm_backward(c, &g, xs[0], params, dz, grads)]
    }
}

/// `Gemm` with the saved `[out, in]` weight, transposed (`transB`), its
/// input in the order that weight's features are saved in.
impl onnx::Lower<LayerKind> for Dense {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let x = &inputs[0];
        let weight = g.weight(&format!("{}.weight", layer.name));
        let bias = g.weight(&format!("{}.bias", layer.name));
        g.node(
            "Gemm",
            &layer.name,
            &[&x.name, &weight, &bias],
            vec![int("transB", 1)],
            Layout::of(layer.output),
        )
    }
}

/// Its input arrives in the order its saved weight expects.
impl layout::Order<LayerKind> for Dense {
    fn layouts(&self, model: &Model<LayerKind>, index: usize, _given: Vec<Layout>) -> (Vec<Layout>, Layout) {
        let output = Layout::of(model.layers[index].output);
        (vec![saved_feature_order(model, index)], output)
    }
}

impl torch::Lower<LayerKind> for Dense {
    fn torch(&self, layer: &super::Layer, s: &mut Step) {
        s.push(
            &layer.name,
            format!("nn.Linear({}, {})", layer.input.elements(), self.units),
        );
    }
}
