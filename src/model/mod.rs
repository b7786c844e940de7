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
//!   with several inputs ([`LayerKind::Add`]) reads tensors of one shape
//!   ([`LayerKind::Concat`]: of one height and width, or all vectors);
//! - every size is at least 1, and every tensor has fewer than 2^31 elements;
//! - a `Dense` layer's input is `Shape::Flat` (a `Flatten` is inserted when
//!   the source put `dense` straight after a spatial layer);
//! - `Conv` and `Pool` inputs are `Shape::Image`;
//! - only the last layer may use `softmax`.

mod blocks;
mod check;
mod eval;
mod expand;
pub mod keras;
mod kinds;
mod names;
mod warnings;

pub use check::{CheckOptions, check};
pub use kinds::conv::{Conv, conv_out};
pub use kinds::dense::Dense;
pub use kinds::pool::Pool;

use std::fmt;

use crate::diagnostic::Span;
pub use crate::syntax::{Activation, Padding, PoolKind};

/// A tensor shape for one sample. Images are height x width x channels,
/// written in that order as in Keras (`input 32x32x3`).
/// In a checked model every size is at least 1 and every shape has fewer
/// than 2^31 elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Height, width, channels; stored NHWC (channels fastest).
    Image { h: usize, w: usize, c: usize },
    /// A vector per sample: the output of a `flatten` or a `dense`.
    Flat(usize),
}

impl Shape {
    /// Values per sample.
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
    /// In topological order: every layer reads only the input and earlier
    /// layers. Never empty.
    pub layers: Vec<Layer>,
    /// What is legal but likely a mistake (an output nothing reads).
    pub warnings: Vec<crate::diagnostic::Diagnostic>,
}

/// A tensor a layer reads: the model's input, or a layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// The model's input, [`Model::input`].
    Input,
    /// The output of `layers[i]`, after its activation; `i` is less than
    /// the index of the layer that reads it.
    Layer(usize),
}

/// One layer of a checked model. Its costs and description come from its
/// kind's file under `model/kinds/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `conv1`, `pool2`, `relu1`, …: the kind's stem and its 1-based count
    /// among layers of that stem; unique in the model. Weight names in
    /// checkpoints derive from it.
    pub name: String,
    /// What it computes, with its settings.
    pub kind: LayerKind,
    /// What the layer reads, in order, each produced before it. One
    /// operand for every kind but [`LayerKind::Add`] and
    /// [`LayerKind::Concat`].
    pub inputs: Vec<Operand>,
    /// The shape of `inputs[0]` (of every input, for an `Add`).
    pub input: Shape,
    /// What its kind's shape rule gives for `input`.
    pub output: Shape,
    /// The statement that made this layer (for an implicit flatten, the
    /// `dense` that asked for it).
    pub span: Span,
    /// Where the model's own lines make it: the call of the outermost
    /// block it was expanded from, else `span`. Editors show a block
    /// call's output shape there.
    pub site: Span,
}

/// What a layer computes. Each kind's meaning (shape rule, parameters,
/// FLOPs, description) lives in its own file under `model/kinds/`.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    /// A 2-D convolution; input an image.
    Conv(Conv),
    /// Max or average pooling; input an image.
    Pool(Pool),
    /// Fully connected; input `Shape::Flat`.
    Dense(Dense),
    /// A view: NHWC memory read as one vector per sample. `implicit` when
    /// inserted before a `dense` rather than written.
    Flatten { implicit: bool },
    /// Inverted dropout: scales kept values by 1 / (1 - rate) in training.
    Dropout {
        /// The fraction dropped, in [0, 1).
        rate: f32,
    },
    /// Per-channel normalisation (Keras's `BatchNormalization` defaults).
    BatchNorm,
    /// An activation as a layer of its own.
    Activation(Activation),
    /// The elementwise sum of its inputs, all of one shape: a residual
    /// connection. Not yet written by the language; tests build it.
    Add,
    /// Its inputs joined along the channels (images of one height and
    /// width), or end to end (vectors): Keras's `Concatenate(axis=-1)`,
    /// PyTorch's `torch.cat(dim=1)`. Not yet written by the language.
    Concat,
    /// The average or maximum of each channel over the whole image: an
    /// image H x W x C becomes a vector of C (Keras's
    /// `GlobalAveragePooling2D` / `GlobalMaxPooling2D`).
    GlobalPool(PoolKind),
}

/// Parameter counts, split as Keras splits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParamCount {
    /// Updated by the optimizer: kernels, biases, batchnorm's γ and β.
    pub trainable: usize,
    /// Kept but not trained: batchnorm's running mean and variance.
    pub non_trainable: usize,
}

impl ParamCount {
    pub fn total(self) -> usize {
        self.trainable + self.non_trainable
    }
}

impl Layer {
    /// Its parameters, split as Keras splits them.
    pub fn params(&self) -> ParamCount {
        kinds::of(&self.kind).params(self)
    }

    /// Forward FLOPs for one sample: 2 x multiply-accumulates. Layers
    /// without multiply-accumulates (pooling, activations) count 0.
    pub fn flops(&self) -> u64 {
        kinds::of(&self.kind).flops(self)
    }

    /// The activation applied at this layer's output, if it has one.
    pub fn activation(&self) -> Activation {
        kinds::of(&self.kind).activation(&self.kind)
    }

    /// The layer's L2 factor (`l2 F` on a conv or dense), or 0.
    pub fn l2(&self) -> f32 {
        kinds::of(&self.kind).l2(&self.kind)
    }

    /// Bytes of this layer's output for one sample (f32); a flatten is a
    /// view of its input and holds none.
    pub fn activation_bytes(&self) -> u64 {
        kinds::of(&self.kind).activation_bytes(self)
    }

    /// A short description of the layer's settings, as `summary` prints it.
    pub fn describe(&self) -> String {
        kinds::of(&self.kind).describe(&self.kind)
    }

    /// The layer kind as one word (`conv`, `pool`, …), for `--json`.
    pub fn kind_name(&self) -> &'static str {
        kinds::of(&self.kind).kind_name()
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
