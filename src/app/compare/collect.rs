//! `cnnc compare --collect DIR`: the report of a sweep from its runs'
//! directories, whatever ran them. Each run says how it ended in its
//! `status.json`; its manifest (`config.json`) gives the model, checked
//! again for its size and cost; its checkpoint's header gives the epochs'
//! figures at full precision. A run that failed, was interrupted, has not
//! ended or has not started is a row that says so. Collecting reads only,
//! so it may be repeated as runs finish.

use std::path::Path;

use super::plan::{self, PlannedVariant, Sweep};
use super::report::{Report, Row, RowStatus};
use crate::Model;
use crate::app::workflow::Failure;
use crate::model::CheckOptions;
use crate::source::Source;
use crate::train::{EpochMetrics, RunConfig, RunDir, RunStatus};

/// Reads the sweep in `dir` and its runs into a report.
pub fn collect(dir: &Path) -> Result<Report, Failure> {
    let sweep = plan::read(dir)?;
    collect_sweep(dir, &sweep)
}

/// The report of `sweep`, whose directory is `dir`.
pub fn collect_sweep(dir: &Path, sweep: &Sweep) -> Result<Report, Failure> {
    let mut adapters: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for variant in &sweep.variants {
        let (row, adapter) = collect_run(dir, sweep, variant);
        if let Some(a) = adapter.filter(|a| !adapters.contains(a)) {
            adapters.push(a);
        }
        rows.push(row);
    }
    Ok(Report {
        adapter: if adapters.is_empty() {
            "no adapter yet".into()
        } else {
            adapters.join("; ")
        },
        data: sweep.data.clone(),
        options: sweep.options.clone(),
        rows,
    })
}

/// A variant's row, and the adapter its run trained on.
fn collect_run(dir: &Path, sweep: &Sweep, variant: &PlannedVariant) -> (Row, Option<String>) {
    let mut row = Row::empty(variant);
    let run = RunDir {
        path: dir.join(&variant.run_dir),
    };
    let status = match run.read_status() {
        Ok(status) => status,
        Err(e) => return (row.with(RowStatus::Failed, e), None),
    };
    let config = match (run.read_config(), &status) {
        (Ok(config), _) => config,
        // It never began (an invalid model, unreadable data): its status says why.
        (Err(_), Some(RunStatus::Failed { error })) => {
            return (row.with(RowStatus::Failed, error.clone()), None);
        }
        (Err(_), _) if !run.path.exists() => {
            let why = format!("not started: no {}", variant.run_dir);
            return (row.with(RowStatus::NotStarted, why), None);
        }
        (Err(e), _) => {
            return (
                row.with(RowStatus::Unfinished, format!("not begun properly: {e}")),
                None,
            );
        }
    };
    let adapter = format!(
        "{} ({}, {})",
        config.adapter.name, config.adapter.backend, config.adapter.driver
    );
    if let Err(e) = fill(&mut row, &run, &config) {
        return (row.with(RowStatus::Failed, e), Some(adapter));
    }
    let epochs = format!("{} of {} epochs", row.epochs.len(), sweep.options.epochs);
    let row = match status {
        Some(RunStatus::Finished { .. }) if !run.path.join("model.safetensors").is_file() => row.with(
            RowStatus::Failed,
            "finished, but its model.safetensors is missing".into(),
        ),
        Some(RunStatus::Finished { .. }) => row,
        Some(RunStatus::Failed { error }) => row.with(RowStatus::Failed, error),
        Some(RunStatus::Interrupted) => row.with(
            RowStatus::Interrupted,
            format!(
                "interrupted after {epochs}; `cnnc train --resume {}` continues it",
                run.path.display()
            ),
        ),
        Some(RunStatus::Paused { epochs }) => row.with(
            RowStatus::Paused,
            format!(
                "paused after {epochs} of {} epochs; `cnnc train --resume {}` continues it",
                sweep.options.epochs,
                run.path.display()
            ),
        ),
        None => row.with(
            RowStatus::Unfinished,
            format!(
                "unfinished: {epochs} done (still running, or stopped without a word: killed, out of time)"
            ),
        ),
    };
    (row, Some(adapter))
}

/// The model's size and cost (checked again from the text its run
/// recorded), and the epochs' figures.
fn fill(row: &mut Row, run: &RunDir, config: &RunConfig) -> Result<(), String> {
    let model = model_of(config)?;
    row.filters = model.conv_filters();
    row.params = model.params().total();
    row.flops_per_image = model.flops();
    row.activation_bytes_per_image = model.activation_bytes();
    let state = run.read_state()?;
    let history: Vec<EpochMetrics> = state.map(|s| s.history).unwrap_or_default();
    row.train_seconds = history.iter().map(|m| m.seconds).sum();
    if let Some(last) = history.last() {
        row.train_images_per_s = last.images_per_s;
        row.final_train_accuracy = last.train_accuracy;
        row.final_val_accuracy = last.val_accuracy;
        row.generalisation_gap = last.val_accuracy.map(|v| last.train_accuracy - v);
    }
    let best = history
        .iter()
        .filter_map(|m| Some((m.val_accuracy?, m.epoch)))
        .fold(None, |best: Option<(f64, usize)>, (a, e)| match best {
            Some((b, _)) if b >= a => best,
            _ => Some((a, e)),
        });
    row.best_val_accuracy = best.map(|b| b.0);
    row.best_epoch = best.map(|b| b.1);
    row.epochs = history;
    Ok(())
}

/// The model as its run checked it: the recorded text, settings and input.
fn model_of(config: &RunConfig) -> Result<Model, String> {
    let m = &config.model;
    let source = Source::new(&m.file, &m.text);
    let input = match m.input.as_slice() {
        &[h, w, c] => Some([h, w, c]),
        _ => None,
    };
    let options = CheckOptions {
        default_name: source.stem(),
        input,
        overrides: m.overrides.clone(),
    };
    crate::load(&source, &options).map_err(|d| {
        format!(
            "{}: the model its run recorded no longer checks:\n{}",
            m.file,
            crate::diagnostic::render(&m.file, &m.text, &d.0).trim_end()
        )
    })
}

impl Row {
    /// A row with the variant's name and nothing measured.
    fn empty(variant: &PlannedVariant) -> Row {
        Row::unmeasured(
            &variant.name,
            &variant.variant.file.display().to_string(),
            variant.variant.settings.iter().cloned().collect(),
            &variant.run_dir,
        )
    }

    fn with(mut self, status: RowStatus, error: String) -> Row {
        self.status = status;
        self.error = Some(error);
        self
    }
}
