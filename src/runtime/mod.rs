//! Running a [`Plan`] with wgpu: one [`Gpu`] (adapter, device, queue), and
//! per plan an [`Executable`] that owns its buffers, pipelines and bind
//! groups and records a whole training step into one command encoder.
//!
//! The steps follow wgpu's `hello_compute` example: instance → adapter →
//! device; buffers; shader modules → pipelines; bind groups; encode,
//! submit; map a staging buffer to read results back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::codegen::{Access, BufferId, BufferRole, DATASET_CHUNKS, Kernel, Phase, Plan};
use crate::data::Dataset;
use crate::units::human_bytes;

mod instance;
mod limits;

use instance::instance;
pub use limits::check_limits;

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

/// An open device: what every executable runs on.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// Whether timestamp queries work (for `cnnc bench`).
    pub timestamps: bool,
    /// The first error wgpu reported outside an error scope, or a loss.
    errors: Arc<Mutex<Option<String>>>,
}

/// One line about an adapter: name, driver, kind.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    let driver = if info.driver_info.is_empty() {
        info.driver.clone()
    } else {
        format!("{} {}", info.driver, info.driver_info)
    };
    format!(
        "{} ({:?}, {}, {:?})",
        info.name, info.backend, driver, info.device_type
    )
}

impl Gpu {
    /// Every adapter wgpu can see.
    pub fn adapters() -> Vec<wgpu::AdapterInfo> {
        pollster::block_on(instance().enumerate_adapters(wgpu::Backends::VULKAN))
            .iter()
            .map(wgpu::Adapter::get_info)
            .collect()
    }

    /// Opens an adapter: `choice` is an index from [`Gpu::adapters`] or a
    /// part of its name; none picks the highest-performance one.
    pub fn new(choice: Option<&str>) -> Result<Gpu, RuntimeError> {
        let instance = instance();
        let adapter = match choice {
            None => pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            }))
            .map_err(|e| {
                RuntimeError::NoAdapter(format!(
                    " ({e}); on a machine without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers"
                ))
            })?,
            Some(choice) => {
                let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
                let found = match choice.parse::<usize>() {
                    Ok(i) => adapters.get(i).cloned(),
                    Err(_) => adapters
                        .iter()
                        .find(|a| a.get_info().name.to_lowercase().contains(&choice.to_lowercase()))
                        .cloned(),
                };
                found.ok_or_else(|| RuntimeError::UnknownAdapter {
                    choice: choice.to_string(),
                    available: list(&adapters.iter().map(wgpu::Adapter::get_info).collect::<Vec<_>>()),
                })?
            }
        };
        let info = adapter.get_info();
        let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("cnnc"),
            required_features: features,
            // The adapter's own limits: the largest buffers it can give.
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| RuntimeError::Device(e.to_string()))?;

        let errors = Arc::new(Mutex::new(None));
        let slot = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            slot.lock().unwrap().get_or_insert(e.to_string());
        }));
        let slot = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            if reason != wgpu::DeviceLostReason::Destroyed {
                slot.lock()
                    .unwrap()
                    .get_or_insert(format!("device lost: {message}"));
            }
        });
        Ok(Gpu {
            timestamps: features.contains(wanted),
            device,
            queue,
            info,
            errors,
        })
    }

    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Waits for submitted work, then reports any error wgpu raised.
    pub fn wait(&self) -> Result<(), RuntimeError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| RuntimeError::Gpu(e.to_string()))?;
        self.check()
    }

    fn check(&self) -> Result<(), RuntimeError> {
        match self.errors.lock().unwrap().take() {
            Some(e) if e.starts_with("device lost") => Err(RuntimeError::DeviceLost(e)),
            Some(e) => Err(RuntimeError::Gpu(e)),
            None => Ok(()),
        }
    }

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

fn list(adapters: &[wgpu::AdapterInfo]) -> String {
    adapters
        .iter()
        .enumerate()
        .map(|(i, a)| format!("  {i}: {}", describe(a)))
        .collect::<Vec<_>>()
        .join("\n")
}

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

/// Which kernels a submission runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Forward, loss, backward, optimizer.
    Train,
    /// Forward and loss.
    Eval,
}

/// A dataset on the device, ready to gather batches from.
pub struct DeviceDataset {
    _chunks: Vec<wgpu::Buffer>,
    bind_group: wgpu::BindGroup,
    pub len: usize,
}

/// How many samples of `sample_bytes` fit one storage binding.
pub fn chunk_samples(limits: &wgpu::Limits, sample_bytes: usize) -> usize {
    let limit = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    ((limit / sample_bytes as u64) as usize).max(1)
}

/// A plan made ready on a device.
pub struct Executable {
    pub plan: Plan,
    /// The WGSL of each kernel of the plan, in its order.
    pub shaders: Vec<String>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    buffers: Vec<wgpu::Buffer>,
    pipelines: Vec<Arc<wgpu::ComputePipeline>>,
    layouts: Vec<wgpu::BindGroupLayout>,
    bind_groups: Vec<wgpu::BindGroup>,
}

impl Executable {
    /// Checks the plan against the device's limits, then creates its
    /// buffers (zeroed), pipelines (one per distinct WGSL module) and bind
    /// groups. Nothing is dispatched.
    pub fn new(gpu: &Gpu, plan: Plan) -> Result<Executable, RuntimeError> {
        check_limits(&plan, &gpu.limits())?;
        let shaders = crate::codegen::emit(&plan).map_err(|e| RuntimeError::Gpu(e.to_string()))?;
        let device = &gpu.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);

        let buffers: Vec<wgpu::Buffer> = plan
            .buffers
            .iter()
            .map(|b| {
                let usage = match b.role {
                    BufferRole::Step => wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    _ => {
                        wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_SRC
                            | wgpu::BufferUsages::COPY_DST
                    }
                };
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&b.name),
                    size: b.bytes.next_multiple_of(4),
                    usage,
                    mapped_at_creation: false,
                })
            })
            .collect();

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
            let entries: Vec<wgpu::BindGroupEntry> = kernel
                .bindings
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: buffers[b.buffer].as_entire_binding(),
                })
                .collect();
            bind_groups.push(device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&kernel.name),
                layout: &layout,
                entries: &entries,
            }));
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
        })
    }

    pub fn buffer(&self, id: BufferId) -> &wgpu::Buffer {
        &self.buffers[id]
    }

    pub fn write_params(&self, values: &[f32]) {
        assert_eq!(values.len(), self.plan.params.len, "parameter count");
        self.write(self.plan.io.params, bytemuck::cast_slice(values));
    }

    pub fn read_params(&self, gpu: &Gpu) -> Result<Vec<f32>, RuntimeError> {
        let mut values = self.read_f32(gpu, self.plan.io.params)?;
        values.truncate(self.plan.params.len);
        Ok(values)
    }

    /// Writes a batch: images as f32 NHWC and labels; fewer samples than the
    /// batch size leave the rest as padding (set `StepUniform::samples`).
    pub fn write_batch(&self, images: &[f32], labels: &[u32]) {
        self.write(self.plan.io.input, bytemuck::cast_slice(images));
        self.write(self.plan.io.labels, bytemuck::cast_slice(labels));
    }

    pub fn write_step(&self, step: &StepUniform) {
        self.write(self.plan.io.step, bytemuck::bytes_of(step));
    }

    pub fn write(&self, id: BufferId, bytes: &[u8]) {
        self.queue.write_buffer(&self.buffers[id], 0, bytes);
    }

    /// Zeroes a buffer (optimizer state, totals) on the GPU.
    pub fn clear(&self, id: BufferId) {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&self.buffers[id], 0, None);
        self.queue.submit([encoder.finish()]);
    }

    /// Zeroes the optimizer's moments (for a fresh start from new weights).
    pub fn reset_optimizer(&self) {
        for (i, b) in self.plan.buffers.iter().enumerate() {
            if b.role == BufferRole::OptimizerState {
                self.clear(i);
            }
        }
    }

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
        let sample = data.sample_bytes();
        if data.len() > spc * DATASET_CHUNKS {
            return Err(RuntimeError::DatasetTooLarge {
                samples: data.len(),
                bytes: data.images.len() as u64,
                limit: (spc * sample * DATASET_CHUNKS) as u64,
            });
        }
        let mut chunks = Vec::new();
        for c in 0..DATASET_CHUNKS {
            let bytes = data
                .images
                .get(c * spc * sample..((c + 1) * spc * sample).min(data.images.len()));
            let mut words: Vec<u8> = bytes.unwrap_or_default().to_vec();
            words.resize(words.len().next_multiple_of(4).max(4), 0);
            chunks.push(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("dataset{c}")),
                contents: &words,
                usage: wgpu::BufferUsages::STORAGE,
            }));
        }
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
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("gather"),
            layout: &self.layouts[gather],
            entries: &entries,
        });
        Ok(DeviceDataset {
            _chunks: chunks,
            bind_group,
            len: data.len(),
        })
    }

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
            let mut compute = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            for i in self.pass_kernels(pass, data.is_some()) {
                compute.set_pipeline(&self.pipelines[i]);
                compute.set_bind_group(0, self.bind_group(i, data), &[]);
                let [x, y, z] = self.plan.kernels[i].workgroups;
                compute.dispatch_workgroups(x, y, z);
            }
        }
        self.queue.submit([encoder.finish()]);
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

    fn bind_group<'a>(&'a self, i: usize, data: Option<&'a DeviceDataset>) -> &'a wgpu::BindGroup {
        match (self.plan.kernels[i].phase, data) {
            (Phase::Input, Some(d)) => &d.bind_group,
            _ => &self.bind_groups[i],
        }
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
        let bind_group = |i: usize| self.bind_group(i, data);
        if !gpu.timestamps {
            let mut times = Vec::new();
            for &i in &selected {
                let started = std::time::Instant::now();
                let mut encoder = self.device.create_command_encoder(&Default::default());
                {
                    let mut compute = encoder.begin_compute_pass(&Default::default());
                    compute.set_pipeline(&self.pipelines[i]);
                    compute.set_bind_group(0, bind_group(i), &[]);
                    let [x, y, z] = self.plan.kernels[i].workgroups;
                    compute.dispatch_workgroups(x, y, z);
                }
                self.queue.submit([encoder.finish()]);
                gpu.wait()?;
                times.push((i, started.elapsed().as_secs_f64()));
            }
            return Ok((times, false));
        }
        let count = 2 * selected.len() as u32;
        let queries = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel times"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
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
            compute.set_pipeline(&self.pipelines[i]);
            compute.set_bind_group(0, bind_group(i), &[]);
            let [x, y, z] = self.plan.kernels[i].workgroups;
            compute.dispatch_workgroups(x, y, z);
        }
        encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
        self.queue.submit([encoder.finish()]);
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&gpu.read(&resolve)?);
        let period = self.queue.get_timestamp_period() as f64 * 1e-9;
        Ok((
            selected
                .iter()
                .enumerate()
                .map(|(q, &i)| (i, ticks[2 * q + 1].saturating_sub(ticks[2 * q]) as f64 * period))
                .collect(),
            true,
        ))
    }

    /// Runs one kernel alone, in its own submission (per-kernel timing).
    pub fn run_kernel(&self, index: usize) {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut compute = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            compute.set_pipeline(&self.pipelines[index]);
            compute.set_bind_group(0, &self.bind_groups[index], &[]);
            let [x, y, z] = self.plan.kernels[index].workgroups;
            compute.dispatch_workgroups(x, y, z);
        }
        self.queue.submit([encoder.finish()]);
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

    /// Sets the running totals (to resume an epoch part-way).
    pub fn write_totals(&self, totals: &Totals) {
        self.write(self.plan.io.totals, bytemuck::bytes_of(totals));
    }

    /// The optimizer's state buffers, in plan order.
    pub fn optimizer_buffers(&self) -> Vec<BufferId> {
        (0..self.plan.buffers.len())
            .filter(|&i| self.plan.buffers[i].role == BufferRole::OptimizerState)
            .collect()
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
