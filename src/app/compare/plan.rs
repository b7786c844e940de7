//! A sweep written down: `sweep.json` (what every variant trains, with
//! the model texts frozen under `models/` beside their SHA-256),
//! `jobs.txt` (one complete `cnnc train` command per variant, one per
//! line, whose run directory is `runs/<variant>`) and `slurm.sbatch` (an
//! array job running line `$SLURM_ARRAY_TASK_ID + 1`).
//!
//! The commands use absolute paths (the binary, the frozen model, the data,
//! the run directory), so they run from any directory on any machine that
//! sees the same paths, as a cluster's shared file system does; the
//! collector reads `runs/` relative to the sweep's directory, so a sweep
//! moved after its runs ended still collects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Variant;
use crate::app::workflow::{DataRequest, Failure, ModelRequest, TrainRequest};
use crate::codegen::OptimizerKind;
use crate::train::{TrainOptions, sha256};

pub const SWEEP_FILE: &str = "sweep.json";
pub const JOBS_FILE: &str = "jobs.txt";
pub const SBATCH_FILE: &str = "slurm.sbatch";

/// `sweep.json`: everything the runs share and each variant's own part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub cnnc_version: String,
    /// The `cnnc` binary the commands run.
    pub binary: String,
    /// `--data`, its directory made absolute.
    pub data: String,
    pub limit: Option<usize>,
    pub val_split: Option<f64>,
    pub val_limit: Option<usize>,
    pub input: Option<[usize; 3]>,
    /// The flags every variant trains with (its own augmentation aside).
    pub options: TrainOptions,
    pub models: Vec<ModelCopy>,
    pub variants: Vec<PlannedVariant>,
}

/// A model file's text as the sweep froze it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCopy {
    /// The file as given to `compare`.
    pub source: String,
    /// The copy, relative to the sweep's directory: `models/<stem>.cnn`.
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedVariant {
    pub name: String,
    #[serde(flatten)]
    pub variant: Variant,
    /// The frozen model it trains, relative to the sweep's directory.
    pub model: String,
    /// Its run directory, relative to the sweep's directory.
    pub run_dir: String,
    /// The line of `jobs.txt`, as words.
    pub command: Vec<String>,
}

/// What `plan` writes besides the variants.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub variants: Vec<Variant>,
    pub input: Option<[usize; 3]>,
    pub data: DataRequest,
    pub options: TrainOptions,
    /// The `cnnc` the commands run (`--binary`; this one by default).
    pub binary: PathBuf,
    /// GPUs each array task asks Slurm for; 0 asks for none.
    pub gpus_per_task: u32,
}

fn usage(path: &Path) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::Usage(format!("{}: {e}", path.display()))
}

/// Writes the sweep into `dir`: `sweep.json`, `models/`, `jobs.txt`,
/// `slurm.sbatch`, and empty `runs/` and `logs/`. Planning the same sweep
/// again is harmless; planning another into a directory that holds one is
/// refused, since its runs would be collected as the new sweep's.
pub fn write(request: &PlanRequest, dir: &Path) -> Result<Sweep, Failure> {
    let sweep = freeze(request, dir)?;
    let jobs = Jobs {
        commands: sweep.variants.iter().map(|v| v.command.clone()).collect(),
        collect_with: "compare",
        log_prefix: String::new(),
        gpus_per_task: request.gpus_per_task,
    };
    jobs.write(dir)?;
    Ok(sweep)
}

/// Writes the sweep's `sweep.json`, its frozen models and empty `runs/`
/// and `logs/` into `dir`, but no jobs: a search writes each rung's.
pub fn freeze(request: &PlanRequest, dir: &Path) -> Result<Sweep, Failure> {
    let dir = std::path::absolute(dir).map_err(usage(dir))?;
    let (sweep, texts) = sweep(request, &dir)?;
    let sweep_path = dir.join(SWEEP_FILE);
    if sweep_path.exists() && read(&dir)? != sweep {
        return Err(Failure::Usage(format!(
            "{} already holds another sweep (its sweep.json differs); plan into a new directory, or collect that one with `cnnc compare --collect {}`",
            dir.display(),
            dir.display()
        )));
    }
    for sub in ["models", "runs", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(usage(&dir))?;
    }
    for (model, text) in sweep.models.iter().zip(&texts) {
        let path = dir.join(&model.path);
        crate::atomic::write(&path, text.as_bytes()).map_err(usage(&path))?;
    }
    let json = serde_json::to_string_pretty(&sweep).expect("a sweep serialises") + "\n";
    crate::atomic::write(&sweep_path, json.as_bytes()).map_err(usage(&sweep_path))?;
    Ok(sweep)
}

/// A list of commands to run, each by itself, in any order: `jobs.txt`
/// and the Slurm array job `slurm.sbatch` that runs it.
pub struct Jobs {
    /// Each command as words.
    pub commands: Vec<Vec<String>>,
    /// The cnnc command that collects the results (`compare`, `search`).
    pub collect_with: &'static str,
    /// Before each array task's log name (`logs/<prefix><task>.out`).
    pub log_prefix: String,
    /// GPUs each array task asks Slurm for; 0 asks for none.
    pub gpus_per_task: u32,
}

impl Jobs {
    /// Writes `jobs.txt` and `slurm.sbatch` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Failure> {
        let dir = std::path::absolute(dir).map_err(usage(dir))?;
        let jobs = dir.join(JOBS_FILE);
        crate::atomic::write(&jobs, self.jobs_text()?.as_bytes()).map_err(usage(&jobs))?;
        let sbatch = dir.join(SBATCH_FILE);
        let script = self.sbatch_text(&dir)?;
        crate::atomic::write(&sbatch, script.as_bytes()).map_err(usage(&sbatch))
    }
}

/// Reads `dir/sweep.json`.
pub fn read(dir: &Path) -> Result<Sweep, Failure> {
    let path = dir.join(SWEEP_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::Usage(format!(
            "{}: {e}; a sweep's directory is what `cnnc compare --plan DIR` (or `--out DIR`) wrote",
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("{}: not a cnnc sweep: {e}", path.display())))
}

/// The sweep in memory, with each model's text (to be copied).
fn sweep(request: &PlanRequest, dir: &Path) -> Result<(Sweep, Vec<String>), Failure> {
    let mut run_dirs = BTreeMap::new();
    for v in &request.variants {
        if let Some(other) = run_dirs.insert(v.dir_name(), v.name()) {
            return Err(Failure::Usage(format!(
                "the variants `{other}` and `{}` would share the run directory runs/{}; give the model files different names",
                v.name(),
                v.dir_name()
            )));
        }
    }
    let (models, texts) = model_copies(&request.variants)?;
    for variant in &request.variants {
        let source = variant.file.display().to_string();
        let text = models
            .iter()
            .zip(&texts)
            .find(|(m, _)| m.source == source)
            .map(|(_, t)| t);
        refuse_unknown_settings(variant, text.expect("every file has its copy"))?;
    }
    let data = request
        .data
        .spec
        .absolute()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut sweep = Sweep {
        cnnc_version: env!("CARGO_PKG_VERSION").to_string(),
        binary: request.binary.display().to_string(),
        data: data.to_string(),
        limit: request.data.limit,
        val_split: request.data.val_split,
        val_limit: request.data.val_limit,
        input: request.input,
        options: request.options.clone(),
        models,
        variants: Vec::new(),
    };
    for variant in &request.variants {
        let model = sweep
            .models
            .iter()
            .find(|m| m.source == variant.file.display().to_string())
            .expect("every file has its copy")
            .path
            .clone();
        let mut planned = PlannedVariant {
            name: variant.name(),
            variant: variant.clone(),
            model,
            run_dir: format!("runs/{}", variant.dir_name()),
            command: Vec::new(),
        };
        planned.command = command(&sweep.binary, &sweep.train_request(dir, &planned)?);
        sweep.variants.push(planned);
    }
    Ok((sweep, texts))
}

/// A `--set` of a parameter that the variant's model file does not declare
/// would plan a job that must fail: refused now, naming the file.
fn refuse_unknown_settings(variant: &Variant, text: &str) -> Result<(), Failure> {
    // A file that does not parse is reported by its run, as any bad model.
    let Ok(program) = crate::syntax::parse(text, crate::kinds::SIGNATURES) else {
        return Ok(());
    };
    let declared: Vec<&str> = program
        .statements
        .iter()
        .filter_map(|s| match &s.node {
            crate::syntax::Statement::Param { name, .. } => Some(name.node.as_str()),
            _ => None,
        })
        .collect();
    match variant
        .settings
        .iter()
        .find(|(name, _)| !declared.contains(&name.as_str()))
    {
        None => Ok(()),
        Some((name, _)) => Err(Failure::Usage(format!(
            "`--set {name}=…` names no parameter of {}, so its variant `{}` could not train; {}",
            variant.file.display(),
            variant.name(),
            if declared.is_empty() {
                "it declares no parameters".to_string()
            } else {
                format!("its parameters are: {}", declared.join(", "))
            }
        ))),
    }
}

/// Each distinct model file's copy under `models/`, named by its stem
/// (which names the model when it has no `model` line, so the copy trains
/// the same model), with its text.
fn model_copies(variants: &[Variant]) -> Result<(Vec<ModelCopy>, Vec<String>), Failure> {
    let mut models: Vec<ModelCopy> = Vec::new();
    let mut texts = Vec::new();
    for variant in variants {
        let source = variant.file.display().to_string();
        if models.iter().any(|m| m.source == source) {
            continue;
        }
        let text = std::fs::read_to_string(&variant.file)
            .map_err(|e| Failure::Usage(format!("cannot read {source}: {e}")))?;
        let stem = variant.stem();
        let path = format!("models/{stem}.cnn");
        if let Some(other) = models.iter().find(|m| m.path == path) {
            return Err(Failure::Usage(format!(
                "{source} and {} are both named `{stem}`, so their variants' names would collide; rename one",
                other.source
            )));
        }
        models.push(ModelCopy {
            source,
            path,
            sha256: sha256(text.as_bytes()),
        });
        texts.push(text);
    }
    Ok((models, texts))
}

impl Sweep {
    /// What the variant's run trains: the request that its line of
    /// `jobs.txt` gives `cnnc train`, and that an in-process `compare`
    /// trains with, in the sweep at `dir`.
    pub fn train_request(&self, dir: &Path, variant: &PlannedVariant) -> Result<TrainRequest, Failure> {
        let spec = self
            .data
            .parse()
            .map_err(|e: String| Failure::Usage(format!("{}: {e}", dir.join(SWEEP_FILE).display())))?;
        let mut options = self.options.clone();
        if let Some(augment) = variant.variant.augment {
            options.augment = augment;
        }
        Ok(TrainRequest {
            model: ModelRequest {
                path: dir.join(&variant.model),
                overrides: variant.variant.settings.clone(),
                input: self.input,
            },
            data: DataRequest {
                spec,
                limit: self.limit,
                val_split: self.val_split,
                val_limit: self.val_limit,
                seed: self.options.seed,
            },
            options,
            out: Some(dir.join(&variant.run_dir)),
            init: None,
            until_epoch: None,
        })
    }
}

/// `cnnc train` with every flag that decides what a run computes, as
/// words. Defaults are written out too, so that a later cnnc with other
/// defaults still runs the same sweep.
pub fn command(binary: &str, request: &TrainRequest) -> Vec<String> {
    let o = &request.options;
    let mut words: Vec<String> = vec![binary.into(), "train".into(), path(&request.model.path)];
    let mut flag = |name: &str, value: String| {
        words.push(format!("--{name}"));
        words.push(value);
    };
    flag("data", request.data.spec.to_string());
    if let Some([h, w, c]) = request.model.input {
        flag("input", format!("{h}x{w}x{c}"));
    }
    for (name, value) in &request.model.overrides {
        flag("set", format!("{name}={value}"));
    }
    flag("epochs", o.epochs.to_string());
    flag("batch", o.batch.to_string());
    flag("optimizer", optimizer_name(o.optimizer).into());
    flag("lr", o.lr.to_string());
    if o.optimizer == OptimizerKind::Sgd {
        flag("momentum", o.momentum.to_string());
    }
    flag("seed", o.seed.to_string());
    let d = &request.data;
    let optional = [
        ("limit", d.limit.map(|v| v.to_string())),
        ("val-split", d.val_split.map(|v| v.to_string())),
        ("val-limit", d.val_limit.map(|v| v.to_string())),
        ("steps", o.max_steps.map(|v| v.to_string())),
        ("patience", o.patience.map(|v| v.to_string())),
        ("augment", (!o.augment.is_none()).then(|| o.augment.to_string())),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            flag(name, value);
        }
    }
    flag("weight-decay", o.weight_decay.to_string());
    flag("lr-schedule", o.lr_schedule.to_string());
    flag("warmup-epochs", o.warmup_epochs.to_string());
    if !o.shuffle {
        words.push("--no-shuffle".into());
    }
    words.push("--out".into());
    words.push(path(
        request.out.as_deref().expect("a planned run has its directory"),
    ));
    if let Some(epochs) = request.until_epoch {
        words.extend(["--until-epoch".into(), epochs.to_string()]);
    }
    words
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn optimizer_name(o: OptimizerKind) -> &'static str {
    match o {
        OptimizerKind::Sgd => "sgd",
        OptimizerKind::Adam => "adam",
        OptimizerKind::AdamW => "adamw",
    }
}

impl Jobs {
    /// One shell-quoted command per line.
    fn jobs_text(&self) -> Result<String, Failure> {
        let mut out = String::new();
        for words in &self.commands {
            let line = shlex::try_join(words.iter().map(String::as_str))
                .map_err(|e| Failure::Usage(format!("cannot write the command {words:?}: {e}")))?;
            out += &line;
            out += "\n";
        }
        Ok(out)
    }
}

/// `path` for inside a shell's double quotes (where `$SLURM_ARRAY_TASK_ID`
/// still expands): `\`, `"`, `$` and `` ` `` escaped.
fn shell_double_quoted(path: &Path) -> String {
    let mut out = String::new();
    for ch in path.display().to_string().chars() {
        if matches!(ch, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

impl Jobs {
    /// The array job: one task per line of `jobs.txt`.
    fn sbatch_text(&self, dir: &Path) -> Result<String, Failure> {
        let quote = |p: PathBuf| -> Result<String, Failure> {
            let text = p.display().to_string();
            shlex::try_quote(&text)
                .map(|q| q.into_owned())
                .map_err(|e| Failure::Usage(format!("{text}: {e}")))
        };
        let last = self.commands.len().saturating_sub(1);
        // `--gres=gpu:N` rather than `--gpus=N`: it works with select/linear
        // and with Slurm before 19.05 as well as with cons_tres.
        let gres = if self.gpus_per_task == 0 {
            "##SBATCH --gres=gpu:1  (planned with --slurm-gpus 0: no GPU asked for; remove one # to ask)"
                .to_string()
        } else {
            format!("#SBATCH --gres=gpu:{}", self.gpus_per_task)
        };
        Ok(format!(
            "#!/bin/bash
# cnnc sweep: {n} runs, one array task each. Submit with
#   sbatch {sbatch}
# (options given to sbatch override these, e.g. --partition=P --time=1:00:00,
# or --array=0-{last}%4 to run at most 4 at once); then collect with
#   cnnc {collect_with} --collect {dir_q}
#SBATCH --job-name=cnnc-sweep
#SBATCH --array=0-{last}
{gres}
#SBATCH --output=/dev/null
set -euo pipefail
# The task logs itself: sbatch's own --output does not take a shell-quoted
# path, and the sweep's directory may have spaces in its name.
exec >\"{logs}/{log_prefix}$SLURM_ARRAY_TASK_ID.out\" 2>&1
# Slurm gives the task its GPU in CUDA_VISIBLE_DEVICES (ROCR_VISIBLE_DEVICES
# on AMD); cnnc picks that adapter when several are visible (README,
# \"Sweeps on a cluster\"). Set CNNC_ADAPTER to choose one yourself.
line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {jobs})
if [ -z \"$line\" ]; then
  echo \"{jobs_name} has no line $((SLURM_ARRAY_TASK_ID + 1))\" >&2
  exit 2
fi
exec bash -c \"$line\"
",
            n = self.commands.len(),
            collect_with = self.collect_with,
            log_prefix = shell_double_quoted(Path::new(&self.log_prefix)),
            sbatch = quote(dir.join(SBATCH_FILE))?,
            dir_q = quote(dir.to_path_buf())?,
            logs = shell_double_quoted(&dir.join("logs")),
            jobs = quote(dir.join(JOBS_FILE))?,
            jobs_name = JOBS_FILE,
        ))
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
