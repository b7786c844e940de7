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

pub(in crate::model) fn lower(c: &syntax::Conv, span: Span, cx: &mut Checker) -> Option<Spec> {
    let filters = cx.count(&c.filters, "filters");
    let kernel = cx.window(&c.kernel, "kernel");
    let stride = c.stride.as_ref().map_or(Some(1), |s| cx.positive(s, "stride"));
    let l2 = cx.l2(&c.l2);
    let conv = Conv {
        filters: filters?,
        kernel: kernel?,
        stride: stride?,
        padding: c.padding.as_ref().map_or(Padding::Valid, |p| p.node),
        activation: c.activation.as_ref().map_or(Activation::Linear, |a| a.node),
        l2,
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
        let out =
            conv_out(h, c.kernel[0], c.stride, c.padding).zip(conv_out(w, c.kernel[1], c.stride, c.padding));
        let Some((oh, ow)) = out else {
            let help = "use `same` padding, a smaller kernel, or fewer pooling layers before this one";
            return Err(window_too_large(h, w, c.kernel, "kernel", help, site));
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
            .saturating_mul(input.channels() as u128)
            .saturating_mul(c.filters as u128)
    }

    fn params(&self, layer: &Layer) -> ParamCount {
        let c = conv(&layer.kind);
        ParamCount {
            trainable: c.kernel[0] * c.kernel[1] * layer.input.channels() * c.filters + c.filters,
            non_trainable: 0,
        }
    }

    fn flops(&self, layer: &Layer) -> u64 {
        let c = conv(&layer.kind);
        2 * (layer.output.elements() * c.kernel[0] * c.kernel[1] * layer.input.channels()) as u64
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
        format!(
            "conv {} {}x{}{stride}{padding}{}{}",
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
