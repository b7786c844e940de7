//! A [`Plan`] made ready on a device: [`Executable`] owns the plan's
//! buffers, one pipeline per distinct WGSL module (the pipeline cache),
//! and one bind group per kernel. Building them happens once, here;
//! running them is in `dispatch`, reading them back in `readback`, and
//! the dataset's buffers in `dataset`.

use std::collections::HashMap;
use std::sync::Arc;

use super::gpu::WorkCounters;
use super::{Gpu, RuntimeError, StepUniform, Totals, check_limits};
use crate::codegen::{Access, BufferId, BufferRole, Compiled, Kernel, Plan};

/// A plan made ready on a device.
pub struct Executable {
    pub plan: Plan,
    /// The WGSL of each kernel of the plan, in its order.
    pub shaders: Vec<String>,
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    /// One per buffer of the plan, indexed by [`BufferId`].
    pub(super) buffers: Vec<wgpu::Buffer>,
    /// One per kernel of the plan; kernels with the same WGSL share one.
    pub(super) pipelines: Vec<Arc<wgpu::ComputePipeline>>,
    /// One per kernel: the layout of its bind group (the gather kernel's
    /// is used again for each uploaded dataset).
    pub(super) layouts: Vec<wgpu::BindGroupLayout>,
    pub(super) bind_groups: Vec<wgpu::BindGroup>,
    /// The device's dispatch and submission counts (see [`Gpu::work`]).
    pub(super) counts: Arc<WorkCounters>,
}

impl Executable {
    /// Checks the plan against the device's limits, then creates its
    /// buffers (zeroed), pipelines (one per distinct WGSL module) and bind
    /// groups. Nothing is dispatched.
    pub fn new(gpu: &Gpu, compiled: Compiled) -> Result<Executable, RuntimeError> {
        let Compiled { plan, shaders } = compiled;
        check_limits(&plan, &shaders, &gpu.limits())?;
        let device = &gpu.device;
        // Creation reports its errors asynchronously: catch them in scopes
        // (popped below, innermost first) rather than as uncaptured errors.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);

        let buffers = create_buffers(device, &plan);
        // The pipeline cache: kernels with the same source share a pipeline
        // (and its bind group layout, as their bindings are the same too).
        let mut cache: HashMap<&str, (Arc<wgpu::ComputePipeline>, wgpu::BindGroupLayout)> = HashMap::new();
        let mut pipelines = Vec::new();
        let mut layouts = Vec::new();
        let mut bind_groups = Vec::new();
        for (kernel, wgsl) in plan.kernels.iter().zip(&shaders) {
            let (pipeline, layout) = cache
                .entry(wgsl.as_str())
                .or_insert_with(|| create_pipeline(device, kernel, wgsl))
                .clone();
            bind_groups.push(create_bind_group(device, kernel, &layout, &buffers));
            pipelines.push(pipeline);
            layouts.push(layout);
        }

        if let Some(e) = pollster::block_on(oom.pop()) {
            return Err(RuntimeError::Gpu(format!(
                "out of memory while allocating buffers: {e}"
            )));
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(RuntimeError::Gpu(e.to_string()));
        }
        Ok(Executable {
            plan,
            shaders,
            device: device.clone(),
            queue: gpu.queue.clone(),
            buffers,
            pipelines,
            layouts,
            bind_groups,
            counts: gpu.counts.clone(),
        })
    }

    pub fn buffer(&self, id: BufferId) -> &wgpu::Buffer {
        &self.buffers[id]
    }

    pub fn write_params(&self, values: &[f32]) {
        assert_eq!(values.len(), self.plan.params.len, "parameter count");
        self.write(self.plan.io.params, bytemuck::cast_slice(values));
    }

    /// Writes a batch: images as f32 NHWC and labels; fewer samples than the
    /// batch size leave the rest as padding (set `StepUniform::samples`).
    pub fn write_batch(&self, images: &[f32], labels: &[u32]) {
        self.write(self.plan.io.input, bytemuck::cast_slice(images));
        self.write(self.plan.io.labels, bytemuck::cast_slice(labels));
    }

    /// Submits recorded work, counting it.
    pub(super) fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.queue.submit([encoder.finish()]);
        self.counts.submitted();
    }

    pub fn write_step(&self, step: &StepUniform) {
        self.write(self.plan.io.step, bytemuck::bytes_of(step));
    }

    /// Sets the running totals (to resume an epoch part-way).
    pub fn write_totals(&self, totals: &Totals) {
        self.write(self.plan.io.totals, bytemuck::bytes_of(totals));
    }

    /// Stages `bytes` for the start of a buffer. The queue copies them
    /// before the next submission runs, so no wait is needed.
    pub fn write(&self, id: BufferId, bytes: &[u8]) {
        self.queue.write_buffer(&self.buffers[id], 0, bytes);
    }

    /// Zeroes a buffer (optimizer state, totals) on the GPU.
    pub fn clear(&self, id: BufferId) {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&self.buffers[id], 0, None);
        self.submit(encoder);
    }

    /// Zeroes the optimizer's moments (for a fresh start from new weights).
    pub fn reset_optimizer(&self) {
        for i in self.optimizer_buffers() {
            self.clear(i);
        }
    }

    /// The optimizer's state buffers, in plan order.
    pub fn optimizer_buffers(&self) -> Vec<BufferId> {
        (0..self.plan.buffers.len())
            .filter(|&i| self.plan.buffers[i].role == BufferRole::OptimizerState)
            .collect()
    }
}

/// The plan's buffers, zeroed (wgpu zero-initialises new buffers). The
/// step is a uniform; everything else is storage that can be copied both
/// ways (written by the host, read back, cleared).
fn create_buffers(device: &wgpu::Device, plan: &Plan) -> Vec<wgpu::Buffer> {
    plan.buffers
        .iter()
        .map(|b| {
            let usage = match b.role {
                BufferRole::Step => wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                _ => {
                    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
                }
            };
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&b.name),
                // Copies and clears work in whole 4-byte words.
                size: b.bytes.next_multiple_of(4),
                usage,
                mapped_at_creation: false,
            })
        })
        .collect()
}

/// A kernel's bind group: binding `i` is the buffer of its `i`th binding.
fn create_bind_group(
    device: &wgpu::Device,
    kernel: &Kernel,
    layout: &wgpu::BindGroupLayout,
    buffers: &[wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = kernel
        .bindings
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: buffers[b.buffer].as_entire_binding(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(&kernel.name),
        layout,
        entries: &entries,
    })
}

/// Compiles a kernel's WGSL into a pipeline with an explicit layout (group
/// 0, one buffer per binding, as the kernel's bindings say), so that bind
/// groups can be made for it before and after it exists: for each dataset.
fn create_pipeline(
    device: &wgpu::Device,
    kernel: &Kernel,
    wgsl: &str,
) -> (Arc<wgpu::ComputePipeline>, wgpu::BindGroupLayout) {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&kernel.name),
        source: wgpu::ShaderSource::Wgsl(wgsl.into()),
    });
    let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
        .bindings
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match b.access {
                    Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    Access::Uniform => wgpu::BufferBindingType::Uniform,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(&kernel.name),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(&kernel.name),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&kernel.name),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions::default(),
        cache: None,
    });
    (Arc::new(pipeline), layout)
}
