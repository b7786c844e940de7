//! [`Model`] to [`Plan`]: the buffers a training step needs and the kernels
//! that compute it, forward, loss, backward and optimizer, each a WGSL
//! module specialised to its layer's shapes and validated by naga.
//!
//! How gradients flow: for each layer, `grad` holds the gradient of the
//! loss with respect to the layer's output *before* its activation. A
//! backward kernel that computes the gradient of its input multiplies by
//! the derivative of the activation that produced that input (read from
//! the stored input itself), so every activation's derivative is applied
//! exactly once, fused into a kernel that runs anyway.

mod lower;
pub mod template;
mod unroll;

pub use lower::lower;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Span};
use crate::params::ParamLayout;

/// Which update rule the optimizer kernel applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// SGD with (optional) momentum, as Keras's `SGD`.
    Sgd,
    /// Adam with Keras's update rule.
    Adam,
    /// Adam with decoupled weight decay (Loshchilov and Hutter; PyTorch's
    /// `AdamW`): `--weight-decay` shrinks the weights, not the gradient.
    #[value(name = "adamw")]
    #[serde(rename = "adamw")]
    AdamW,
}

/// Register-tile sizes of the GEMM-like kernels: each invocation computes
/// `m x n` outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tile {
    pub m: usize,
    pub n: usize,
}

/// The three GEMM-like kernels of a conv or dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GemmKind {
    Forward,
    BackwardInput,
    BackwardWeight,
}

/// Which register tile each GEMM-like kernel gets: a default per kind,
/// and the tuner's choices by shape (see `Plan::gemm_keys`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tiling {
    pub tuned: std::collections::BTreeMap<String, Tile>,
}

impl Tiling {
    /// The default tile for a kernel of `flops` per dispatch. Measured on
    /// lavapipe (2 cores): a 16 x 32 tile runs the big convolutions ~4x
    /// faster than 4 x 4, but the driver takes ~2.5 s to compile it, so
    /// kernels with little work get smaller tiles that compile in a
    /// fraction of that. `cnnc tune` measures instead of guessing.
    pub fn default_tile(kind: GemmKind, flops: u64) -> Tile {
        let big = flops >= 300_000_000;
        let small = flops < 20_000_000;
        match (kind, big, small) {
            (GemmKind::BackwardInput, true, _) => Tile { m: 16, n: 16 },
            (GemmKind::BackwardInput, false, false) => Tile { m: 8, n: 8 },
            (GemmKind::BackwardInput, _, true) => Tile { m: 4, n: 4 },
            (_, true, _) => Tile { m: 16, n: 32 },
            (_, false, false) => Tile { m: 8, n: 16 },
            (_, _, true) => Tile { m: 4, n: 8 },
        }
    }

    pub fn tile(&self, kind: GemmKind, key: &str, flops: u64) -> Tile {
        self.tuned
            .get(key)
            .copied()
            .unwrap_or_else(|| Self::default_tile(kind, flops))
    }
}

/// The most buffers a dataset may span (bindings of `shaders/gather.wgsl`).
pub const DATASET_CHUNKS: usize = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct LowerOptions {
    /// Samples per step; every kernel is specialised to it.
    pub batch: usize,
    /// Samples per dataset buffer (the runtime's choice, from its limits).
    pub samples_per_chunk: usize,
    pub optimizer: OptimizerKind,
    /// Largest invocations per workgroup (small dispatches get smaller
    /// workgroups, so that every core has work).
    pub workgroup_size: usize,
    pub tiling: Tiling,
    /// Random transformations of training batches, in the gather kernel.
    pub augment: crate::augment::Augment,
    /// Whether to emit the weight-decay kernels (the factor is in the step
    /// uniform, so that it is a flag, not a recompilation).
    pub weight_decay: bool,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions {
            batch: 32,
            samples_per_chunk: 1 << 20,
            optimizer: OptimizerKind::Adam,
            workgroup_size: 64,
            tiling: Tiling::default(),
            augment: crate::augment::Augment::default(),
            weight_decay: false,
        }
    }
}

pub type BufferId = usize;

/// What a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferRole {
    /// A part of the dataset, as bytes; supplied by the runtime for each
    /// dataset, so the plan only names it.
    Dataset,
    /// Which sample each batch slot holds, u32.
    Indices,
    /// The batch's images, f32 NHWC.
    Input,
    /// The batch's class labels, u32.
    Labels,
    /// The per-step uniform (`Step` in `shaders/common.wgsl`).
    Step,
    /// Every trainable parameter, flat (see `params::ParamLayout`).
    Params,
    /// Their gradients, same layout.
    Grads,
    /// Optimizer moments, same layout.
    OptimizerState,
    /// A layer's output, kept for the backward pass.
    Activation,
    /// Indices of max-pool winners, u32.
    PoolIndices,
    /// A gradient with respect to a layer's output.
    Gradient,
    /// Softmax of the logits.
    Probabilities,
    /// Per-sample loss and prediction.
    SampleStats,
    /// Running loss and accuracy totals.
    Totals,
    /// Each batchnorm's mean and 1 / std of the step, per channel.
    BatchNormStatistics,
    /// Each `l2` layer's penalty of the step.
    Penalties,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BufferDecl {
    pub name: String,
    pub bytes: u64,
    pub role: BufferRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Building the batch from the dataset.
    Input,
    Forward,
    Loss,
    Backward,
    Optimizer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    ReadWrite,
    Uniform,
}

/// A binding of a kernel: `@binding(i)` is `bindings[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub buffer: BufferId,
    pub access: Access,
}

/// One compute dispatch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kernel {
    /// `conv1_forward`, `dense2_backward_weight`, `adam`, …
    pub name: String,
    /// For GEMM-like kernels: which one, and the shape key the tuner
    /// caches tiles under.
    pub gemm: Option<(GemmKind, String)>,
    /// The register tile of a GEMM-like kernel.
    pub tile: Option<Tile>,
    /// The file in `shaders/` it was made from.
    pub template: &'static str,
    pub phase: Phase,
    /// The model layer it computes, if any.
    pub layer: Option<usize>,
    #[serde(skip)]
    pub wgsl: String,
    pub bindings: Vec<Binding>,
    pub workgroup_size: u32,
    pub workgroups: [u32; 3],
    /// Floating-point operations per dispatch (2 x multiply-accumulates),
    /// for GFLOP/s in benchmarks; 0 for kernels that only move data.
    pub flops: u64,
}

/// Buffers that the runtime reads and writes by role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Io {
    /// The dataset's parts, bound per dataset by the runtime.
    pub dataset: Vec<BufferId>,
    pub indices: BufferId,
    pub input: BufferId,
    pub labels: BufferId,
    pub step: BufferId,
    pub params: BufferId,
    pub grads: BufferId,
    pub probs: BufferId,
    pub stats: BufferId,
    pub totals: BufferId,
    /// One f32 per layer with `l2`: its penalty, for the reported loss.
    pub penalties: BufferId,
    /// Each layer's output buffer (a flatten shares its input's).
    pub layer_outputs: Vec<BufferId>,
    /// Each layer's output gradient, where the backward pass computes one.
    pub layer_grads: Vec<Option<BufferId>>,
}

/// Everything needed to run a model: buffers, and kernels in dispatch order
/// (input, forward, loss, backward, optimizer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub model: String,
    pub batch: usize,
    /// Input shape, H x W x C.
    pub input: [usize; 3],
    pub classes: usize,
    pub optimizer: OptimizerKind,
    /// The model's layer names, by index (`Kernel::layer`).
    pub layers: Vec<String>,
    pub params: ParamLayout,
    pub buffers: Vec<BufferDecl>,
    pub kernels: Vec<Kernel>,
    pub io: Io,
}

impl Plan {
    /// Kernels of a training step: all of them, in order.
    pub fn train_kernels(&self) -> impl Iterator<Item = &Kernel> {
        self.kernels.iter()
    }

    /// Kernels of an evaluation: input, forward and loss.
    pub fn eval_kernels(&self) -> impl Iterator<Item = &Kernel> {
        self.kernels
            .iter()
            .filter(|k| matches!(k.phase, Phase::Input | Phase::Forward | Phase::Loss))
    }

    /// Bytes of every buffer.
    pub fn memory_bytes(&self) -> u64 {
        self.buffers.iter().map(|b| b.bytes).sum()
    }

    /// The step's memory by what it holds.
    pub fn memory(&self) -> Memory {
        let mut m = Memory::default();
        for b in &self.buffers {
            let slot = match b.role {
                BufferRole::Params | BufferRole::Grads | BufferRole::OptimizerState => &mut m.weights,
                BufferRole::Input
                | BufferRole::Activation
                | BufferRole::PoolIndices
                | BufferRole::BatchNormStatistics => &mut m.activations,
                BufferRole::Gradient => &mut m.gradients,
                _ => &mut m.other,
            };
            *slot += b.bytes;
        }
        m
    }

    /// The file name `cnnc compile` gives a kernel: its position and name.
    pub fn kernel_file(&self, index: usize) -> String {
        format!("{index:02}_{}.wgsl", self.kernels[index].name)
    }

    /// The plan as `plan.json`: buffers, kernels with their files,
    /// bindings by buffer name, dispatch sizes, in order.
    pub fn manifest(&self) -> serde_json::Value {
        let kernels: Vec<serde_json::Value> = self
            .kernels
            .iter()
            .enumerate()
            .map(|(i, k)| {
                serde_json::json!({
                    "order": i,
                    "name": k.name,
                    "phase": k.phase,
                    "file": self.kernel_file(i),
                    "template": format!("shaders/{}.wgsl", k.template),
                    "layer": k.layer.map(|l| self.layers[l].as_str()),
                    "bindings": k.bindings.iter().enumerate().map(|(b, binding)| serde_json::json!({
                        "binding": b,
                        "buffer": self.buffers[binding.buffer].name,
                        "access": binding.access,
                    })).collect::<Vec<_>>(),
                    "tile": k.tile,
                    "workgroup_size": k.workgroup_size,
                    "workgroups": k.workgroups,
                    "flops": k.flops,
                })
            })
            .collect();
        serde_json::json!({
            "model": self.model,
            "batch": self.batch,
            "input": self.input,
            "classes": self.classes,
            "optimizer": self.optimizer,
            "memory_bytes": self.memory_bytes(),
            "params": self.params,
            "buffers": self.buffers,
            "kernels": kernels,
        })
    }
}

/// A training step's GPU memory, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Memory {
    /// Parameters, their gradients and the optimizer's state.
    pub weights: u64,
    /// What the backward pass reads of the forward pass: the input, every
    /// layer's output, max-pool indices.
    pub activations: u64,
    /// Gradients of layer outputs, in buffers shared by liveness.
    pub gradients: u64,
    /// Labels, probabilities, per-sample results, the step uniform.
    pub other: u64,
}

impl Memory {
    pub fn total(&self) -> u64 {
        self.weights + self.activations + self.gradients + self.other
    }

    /// Total over the least a step must hold (weights, gradients and
    /// optimizer state, and the activations the backward pass reads).
    pub fn overhead(&self) -> f64 {
        self.total() as f64 / (self.weights + self.activations).max(1) as f64
    }

    pub fn describe(&self) -> String {
        use crate::units::human_bytes;
        format!(
            "{} ({} weights, gradients and optimizer state; {} activations kept for the backward pass; {} gradients; {} other; {:.2}x the minimum)",
            human_bytes(self.total() as u128),
            human_bytes(self.weights as u128),
            human_bytes(self.activations as u128),
            human_bytes(self.gradients as u128),
            human_bytes(self.other as u128),
            self.overhead()
        )
    }
}

/// Why a checked model cannot be lowered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LowerError {
    #[error("{message}")]
    Unsupported {
        message: String,
        span: Span,
        help: String,
    },
    /// A generated module that naga rejects: a bug in cnnc.
    #[error("generated kernel `{kernel}` is invalid WGSL (a bug in cnnc):\n{message}")]
    InvalidShader { kernel: String, message: String },
}

impl LowerError {
    pub fn to_diagnostic(&self) -> Diagnostic {
        match self {
            LowerError::Unsupported { message, span, help } => Diagnostic::error(message.clone())
                .label(*span, "here")
                .help(help.clone()),
            LowerError::InvalidShader { .. } => Diagnostic::error(self.to_string()),
        }
    }
}
