//! `pad P` (or `pad PxQ`): zeros around each channel of an image, P rows
//! above and below, Q columns left and right, as Keras's `ZeroPadding2D`
//! (PyTorch's `ZeroPad2d`, ONNX's `Pad`). No parameters, no FLOPs. On the
//! GPU, one invocation per output element (a copy or a zero) forward, and
//! one per input element backward (the gradient of the position it landed
//! on, through the producer's activation).

use super::{Kind, LayerKind, Syntax};
use crate::codegen::{Access, BufferId, BufferRole, Header, Phase, Planner};
use crate::diagnostic::{Diagnostic, Span};
use crate::export::onnx::{self, Graph, Layout, Value};
use crate::export::torch::{self, Step};
use crate::model::{Checker, KindRule, Model, Shape, Site, Spec, image_input};
use crate::reference::{self, Context, hwc};
use crate::syntax::signature::{Argument, Keyword, LayerStatement, Signature, Value as Takes};
use crate::template;

/// A zero padding's settings: rows added above and below, columns left
/// and right; each at least 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pad(pub [usize; 2]);

impl Syntax for Pad {
    const SIGNATURE: Signature = Signature {
        keyword: Keyword::Word("pad"),
        arguments: &[Argument::required("padding", Takes::Size)],
        options: &[],
        usage: "pad P[xQ] (P rows above and below, Q columns left and right), for example `pad 1` or `pad 2x1`",
        example: "pad 2x1",
        aliases: &[
            "zeropad",
            "zeropad2d",
            "zero_padding2d",
            "zeropadding2d",
            "padding",
        ],
    };

    fn lower(s: &LayerStatement, span: Span, cx: &mut Checker) -> Option<Spec<LayerKind>> {
        let written = s.window("padding").expect("read by the signature");
        let pad = cx.window(&written, "padding")?;
        Some(Spec::new(Pad(pad).into(), span).focused(written.span))
    }
}

impl KindRule for Pad {
    fn name(&self) -> &'static str {
        "pad"
    }

    fn output(&self, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let (h, w) = image_input(inputs[0], "pad", site)?;
        Ok(Shape::Image {
            h: h + 2 * self.0[0],
            w: w + 2 * self.0[1],
            c: inputs[0].channels(),
        })
    }

    fn describe(&self) -> String {
        match self.0 {
            [p, q] if p == q => format!("pad {p}"),
            [p, q] => format!("pad {p}x{q}"),
        }
    }
}

impl Kind for Pad {}

impl Pad {
    /// The constants both kernels share: the input's and the output's
    /// height, width and channels, and the padding.
    fn header(&self, input: Shape, output: Shape) -> Header {
        let ((h, w, c), (ho, wo, _)) = (hwc(input), hwc(output));
        Header::default()
            .u32("H", h)
            .u32("W", w)
            .u32("C", c)
            .u32("HO", ho)
            .u32("WO", wo)
            .u32("PH", self.0[0])
            .u32("PW", self.0[1])
    }

    /// Where input element `i` (NHWC) lands in the output.
    fn landing(&self, i: usize, input: Shape, output: Shape) -> usize {
        let ((h, w, c), (ho, wo, _)) = (hwc(input), hwc(output));
        let (ch, x, y, b) = (i % c, i / c % w, i / (c * w) % h, i / (c * w * h));
        ((b * ho + y + self.0[0]) * wo + x + self.0[1]) * c + ch
    }
}

impl crate::codegen::Rule<LayerKind> for Pad {
    fn forward(&self, p: &mut Planner<LayerKind>, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let (name, input, output) = (layer.name.clone(), layer.input, layer.output);
        let x = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), output, BufferRole::Activation);
        let n = p.options.batch * output.elements();
        let header = self.header(input, output).u32("N", n);
        let bindings = vec![(x, Access::Read), (out, Access::ReadWrite)];
        p.forward_kernel(i, template!("pad_forward"), header, bindings, n);
        out
    }

    fn backward(&self, p: &mut Planner<LayerKind>, i: usize, dy: BufferId) {
        let layer = &p.model.layers[i];
        let (name, input, output, operand) = (layer.name.clone(), layer.input, layer.output, layer.inputs[0]);
        if !p.needs_grad(operand) {
            return;
        }
        let x = p.input_of(i);
        let dx = p.input_grad(i, 0);
        let n = p.options.batch * input.elements();
        let header = self
            .header(input, output)
            .u32("N", n)
            .input_derivative(p.producer_activation(operand));
        let bindings = vec![(dy, Access::Read), (x, Access::Read), (dx, Access::ReadWrite)];
        p.kernel(
            format!("{name}_backward"),
            template!("pad_backward"),
            Phase::Backward,
            Some(i),
            header,
            bindings,
            n,
            0,
        );
    }
}

impl reference::Rule<LayerKind> for Pad {
    fn forward(&self, c: &Context<LayerKind>, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        let (input, output) = (c.layer.input, c.layer.output);
        let mut y = vec![0.0; c.batch() * output.elements()];
        for (i, &v) in xs[0].iter().enumerate() {
            y[self.landing(i, input, output)] = v;
        }
        y
    }

    /// Each input's gradient is that of the position it landed on; the
    /// padding's gradients go nowhere.
    fn backward(
        &self,
        c: &Context<LayerKind>,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let (input, output) = (c.layer.input, c.layer.output);
        let dx = (0..xs[0].len())
            .map(|i| dz[self.landing(i, input, output)])
            .collect();
        vec![dx]
    }
}

/// ONNX's `Pad` (constant zeros) on NCHW: pads as [begin of N, C, H, W,
/// end of N, C, H, W].
impl onnx::Lower<LayerKind> for Pad {
    fn onnx(&self, g: &mut Graph, model: &Model<LayerKind>, index: usize, inputs: &[Value]) -> Value {
        let layer = &model.layers[index];
        let [ph, pw] = self.0.map(|p| p as i64);
        let pads = g.int64s(&format!("{}.pads", layer.name), &[0, 0, ph, pw, 0, 0, ph, pw]);
        g.node(
            "Pad",
            &layer.name,
            &[&inputs[0].name, &pads],
            Vec::new(),
            Layout::of(layer.output),
        )
    }
}

/// Images stay NCHW.
impl crate::export::layout::Order<LayerKind> for Pad {}

impl torch::Lower<LayerKind> for Pad {
    /// `ZeroPad2d((left, right, top, bottom))`.
    fn torch(&self, layer: &super::Layer, s: &mut Step) {
        let [ph, pw] = self.0;
        s.push(&layer.name, format!("nn.ZeroPad2d(({pw}, {pw}, {ph}, {ph}))"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site<'static> {
        Site {
            span: Span::new(0, 1),
            focus: Span::new(0, 1),
            from: None,
            more: Vec::new(),
        }
    }

    #[test]
    fn an_image_grows_by_twice_the_padding() {
        let pad = Pad([2, 1]);
        let out = pad.output(&[Shape::Image { h: 3, w: 5, c: 7 }], &site());
        assert_eq!(out.ok(), Some(Shape::Image { h: 7, w: 7, c: 7 }));
        assert!(pad.output(&[Shape::Flat(7)], &site()).is_err());
        assert_eq!(
            (pad.describe(), Pad([1, 1]).describe()),
            ("pad 2x1".into(), "pad 1".into())
        );
        assert!(pad.tensors(Shape::Flat(1), Shape::Flat(1)).is_empty());
    }

    #[test]
    fn each_input_lands_inside_the_border() {
        let (input, output) = (
            Shape::Image { h: 2, w: 3, c: 2 },
            Shape::Image { h: 4, w: 7, c: 2 },
        );
        let pad = Pad([1, 2]);
        // Sample 0, row 0, column 0, channel 1: row 1, column 2 of the output.
        assert_eq!(pad.landing(1, input, output), (7 + 2) * 2 + 1);
        // Sample 1, row 1, column 2, channel 0.
        let i = ((2 + 1) * 3 + 2) * 2;
        assert_eq!(pad.landing(i, input, output), ((4 + 2) * 7 + 4) * 2);
    }
}
