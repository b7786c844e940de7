//! The checked model: every layer with its input and output shape, ready
//! to be costed (parameters, FLOPs, memory) and lowered to kernels.
//!
//! The model is a graph of layers in topological order: each layer names
//! the tensors it reads ([`Layer::inputs`]), and every one of them is the
//! model's input or the output of an earlier layer. `check` wires them
//! from the file: a layer reads the previous layer's output unless it
//! says `from NAME`, and `add` and `concat` read several tensors.
//!
//! What a layer of each kind means (its shape rule, parameters, FLOPs,
//! description) is the kind's own, through [`KindRule`]; the kinds live in
//! `crate::kinds`, above this module, and reach it through the
//! [`Registry`] that a model is generic over.
//!
//! Invariants, established by [`check`]:
//! - `layers[i].input` is the shape of `layers[i].inputs[0]`, and a layer
//!   with several inputs reads tensors its kind's shape rule accepted;
//! - every size is at least 1, and every tensor has fewer than 2^31 elements;
//! - a dense layer's input is `Shape::Flat` (a flatten is inserted when
//!   the source put `dense` straight after a spatial layer, see
//!   [`Registry::prelude`]);
//! - only the last layer may use `softmax`.

mod blocks;
mod check;
mod eval;
mod expand;
pub mod keras;
mod names;
mod rule;
mod warnings;

pub use check::{CheckOptions, Checker, Spec, check};
pub use rule::{
    Init, KindRule, ParamRole, Producer, Registry, Site, TensorSpec, TorchLayout, image_input,
    window_too_large,
};

use std::fmt;

pub use crate::activation::Activation;
use crate::diagnostic::Span;
pub use crate::syntax::{Padding, PoolKind};

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

/// A network ready to run: checked shapes, resolved parameters. `K` is
/// the registry of layer kinds (`crate::kinds::LayerKind`); this module
/// and the stages below it are written over any registry, so that the
/// kinds, which use them, sit above them (`crate::Model` names the model
/// of cnnc's own kinds).
#[derive(Debug, Clone, PartialEq)]
pub struct Model<K> {
    /// From `model NAME`, else the file's stem.
    pub name: String,
    /// Always `Shape::Image`.
    pub input: Shape,
    /// Every declared `param`, in declaration order, with its final value
    /// (after `--set`).
    pub params: Vec<(String, i64)>,
    /// In topological order: every layer reads only the input and earlier
    /// layers. Never empty.
    pub layers: Vec<Layer<K>>,
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

/// One layer of a checked model. What it means and costs comes from its
/// kind ([`KindRule`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer<K> {
    /// `conv1`, `pool2`, `relu1`, …: the kind's stem and its 1-based count
    /// among layers of that stem; unique in the model. Weight names in
    /// checkpoints derive from it.
    pub name: String,
    /// What it computes, with its settings.
    pub kind: K,
    /// What the layer reads, in order, each produced before it. One
    /// operand for every kind but those that merge tensors (`add`,
    /// `concat`).
    pub inputs: Vec<Operand>,
    /// The shape of `inputs[0]` (of every input, for an `add`).
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

impl<K: Registry> Layer<K> {
    /// Its kind's rule.
    pub fn rule(&self) -> &K::Kind {
        self.kind.rule()
    }

    /// Its parameter tensors, in buffer order.
    pub fn tensors(&self) -> Vec<TensorSpec> {
        self.rule().tensors(self.input, self.output)
    }

    /// Its parameters, split as Keras splits them.
    pub fn params(&self) -> ParamCount {
        self.tensors().iter().fold(ParamCount::default(), |acc, t| {
            let n: usize = t.shape.iter().product();
            match t.role.trainable() {
                true => ParamCount {
                    trainable: acc.trainable + n,
                    ..acc
                },
                false => ParamCount {
                    non_trainable: acc.non_trainable + n,
                    ..acc
                },
            }
        })
    }

    /// Forward FLOPs for one sample: 2 x multiply-accumulates. Layers
    /// without multiply-accumulates (pooling, activations) count 0.
    pub fn flops(&self) -> u64 {
        self.rule().flops(self.input, self.output)
    }

    /// The activation applied at this layer's output, if it has one.
    pub fn activation(&self) -> Activation {
        self.rule().activation()
    }

    /// The layer's L2 factor (`l2 F` on a conv or dense), or 0.
    pub fn l2(&self) -> f32 {
        self.rule().l2()
    }

    /// Bytes of this layer's output for one sample (f32); a view (a
    /// flatten) holds none of its own.
    pub fn activation_bytes(&self) -> u64 {
        match self.rule().is_view() {
            true => 0,
            false => 4 * self.output.elements() as u64,
        }
    }

    /// A short description of the layer's settings, as `summary` prints it.
    pub fn describe(&self) -> String {
        self.rule().describe()
    }

    /// The layer kind as one word (`conv`, `pool`, …), for `--json`.
    pub fn kind_name(&self) -> &'static str {
        self.rule().name()
    }

    /// What a diagnostic says of the layer as the producer of a tensor.
    pub fn producer(&self) -> Producer<'_> {
        Producer {
            name: &self.name,
            span: self.span,
            output: self.output,
        }
    }
}

impl<K: Registry> Model<K> {
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
        self.layers.iter().map(|l| l.flops()).sum()
    }

    /// Bytes of every layer's output for one sample; what a forward pass
    /// that keeps them all (as training does) holds per image.
    pub fn activation_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.activation_bytes()).sum()
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
        self.layers.iter().filter_map(|l| l.rule().filters()).collect()
    }
}
