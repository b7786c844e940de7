//! The reference's own reading of a convolution: its padding and output
//! size, derived here from TensorFlow's definition rather than taken from
//! the code under test (the conv kind's `pad_before`); a disagreement with
//! the checker's shapes stops the reference.

use crate::model::{Padding, Shape};

/// A conv or dense layer's geometry (dense: a 1x1 conv of a 1x1 image).
pub struct Geometry {
    pub ih: usize,
    pub iw: usize,
    pub ci: usize,
    pub oh: usize,
    pub ow: usize,
    pub co: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    /// Zeros before the first row and column.
    pub pad: [usize; 2],
    /// Channel groups: output channel `co` reads the input channels of its
    /// group, `co / (co_total / groups)`, only; `ci` counts all of them.
    pub groups: usize,
}

impl Geometry {
    /// The input index (in pixels) under tap (ky, kx) of output (n, oy,
    /// ox), or `None` where the tap falls on padding.
    pub fn tap(&self, n: usize, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<usize> {
        let iy = (oy * self.stride + ky).checked_sub(self.pad[0])?;
        let ix = (ox * self.stride + kx).checked_sub(self.pad[1])?;
        (iy < self.ih && ix < self.iw).then_some((n * self.ih + iy) * self.iw + ix)
    }
}

/// A shape as (height, width, channels); a flat vector is 1x1xN.
pub fn hwc(shape: Shape) -> (usize, usize, usize) {
    match shape {
        Shape::Image { h, w, c } => (h, w, c),
        Shape::Flat(n) => (1, 1, n),
    }
}

/// One axis of a convolution, as TensorFlow defines it: `valid` keeps the
/// windows that fit, `same` gives ceil(size / stride) outputs and pads
/// max((out − 1)·stride + kernel − size, 0) zeros, the smaller half (the
/// odd one goes after) before. Returns (outputs, zeros before).
pub fn axis(size: usize, kernel: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => ((size - kernel) / stride + 1, 0),
        Padding::Same => {
            let out = size.div_ceil(stride);
            let total = ((out - 1) * stride + kernel).saturating_sub(size);
            (out, total / 2)
        }
    }
}

impl Geometry {
    /// A convolution from `input` to `output`, as TensorFlow pads it.
    /// Panics if the checker's output shape disagrees with the one derived
    /// here: the reference cannot hold a layer to a shape it does not
    /// believe.
    pub fn conv(
        (input, output): (Shape, Shape),
        kernel: [usize; 2],
        stride: usize,
        padding: Padding,
        groups: usize,
    ) -> Geometry {
        let (ih, iw, ci) = hwc(input);
        let (oh, ow, co) = hwc(output);
        let (rows, top) = axis(ih, kernel[0], stride, padding);
        let (cols, left) = axis(iw, kernel[1], stride, padding);
        assert_eq!(
            (rows, cols),
            (oh, ow),
            "the checker says {oh}x{ow}, the reference {rows}x{cols}"
        );
        Geometry {
            ih,
            iw,
            ci,
            oh,
            ow,
            co,
            kh: kernel[0],
            kw: kernel[1],
            stride,
            pad: [top, left],
            groups,
        }
    }

    /// A dense layer: a 1x1 convolution of a 1x1 image.
    pub fn dense((input, output): (Shape, Shape)) -> Geometry {
        Geometry {
            ih: 1,
            iw: 1,
            ci: input.elements(),
            oh: 1,
            ow: 1,
            co: output.elements(),
            kh: 1,
            kw: 1,
            stride: 1,
            pad: [0, 0],
            groups: 1,
        }
    }
}
