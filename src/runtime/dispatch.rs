//! Running an [`Executable`]: which kernels a [`Pass`] runs, recording them
//! into one command encoder per step, and timing them one by one for
//! `cnnc bench` and the tuner. Submissions return at once; the queue keeps
//! them in order, and only reads back (`readback`) wait.

use super::{DeviceDataset, Executable, Gpu, RuntimeError};
use crate::codegen::Phase;

/// Which kernels a submission runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Forward, loss, backward, optimizer.
    Train,
    /// Forward and loss.
    Eval,
}

impl Executable {
    /// Records the pass's kernels into one encoder and submits it. Returns
    /// without waiting: the queue orders later submissions after it.
    /// With a dataset, the batch is gathered from it (the host writes the
    /// indices); without, the host has written the input itself.
    pub fn run(&self, pass: Pass, data: Option<&DeviceDataset>) {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(match pass {
                    Pass::Train => "train step",
                    Pass::Eval => "evaluation",
                }),
            });
        {
            // One compute pass for all kernels: wgpu inserts the barriers
            // between dispatches that write and read the same buffer.
            let mut compute = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            for i in self.pass_kernels(pass, data.is_some()) {
                self.dispatch(&mut compute, i, self.bind_group(i, data));
            }
        }
        self.submit(encoder);
    }

    /// Runs one kernel alone, in its own submission (per-kernel timing).
    pub fn run_kernel(&self, index: usize) {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut compute = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            self.dispatch(&mut compute, index, &self.bind_groups[index]);
        }
        self.submit(encoder);
    }

    /// Times each kernel of a pass: with timestamp queries, each kernel in
    /// its own compute pass of one submission; without them, each in its
    /// own submission, timed on the host. Returns (kernel index, seconds)
    /// and whether timestamps were used.
    pub fn profile(
        &self,
        gpu: &Gpu,
        pass: Pass,
        data: Option<&DeviceDataset>,
    ) -> Result<(Vec<(usize, f64)>, bool), RuntimeError> {
        let selected = self.pass_kernels(pass, data.is_some());
        if gpu.timestamps {
            Ok((self.profile_with_timestamps(gpu, &selected, data)?, true))
        } else {
            Ok((self.profile_on_host(gpu, &selected, data)?, false))
        }
    }

    /// Each kernel in its own submission, waited for: the time includes
    /// the submission's overhead.
    fn profile_on_host(
        &self,
        gpu: &Gpu,
        selected: &[usize],
        data: Option<&DeviceDataset>,
    ) -> Result<Vec<(usize, f64)>, RuntimeError> {
        let mut times = Vec::new();
        for &i in selected {
            let started = std::time::Instant::now();
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut compute = encoder.begin_compute_pass(&Default::default());
                self.dispatch(&mut compute, i, self.bind_group(i, data));
            }
            self.submit(encoder);
            gpu.wait()?;
            times.push((i, started.elapsed().as_secs_f64()));
        }
        Ok(times)
    }

    /// Each kernel in its own compute pass of one submission, with a
    /// timestamp written at the pass's beginning and end.
    fn profile_with_timestamps(
        &self,
        gpu: &Gpu,
        selected: &[usize],
        data: Option<&DeviceDataset>,
    ) -> Result<Vec<(usize, f64)>, RuntimeError> {
        let count = 2 * selected.len() as u32;
        let queries = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel times"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        // Query results cannot be mapped: they are resolved into this
        // buffer, which `Gpu::read` then copies to a mappable one.
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel times"),
            size: 8 * count as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for (q, &i) in selected.iter().enumerate() {
            let mut compute = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&self.plan.kernels[i].name),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(2 * q as u32),
                    end_of_pass_write_index: Some(2 * q as u32 + 1),
                }),
            });
            self.dispatch(&mut compute, i, self.bind_group(i, data));
        }
        encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
        self.submit(encoder);
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&gpu.read(&resolve)?);
        // Timestamps count ticks of a device-specific length, in nanoseconds.
        let period = self.queue.get_timestamp_period() as f64 * 1e-9;
        Ok(selected
            .iter()
            .enumerate()
            .map(|(q, &i)| (i, ticks[2 * q + 1].saturating_sub(ticks[2 * q]) as f64 * period))
            .collect())
    }

    /// Records kernel `i` with `bind_group`, over its workgroup grid.
    fn dispatch(&self, compute: &mut wgpu::ComputePass, i: usize, bind_group: &wgpu::BindGroup) {
        compute.set_pipeline(&self.pipelines[i]);
        compute.set_bind_group(0, bind_group, &[]);
        let [x, y, z] = self.plan.kernels[i].workgroups;
        compute.dispatch_workgroups(x, y, z);
        self.counts.dispatched();
    }

    /// The kernels a pass runs, in order: evaluation skips backward and
    /// optimizer; without a dataset, the host wrote the input, so no gather.
    fn pass_kernels(&self, pass: Pass, gathers: bool) -> Vec<usize> {
        (0..self.plan.kernels.len())
            .filter(|&i| match self.plan.kernels[i].phase {
                Phase::Backward | Phase::Optimizer => pass == Pass::Train,
                Phase::Input => gathers,
                Phase::Forward | Phase::Loss => true,
            })
            .collect()
    }

    /// Kernel `i`'s bind group: the gather kernel reads the dataset's.
    fn bind_group<'a>(&'a self, i: usize, data: Option<&'a DeviceDataset>) -> &'a wgpu::BindGroup {
        match (self.plan.kernels[i].phase, data) {
            (Phase::Input, Some(d)) => &d.bind_group,
            _ => &self.bind_groups[i],
        }
    }
}
