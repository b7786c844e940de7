//! `conv N KxK [stride S] [same|valid] [ACT] [l2 F]`: a 2-D convolution
//! with bias, as Keras's `Conv2D`.

use super::{KindRule, Site, Spec, image_input, window_too_large};
use crate::diagnostic::{Diagnostic, Span};
use crate::model::check::Checker;
use crate::model::{Activation, Layer, LayerKind, Padding, ParamCount, Shape};
use crate::syntax;

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

pub(in crate::model) fn lower(c: &syntax::Conv, span: Span, cx: &mut Checker) -> Option<Spec> {
    let filters = cx.count(&c.filters, "filters");
    let kernel = cx.window(&c.kernel, "kernel");
    let stride = c.stride.as_ref().map_or(Some(1), |s| cx.positive(s, "stride"));
    let l2 = cx.l2(&c.l2);
    let groups = c.groups.as_ref().map_or(Some(1), |g| cx.positive(g, "groups"));
    let conv = Conv {
        filters: filters?,
        kernel: kernel?,
        stride: stride?,
        padding: c.padding.as_ref().map_or(Padding::Valid, |p| p.node),
        activation: c.activation.as_ref().map_or(Activation::Linear, |a| a.node),
        l2,
        groups: groups?,
    };
    Some(Spec {
        focus: c.kernel.span,
        ..Spec::new(LayerKind::Conv(conv), span)
    })
}

fn conv(kind: &LayerKind) -> &Conv {
    let LayerKind::Conv(c) = kind else {
        unreachable!("the conv rule is handed convs")
    };
    c
}

pub struct ConvRule;

impl KindRule for ConvRule {
    fn kind_name(&self) -> &'static str {
        "conv"
    }

    fn output(&self, kind: &LayerKind, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic> {
        let input = inputs[0];
        let c = conv(kind);
        let (h, w) = image_input(input, "conv", site)?;
        check_groups(c.groups, input.channels(), c.filters, site)?;
        let out =
            conv_out(h, c.kernel[0], c.stride, c.padding).zip(conv_out(w, c.kernel[1], c.stride, c.padding));
        let Some((oh, ow)) = out else {
            let help = "use `same` padding, a smaller kernel, or fewer pooling layers before this one";
            return Err(window_too_large((h, w), c.kernel, c.stride, "kernel", help, site));
        };
        Ok(Shape::Image {
            h: oh,
            w: ow,
            c: c.filters,
        })
    }

    fn largest_weight(&self, kind: &LayerKind, input: Shape) -> u128 {
        let c = conv(kind);
        (c.kernel[0] as u128 * c.kernel[1] as u128)
            .saturating_mul((input.channels() / c.groups.max(1)) as u128)
            .saturating_mul(c.filters as u128)
    }

    fn params(&self, layer: &Layer) -> ParamCount {
        let c = conv(&layer.kind);
        ParamCount {
            trainable: c.kernel[0] * c.kernel[1] * (layer.input.channels() / c.groups) * c.filters
                + c.filters,
            non_trainable: 0,
        }
    }

    fn flops(&self, layer: &Layer) -> u64 {
        let c = conv(&layer.kind);
        2 * (layer.output.elements() * c.kernel[0] * c.kernel[1] * (layer.input.channels() / c.groups)) as u64
    }

    fn activation(&self, kind: &LayerKind) -> Activation {
        conv(kind).activation
    }

    fn l2(&self, kind: &LayerKind) -> f32 {
        conv(kind).l2
    }

    fn describe(&self, kind: &LayerKind) -> String {
        let c = conv(kind);
        let stride = if c.stride != 1 {
            format!(" stride {}", c.stride)
        } else {
            String::new()
        };
        let padding = match c.padding {
            Padding::Same => " same",
            Padding::Valid => "",
        };
        let groups = if c.groups > 1 {
            format!(" groups {}", c.groups)
        } else {
            String::new()
        };
        format!(
            "conv {} {}x{}{stride}{padding}{groups}{}{}",
            c.filters,
            c.kernel[0],
            c.kernel[1],
            super::suffix_activation(c.activation),
            super::suffix_l2(c.l2)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Operand;

    fn grouped(groups: usize, filters: usize, input: Shape) -> Result<Layer, Diagnostic> {
        let kind = LayerKind::Conv(Conv {
            filters,
            kernel: [3, 3],
            stride: 1,
            padding: Padding::Same,
            activation: Activation::Relu,
            l2: 0.0,
            groups,
        });
        let site = Site {
            span: Span::new(0, 4),
            focus: Span::new(5, 8),
            from: None,
            more: Vec::new(),
        };
        let output = ConvRule.output(&kind, &[input], &site)?;
        Ok(Layer {
            name: "conv1".into(),
            kind,
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
