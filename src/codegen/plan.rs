//! The plan: what a step needs (buffers, by role and size) and does
//! (kernels, in dispatch order, each a template, its constants and its
//! bindings). Plain data, made by [`super::plan`], turned into WGSL by
//! [`super::emit`], run by the runtime, and read by reports without any of
//! it being emitted.

use serde::Serialize;

use super::template::{Header, Template};
use super::{GemmKind, OptimizerKind, Tile};
use crate::params::ParamLayout;

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Forward, loss, backward and optimizer.
    Train,
    /// Forward and loss only: no gradients, no optimizer state (`eval`,
    /// `predict`).
    Infer,
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
    /// Whether that tile is `cnnc tune`'s choice for this shape (from
    /// `LowerOptions::tiling`) rather than the default.
    pub tuned: bool,
    /// The file in `shaders/` it was made from (serialised as its name).
    #[serde(serialize_with = "template_name")]
    pub template: Template,
    pub phase: Phase,
    /// The model layer it computes, if any.
    pub layer: Option<usize>,
    /// The constants and helper functions its template is specialised
    /// with; [`super::emit`] writes them out as WGSL.
    #[serde(skip)]
    pub header: Header,
    pub bindings: Vec<Binding>,
    pub workgroup_size: u32,
    pub workgroups: [u32; 3],
    /// Floating-point operations per dispatch (2 x multiply-accumulates),
    /// for GFLOP/s in benchmarks; 0 for kernels that only move data.
    pub flops: u64,
}

fn template_name<S: serde::Serializer>(template: &Template, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(template.name)
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
    /// Training (every phase) or inference (input, forward, loss).
    pub purpose: Purpose,
    pub batch: usize,
    /// Samples per dataset buffer, baked into the gather kernel; the
    /// runtime splits datasets by it.
    pub samples_per_chunk: usize,
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
                    "template": format!("shaders/{}.wgsl", k.template.name),
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
