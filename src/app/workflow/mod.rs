//! What the commands do, end to end: read and check a model, load its
//! data, lower, open the GPU, then train, evaluate or predict. The CLI
//! (and `compare`) call these; they return a [`Failure`] that says which
//! exit code a problem deserves.

use std::path::{Path, PathBuf};

use crate::Model;
use crate::codegen::{self, Compiled, LowerOptions, OptimizerKind, Plan, Purpose, plan};
use crate::data::{self, DataSpec, Dataset};
use crate::diagnostic::Diagnostic;
use crate::model::{self, CheckOptions, Shape};
use crate::runtime::{self, Gpu};
use crate::source::{Source, SourceError};
use crate::syntax::{self, Program, Statement};
use crate::train::TrainOptions;

mod evaluation;
mod export;
mod training;
mod web;

pub use evaluation::{Prediction, WithWeights, eval, predict};
pub use export::{OnnxExport, export_onnx, trained_model};
pub use training::{
    TrainRequest, TrainResult, default_run_dir, kernels_changed, record_status, resume, resume_cached, train,
    train_loaded,
};
pub use web::{WebExport, export_web, serve};

/// Why a command stopped, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The model is invalid: diagnostics against its source (exit 1).
    Invalid {
        path: String,
        text: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// A usage or I/O problem: arguments, files, data (exit 2).
    Usage(String),
    /// The work itself failed: the GPU, a diverging run (exit 1).
    Failed(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Invalid { .. } | Failure::Failed(_) => 1,
            Failure::Usage(_) => 2,
        }
    }
}

impl Failure {
    /// The problem as the CLI prints it (diagnostics rendered without colour).
    pub fn message(&self) -> String {
        match self {
            Failure::Invalid {
                path,
                text,
                diagnostics,
            } => crate::diagnostic::render(path, text, diagnostics)
                .trim_end()
                .to_string(),
            Failure::Usage(m) | Failure::Failed(m) => m.clone(),
        }
    }
}

impl From<runtime::RuntimeError> for Failure {
    fn from(e: runtime::RuntimeError) -> Self {
        match e {
            runtime::RuntimeError::NoAdapter(_)
            | runtime::RuntimeError::UnknownAdapter { .. }
            | runtime::RuntimeError::BufferTooLarge { .. }
            | runtime::RuntimeError::TooManyWorkgroups { .. }
            | runtime::RuntimeError::DatasetTooLarge { .. } => Failure::Usage(e.to_string()),
            _ => Failure::Failed(e.to_string()),
        }
    }
}

/// A model file and what the command line adds to it.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    pub path: PathBuf,
    pub overrides: Vec<(String, i64)>,
    pub input: Option<[usize; 3]>,
}

pub fn read_source(path: &Path) -> Result<Source, Failure> {
    Source::read(path).map_err(source_failure)
}

/// A model's text that did not come from a file (`cnnc fmt -` reads stdin).
pub fn source_from_bytes(name: &str, bytes: Vec<u8>) -> Result<Source, Failure> {
    Source::from_bytes(name.into(), bytes).map_err(source_failure)
}

fn source_failure(e: SourceError) -> Failure {
    match e {
        SourceError::Io { path, error } => Failure::Usage(format!("cannot read {path}: {error}")),
        SourceError::NotText {
            path,
            text,
            diagnostic,
        } => Failure::Invalid {
            path,
            text,
            diagnostics: vec![*diagnostic],
        },
    }
}

fn invalid(source: &Source, diagnostics: Vec<Diagnostic>) -> Failure {
    Failure::Invalid {
        path: source.path.clone(),
        text: source.text.clone(),
        diagnostics,
    }
}

/// A model file read and parsed once: whether it declares its input, and
/// each check of it (with the data's shape, or another `--set`), start
/// from the same parse.
#[derive(Debug)]
pub struct ModelFile {
    pub source: Source,
    program: Program,
}

impl ModelFile {
    pub fn read(path: &Path) -> Result<Self, Failure> {
        let source = read_source(path)?;
        let program =
            syntax::parse(&source.text, crate::kinds::SIGNATURES).map_err(|d| invalid(&source, d.0))?;
        Ok(ModelFile { source, program })
    }

    /// Whether the file declares its input shape (an `input` line).
    pub fn declares_input(&self) -> bool {
        self.program
            .statements
            .iter()
            .any(|s| matches!(s.node, Statement::Input(_)))
    }

    /// Checks the model, with `input` for a file without an `input` line.
    pub fn check(&self, request: &ModelRequest, input: Option<[usize; 3]>) -> Result<Model, Failure> {
        let options = CheckOptions {
            default_name: self.source.stem(),
            input: input.or(request.input),
            overrides: request.overrides.clone(),
        };
        model::check(&self.program, &options).map_err(|d| invalid(&self.source, d.0))
    }
}

/// `--data`, `--limit`, `--val-split`, `--val-limit`, and the `--seed`
/// that chooses the samples (see [`data::select`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DataRequest {
    pub spec: DataSpec,
    pub limit: Option<usize>,
    pub val_split: Option<f64>,
    pub val_limit: Option<usize>,
    pub seed: u64,
}

/// Training and validation data, ready to upload.
#[derive(Debug, Clone)]
pub struct LoadedData {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    pub class_names: Option<Vec<String>>,
    /// SHA-256 of the chosen samples' indices, for `--resume` to check.
    pub samples_sha256: String,
}

pub fn load_data(request: &DataRequest, channels: Option<usize>) -> Result<LoadedData, Failure> {
    if let Some(f) = request.val_split.filter(|f| !(0.0..1.0).contains(f)) {
        return Err(Failure::Usage(format!("--val-split must be in [0, 1), not {f}")));
    }
    let splits = data::load(&request.spec, channels).map_err(|e| Failure::Usage(e.to_string()))?;
    let selected = data::select(
        &splits,
        &data::Selection {
            limit: request.limit,
            val_split: request.val_split,
            val_limit: request.val_limit,
            seed: request.seed,
        },
    );
    if selected.train.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: no training samples left",
            selected.train.origin
        )));
    }
    Ok(LoadedData {
        train: selected.train,
        validation: selected.validation,
        class_names: splits.class_names,
        samples_sha256: selected.digest,
    })
}

/// Data loaded once for several runs on the same data (compare's variants,
/// search's configurations and their continuations), each model held to it
/// as `cnnc train` would hold it.
#[derive(Default)]
pub struct DataCache {
    loaded: Option<(DataRequest, LoadedData)>,
}

impl DataCache {
    /// The model checked against the data `data` asks for: loaded the
    /// first time, or when another is asked for, and kept.
    pub fn model_and_data(
        &mut self,
        model: &ModelRequest,
        data: &DataRequest,
    ) -> Result<(Source, Model, &LoadedData), Failure> {
        match &self.loaded {
            Some((request, loaded)) if request == data => {
                let file = ModelFile::read(&model.path)?;
                let checked = file.check(model, Some(loaded.train.shape))?;
                model_fits_data(&file.source, &checked, loaded)?;
                let loaded = &self.loaded.as_ref().expect("matched above").1;
                Ok((file.source, checked, loaded))
            }
            _ => {
                let (source, checked, loaded) = model_and_data(model, data)?;
                let loaded = &self.loaded.insert((data.clone(), loaded)).1;
                Ok((source, checked, loaded))
            }
        }
    }
}

/// Checks a model against its data: shapes (or the data supplies the
/// shape) and label range.
pub fn model_and_data(
    model: &ModelRequest,
    data: &DataRequest,
) -> Result<(Source, Model, LoadedData), Failure> {
    let file = ModelFile::read(&model.path)?;
    let (model_checked, loaded) = if file.declares_input() || model.input.is_some() {
        let checked = file.check(model, None)?;
        let loaded = load_data(data, Some(checked.input.channels()))?;
        (checked, loaded)
    } else {
        let loaded = load_data(data, None)?;
        (file.check(model, Some(loaded.train.shape))?, loaded)
    };
    model_fits_data(&file.source, &model_checked, &loaded)?;
    Ok((file.source, model_checked, loaded))
}

/// The data's images are the model's input, and its labels fit the
/// model's outputs.
pub fn model_fits_data(source: &Source, model: &Model, loaded: &LoadedData) -> Result<(), Failure> {
    let [h, w, c] = loaded.train.shape;
    if model.input != (Shape::Image { h, w, c }) {
        return Err(Failure::Usage(format!(
            "{}: images are {h}x{w}x{c}, but {} takes {}; fix the model's `input` line (or remove it to take the data's shape)",
            loaded.train.origin, source.path, model.input
        )));
    }
    let classes = model.output().elements();
    for split in std::iter::once(&loaded.train).chain(&loaded.validation) {
        let range = split.label_range();
        if range > classes {
            return Err(Failure::Usage(format!(
                "{}: labels go up to {}, but the model's last layer has {classes} outputs; give it `dense {range} softmax`",
                split.origin,
                range - 1
            )));
        }
    }
    Ok(())
}

/// An inference plan for the current device (forward and loss only: no
/// gradients, no optimizer state), for `eval` and `predict`.
pub fn plan_inference(gpu: &Gpu, source: &Source, model: &Model, batch: usize) -> Result<Compiled, Failure> {
    let options = LowerOptions {
        batch,
        purpose: Purpose::Infer,
        ..LowerOptions::default()
    };
    plan_with(gpu, source, model, options)
}

/// Lowers for the current device: dataset chunks sized to its bindings.
pub fn plan_for(
    gpu: &Gpu,
    source: &Source,
    model: &Model,
    batch: usize,
    optimizer: OptimizerKind,
) -> Result<Compiled, Failure> {
    let options = LowerOptions {
        batch,
        optimizer,
        ..LowerOptions::default()
    };
    plan_with(gpu, source, model, options)
}

/// [`plan_for`] a training run: its augmentation and weight decay too.
pub fn plan_for_training(
    gpu: &Gpu,
    source: &Source,
    model: &Model,
    train: &TrainOptions,
) -> Result<Compiled, Failure> {
    let options = LowerOptions {
        batch: train.batch,
        optimizer: train.optimizer,
        augment: train.augment,
        weight_decay: train.weight_decay > 0.0,
        ..LowerOptions::default()
    };
    plan_with(gpu, source, model, options)
}

/// Plans and emits the kernels (a lowering error, an invalid shader among
/// them, is reported against the model).
fn plan_with(gpu: &Gpu, source: &Source, model: &Model, options: LowerOptions) -> Result<Compiled, Failure> {
    if options.batch == 0 {
        return Err(Failure::Usage("--batch must be at least 1".into()));
    }
    let options = LowerOptions {
        samples_per_chunk: runtime::chunk_samples(&gpu.limits(), model.input.elements()),
        tiling: super::tiles::cached_tiling(gpu),
        ..options
    };
    plan(model, &options)
        .and_then(codegen::compile)
        .map_err(|e| invalid(source, vec![e.to_diagnostic()]))
}

/// `cnnc compile`: plans a training step, writes each kernel's WGSL
/// (validated) and the plan as `plan.json` into `out`.
pub fn compile(
    source: &Source,
    model: &Model,
    out: &Path,
    batch: usize,
    optimizer: OptimizerKind,
) -> Result<Plan, Failure> {
    if batch == 0 {
        return Err(Failure::Usage("--batch must be at least 1".into()));
    }
    let options = LowerOptions {
        batch,
        optimizer,
        ..LowerOptions::default()
    };
    let invalid_plan = |e: crate::codegen::LowerError| invalid(source, vec![e.to_diagnostic()]);
    let Compiled { plan, shaders } = plan(model, &options)
        .and_then(codegen::compile)
        .map_err(invalid_plan)?;
    let io = |e: std::io::Error| Failure::Usage(format!("cannot write to {}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(io)?;
    for (i, wgsl) in shaders.iter().enumerate() {
        std::fs::write(out.join(plan.kernel_file(i)), wgsl).map_err(io)?;
    }
    let manifest = serde_json::to_string_pretty(&plan.manifest()).expect("a plan serialises");
    crate::atomic::write(&out.join("plan.json"), (manifest + "\n").as_bytes()).map_err(io)?;
    Ok(plan)
}
