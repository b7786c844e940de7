//! Training runs: start, resume, and the steps they share.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{
    DataCache, DataRequest, Failure, LoadedData, ModelRequest, model_and_data, plan_for_training, read_source,
};
use crate::Model;
use crate::data::Dataset;
use crate::params::ParamLayout;
use crate::runtime::{Executable, Gpu};
use crate::source::Source;
use crate::train::{
    self, AdapterRecord, DeviceSplit, ModelRecord, Outcome, Progress, RunConfig, RunDir, RunStatus,
    TrainOptions, TrainState, Trainer, sha256,
};

/// A training run's request: everything `cnnc train` takes.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub model: ModelRequest,
    pub data: DataRequest,
    pub options: TrainOptions,
    pub out: Option<PathBuf>,
    pub init: Option<PathBuf>,
    /// `--until-epoch`: pause once this many epochs are done, for
    /// `--resume` to continue. Not part of what the run computes, so not
    /// recorded in its config.
    pub until_epoch: Option<usize>,
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
    let mut dir = request.out.clone();
    let result = (|| {
        let (source, model, data) = model_and_data(&request.model, &request.data)?;
        let dir = dir.get_or_insert_with(|| default_run_dir(&model.name)).clone();
        train_loaded(gpu, request, &source, &model, &data, &dir, None, progress, stop)
    })();
    match dir {
        // A run given its directory says there how it ended, even when it
        // never began (an invalid model): a sweep's collector reads it.
        Some(dir) => record_status(&dir, result),
        None => result,
    }
}

/// Writes `status.json` (see [`RunStatus`]) for a run in `dir` that ended
/// with `result`, and passes the result on. Failing to write it fails a
/// run that had succeeded; a run that had failed keeps its own error.
pub fn record_status(dir: &Path, result: Result<TrainResult, Failure>) -> Result<TrainResult, Failure> {
    let status = match &result {
        Ok(r) => match r.outcome {
            Outcome::Finished { stopped_early } => RunStatus::Finished { stopped_early },
            Outcome::Interrupted => RunStatus::Interrupted,
            Outcome::Paused { epochs } => RunStatus::Paused { epochs },
        },
        Err(failure) => RunStatus::Failed {
            error: failure.message(),
        },
    };
    let written = RunDir::create(dir).and_then(|run| run.write_status(&status));
    match (result, written) {
        (Ok(_), Err(e)) => Err(Failure::Usage(e)),
        (result, _) => result,
    }
}

/// Continues the run in `dir` from its checkpoint, with its own settings,
/// pausing again after `until_epoch` epochs when given.
pub fn resume(
    gpu: &Gpu,
    dir: &Path,
    until_epoch: Option<usize>,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<TrainResult, Failure> {
    resume_cached(gpu, dir, until_epoch, &mut DataCache::default(), progress, stop)
}

/// [`resume`] with data that may already be loaded (a search continues
/// many runs on the same data).
pub fn resume_cached(
    gpu: &Gpu,
    dir: &Path,
    until_epoch: Option<usize>,
    data_cache: &mut DataCache,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<TrainResult, Failure> {
    let run = RunDir {
        path: dir.to_path_buf(),
    };
    let config = run.read_config().map_err(Failure::Usage)?;
    let mut request = resume_request(dir, &config)?;
    request.until_epoch = until_epoch;
    let source = read_source(&request.model.path)?;
    if sha256(source.text.as_bytes()) != config.model.sha256 {
        return Err(Failure::Usage(format!(
            "{} has changed since the run in {} started; --resume continues only the same model (start a new run, or use --init {}/model.safetensors)",
            source.path,
            dir.display(),
            dir.display()
        )));
    }
    let (source, model, data) = data_cache.model_and_data(&request.model, &request.data)?;
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
    // A refusal above leaves the run as it was; a resumed run records anew.
    let result = train_loaded(
        gpu,
        &request,
        &source,
        &model,
        data,
        dir,
        Some(checkpoint),
        progress,
        stop,
    );
    record_status(dir, result)
}

/// The request a run's config records: what `--resume` trains.
fn resume_request(dir: &Path, config: &RunConfig) -> Result<TrainRequest, Failure> {
    Ok(TrainRequest {
        model: ModelRequest {
            path: PathBuf::from(&config.model.file),
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
        until_epoch: None,
    })
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
    check_options(options)?;
    let plan = plan_for_training(gpu, source, model, options)?;
    let exe = Executable::new(gpu, plan)?;
    let kernels_sha256 = sha256(exe.shaders.concat().as_bytes());
    let run = RunDir::create(dir).map_err(Failure::Usage)?;
    run.clear_status().map_err(Failure::Usage)?;
    let mut state = match checkpoint {
        Some(c) => restore(&exe, &run, c, &kernels_sha256, progress)?,
        None => {
            let start = Start {
                gpu,
                request,
                source,
                model,
                data,
                kernels_sha256,
            };
            start.begin(&exe, &run)?
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
        pause_after: request.until_epoch,
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

fn check_options(options: &TrainOptions) -> Result<(), Failure> {
    if options.epochs == 0 {
        return Err(Failure::Usage("--epochs must be at least 1".into()));
    }
    if !(options.weight_decay.is_finite() && options.weight_decay >= 0.0) {
        return Err(Failure::Usage(format!(
            "--weight-decay must be a number at least 0, not {}",
            options.weight_decay
        )));
    }
    Ok(())
}

/// Puts a checkpoint's weights and optimizer state back on the device.
fn restore(
    exe: &Executable,
    run: &RunDir,
    c: train::Checkpoint,
    kernels_sha256: &str,
    progress: &mut dyn Progress,
) -> Result<TrainState, Failure> {
    exe.write_params(&c.params);
    for (id, values) in exe.optimizer_buffers().into_iter().zip(&c.optimizer) {
        let mut padded = values.clone();
        padded.resize(exe.plan.buffers[id].bytes as usize / 4, 0.0);
        exe.write(id, bytemuck::cast_slice(&padded));
    }
    progress.note(&format!(
        "resuming {} at epoch {}, step {}",
        run.path.display(),
        c.state.epoch + 1,
        c.state.step
    ));
    let started_with = run.read_config().map_err(Failure::Usage)?.wgsl_sha256;
    if let Some(warning) = kernels_changed(&started_with, kernels_sha256) {
        progress.note(&warning);
    }
    Ok(c.state)
}

/// What a new run starts from and records.
struct Start<'a> {
    gpu: &'a Gpu,
    request: &'a TrainRequest,
    source: &'a Source,
    model: &'a Model,
    data: &'a LoadedData,
    kernels_sha256: String,
}

impl Start<'_> {
    /// Writes the first weights (`--init`'s, or Glorot's) and the run's
    /// config.json.
    fn begin(self, exe: &Executable, run: &RunDir) -> Result<TrainState, Failure> {
        let (model, options) = (self.model, &self.request.options);
        let layout = &exe.plan.params;
        let (params, prior_steps) = match &self.request.init {
            Some(path) => {
                let (params, meta) =
                    crate::weights::load(path, model, layout).map_err(|e| Failure::Usage(e.to_string()))?;
                // Weights from elsewhere do not say how long they trained.
                (params, meta.get("steps").and_then(|s| s.parse().ok()))
            }
            None => (layout.init(options.seed), Some(0)),
        };
        exe.write_params(&params);
        run.write_config(&self.config()).map_err(Failure::Usage)?;
        Ok(TrainState {
            prior_steps,
            ..TrainState::default()
        })
    }

    fn config(&self) -> RunConfig {
        let (model, request, data, gpu) = (self.model, self.request, self.data, self.gpu);
        RunConfig {
            model: ModelRecord {
                name: model.name.clone(),
                file: self.source.path.clone(),
                text: self.source.text.clone(),
                sha256: sha256(self.source.text.as_bytes()),
                params: model.params.iter().cloned().collect(),
                overrides: request.model.overrides.clone(),
                input: model.input.dims(),
            },
            options: request.options.clone(),
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
            wgsl_sha256: self.kernels_sha256.clone(),
            cnnc_version: env!("CARGO_PKG_VERSION").to_string(),
            started: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }
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
