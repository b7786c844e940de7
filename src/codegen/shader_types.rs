//! The structs the host shares with the shaders, field for field and
//! `#[repr(C)]`, so that `bytemuck` can copy them to and from buffers.
//! A change here is a change to the WGSL struct of the same name.

/// The per-step uniform: `Step` in `shaders/common.wgsl`, field for field.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepUniform {
    pub samples: u32,
    pub training: u32,
    pub seed: u32,
    pub t: u32,
    pub lr: f32,
    pub alpha: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    pub pad: [u32; 2],
}

/// Running totals that `metrics.wgsl` accumulates: `Totals` there.
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    bytemuck::Pod,
    bytemuck::Zeroable,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Totals {
    pub loss_sum: f32,
    pub correct: u32,
    pub counted: u32,
    pub batches: u32,
}

/// Per-sample results of the loss kernel: `SampleStat` there.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SampleStat {
    pub loss: f32,
    pub predicted: u32,
    pub correct: u32,
    pub counted: u32,
}
