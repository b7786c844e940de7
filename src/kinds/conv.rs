//! `conv N KxK [stride S] [same|valid] [ACT] [l2 F] [groups G]`: a 2-D
//! convolution with bias, as Keras's `Conv2D` (PyTorch's `Conv2d`): its
//! shape rule and counts, an implicit GEMM on the GPU (shared with
//! `dense`, see `codegen::gemm`), the reference, ONNX's `Conv` and
//! PyTorch's `nn.Conv2d`.

use super::{Kind, LayerKind, Syntax, suffix_activation, suffix_l2};
use crate::codegen::gemm::{self, GemmShape};
use crate::codegen::{BufferId, BufferRole, Planner};
use crate::diagnostic::{Diagnostic, Span};
use crate::export::onnx::{self, Graph, Layout, Value, int, ints};
use crate::export::torch::{self, Step};
use crate::model::{
    Activation, Checker, Init, KindRule, Model, Padding, ParamRole, Shape, Site, Spec, TensorSpec,
    TorchLayout, image_input, window_too_large,
};
use crate::reference::{self, Context, Geometry};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Opt, Signature, Value as Takes};

/// A convolution's settings. Its input is an image; its output has
/// `filters` channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv {
    /// Output channels; at least 1.
    pub filters: usize,
    /// Height, width; each at least 1.
    pub kernel: [usize; 2],
    /// Along both axes; at least 1.
    pub stride: usize,
    pub padding: Padding,
    pub activation: Activation,
    /// L2 penalty factor on the kernel (Keras `kernel_regularizer`), 0 if
    /// none; never negative.
    pub l2: f32,
    /// Channel groups (Keras's and PyTorch's `groups`): input and output
    /// channels are split into `groups` equal parts, and output group `g`
    /// reads input group `g` only. 1 is an ordinary convolution; as many
    /// as the input's channels is a depthwise one. At least 1, and it
    /// divides both channel counts ([`check_groups`]).
    pub groups: usize,
}

impl Conv {
    /// Zero padding before the first row and column. Keras/TensorFlow
    /// `same` puts the odd pixel, if any, after: top = total / 2.
    pub fn pad_before(&self, input: Shape) -> [usize; 2] {
        let Shape::Image { h, w, .. } = input else {
            return [0, 0];
        };
        match self.padding {
            Padding::Valid => [0, 0],
            Padding::Same => [
                same_pad_total(h, self.kernel[0], self.stride) / 2,
                same_pad_total(w, self.kernel[1], self.stride) / 2,
            ],
        }
    }

    /// Zero padding `[[top, bottom], [left, right]]`: TensorFlow's `same`
    /// pads `total / 2` before and the rest (the odd pixel) after, so that
    /// with a stride the two sides can differ, as no symmetric `padding`
    /// argument (PyTorch's, ONNX's `auto_pad`) can say.
    pub fn pads(&self, input: Shape) -> [[usize; 2]; 2] {
        let Shape::Image { h, w, .. } = input else {
            return [[0, 0], [0, 0]];
        };
        let before = self.pad_before(input);
        match self.padding {
            Padding::Valid => [[0, 0], [0, 0]],
            Padding::Same => [
                [
                    before[0],
                    same_pad_total(h, self.kernel[0], self.stride) - before[0],
                ],
                [
                    before[1],
                    same_pad_total(w, self.kernel[1], self.stride) - before[1],
                ],
            ],
        }
    }
}

/// Output size of a convolution along one axis (Keras semantics); `None`
/// when a `valid` kernel is larger than the input.
pub fn conv_out(size: usize, kernel: usize, stride: usize, padding: Padding) -> Option<usize> {
    match padding {
        Padding::Same => Some(size.div_ceil(stride)),
        Padding::Valid => (size >= kernel).then(|| (size - kernel) / stride + 1),
    }
}

fn same_pad_total(size: usize, kernel: usize, stride: usize) -> usize {
    let out = size.div_ceil(stride);
    ((out - 1) * stride + kernel).saturating_sub(size)
}

/// Why `groups` does not suit a convolution from `ci` to `co` channels:
/// both counts must be multiples of it (and it at least 1). The diagnostic
/// points at the layer (`site.focus`) and at the one whose output it reads.
pub fn check_groups(groups: usize, ci: usize, co: usize, site: &Site) -> Result<(), Diagnostic> {
    if groups >= 1 && ci.is_multiple_of(groups) && co.is_multiple_of(groups) {
        return Ok(());
    }
    let what = match (groups, ci.is_multiple_of(groups.max(1))) {
        (0, _) => "0 groups is none".to_string(),
        (_, false) => format!("{ci} input channels do not split into {groups} groups"),
        (_, true) => format!("{co} filters do not split into {groups} groups"),
    };
    let mut d = Diagnostic::error(format!(
        "`conv` with {groups} groups needs input channels and filters that are multiples of {groups}, but has {ci} and {co}"
    ))
    .label(site.focus, what);
    if let Some(layer) = site.from {
        d = d.label(layer.span, format!("`{}` outputs {}", layer.name, layer.output));
    }
    Err(d.help(format!(
        "use a number of groups that divides both {ci} and {co} (as many as the input channels is a depthwise convolution)"
    )))
}

/// The convolution a `conv` statement asks for.
impl Syntax for Conv {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("conv"),
        arguments: &[
            Argument::required("filters", Takes::Count),
            Argument::required("kernel", Takes::Size),
        ],
        options: &[
            Opt::valued("stride", Takes::Count),
            Opt::flag("padding", &["same", "valid"]),
            Opt::ACTIVATION,
            Opt::valued("l2", Takes::Number),
            Opt::valued("groups", Takes::Count),
        ],
        usage: "conv FILTERS KxK [stride S] [same|valid] [ACTIVATION] [l2 F] [groups G], for example `conv 32 3x3 same relu`",
        example: "conv 32 3x3 stride 2 same relu l2 5e-4 groups 2",
        aliases: &["conv2d", "convolution", "conv2", "convolutional"],
    };

    fn lower(c: &LayerStatement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>> {
        let kernel_written = c.window("kernel").expect("read by the signature");
        let filters = cx.count(&c.expr("filters").expect("read by the signature"), "filters");
        let kernel = cx.window(&kernel_written, "kernel");
        let stride = c.expr("stride").map_or(Some(1), |s| cx.positive(&s, "stride"));
        let l2 = cx.l2(&c.number("l2"));
        let groups = c.expr("groups").map_or(Some(1), |g| cx.positive(&g, "groups"));
        let conv = Conv {
            filters: filters?,
            kernel: kernel?,
            stride: stride?,
            padding: match c.word("padding").map(|p| p.node) {
                Some("same") => Padding::Same,
                _ => Padding::Valid,
            },
            activation: c.activation("activation").map_or(Activation::LINEAR, |a| a.node),
            l2,
            groups: groups?,
        };
        Some(Spec::new(conv.into(), span).focused(kernel_written.span))
    }
}

impl Conv {
    /// The GEMM of a conv from `input` to `output`.
    fn gemm(&self, io: (Shape, Shape)) -> GemmShape {
        GemmShape::conv(io, self.kernel, self.stride, self.pad_before(io.0), self.groups)
    }
}

impl KindRule for Conv {
    fn name(&self) -> &'static str {
        "conv"
    }

    fn output(&self, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        let (h, w) = image_input(input, "conv", site)?;
        check_groups(self.groups, input.channels(), self.filters, site)?;
        let out = conv_out(h, self.kernel[0], self.stride, self.padding).zip(conv_out(
            w,
            self.kernel[1],
            self.stride,
            self.padding,
        ));
        let Some((oh, ow)) = out else {
            let help = "use `same` padding, a smaller kernel, or fewer pooling layers before this one";
            return Err(window_too_large(
                (h, w),
                self.kernel,
                self.stride,
                "kernel",
                help,
                site,
            ));
        };
        Ok(Shape::Image {
            h: oh,
            w: ow,
            c: self.filters,
        })
    }

    fn largest_weight(&self, input: Shape) -> u128 {
        (self.kernel[0] as u128 * self.kernel[1] as u128)
            .saturating_mul((input.channels() / self.groups.max(1)) as u128)
            .saturating_mul(self.filters as u128)
    }

    /// The kernel HWIO (each filter sees its group's `ci / groups`
    /// channels, as Keras's grouped kernel), then the bias.
    fn tensors(&self, input: Shape, _output: Shape) -> Vec<TensorSpec> {
        let ci = input.channels() / self.groups;
        vec![
            TensorSpec {
                role: ParamRole::Weight,
                shape: vec![self.kernel[0], self.kernel[1], ci, self.filters],
                decays: true,
                init: Init::Glorot,
                torch: TorchLayout::ConvKernel,
            },
            TensorSpec {
                role: ParamRole::Bias,
                shape: vec![self.filters],
                decays: false,
                init: Init::Zeros,
                torch: TorchLayout::Same,
            },
        ]
    }

    fn flops(&self, input: Shape, output: Shape) -> u64 {
        2 * (output.elements() * self.kernel[0] * self.kernel[1] * (input.channels() / self.groups)) as u64
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn l2(&self) -> f32 {
        self.l2
    }

    fn filters(&self) -> Option<usize> {
        Some(self.filters)
    }

    fn describe(&self) -> String {
        let stride = if self.stride != 1 {
            format!(" stride {}", self.stride)
        } else {
            String::new()
        };
        let padding = match self.padding {
            Padding::Same => " same",
            Padding::Valid => "",
        };
        let groups = if self.groups > 1 {
            format!(" groups {}", self.groups)
        } else {
            String::new()
        };
        format!(
            "conv {} {}x{}{stride}{padding}{groups}{}{}",
            self.filters,
            self.kernel[0],
            self.kernel[1],
            suffix_activation(self.activation),
            suffix_l2(self.l2)
        )
    }
}

impl Kind for Conv {}

/// One implicit GEMM, bias and activation fused into the forward kernel.
impl crate::codegen::Rule<LayerKind> for Conv {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let out = p.tensor(
            format!("{}_out", layer.name),
            layer.output,
            BufferRole::Activation,
        );
        let g = self.gemm((layer.input, layer.output));
        gemm::forward(p, i, g, p.input_of(i), out);
        out
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let layer = &p.model.layers[i];
        gemm::backward(p, i, self.gemm((layer.input, layer.output)), dy);
    }
}

/// Kernels are `[KH][KW][CI/G][CO]`; zero padding is the taps that
/// [`Geometry::tap`] skips, padding the reference derives itself.
impl reference::Rule<LayerKind> for Conv {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], params: &mut [f64]) -> Vec<f64> {
        let g = Geometry::conv(
            (c.layer.input, c.layer.output),
            self.kernel,
            self.stride,
            self.padding,
            self.groups,
        );
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
        let g = Geometry::conv(
            (c.layer.input, c.layer.output),
            self.kernel,
            self.stride,
            self.padding,
            self.groups,
        );
        vec![reference::gemm_backward(c, &g, xs[0], params, dz, grads)]
    }
}

/// With explicit `pads` (top, left, bottom, right), never `auto_pad`:
/// TensorFlow's `same` with a stride pads the odd pixel after, which
/// ONNX's `SAME_UPPER` matches only by its own arithmetic, so the numbers
/// cnnc trained with are written out.
impl onnx::Lower<LayerKind> for Conv {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let name = &layer.name;
        let [[top, bottom], [left, right]] = self.pads(layer.input);
        let weight = g.weight(&format!("{name}.weight"));
        let bias = g.weight(&format!("{name}.bias"));
        let attributes = vec![
            ints("kernel_shape", &self.kernel),
            ints("strides", &[self.stride, self.stride]),
            ints("pads", &[top, left, bottom, right]),
            int("group", self.groups as i64),
        ];
        g.node(
            "Conv",
            name,
            &[&inputs[0].name, &weight, &bias],
            attributes,
            Layout::of(layer.output),
        )
    }
}

/// Images stay NCHW.
impl crate::export::layout::Order<LayerKind> for Conv {}

/// An `nn.Conv2d`, after an `nn.ZeroPad2d` where TensorFlow's `same` pads
/// unevenly (the odd pixel after), which `nn.Conv2d`'s `padding` cannot.
impl torch::Lower<LayerKind> for Conv {
    fn torch(&self, layer: &crate::kinds::Layer, s: &mut Step) {
        let name = &layer.name;
        let ci = layer.input.channels();
        let [[top, bottom], [left, right]] = self.pads(layer.input);
        let padding = if top == bottom && left == right {
            format!("({top}, {left})")
        } else {
            s.push(
                format!("{name}_pad"),
                format!("nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))"),
            );
            "0".to_string()
        };
        let [kh, kw] = self.kernel;
        let groups = if self.groups > 1 {
            format!(", groups={}", self.groups)
        } else {
            String::new()
        };
        s.push(
            name.as_str(),
            format!(
                "nn.Conv2d({ci}, {}, kernel_size=({kh}, {kw}), stride={}, padding={padding}{groups})",
                self.filters, self.stride
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Layer;
    use crate::model::Operand;

    fn grouped(groups: usize, filters: usize, input: Shape) -> Result<Layer, Diagnostic> {
        let conv = Conv {
            filters,
            kernel: [3, 3],
            stride: 1,
            padding: Padding::Same,
            activation: Activation::named("relu").unwrap(),
            l2: 0.0,
            groups,
        };
        let site = Site {
            span: Span::new(0, 4),
            focus: Span::new(5, 8),
            from: None,
            more: Vec::new(),
        };
        let output = conv.output(&[input], &site)?;
        Ok(Layer {
            name: "conv1".into(),
            kind: conv.into(),
            inputs: vec![Operand::Input],
            input,
            output,
            span: Span::new(0, 8),
            site: Span::new(0, 8),
        })
    }

    #[test]
    fn groups_divide_params_and_flops_as_keras() {
        let input = Shape::Image { h: 6, w: 6, c: 8 };
        let plain = grouped(1, 12, input).unwrap();
        let four = grouped(4, 12, input).unwrap();
        // Keras: kh * kw * (ci / G) * co + co.
        assert_eq!(four.params().trainable, 3 * 3 * 2 * 12 + 12);
        assert_eq!(plain.params().trainable, 3 * 3 * 8 * 12 + 12);
        assert_eq!(four.flops() * 4, plain.flops());
        assert_eq!(four.describe(), "conv 12 3x3 same groups 4 relu");
        assert_eq!(plain.describe(), "conv 12 3x3 same relu");
        let depthwise = grouped(8, 8, input).unwrap();
        assert_eq!(depthwise.params().trainable, 3 * 3 * 8 + 8);
    }

    #[test]
    fn groups_that_do_not_divide_are_located() {
        let input = Shape::Image { h: 6, w: 6, c: 6 };
        for (groups, filters, says) in [
            (4, 8, "6 input channels do not split into 4 groups"),
            (3, 8, "8 filters do not split into 3 groups"),
            (0, 8, "0 groups is none"),
        ] {
            let d = grouped(groups, filters, input).unwrap_err();
            let text = format!("{d:?}");
            assert!(text.contains(says), "{says}: {text}");
            assert!(text.contains("start: 5"), "points at the focus: {text}");
        }
    }

    #[test]
    fn same_padding_matches_keras() {
        // TensorFlow: out = ceil(in / s); pad_total = max((out-1)*s + k - in, 0).
        assert_eq!(conv_out(28, 3, 1, Padding::Same), Some(28));
        assert_eq!(conv_out(7, 3, 2, Padding::Same), Some(4));
        assert_eq!(same_pad_total(7, 3, 2), 2);
        assert_eq!(same_pad_total(8, 3, 2), 1); // the odd pixel goes after
        assert_eq!(same_pad_total(8, 1, 2), 0);
        assert_eq!(conv_out(28, 3, 1, Padding::Valid), Some(26));
        assert_eq!(conv_out(2, 3, 1, Padding::Valid), None);
        assert_eq!(conv_out(9, 3, 2, Padding::Valid), Some(4));
    }
}
