//! Reading GPU buffers back to the host. Storage buffers cannot be mapped,
//! so [`Gpu::read`] copies one to a staging buffer, maps it and waits; the
//! typed reads of an [`Executable`]'s buffers (parameters, totals,
//! per-sample statistics) are built on it. Every read waits for all work
//! submitted before it, so the training loop reads only a few times a
//! second.

use super::{Executable, Gpu, RuntimeError, SampleStat, Totals};
use crate::codegen::BufferId;

impl Gpu {
    /// Copies a buffer's contents back to the CPU.
    pub fn read(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>, RuntimeError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: buffer.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
        self.queue.submit([encoder.finish()]);
        self.counts.submitted();
        // The mapping completes (and the callback runs) during a poll, once
        // the copy is done: `wait` polls until then.
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|e| RuntimeError::Gpu(e.to_string()))?
            .map_err(|e| RuntimeError::Gpu(e.to_string()))?;
        let bytes = staging
            .get_mapped_range(..)
            .map_err(|e| RuntimeError::Gpu(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }
}

impl Executable {
    /// The parameters, in the plan's layout (`plan.params`).
    pub fn read_params(&self, gpu: &Gpu) -> Result<Vec<f32>, RuntimeError> {
        let mut values = self.read_f32(gpu, self.plan.io.params)?;
        values.truncate(self.plan.params.len);
        Ok(values)
    }

    pub fn read_f32(&self, gpu: &Gpu, id: BufferId) -> Result<Vec<f32>, RuntimeError> {
        Ok(bytemuck::pod_collect_to_vec(&gpu.read(&self.buffers[id])?))
    }

    pub fn read_u32(&self, gpu: &Gpu, id: BufferId) -> Result<Vec<u32>, RuntimeError> {
        Ok(bytemuck::pod_collect_to_vec(&gpu.read(&self.buffers[id])?))
    }

    /// The running totals, left as they are.
    pub fn read_totals(&self, gpu: &Gpu) -> Result<Totals, RuntimeError> {
        Ok(bytemuck::pod_read_unaligned(
            &gpu.read(&self.buffers[self.plan.io.totals])?,
        ))
    }

    /// The running totals, which it then zeroes.
    pub fn take_totals(&self, gpu: &Gpu) -> Result<Totals, RuntimeError> {
        let totals: Totals = bytemuck::pod_read_unaligned(&gpu.read(&self.buffers[self.plan.io.totals])?);
        self.clear(self.plan.io.totals);
        Ok(totals)
    }

    pub fn read_stats(&self, gpu: &Gpu) -> Result<Vec<SampleStat>, RuntimeError> {
        Ok(bytemuck::pod_collect_to_vec(
            &gpu.read(&self.buffers[self.plan.io.stats])?,
        ))
    }
}
