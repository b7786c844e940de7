//! What a layer kind says about itself in the model: [`KindRule`], which
//! every kind's settings type implements, and [`Registry`], the list of
//! kinds a model is made of. The stages below the kinds (checking,
//! planning kernels, the CPU reference, the exports) are written against
//! these, so that the kinds can use them without a cycle.

use std::fmt;

use super::check::{Checker, Spec};
use super::{Activation, Shape};
use crate::diagnostic::{Diagnostic, Span};
use crate::syntax::Statement;

/// What a layer of a kind means: its shape rule and diagnostics, its
/// parameter tensors (from which counts and layouts derive), FLOPs and
/// description. Implemented by each kind's settings type (`Conv`, `Pool`,
/// …), for its own layers.
pub trait KindRule: fmt::Debug {
    /// The kind as one word (`conv`, `pool`, …), as `--json` prints it.
    fn name(&self) -> &'static str;

    /// The stem of its layers' names, numbered from 1 among layers of one
    /// stem (`conv1`, `conv2`); checkpoint weight names derive from it.
    fn stem(&self) -> &'static str {
        self.name()
    }

    /// The output shape for its inputs' shapes (one, but for the kinds that
    /// merge tensors), or the located reason there is none.
    fn output(&self, inputs: &[Shape], site: &Site) -> Result<Shape, Diagnostic>;

    /// Entries of its largest weight tensor for an input, saturating:
    /// checked against the GPU's binding limit before any count is made in
    /// `usize`.
    fn largest_weight(&self, _input: Shape) -> u128 {
        0
    }

    /// Its parameter tensors for an input and output shape, in buffer
    /// order; none unless the kind has weights.
    fn tensors(&self, _input: Shape, _output: Shape) -> Vec<TensorSpec> {
        Vec::new()
    }

    /// Forward FLOPs for one sample: 2 x multiply-accumulates. Kinds
    /// without multiply-accumulates (pooling, activations, sums) count 0.
    fn flops(&self, _input: Shape, _output: Shape) -> u64 {
        0
    }

    /// The activation applied at its output.
    fn activation(&self) -> Activation {
        Activation::LINEAR
    }

    /// Its L2 factor (`l2 F`), or 0.
    fn l2(&self) -> f32 {
        0.0
    }

    /// Whether its output is its input's memory read another way (a
    /// flatten): it holds no memory, and the activation behind it is its
    /// input's.
    fn is_view(&self) -> bool {
        false
    }

    /// Whether output feature `i` is computed from input feature `i` alone
    /// (dropout, an activation, batchnorm), so that a flattened image's
    /// feature order passes through it (see `weights::flattened_image`).
    fn keeps_feature_order(&self) -> bool {
        false
    }

    /// Whether the layer is its activation alone (Keras's `Activation`
    /// layer): the exports name the activation after the layer.
    fn is_activation(&self) -> bool {
        false
    }

    /// Its filter count, for a convolution: the knob `compare` reports.
    fn filters(&self) -> Option<usize> {
        None
    }

    /// A short description of its settings, as `summary` prints it.
    fn describe(&self) -> String;
}

/// The kinds a model's layers can be: an enum with a variant per kind
/// (`crate::kinds::LayerKind`), each holding the kind's settings.
pub trait Registry: Clone + fmt::Debug + PartialEq + Sized {
    /// What every kind implements, as one type: `dyn crate::kinds::Kind`,
    /// whose supertraits are each stage's rule.
    type Kind: KindRule + ?Sized;

    /// The kind of a layer, to ask it anything.
    fn rule(&self) -> &Self::Kind;

    /// A layer to insert before this one for an input of this shape (a
    /// dense layer flattens an image), if any.
    fn prelude(&self, input: Shape) -> Option<Self>;

    /// The layer a statement asks for, its counts evaluated by `cx`;
    /// `None` after reporting why when one is bad.
    fn lower(statement: &Statement, span: Span, cx: &mut Checker) -> Option<Spec<Self>>;
}

/// What a parameter tensor is to the optimizer and to PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamRole {
    /// A conv or dense kernel, or a batchnorm's scale (gamma).
    Weight,
    /// A conv or dense bias, or a batchnorm's shift (beta).
    Bias,
    /// A batchnorm's running statistics: updated by the forward pass in
    /// training, never by the optimizer (their gradient stays zero).
    RunningMean,
    RunningVar,
}

impl ParamRole {
    pub fn trainable(self) -> bool {
        matches!(self, ParamRole::Weight | ParamRole::Bias)
    }

    /// PyTorch's name for it: `conv1.weight`, `batchnorm1.running_var`.
    pub fn suffix(self) -> &'static str {
        match self {
            ParamRole::Weight => "weight",
            ParamRole::Bias => "bias",
            ParamRole::RunningMean => "running_mean",
            ParamRole::RunningVar => "running_var",
        }
    }
}

/// One parameter tensor of a layer, as its kind declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub role: ParamRole,
    /// Its shape inside cnnc: HWIO for a conv kernel (with groups G, I is
    /// the input channels / G), `[IN, OUT]` for a dense one; contiguous
    /// along the output channel for the kernels' vector loads.
    pub shape: Vec<usize>,
    /// Whether `l2` and `--weight-decay` apply: to kernels, not to biases
    /// nor a batchnorm's scale.
    pub decays: bool,
    /// Its values before training.
    pub init: Init,
    /// How PyTorch lays it out, for saving and the exports.
    pub torch: TorchLayout,
}

/// A tensor's values before training, as Keras initialises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// Glorot-uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)), the fans
    /// from the shape (`[.., in, out]`, the leading axes the receptive
    /// field), as Keras computes them.
    Glorot,
    Zeros,
    Ones,
}

/// How PyTorch orders a tensor that cnnc stores in its own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchLayout {
    /// The same: a bias, a vector over channels.
    Same,
    /// A conv kernel: cnnc's HWIO is PyTorch's OIHW.
    ConvKernel,
    /// A dense kernel: cnnc's `[IN, OUT]` is PyTorch's `[OUT, IN]`, with
    /// the input features in PyTorch's order (see [`TorchLayout::Features`]).
    DenseKernel,
    /// One value per input feature (a batchnorm's vectors): where the
    /// input is a flattened image, in PyTorch's order of its features
    /// (channel, row, column) rather than cnnc's (row, column, channel).
    Features,
}

/// A tensor's producer, as a diagnostic names it.
#[derive(Debug, Clone, Copy)]
pub struct Producer<'a> {
    pub name: &'a str,
    pub span: Span,
    pub output: Shape,
}

/// Where a layer stands, for the diagnostics of its shape rule.
pub struct Site<'a> {
    /// The statement that made the layer.
    pub span: Span,
    /// The part of it a shape error points at (see `Spec::focus`).
    pub focus: Span,
    /// The layer whose output it reads; `None` when it reads the input.
    pub from: Option<Producer<'a>>,
    /// Each further input (of an `add` or a `concat`): the layer it comes
    /// from (`None`: the model's input), and where the statement names it.
    pub more: Vec<(Option<Producer<'a>>, Span)>,
}

/// The height and width of an image input, or why a flat one will not do
/// for a `what` layer.
pub fn image_input(input: Shape, what: &str, site: &Site) -> Result<(usize, usize), Diagnostic> {
    match input {
        Shape::Image { h, w, .. } => Ok((h, w)),
        Shape::Flat(n) => {
            let mut d = Diagnostic::error(format!(
                "`{what}` needs an image (HxWxC) input, but its input is a vector of {n}"
            ))
            .label(site.span, format!("{what} on a flat input"));
            if let Some(layer) = site.from {
                d = d.label(layer.span, format!("`{}` outputs a vector of {n}", layer.name));
            }
            Err(d.help(format!(
                "put `{what}` layers before the first `flatten` or `dense`"
            )))
        }
    }
}

/// A kernel or pool window (`what`, moved by `stride`) that does not fit
/// an `h` x `w` input, with the arithmetic.
pub fn window_too_large(
    (h, w): (usize, usize),
    window: [usize; 2],
    stride: usize,
    what: &str,
    help: &str,
    site: &Site,
) -> Diagnostic {
    // Without padding: floor((size - window) / stride) + 1 where it fits.
    let out = |size: usize, k: usize| size.checked_sub(k).map_or(0, |rest| rest / stride.max(1) + 1);
    let mut d = Diagnostic::error(format!(
        "a {}x{} {what} does not fit a {h}x{w} input",
        window[0], window[1]
    ))
    .label(
        site.focus,
        format!(
            "{}x{} is larger than {h}x{w}; without padding the output would be {}x{}",
            window[0],
            window[1],
            out(h, window[0]),
            out(w, window[1])
        ),
    );
    if let Some(layer) = site.from {
        d = d.label(layer.span, format!("`{}` outputs {}", layer.name, layer.output));
    }
    d.help(help)
}
