//! A dataset on the device: its images uploaded once, in up to
//! [`DATASET_CHUNKS`] storage buffers (one binding has a size limit), and
//! a bind group for the plan's gather kernel that reads batches from them.
//! One executable can gather from several (training and validation
//! splits), each with its own bind group.

use wgpu::util::DeviceExt;

use super::{Executable, RuntimeError};
use crate::codegen::{DATASET_CHUNKS, Phase};
use crate::data::Dataset;

/// A dataset on the device, ready to gather batches from.
pub struct DeviceDataset {
    /// Kept alive for the bind group, which refers to them.
    _chunks: Vec<wgpu::Buffer>,
    pub(super) bind_group: wgpu::BindGroup,
    pub len: usize,
}

/// How many samples of `sample_bytes` fit one storage binding.
pub fn chunk_samples(limits: &wgpu::Limits, sample_bytes: usize) -> usize {
    let limit = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    ((limit / sample_bytes as u64) as usize).max(1)
}

impl Executable {
    /// Uploads a dataset's bytes, once, for the gather kernel to build
    /// batches from. Its samples are split across up to
    /// [`DATASET_CHUNKS`] buffers of `LowerOptions::samples_per_chunk`.
    pub fn upload(&self, data: &Dataset) -> Result<DeviceDataset, RuntimeError> {
        let gather = self
            .plan
            .kernels
            .iter()
            .position(|k| k.phase == Phase::Input)
            .expect("a plan gathers its input");
        let spc = self.plan.samples_per_chunk;
        if data.len() > spc * DATASET_CHUNKS {
            return Err(RuntimeError::DatasetTooLarge {
                samples: data.len(),
                bytes: data.images.len() as u64,
                limit: (spc * data.sample_bytes() * DATASET_CHUNKS) as u64,
            });
        }
        let chunks = self.upload_chunks(data);
        let bind_group = self.gather_bind_group(gather, &chunks);
        Ok(DeviceDataset {
            _chunks: chunks,
            bind_group,
            len: data.len(),
        })
    }

    /// All [`DATASET_CHUNKS`] buffers, each of `samples_per_chunk` samples
    /// or what is left; the gather kernel binds every one, so unused ones
    /// are still created, one word long.
    fn upload_chunks(&self, data: &Dataset) -> Vec<wgpu::Buffer> {
        let spc = self.plan.samples_per_chunk;
        let sample = data.sample_bytes();
        let mut chunks = Vec::new();
        for c in 0..DATASET_CHUNKS {
            let bytes = data
                .images
                .get(c * spc * sample..((c + 1) * spc * sample).min(data.images.len()));
            let mut words: Vec<u8> = bytes.unwrap_or_default().to_vec();
            words.resize(words.len().next_multiple_of(4).max(4), 0);
            // Created mapped, filled and unmapped: no staging copy or queue
            // write to wait for.
            chunks.push(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("dataset{c}")),
                contents: &words,
                usage: wgpu::BufferUsages::STORAGE,
            }));
        }
        chunks
    }

    /// The gather kernel's bind group with the plan's dataset buffers
    /// replaced by `chunks`; its other bindings are the executable's own.
    fn gather_bind_group(&self, gather: usize, chunks: &[wgpu::Buffer]) -> wgpu::BindGroup {
        let kernel = &self.plan.kernels[gather];
        let entries: Vec<wgpu::BindGroupEntry> = kernel
            .bindings
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let chunk = self.plan.io.dataset.iter().position(|&d| d == b.buffer);
                wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: match chunk {
                        Some(c) => chunks[c].as_entire_binding(),
                        None => self.buffers[b.buffer].as_entire_binding(),
                    },
                }
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("gather"),
            layout: &self.layouts[gather],
            entries: &entries,
        })
    }
}
