//! `model.json`: what `model.js` needs to run an inference plan in the
//! browser, as data. It is the plan's forward and loss kernels (what
//! `cnnc predict` dispatches when it writes the input itself), the buffers
//! they bind with their sizes and first contents, and where the input goes
//! and the probabilities come from. `model.js` knows nothing of layers: it
//! creates the buffers, compiles the files, binds and dispatches in order.

use serde::Serialize;

use crate::codegen::StepUniform;
use crate::codegen::{Access, BufferId, BufferRole, Phase, Plan};

/// The manifest's version: `model.js` refuses another.
pub const FORMAT: &str = "cnnc-web/1";

/// The name of the weights file beside the manifest.
pub const WEIGHTS_FILE: &str = "weights.bin";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    pub model: String,
    pub input: Input,
    /// Class names, by output index.
    pub classes: Vec<String>,
    pub probabilities: Probabilities,
    pub weights: Weights,
    pub buffers: Vec<Buffer>,
    /// In dispatch order.
    pub kernels: Vec<Kernel>,
}

/// Where `predict` writes its pixels: f32, row, column, channel (the
/// batch of one's NHWC).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    /// H, W, C.
    pub shape: [usize; 3],
    pub buffer: String,
}

/// Where the class probabilities are read back: `count` f32 from the start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probabilities {
    pub buffer: String,
    pub count: usize,
}

/// The parameter buffer's contents, f32 little-endian in the plan's
/// parameter layout (`params::ParamLayout`), as `cnnc predict` uploads them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weights {
    pub file: &'static str,
    pub buffer: String,
    pub bytes: u64,
    /// Where each tensor lies (offsets in floats; shapes as the kernels
    /// read them: HWIO conv kernels, `[in, out]` dense weights).
    pub tensors: Vec<crate::params::ParamTensor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    Storage,
    Uniform,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Buffer {
    pub name: String,
    /// As planned; `model.js` rounds up to whole words, and empty buffers
    /// to one word (WebGPU binds no empty buffer).
    pub bytes: u64,
    pub usage: Usage,
    /// Words written once after creation (the rest is zero), as
    /// `cnnc predict` writes them before it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_u32: Option<Vec<u32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kernel {
    pub name: String,
    /// The WGSL file, relative to the manifest.
    pub file: String,
    pub entry_point: &'static str,
    /// `@binding(i)` of group 0 is `bindings[i]`.
    pub bindings: Vec<Binding>,
    pub workgroups: [u32; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Binding {
    pub buffer: String,
    /// WebGPU's `GPUBufferBindingType`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The kernels a prediction runs: forward and loss, as `Pass::Eval`
/// without a dataset (the input is written, not gathered).
pub fn predict_kernels(plan: &Plan) -> Vec<usize> {
    (0..plan.kernels.len())
        .filter(|&i| matches!(plan.kernels[i].phase, Phase::Forward | Phase::Loss))
        .collect()
}

/// The manifest of an inference plan of batch 1, whose kernels in
/// [`predict_kernels`] order are in `files`.
pub fn manifest(plan: &Plan, files: &[String], classes: Vec<String>) -> Manifest {
    let kernels = predict_kernels(plan);
    assert_eq!(kernels.len(), files.len(), "one file per predicted kernel");
    assert_eq!(plan.batch, 1, "the browser predicts one image at a time");
    let mut used: Vec<BufferId> = vec![plan.io.input, plan.io.params, plan.io.probs];
    used.extend(
        kernels
            .iter()
            .flat_map(|&k| plan.kernels[k].bindings.iter().map(|b| b.buffer)),
    );
    used.sort_unstable();
    used.dedup();
    let name = |id: BufferId| plan.buffers[id].name.clone();
    Manifest {
        format: FORMAT,
        model: plan.model.clone(),
        input: Input {
            shape: plan.input,
            buffer: name(plan.io.input),
        },
        classes,
        probabilities: Probabilities {
            buffer: name(plan.io.probs),
            count: plan.classes,
        },
        weights: Weights {
            file: WEIGHTS_FILE,
            buffer: name(plan.io.params),
            bytes: 4 * plan.params.len as u64,
            tensors: plan.params.tensors.clone(),
        },
        buffers: used.iter().map(|&id| buffer(plan, id)).collect(),
        kernels: kernels
            .iter()
            .zip(files)
            .map(|(&k, file)| {
                let kernel = &plan.kernels[k];
                Kernel {
                    name: kernel.name.clone(),
                    file: file.clone(),
                    entry_point: "main",
                    bindings: kernel
                        .bindings
                        .iter()
                        .map(|b| Binding {
                            buffer: name(b.buffer),
                            kind: match b.access {
                                Access::Read => "read-only-storage",
                                Access::ReadWrite => "storage",
                                Access::Uniform => "uniform",
                            },
                        })
                        .collect(),
                    workgroups: kernel.workgroups,
                }
            })
            .collect(),
    }
}

/// A buffer as the browser creates it, with what `cnnc predict` writes
/// into it before a run: one real sample in the step uniform, and the
/// label `u32::MAX` (no label: the loss kernel counts nothing).
fn buffer(plan: &Plan, id: BufferId) -> Buffer {
    let decl = &plan.buffers[id];
    let init_u32 = match decl.role {
        BufferRole::Step => {
            let step = StepUniform {
                samples: 1,
                ..StepUniform::default()
            };
            Some(bytemuck::cast_slice::<StepUniform, u32>(&[step]).to_vec())
        }
        BufferRole::Labels => Some(vec![u32::MAX; plan.batch]),
        _ => None,
    };
    Buffer {
        name: decl.name.clone(),
        bytes: decl.bytes,
        usage: match decl.role {
            BufferRole::Step => Usage::Uniform,
            _ => Usage::Storage,
        },
        init_u32,
    }
}
