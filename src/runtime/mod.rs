//! Running a [`Plan`](crate::codegen::Plan) with wgpu: one [`Gpu`]
//! (adapter, device, queue), and per plan an [`Executable`] that owns its
//! buffers, pipelines and bind groups and records a whole training step
//! into one command encoder.
//!
//! The steps follow wgpu's `hello_compute` example, one module each:
//! instances (`instance`) → adapter (`adapter`) → device (`gpu`); buffers, shader
//! modules → pipelines, bind groups (`executable`, after `limits` has
//! checked the plan fits); the dataset's buffers (`dataset`); encode and
//! submit (`dispatch`); map a staging buffer to read results back
//! (`readback`). The structs shared with the shaders are codegen's (`codegen::shader_types`).

use crate::codegen::DATASET_CHUNKS;
use crate::units::human_bytes;

mod adapter;
mod dataset;
mod dispatch;
mod executable;
mod gpu;
mod instance;
mod limits;
mod readback;

pub use crate::codegen::{SampleStat, StepUniform, Totals};
pub use adapter::{AdapterChoice, AdapterListing, choose, describe, scheduled_adapter};
pub use dataset::{DeviceDataset, chunk_samples};
pub use dispatch::Pass;
pub use executable::Executable;
pub use gpu::{Gpu, Work};
pub use limits::{check_limits, exceeded};

/// What can go wrong opening a device, fitting a plan on it or running it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("no GPU adapter found{0}")]
    NoAdapter(String),
    #[error("no adapter matches `{choice}`; adapters here:\n{available}")]
    UnknownAdapter { choice: String, available: String },
    #[error("cannot open the device: {0}")]
    Device(String),
    #[error(
        "buffer `{name}` needs {}, more than this adapter's limit of {} ({limit_name}); {remedy}",
        human_bytes(*bytes as u128),
        human_bytes(*limit as u128)
    )]
    BufferTooLarge {
        name: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
        /// What would make it fit, by what the buffer holds.
        remedy: String,
    },
    #[error(
        "kernel `{kernel}` needs {groups} workgroups in one dimension, more than this adapter's {limit}; use a smaller --batch (now {batch})"
    )]
    TooManyWorkgroups {
        kernel: String,
        groups: u32,
        limit: u32,
        batch: usize,
    },
    #[error(
        "kernel `{kernel}` needs {needs} for wgpu's `{limit_name}`, more than this adapter's {limit}; choose another adapter (`cnnc adapters` lists them with their limits)"
    )]
    KernelOverLimit {
        kernel: String,
        needs: u64,
        limit: u64,
        limit_name: &'static str,
    },
    #[error(
        "the dataset's {samples} samples ({}) do not fit in {DATASET_CHUNKS} GPU buffers of this adapter ({} in all); train on fewer with --limit",
        human_bytes(*bytes as u128),
        human_bytes(*limit as u128)
    )]
    DatasetTooLarge { samples: usize, bytes: u64, limit: u64 },
    #[error("the GPU reported an error: {0}")]
    Gpu(String),
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),
}
