//! Code generation in two steps. [`plan`] turns a checked `Model` into a
//! [`Plan`]: the buffers a step needs and its kernels (forward, loss,
//! backward, optimizer), each a template of `shaders/` with the constants
//! and helper functions it is specialised with, as data. [`emit`] writes
//! each kernel out as a WGSL module and validates it with naga.
//!
//! ```text
//! planner.rs   the walk over the graph; what a kind may ask of it
//! gemm.rs      implicit GEMMs (conv and dense): tiles, shared kernels
//! loss.rs      softmax cross-entropy, l2 penalties, totals
//! optimizer.rs regularisation and the update
//! memory.rs    gradient buffers shared by liveness
//! requirements.rs  what a kernel asks of a device (for the limits)
//! plan.rs      the plan's types        emit.rs, template.rs  WGSL text
//! ```

mod emit;
pub mod gemm;
mod loss;
mod memory;
mod optimizer;
mod plan;
mod planner;
mod requirements;
mod shader_types;
pub mod template;
mod unroll;

pub use emit::{Compiled, compile, emit};
pub use gemm::TILED_TEMPLATES;
pub use plan::{Access, Binding, BufferDecl, BufferId, BufferRole, Io, Kernel, Memory, Phase, Plan, Purpose};
pub use planner::{Planner, REDUCE_WG, Rule, STEP_BYTES, dispatch, plan};
pub use requirements::KernelNeeds;
pub use shader_types::{SampleStat, StepUniform, Totals};
pub use template::{Header, Template};

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Span};

/// Which update rule the optimizer kernel applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// SGD with (optional) momentum, as Keras's `SGD`.
    Sgd,
    /// Adam with Keras's update rule.
    Adam,
    /// Adam with decoupled weight decay (Loshchilov and Hutter; PyTorch's
    /// `AdamW`): `--weight-decay` shrinks the weights, not the gradient.
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
    /// A training step, or forward and loss only.
    pub purpose: Purpose,
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
            purpose: Purpose::Train,
        }
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
