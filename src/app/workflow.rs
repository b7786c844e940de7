//! What the commands do, end to end: read and check a model, load its
//! data, lower, open the GPU, then train, evaluate or predict. The CLI
//! (and `compare`) call these; they return a [`Failure`] that says which
//! exit code a problem deserves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::app::inference::{self, EvalReport};
use crate::codegen::{LowerOptions, OptimizerKind, Plan, Purpose, plan};
use crate::data::{self, DataSpec, Dataset};
use crate::diagnostic::Diagnostic;
use crate::model::{CheckOptions, Model, Shape};
use crate::params::ParamLayout;
use crate::runtime::{self, Executable, Gpu};
use crate::source::{Source, SourceError};
use crate::syntax::{self, Statement};
use crate::train::{
    self, AdapterRecord, DeviceSplit, ModelRecord, Outcome, Progress, RunConfig, RunDir, TrainOptions,
    TrainState, Trainer, sha256,
};

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
    Source::read(path).map_err(|e| match e {
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
    })
}

fn invalid(source: &Source, diagnostics: Vec<Diagnostic>) -> Failure {
    Failure::Invalid {
        path: source.path.clone(),
        text: source.text.clone(),
        diagnostics,
    }
}

/// Parses and checks a model, with `input` for a file without an `input` line.
pub fn check_model(
    source: &Source,
    request: &ModelRequest,
    input: Option<[usize; 3]>,
) -> Result<Model, Failure> {
    let options = CheckOptions {
        default_name: source.stem(),
        input: input.or(request.input),
        overrides: request.overrides.clone(),
    };
    crate::load(source, &options).map_err(|d| invalid(source, d.0))
}

/// Whether the file declares its input shape (an `input` line).
fn declares_input(source: &Source) -> Result<bool, Failure> {
    let program = syntax::parse(&source.text).map_err(|d| invalid(source, d.0))?;
    Ok(program
        .statements
        .iter()
        .any(|s| matches!(s.node, Statement::Input(_))))
}

/// `--data`, `--limit`, `--val-split`, `--val-limit`, and the `--seed`
/// that chooses the samples (see [`data::select`]).
#[derive(Debug, Clone)]
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

/// Checks a model against its data: shapes (or the data supplies the
/// shape) and label range.
pub fn model_and_data(
    model: &ModelRequest,
    data: &DataRequest,
) -> Result<(Source, Model, LoadedData), Failure> {
    let source = read_source(&model.path)?;
    let (model_checked, loaded) = if declares_input(&source)? || model.input.is_some() {
        let checked = check_model(&source, model, None)?;
        let loaded = load_data(data, Some(checked.input.channels()))?;
        (checked, loaded)
    } else {
        let loaded = load_data(data, None)?;
        (check_model(&source, model, Some(loaded.train.shape))?, loaded)
    };
    let [h, w, c] = loaded.train.shape;
    if model_checked.input != (Shape::Image { h, w, c }) {
        return Err(Failure::Usage(format!(
            "{}: images are {h}x{w}x{c}, but {} takes {}; fix the model's `input` line (or remove it to take the data's shape)",
            loaded.train.origin, source.path, model_checked.input
        )));
    }
    let classes = model_checked.output().elements();
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
    Ok((source, model_checked, loaded))
}

/// An inference plan for the current device (forward and loss only: no
/// gradients, no optimizer state), for `eval`, `predict` and the GEMM
/// benchmark.
pub fn plan_inference(gpu: &Gpu, source: &Source, model: &Model, batch: usize) -> Result<Plan, Failure> {
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
) -> Result<Plan, Failure> {
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
) -> Result<Plan, Failure> {
    let options = LowerOptions {
        batch: train.batch,
        optimizer: train.optimizer,
        augment: train.augment,
        weight_decay: train.weight_decay > 0.0,
        ..LowerOptions::default()
    };
    plan_with(gpu, source, model, options)
}

fn plan_with(gpu: &Gpu, source: &Source, model: &Model, options: LowerOptions) -> Result<Plan, Failure> {
    if options.batch == 0 {
        return Err(Failure::Usage("--batch must be at least 1".into()));
    }
    let options = LowerOptions {
        samples_per_chunk: runtime::chunk_samples(&gpu.limits(), model.input.elements()),
        tiling: super::tiles::cached_tiling(gpu),
        ..options
    };
    plan(model, &options).map_err(|e| invalid(source, vec![e.to_diagnostic()]))
}

/// A training run's request: everything `cnnc train` takes.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub model: ModelRequest,
    pub data: DataRequest,
    pub options: TrainOptions,
    pub out: Option<PathBuf>,
    pub init: Option<PathBuf>,
}

/// What a finished (or interrupted) run leaves.
#[derive(Debug, Clone)]
pub struct TrainResult {
    pub dir: PathBuf,
    pub model: Model,
    pub state: TrainState,
    pub outcome: Outcome,
    pub adapter: String,
}

/// `runs/<model>-<YYYYmmdd-HHMMSS>`.
pub fn default_run_dir(model: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let compact: String = stamp
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    PathBuf::from("runs").join(format!("{model}-{}", compact.replace('T', "-")))
}

pub fn train(
    gpu: &Gpu,
    request: &TrainRequest,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<TrainResult, Failure> {
    let (source, model, data) = model_and_data(&request.model, &request.data)?;
    let dir = request
        .out
        .clone()
        .unwrap_or_else(|| default_run_dir(&model.name));
    train_loaded(gpu, request, &source, &model, &data, &dir, None, progress, stop)
}

/// Continues the run in `dir` from its checkpoint, with its own settings.
pub fn resume(
    gpu: &Gpu,
    dir: &Path,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<TrainResult, Failure> {
    let run = RunDir {
        path: dir.to_path_buf(),
    };
    let config = run.read_config().map_err(Failure::Usage)?;
    let path = PathBuf::from(&config.model.file);
    let source = read_source(&path)?;
    if sha256(source.text.as_bytes()) != config.model.sha256 {
        return Err(Failure::Usage(format!(
            "{} has changed since the run in {} started; --resume continues only the same model (start a new run, or use --init {}/model.safetensors)",
            source.path,
            dir.display(),
            dir.display()
        )));
    }
    let request = TrainRequest {
        model: ModelRequest {
            path,
            overrides: config.model.overrides.clone(),
            input: (config.model.input.len() == 3).then(|| {
                [
                    config.model.input[0],
                    config.model.input[1],
                    config.model.input[2],
                ]
            }),
        },
        data: DataRequest {
            spec: config
                .data
                .parse()
                .map_err(|e: String| Failure::Usage(format!("{}: {e}", dir.display())))?,
            limit: config.limit,
            val_split: config.val_split,
            val_limit: config.val_limit,
            seed: config.options.seed,
        },
        options: config.options.clone(),
        out: Some(dir.to_path_buf()),
        init: None,
    };
    let (source, model, data) = model_and_data(&request.model, &request.data)?;
    if data.samples_sha256 != config.samples_sha256 {
        return Err(Failure::Usage(format!(
            "the samples chosen now from {} differ from those the run in {} trained on (the dataset changed, or an older cnnc chose them); --resume continues only on the same samples",
            config.data,
            dir.display()
        )));
    }
    let checkpoint = run
        .load_checkpoint(ParamLayout::new(&model).len)
        .map_err(Failure::Usage)?;
    train_loaded(
        gpu,
        &request,
        &source,
        &model,
        &data,
        dir,
        Some(checkpoint),
        progress,
        stop,
    )
}

/// Trains a checked model on loaded data into `dir` (used by `train`,
/// `resume` and `compare`).
#[allow(clippy::too_many_arguments)]
pub fn train_loaded(
    gpu: &Gpu,
    request: &TrainRequest,
    source: &Source,
    model: &Model,
    data: &LoadedData,
    dir: &Path,
    checkpoint: Option<train::Checkpoint>,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<TrainResult, Failure> {
    let options = &request.options;
    if options.epochs == 0 {
        return Err(Failure::Usage("--epochs must be at least 1".into()));
    }
    if !(options.weight_decay.is_finite() && options.weight_decay >= 0.0) {
        return Err(Failure::Usage(format!(
            "--weight-decay must be a number at least 0, not {}",
            options.weight_decay
        )));
    }
    let plan = plan_for_training(gpu, source, model, options)?;
    let exe = Executable::new(gpu, plan)?;
    let wgsl: String = exe.shaders.concat();
    let layout = ParamLayout::new(model);
    let run = RunDir::create(dir).map_err(Failure::Usage)?;

    let mut state = match checkpoint {
        Some(c) => {
            exe.write_params(&c.params);
            for (id, values) in exe.optimizer_buffers().into_iter().zip(&c.optimizer) {
                let mut padded = values.clone();
                padded.resize(exe.plan.buffers[id].bytes as usize / 4, 0.0);
                exe.write(id, bytemuck::cast_slice(&padded));
            }
            progress.note(&format!(
                "resuming {} at epoch {}, step {}",
                dir.display(),
                c.state.epoch + 1,
                c.state.step
            ));
            let started_with = run.read_config().map_err(Failure::Usage)?.wgsl_sha256;
            if let Some(warning) = kernels_changed(&started_with, &sha256(wgsl.as_bytes())) {
                progress.note(&warning);
            }
            c.state
        }
        None => {
            let (params, prior_steps) = match &request.init {
                Some(path) => {
                    let (params, meta) = crate::weights::load(path, model, &layout)
                        .map_err(|e| Failure::Usage(e.to_string()))?;
                    // Weights from elsewhere do not say how long they trained.
                    (params, meta.get("steps").and_then(|s| s.parse().ok()))
                }
                None => (layout.init(options.seed), Some(0)),
            };
            exe.write_params(&params);
            let config = RunConfig {
                model: ModelRecord {
                    name: model.name.clone(),
                    file: source.path.clone(),
                    text: source.text.clone(),
                    sha256: sha256(source.text.as_bytes()),
                    params: model.params.iter().cloned().collect(),
                    overrides: request.model.overrides.clone(),
                    input: model.input.dims(),
                },
                options: options.clone(),
                data: request.data.spec.to_string(),
                limit: request.data.limit,
                val_split: request.data.val_split,
                val_limit: request.data.val_limit,
                init: request.init.as_ref().map(|p| p.display().to_string()),
                samples_sha256: data.samples_sha256.clone(),
                train_samples: data.train.len(),
                validation_samples: data.validation.as_ref().map_or(0, Dataset::len),
                train_per_class: data.train.class_counts(),
                validation_per_class: data.validation.as_ref().map_or(Vec::new(), Dataset::class_counts),
                class_names: data.class_names.clone(),
                adapter: AdapterRecord {
                    name: gpu.info.name.clone(),
                    driver: format!("{} {}", gpu.info.driver, gpu.info.driver_info),
                    backend: format!("{:?}", gpu.info.backend),
                },
                wgsl_sha256: sha256(wgsl.as_bytes()),
                cnnc_version: env!("CARGO_PKG_VERSION").to_string(),
                started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            };
            run.write_config(&config).map_err(Failure::Usage)?;
            TrainState {
                prior_steps,
                ..TrainState::default()
            }
        }
    };

    let train_split = DeviceSplit::upload(&exe, &data.train)?;
    let validation = data
        .validation
        .as_ref()
        .map(|v| DeviceSplit::upload(&exe, v))
        .transpose()?;
    let trainer = Trainer {
        gpu,
        model,
        exe: &exe,
        train: &train_split,
        validation: validation.as_ref(),
        options,
        dir: &run,
        stop,
        class_names: data.class_names.clone(),
    };
    let outcome = trainer.run(&mut state, progress).map_err(|e| match e {
        train::TrainError::Io(m) => Failure::Usage(m),
        e => Failure::Failed(e.to_string()),
    })?;
    if let Some(steps) = state.trained_steps() {
        for warning in train::batchnorm_warnings(model, steps) {
            progress.note(&format!("warning: {warning}"));
        }
    }
    Ok(TrainResult {
        dir: dir.to_path_buf(),
        model: model.clone(),
        state,
        outcome,
        adapter: gpu.describe(),
    })
}

/// A warning when a run resumes with other kernels than it started with
/// (after `cnnc tune`, or another cnnc): training goes on correctly, but
/// sums taken in another order round differently, so the result will not
/// be bit-identical to an uninterrupted run. A warning, not a refusal: the
/// old kernels may be impossible to get back, and the run is still sound.
pub fn kernels_changed(started_with: &str, now: &str) -> Option<String> {
    (started_with != now).then(|| {
        "warning: the generated kernels differ from those this run started with (a `cnnc tune` since, or \
         another cnnc); it resumes with the new ones, so its weights will not be bit-identical to an \
         uninterrupted run's"
            .to_string()
    })
}

/// A checked model with its weights and their metadata.
struct WithWeights {
    source: Source,
    model: Model,
    params: Vec<f32>,
    metadata: BTreeMap<String, String>,
}

/// Reads weights for a model, taking the input shape from the weights'
/// metadata when the model file has no `input` line.
fn model_and_weights(
    request: &ModelRequest,
    weights: &Path,
    data_shape: Option<[usize; 3]>,
) -> Result<WithWeights, Failure> {
    let source = read_source(&request.path)?;
    let input = if declares_input(&source)? || request.input.is_some() {
        None
    } else {
        data_shape.or_else(|| saved_input(weights))
    };
    let model = check_model(&source, request, input)?;
    let (params, meta) = crate::weights::load(weights, &model, &ParamLayout::new(&model))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(WithWeights {
        source,
        model,
        params,
        metadata: meta,
    })
}

fn saved_input(weights: &Path) -> Option<[usize; 3]> {
    let bytes = std::fs::read(weights).ok()?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    let meta: BTreeMap<String, String> =
        serde_json::from_str(header.metadata().as_ref()?.get("cnnc")?).ok()?;
    let dims: Vec<usize> = meta
        .get("input")?
        .split('x')
        .map(|d| d.parse().ok())
        .collect::<Option<_>>()?;
    (dims.len() == 3).then(|| [dims[0], dims[1], dims[2]])
}

/// `cnnc eval`: which split, and the report.
pub fn eval(
    gpu: &Gpu,
    model: &ModelRequest,
    weights: &Path,
    data: &DataRequest,
    batch: usize,
    use_train: bool,
) -> Result<(String, EvalReport), Failure> {
    let (source, checked, loaded) = model_and_data(model, data)?;
    let (params, metadata) = crate::weights::load(weights, &checked, &ParamLayout::new(&checked))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    // Weights from elsewhere say nothing of their steps: no warning then.
    if let Some(steps) = metadata.get("steps").and_then(|s| s.parse().ok()) {
        for warning in train::batchnorm_warnings(&checked, steps) {
            eprintln!("warning: {warning}");
        }
    }
    let plan = plan_inference(gpu, &source, &checked, batch)?;
    let exe = Executable::new(gpu, plan)?;
    exe.write_params(&params);
    let (name, split) = match (&loaded.validation, use_train) {
        (Some(v), false) => ("test", v),
        _ => ("train", &loaded.train),
    };
    let device = DeviceSplit::upload(&exe, split)?;
    let report = inference::evaluate(gpu, &exe, &device, loaded.class_names.as_deref())?;
    Ok((format!("{name} split of {}", split.origin), report))
}

/// One image's top classes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub image: String,
    pub note: Option<String>,
    /// (class, probability), most probable first.
    pub top: Vec<(String, f32)>,
}

/// `cnnc predict`: the `top` most probable classes of each image.
pub fn predict(
    gpu: &Gpu,
    model: &ModelRequest,
    weights: &Path,
    images: &[PathBuf],
    top: usize,
) -> Result<Vec<Prediction>, Failure> {
    let WithWeights {
        source,
        model: checked,
        params,
        metadata: meta,
    } = model_and_weights(model, weights, None)?;
    let class_names: Option<Vec<String>> = meta.get("class_names").and_then(|j| serde_json::from_str(j).ok());
    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    for path in images {
        let (pixels, note) = inference::load_image(path, checked.input).map_err(Failure::Usage)?;
        inputs.push(pixels);
        notes.push(note);
    }
    let plan = plan_inference(gpu, &source, &checked, images.len().clamp(1, 64))?;
    let exe = Executable::new(gpu, plan)?;
    exe.write_params(&params);
    let probs = inference::predict(gpu, &exe, &inputs)?;
    Ok(images
        .iter()
        .zip(probs)
        .zip(notes)
        .map(|((path, p), note)| {
            let mut ranked: Vec<(usize, f32)> = p.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            Prediction {
                image: path.display().to_string(),
                note,
                top: ranked
                    .into_iter()
                    .take(top)
                    .map(|(c, p)| {
                        let name = class_names
                            .as_ref()
                            .and_then(|n| n.get(c).cloned())
                            .unwrap_or_else(|| c.to_string());
                        (name, p)
                    })
                    .collect(),
            }
        })
        .collect())
}
