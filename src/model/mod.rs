//! The checked model: every layer with its input and output shape, ready
//! to be costed (parameters, FLOPs, memory) and lowered to kernels.
//!
//! The model is a graph of layers in topological order: each layer names
//! the tensors it reads ([`Layer::inputs`]), and every one of them is the
//! model's input or the output of an earlier layer. The language writes
//! chains today, so `check` makes layer `i` read layer `i - 1` (the first
//! reads the input); tests build branching models by hand.
//!
//! Invariants, established by [`check`]:
//! - `layers[i].input` is the shape of `layers[i].inputs[0]`, and a layer
//!   with several inputs ([`LayerKind::Add`]) reads tensors of one shape;
//! - every size is at least 1, and every tensor has fewer than 2^31 elements;
//! - a `Dense` layer's input is `Shape::Flat` (a `Flatten` is inserted when
//!   the source put `dense` straight after a spatial layer);
//! - `Conv` and `Pool` inputs are `Shape::Image`;
//! - only the last layer may use `softmax`.

mod check;
pub mod keras;

pub use check::{CheckOptions, check};

use std::fmt;

use crate::diagnostic::Span;
pub use crate::syntax::{Activation, Padding, PoolKind};

/// A tensor shape for one sample. Images are height x width x channels,
/// written in that order as in Keras (`input 32x32x3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Image { h: usize, w: usize, c: usize },
    Flat(usize),
}

impl Shape {
    pub fn elements(self) -> usize {
        match self {
            Shape::Image { h, w, c } => h * w * c,
            Shape::Flat(n) => n,
        }
    }

    /// `[h, w, c]` or `[n]`, as `--json` prints shapes.
    pub fn dims(self) -> Vec<usize> {
        match self {
            Shape::Image { h, w, c } => vec![h, w, c],
            Shape::Flat(n) => vec![n],
        }
    }

    /// Channels of an image, or the length of a flat vector: the axis that
    /// per-channel layers (bias, batchnorm) run along.
    pub fn channels(self) -> usize {
        match self {
            Shape::Image { c, .. } => c,
            Shape::Flat(n) => n,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Image { h, w, c } => write!(f, "{h}x{w}x{c}"),
            Shape::Flat(n) => write!(f, "{n}"),
        }
    }
}

/// A network ready to run: checked shapes, resolved parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// From `model NAME`, else the file's stem.
    pub name: String,
    /// Always `Shape::Image`.
    pub input: Shape,
    /// Every declared `param`, in declaration order, with its final value
    /// (after `--set`).
    pub params: Vec<(String, i64)>,
    pub layers: Vec<Layer>,
}

/// A tensor a layer reads: the model's input, or a layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    Input,
    Layer(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `conv1`, `pool2`, `dense1`, …: the kind and its 1-based count among
    /// layers of that kind. Weight names in checkpoints derive from it.
    pub name: String,
    pub kind: LayerKind,
    /// What the layer reads, in order, each produced before it. One
    /// operand for every kind but [`LayerKind::Add`].
    pub inputs: Vec<Operand>,
    /// The shape of `inputs[0]` (of every input, for an `Add`).
    pub input: Shape,
    pub output: Shape,
    /// The statement that made this layer (for an implicit flatten, the
    /// `dense` that asked for it).
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    Conv(Conv),
    Pool(Pool),
    Dense(Dense),
    /// A view: NHWC memory read as one vector per sample. `implicit` when
    /// inserted before a `dense` rather than written.
    Flatten {
        implicit: bool,
    },
    /// Inverted dropout: scales kept values by 1 / (1 - rate) in training.
    Dropout {
        rate: f32,
    },
    /// Per-channel normalisation (Keras's `BatchNormalization` defaults).
    BatchNorm,
    /// An activation as a layer of its own.
    Activation(Activation),
    /// The elementwise sum of its inputs, all of one shape: a residual
    /// connection. Not yet written by the language; tests build it.
    Add,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv {
    pub filters: usize,
    /// Height, width.
    pub kernel: [usize; 2],
    pub stride: usize,
    pub padding: Padding,
    pub activation: Activation,
    /// L2 penalty factor on the kernel (Keras `kernel_regularizer`), 0 if none.
    pub l2: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    /// Height, width.
    pub window: [usize; 2],
    pub stride: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dense {
    pub units: usize,
    pub activation: Activation,
    pub l2: f32,
}

/// Parameter counts, split as Keras splits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParamCount {
    pub trainable: usize,
    pub non_trainable: usize,
}

impl ParamCount {
    pub fn total(self) -> usize {
        self.trainable + self.non_trainable
    }
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

/// Output size of a convolution along one axis (Keras semantics).
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

impl Layer {
    pub fn params(&self) -> ParamCount {
        let trainable = match &self.kind {
            LayerKind::Conv(c) => c.kernel[0] * c.kernel[1] * self.input.channels() * c.filters + c.filters,
            LayerKind::Dense(d) => self.input.elements() * d.units + d.units,
            LayerKind::BatchNorm => 2 * self.input.channels(),
            _ => 0,
        };
        let non_trainable = match self.kind {
            // The running mean and variance.
            LayerKind::BatchNorm => 2 * self.input.channels(),
            _ => 0,
        };
        ParamCount {
            trainable,
            non_trainable,
        }
    }

    /// Forward FLOPs for one sample: 2 x multiply-accumulates. Layers
    /// without multiply-accumulates (pooling, activations) count 0.
    pub fn flops(&self) -> u64 {
        let macs = match &self.kind {
            LayerKind::Conv(c) => {
                (self.output.elements() * c.kernel[0] * c.kernel[1] * self.input.channels()) as u64
            }
            LayerKind::Dense(d) => (self.input.elements() * d.units) as u64,
            _ => 0,
        };
        2 * macs
    }

    /// The activation applied at this layer's output, if it has one.
    pub fn activation(&self) -> Activation {
        match &self.kind {
            LayerKind::Conv(c) => c.activation,
            LayerKind::Dense(d) => d.activation,
            LayerKind::Activation(a) => *a,
            _ => Activation::Linear,
        }
    }

    /// The layer's L2 factor (`l2 F` on a conv or dense), or 0.
    pub fn l2(&self) -> f32 {
        match &self.kind {
            LayerKind::Conv(c) => c.l2,
            LayerKind::Dense(d) => d.l2,
            _ => 0.0,
        }
    }

    /// Bytes of this layer's output for one sample (f32); a flatten is a
    /// view of its input and holds none.
    pub fn activation_bytes(&self) -> u64 {
        match self.kind {
            LayerKind::Flatten { .. } => 0,
            _ => 4 * self.output.elements() as u64,
        }
    }

    /// A short description of the layer's settings, as `summary` prints it.
    pub fn describe(&self) -> String {
        let act = |a: Activation| match a {
            Activation::Linear => String::new(),
            a => format!(" {}", a.keyword()),
        };
        let l2 = |f: f32| {
            if f > 0.0 {
                format!(" l2 {f}")
            } else {
                String::new()
            }
        };
        match &self.kind {
            LayerKind::Conv(c) => {
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
                    act(c.activation),
                    l2(c.l2)
                )
            }
            LayerKind::Pool(p) => {
                let kind = match p.kind {
                    PoolKind::Max => "max",
                    PoolKind::Avg => "avg",
                };
                let stride = if p.stride != p.window[0] || p.window[0] != p.window[1] {
                    format!(" stride {}", p.stride)
                } else {
                    String::new()
                };
                format!("pool {kind} {}x{}{stride}", p.window[0], p.window[1])
            }
            LayerKind::Dense(d) => format!("dense {}{}{}", d.units, act(d.activation), l2(d.l2)),
            LayerKind::Flatten { implicit: true } => "flatten (implicit)".to_string(),
            LayerKind::Flatten { implicit: false } => "flatten".to_string(),
            LayerKind::Dropout { rate } => format!("dropout {rate}"),
            LayerKind::BatchNorm => "batchnorm".to_string(),
            LayerKind::Activation(a) => a.keyword().to_string(),
            LayerKind::Add => "add".to_string(),
        }
    }

    /// The layer kind as one word (`conv`, `pool`, …), for `--json`.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            LayerKind::Conv(_) => "conv",
            LayerKind::Pool(_) => "pool",
            LayerKind::Dense(_) => "dense",
            LayerKind::Flatten { .. } => "flatten",
            LayerKind::Dropout { .. } => "dropout",
            LayerKind::BatchNorm => "batchnorm",
            LayerKind::Activation(_) => "activation",
            LayerKind::Add => "add",
        }
    }
}

impl Model {
    pub fn params(&self) -> ParamCount {
        self.layers.iter().fold(ParamCount::default(), |acc, l| {
            let p = l.params();
            ParamCount {
                trainable: acc.trainable + p.trainable,
                non_trainable: acc.non_trainable + p.non_trainable,
            }
        })
    }

    pub fn flops(&self) -> u64 {
        self.layers.iter().map(Layer::flops).sum()
    }

    /// Bytes of every layer's output for one sample; what a forward pass
    /// that keeps them all (as training does) holds per image.
    pub fn activation_bytes(&self) -> u64 {
        self.layers.iter().map(Layer::activation_bytes).sum()
    }

    /// The shape of a tensor.
    pub fn shape(&self, operand: Operand) -> Shape {
        match operand {
            Operand::Input => self.input,
            Operand::Layer(i) => self.layers[i].output,
        }
    }

    /// The layers that read `operand`, in order.
    pub fn consumers(&self, operand: Operand) -> Vec<usize> {
        (0..self.layers.len())
            .filter(|&i| self.layers[i].inputs.contains(&operand))
            .collect()
    }

    /// The shape of the model's final output.
    pub fn output(&self) -> Shape {
        self.layers.last().map_or(self.input, |l| l.output)
    }

    /// Filters of each conv layer, in order: the knob this tool turns.
    pub fn conv_filters(&self) -> Vec<usize> {
        self.layers
            .iter()
            .filter_map(|l| match &l.kind {
                LayerKind::Conv(c) => Some(c.filters),
                _ => None,
            })
            .collect()
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
