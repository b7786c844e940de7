//! `pool [max|avg] K[xK] [stride S]`: a pooling window over each channel,
//! without padding, as Keras's `MaxPooling2D` and `AveragePooling2D`
//! (PyTorch's `MaxPool2d`/`AvgPool2d`, ONNX's `MaxPool`/`AveragePool`). On
//! the GPU, one invocation per output (a max pool keeps its winners for
//! the backward pass) and a backward kernel per input element; the
//! `globalpool` kind runs the same kernels with the whole image as window.

use super::conv::conv_out;
use super::{Kind, LayerKind, Syntax};
use crate::codegen::{Access, BufferId, BufferRole, Header, Phase, Planner};
use crate::diagnostic::{Diagnostic, Span};
use crate::export::onnx::{self, Graph, Layout, Value, ints};
use crate::export::torch::{self, Step};
use crate::model::{
    Activation, Checker, KindRule, Model, Padding, PoolKind, Shape, Site, Spec, image_input, window_too_large,
};
use crate::reference::{self, Context, hwc};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Opt, Signature, Value as Takes};
use crate::template;

/// A pooling layer's settings. Its input is an image; its output keeps
/// the channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    /// Height, width; each at least 1 and at most the input's.
    pub window: [usize; 2],
    /// Along both axes; at least 1. The window's height unless written.
    pub stride: usize,
}

impl Syntax for Pool {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("pool"),
        arguments: &[
            Argument::optional("kind", Takes::Choice(&["max", "avg"])),
            Argument::required("pool window", Takes::Size),
        ],
        options: &[Opt::valued("stride", Takes::Count)],
        usage: "pool [max|avg] K[xK] [stride S], for example `pool 2` or `pool avg 2x2`",
        example: "pool avg 3x3 stride 2",
        aliases: &[
            "maxpool",
            "max_pool",
            "maxpool2d",
            "max_pooling2d",
            "maxpooling2d",
            "avgpool",
            "avg_pool",
            "pooling",
        ],
    };

    /// The stride is the window's height unless written.
    fn lower(p: &LayerStatement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>> {
        let written = p.window("pool window").expect("read by the signature");
        let window = cx.window(&written, "pool window")?;
        let stride = match p.expr("stride") {
            Some(s) => cx.positive(&s, "stride")?,
            None => window[0],
        };
        let kind = match p.word("kind").map(|k| k.node) {
            Some("avg") => PoolKind::Avg,
            _ => PoolKind::Max,
        };
        let pool = Pool { kind, window, stride };
        Some(Spec::new(pool.into(), span).focused(written.span))
    }
}

impl KindRule for Pool {
    fn name(&self) -> &'static str {
        "pool"
    }

    fn output(&self, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        let (h, w) = image_input(input, "pool", site)?;
        let out = conv_out(h, self.window[0], self.stride, Padding::Valid).zip(conv_out(
            w,
            self.window[1],
            self.stride,
            Padding::Valid,
        ));
        let Some((oh, ow)) = out else {
            let help = "use a smaller pool window, or fewer pooling layers before this one";
            return Err(window_too_large(
                (h, w),
                self.window,
                self.stride,
                "pool window",
                help,
                site,
            ));
        };
        Ok(Shape::Image {
            h: oh,
            w: ow,
            c: input.channels(),
        })
    }

    fn describe(&self) -> String {
        let kind = match self.kind {
            PoolKind::Max => "max",
            PoolKind::Avg => "avg",
        };
        let stride = if self.stride != self.window[0] || self.window[0] != self.window[1] {
            format!(" stride {}", self.stride)
        } else {
            String::new()
        };
        format!("pool {kind} {}x{}{stride}", self.window[0], self.window[1])
    }
}

impl Kind for Pool {}

impl Pool {
    /// The header both kernels of layer `i` share, which pools its input
    /// into `out` (height, width) with this window.
    fn header(&self, p: &Planner<LayerKind>, i: usize, [oh, ow]: [usize; 2]) -> Header {
        let Shape::Image { h: ih, w: iw, c } = p.model.layers[i].input else {
            unreachable!("a checked pool reads an image")
        };
        Header::default()
            .u32("B", p.options.batch)
            .u32("IH", ih)
            .u32("IW", iw)
            .u32("C", c)
            .u32("OH", oh)
            .u32("OW", ow)
            .u32("KH", self.window[0])
            .u32("KW", self.window[1])
            .u32("STRIDE", self.stride)
    }

    /// Layer `i`'s forward kernel, pooling into `out` (height, width).
    pub(super) fn forward_kernel(
        &self,
        p: &mut Planner<LayerKind>,
        i: usize,
        out_hw: [usize; 2],
    ) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let input = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let invocations = p.options.batch * layer.output.elements();
        let (template, bindings) = match self.kind {
            PoolKind::Max => {
                let argmax = p.tensor(format!("{name}_argmax"), layer.output, BufferRole::PoolIndices);
                p.save(i, "argmax", argmax);
                let bindings = vec![
                    (input, Access::Read),
                    (out, Access::ReadWrite),
                    (argmax, Access::ReadWrite),
                ];
                (template!("max_pool_forward"), bindings)
            }
            PoolKind::Avg => (
                template!("avg_pool_forward"),
                vec![(input, Access::Read), (out, Access::ReadWrite)],
            ),
        };
        let header = self.header(p, i, out_hw);
        let kernel = format!("{name}_forward");
        p.kernel(
            kernel,
            template,
            Phase::Forward,
            Some(i),
            header,
            bindings,
            invocations,
            0,
        );
        out
    }

    /// Layer `i`'s backward kernel: each input element's gradient, from
    /// the windows it lies in.
    pub(super) fn backward_kernel(
        &self,
        p: &mut Planner<LayerKind>,
        i: usize,
        out_hw: [usize; 2],
        dy: BufferId,
    ) {
        let layer = &p.model.layers[i];
        let input = layer.inputs[0];
        if !p.needs_grad(input) {
            return;
        }
        let name = layer.name.clone();
        let invocations = p.options.batch * layer.input.elements();
        let producer = p.producer_activation(input);
        // The gradient overwrites the pool's input when nothing else reads
        // it (see max_pool_backward.wgsl, which reads each element for the
        // producer's derivative first); else it gets a buffer of its own,
        // and the derivative a kernel of its own.
        let in_place = p.sole_reader(i);
        let dx = if in_place {
            let x = p.input_of(i);
            p.give_gradient(input, x);
            x
        } else {
            let shape = layer.input;
            p.tensor(format!("{name}_input_grad"), shape, BufferRole::Gradient)
        };
        let derivative = if in_place { producer } else { Activation::LINEAR };
        let header = self.header(p, i, out_hw).input_derivative(derivative);
        let (template, bindings) = match self.kind {
            PoolKind::Max => {
                let argmax = p.saved(i, "argmax");
                let bindings = vec![
                    (dy, Access::Read),
                    (argmax, Access::Read),
                    (dx, Access::ReadWrite),
                ];
                (template!("max_pool_backward"), bindings)
            }
            PoolKind::Avg => (
                template!("avg_pool_backward"),
                vec![(dy, Access::Read), (dx, Access::ReadWrite)],
            ),
        };
        let kernel = format!("{name}_backward");
        p.kernel(
            kernel,
            template,
            Phase::Backward,
            Some(i),
            header,
            bindings,
            invocations,
            0,
        );
        if !in_place {
            p.apply_derivative(i, 0, dx);
        }
    }

    /// Calls `f(o, taps)` for every output element `o` of layer `c` over
    /// the batch, with the input elements of its window, row by row.
    pub(super) fn windows(&self, c: &Context<LayerKind>, mut f: impl FnMut(usize, &[usize])) {
        let (ih, iw, ch) = hwc(c.layer.input);
        let (oh, ow, _) = hwc(c.layer.output);
        let mut taps = Vec::with_capacity(self.window[0] * self.window[1]);
        for n in 0..c.batch() {
            for oy in 0..oh {
                for ox in 0..ow {
                    for k in 0..ch {
                        taps.clear();
                        for ky in 0..self.window[0] {
                            for kx in 0..self.window[1] {
                                let (iy, ix) = (oy * self.stride + ky, ox * self.stride + kx);
                                taps.push(((n * ih + iy) * iw + ix) * ch + k);
                            }
                        }
                        f(((n * oh + oy) * ow + ox) * ch + k, &taps);
                    }
                }
            }
        }
    }

    /// The reference's forward: each window's maximum or mean.
    pub(super) fn reference_forward(&self, c: &Context<LayerKind>, x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; c.batch() * c.layer.output.elements()];
        self.windows(c, |o, taps| {
            let window = taps.iter().map(|&t| x[t]);
            y[o] = match self.kind {
                PoolKind::Max => window.fold(f64::NEG_INFINITY, f64::max),
                PoolKind::Avg => window.sum::<f64>() / taps.len() as f64,
            };
        });
        y
    }

    /// The reference's backward: max pooling's gradient goes to the first
    /// maximum of each window, as on the GPU.
    pub(super) fn reference_backward(&self, c: &Context<LayerKind>, x: &[f64], dz: &[f64]) -> Vec<f64> {
        let mut dx = vec![0.0; x.len()];
        self.windows(c, |o, taps| match self.kind {
            PoolKind::Max => {
                let first = taps[0];
                let best = taps
                    .iter()
                    .fold(first, |best, &t| if x[t] > x[best] { t } else { best });
                dx[best] += dz[o];
            }
            PoolKind::Avg => taps.iter().for_each(|&t| dx[t] += dz[o] / taps.len() as f64),
        });
        dx
    }
}

/// The output's height and width.
fn out_hw(output: Shape) -> [usize; 2] {
    let Shape::Image { h, w, .. } = output else {
        unreachable!("a checked pool makes an image")
    };
    [h, w]
}

impl crate::codegen::Rule<LayerKind> for Pool {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let out = out_hw(p.model.layers[i].output);
        self.forward_kernel(p, i, out)
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let out = out_hw(p.model.layers[i].output);
        self.backward_kernel(p, i, out, dy);
    }
}

impl reference::Rule<LayerKind> for Pool {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        self.reference_forward(c, xs[0])
    }

    fn backward(
        &self,
        c: &Context<LayerKind>,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![self.reference_backward(c, xs[0], dz)]
    }
}

/// cnnc pools without padding (Keras's `valid`), flooring the output size,
/// as ONNX does by default (`ceil_mode` 0, no `pads`).
impl onnx::Lower<LayerKind> for Pool {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let op = match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Avg => "AveragePool",
        };
        let attributes = vec![
            ints("kernel_shape", &self.window),
            ints("strides", &[self.stride, self.stride]),
        ];
        g.node(
            op,
            &layer.name,
            &[&inputs[0].name],
            attributes,
            Layout::of(layer.output),
        )
    }
}

/// Images stay NCHW.
impl crate::export::layout::Order<LayerKind> for Pool {}

impl torch::Lower<LayerKind> for Pool {
    fn torch(&self, layer: &super::Layer, s: &mut Step) {
        let kind = match self.kind {
            PoolKind::Max => "MaxPool2d",
            PoolKind::Avg => "AvgPool2d",
        };
        let [kh, kw] = self.window;
        s.push(
            &layer.name,
            format!("nn.{kind}(kernel_size=({kh}, {kw}), stride={})", self.stride),
        );
    }
}
