//! The reference's own reading of the model: where each weight sits in the
//! flat buffer, and each convolution's padding and output size, derived
//! here from the layer specs rather than taken from the code under test.
//! `tests` hold both against `ParamLayout::new` and the checker's shapes.

use super::rules;
use crate::model::{Conv, Layer, LayerKind, Model, Padding, Shape};
use crate::params::{ParamLayout, ParamTensor};

/// The buffer convention the kernels read (documented in `params`): layer
/// by layer, each kind's tensors in the order its rule lists them (kernel
/// then bias; a batchnorm's scale, shift, running mean and variance), each
/// starting at a multiple of 4 floats; conv kernels `[KH][KW][CI/G][CO]`,
/// dense `[IN][OUT]`.
pub fn layout(model: &Model) -> ParamLayout {
    let mut tensors: Vec<ParamTensor> = Vec::new();
    let mut end: usize = 0;
    for (i, layer) in model.layers.iter().enumerate() {
        for (role, shape) in rules::of(&layer.kind).params(layer) {
            let offset = end.div_ceil(4) * 4;
            end = offset + shape.iter().product::<usize>();
            // The names are PyTorch's, not a layout decision: shared.
            tensors.push(ParamTensor {
                name: format!("{}.{}", layer.name, role.suffix()),
                layer: i,
                role,
                offset,
                shape,
            });
        }
    }
    ParamLayout {
        tensors,
        len: end.div_ceil(4) * 4,
    }
}

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
fn axis(size: usize, kernel: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => ((size - kernel) / stride + 1, 0),
        Padding::Same => {
            let out = size.div_ceil(stride);
            let total = ((out - 1) * stride + kernel).saturating_sub(size);
            (out, total / 2)
        }
    }
}

/// The geometry of a conv or dense layer. Panics if the checker's output
/// shape disagrees with the one derived here: the reference cannot hold a
/// layer to a shape it does not believe.
pub fn geometry(layer: &Layer) -> Geometry {
    let (ih, iw, ci) = hwc(layer.input);
    let (oh, ow, co) = hwc(layer.output);
    let LayerKind::Conv(Conv {
        kernel,
        stride,
        padding,
        groups,
        ..
    }) = &layer.kind
    else {
        return Geometry {
            ih: 1,
            iw: 1,
            ci: ih * iw * ci,
            oh: 1,
            ow: 1,
            co: oh * ow * co,
            kh: 1,
            kw: 1,
            stride: 1,
            pad: [0, 0],
            groups: 1,
        };
    };
    let (rows, top) = axis(ih, kernel[0], *stride, *padding);
    let (cols, left) = axis(iw, kernel[1], *stride, *padding);
    assert_eq!(
        (rows, cols),
        (oh, ow),
        "{}: the checker says {oh}x{ow}, the reference {rows}x{cols}",
        layer.name
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
        stride: *stride,
        pad: [top, left],
        groups: *groups,
    }
}
