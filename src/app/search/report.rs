//! A search's report: compare's row for every configuration (its size,
//! cost and figures, read from its run by compare's collector), with how
//! far it trained and why it stopped; the Pareto fronts of validation
//! accuracy against parameters, FLOPs and training time; the best
//! configuration, with the command that trains it; and what the search
//! spent against training every configuration to the end.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::costs::Constraints;
use super::schedule::Rung;
use super::state::{Candidate, RungRecord, Search};
use crate::app::compare::{Report, Row, RowStatus, Sweep};
use crate::app::pareto;
use crate::train::{RunDir, TrainOptions};

#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub adapter: String,
    pub data: String,
    /// The training flags; `epochs` is `--max-epochs`.
    pub options: TrainOptions,
    pub keep: String,
    pub min_epochs: usize,
    pub constraints: Constraints,
    pub grid_size: usize,
    pub schedule: Vec<Rung>,
    pub rungs: Vec<RungRecord>,
    pub done: bool,
    pub spent: Spent,
    /// The most accurate configuration of the last rung.
    pub best: Option<Best>,
    pub rows: Vec<SearchRow>,
}

/// Training the search did, against training every configuration it
/// tried to `--max-epochs`.
#[derive(Debug, Clone, Serialize)]
pub struct Spent {
    pub epochs: usize,
    pub images: u64,
    pub grid_epochs: usize,
    pub grid_images: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Best {
    pub name: String,
    pub val_accuracy: f64,
    pub epochs: usize,
    /// Its best weights, relative to the search's directory.
    pub weights: String,
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchRow {
    #[serde(flatten)]
    pub row: Row,
    pub trained: bool,
    pub epochs_reached: usize,
    pub rungs_reached: usize,
    /// Why it stopped where it did (or where it stands).
    pub stopped: String,
    pub step_ms: Option<f64>,
    /// Of its fastest epoch, validation included (the first epoch also
    /// compiles the kernels).
    pub seconds_per_epoch: Option<f64>,
    pub front: Fronts,
    /// `cnnc train` of this configuration, uninterrupted to `--max-epochs`.
    pub command: Option<String>,
}

/// On which Pareto fronts a configuration is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Fronts {
    pub params: bool,
    pub flops: bool,
    pub time: bool,
}

/// The report of `search` in `dir`, from the runs' report.
pub fn build(dir: &Path, search: &Search, sweep: &Sweep, runs: &Report) -> Result<SearchReport, String> {
    let mut rows = Vec::new();
    for candidate in &search.candidates {
        rows.push(match runs.rows.iter().find(|r| r.name == candidate.name) {
            Some(row) => trained_row(dir, search, sweep, candidate, row)?,
            None => pruned_row(candidate),
        });
    }
    mark_fronts(&mut rows);
    // Successive halving's answer: the best of the last rung's runs.
    let finalists: Vec<&SearchRow> = rows
        .iter()
        .filter(|r| r.trained && r.rungs_reached == search.schedule.len())
        .collect();
    let best = best(&finalists);
    Ok(SearchReport {
        adapter: runs.adapter.clone(),
        data: runs.data.clone(),
        options: runs.options.clone(),
        keep: search.keep.to_string(),
        min_epochs: search.min_epochs,
        constraints: search.constraints.clone(),
        grid_size: search.grid_size,
        schedule: search.schedule.clone(),
        rungs: search.rungs.clone(),
        done: search.done(),
        spent: spent(dir, search, &rows),
        best,
        rows,
    })
}

fn trained_row(
    dir: &Path,
    search: &Search,
    sweep: &Sweep,
    candidate: &Candidate,
    row: &Row,
) -> Result<SearchRow, String> {
    let variant = sweep
        .variants
        .iter()
        .find(|v| v.name == row.name)
        .expect("a row is of a planned variant");
    // The command that trains it again, uninterrupted: the model file as
    // given, its own run directory.
    let mut request = sweep.train_request(dir, variant).map_err(|f| f.message())?;
    request.model.path = variant.variant.file.clone();
    request.out = Some(PathBuf::from("runs").join(variant.variant.dir_name()));
    let words = crate::app::compare::plan::command("cnnc", &request);
    let epochs = row.epochs.len();
    let mut row = row.clone();
    if row.status == RowStatus::Paused {
        // Paused by the search at its rung: `stopped` says so, and where.
        row.error = None;
    }
    Ok(SearchRow {
        trained: true,
        epochs_reached: epochs,
        rungs_reached: search
            .rungs
            .iter()
            .filter(|r| r.members.contains(&row.name))
            .count(),
        stopped: stopped(search, &row),
        step_ms: candidate.step_ms,
        // Its fastest epoch: the first also compiles the kernels.
        seconds_per_epoch: row.epochs.iter().map(|m| m.seconds).min_by(f64::total_cmp),
        front: Fronts::default(),
        command: shlex::try_join(words.iter().map(String::as_str)).ok(),
        row,
    })
}

fn pruned_row(candidate: &Candidate) -> SearchRow {
    let v = &candidate.variant;
    let mut row = Row::unmeasured(
        &candidate.name,
        &v.file.display().to_string(),
        v.settings.iter().cloned().collect(),
        "",
    );
    row.status = RowStatus::NotStarted;
    row.params = candidate.params;
    row.flops_per_image = candidate.flops_per_image;
    row.filters = candidate.filters.clone();
    row.activation_bytes_per_image = candidate.activation_bytes_per_image;
    SearchRow {
        row,
        trained: false,
        epochs_reached: 0,
        rungs_reached: 0,
        stopped: format!("pruned: {}", candidate.pruned.as_deref().unwrap_or("not tried")),
        step_ms: candidate.step_ms,
        seconds_per_epoch: None,
        front: Fronts::default(),
        command: None,
    }
}

/// Why a trained configuration stopped where it did, or where it stands.
fn stopped(search: &Search, row: &Row) -> String {
    let first_line = |e: &Option<String>| {
        e.as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    if row.status == RowStatus::Failed {
        return format!("failed: {}", first_line(&row.error));
    }
    let epochs = row.epochs.len();
    if row.status == RowStatus::Finished && epochs < search.max_epochs {
        return format!("early stopping (--patience) after {}", plural(epochs, "epoch"));
    }
    let last = search
        .rungs
        .iter()
        .enumerate()
        .rev()
        .find(|(_, r)| r.members.contains(&row.name));
    let Some((i, rung)) = last else {
        return "not in any rung".into();
    };
    let Some(ranking) = &rung.ranking else {
        return format!(
            "in rung {} ({}): {}",
            i + 1,
            plural(rung.epochs, "epoch"),
            first_line(&row.error)
        );
    };
    let place = ranking
        .iter()
        .position(|r| r.name == row.name)
        .map_or(0, |p| p + 1);
    let of = ranking.len();
    if i + 1 == search.schedule.len() {
        format!(
            "reached --max-epochs {}: ranked {place} of {of}",
            search.max_epochs
        )
    } else {
        let kept = ranking.iter().filter(|r| r.kept).count();
        format!(
            "stopped after {} (rung {}): ranked {place} of {of}, {kept} kept",
            plural(rung.epochs, "epoch"),
            i + 1
        )
    }
}

/// `1 epoch`, `3 epochs`.
pub(super) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The three fronts over the trained rows with a validation accuracy.
fn mark_fronts(rows: &mut [SearchRow]) {
    let scored: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].trained && rows[i].row.best_val_accuracy.is_some())
        .collect();
    let front = |cost: &dyn Fn(&SearchRow) -> f64| {
        let points: Vec<(f64, f64)> = scored
            .iter()
            .map(|&i| (cost(&rows[i]), rows[i].row.best_val_accuracy.unwrap_or(f64::NAN)))
            .collect();
        pareto::front(&points)
    };
    let params = front(&|r| r.row.params as f64);
    let flops = front(&|r| r.row.flops_per_image as f64);
    let time = front(&|r| r.seconds_per_epoch.unwrap_or(f64::NAN));
    for (k, &i) in scored.iter().enumerate() {
        rows[i].front = Fronts {
            params: params[k],
            flops: flops[k],
            time: time[k],
        };
    }
}

/// The most accurate of `rows` (on equal accuracy the smaller, then the
/// first).
fn best(rows: &[&SearchRow]) -> Option<Best> {
    let mut best: Option<&SearchRow> = None;
    for &r in rows.iter().filter(|r| r.row.best_val_accuracy.is_some()) {
        let better = best.is_none_or(|b| {
            let (x, y) = (r.row.best_val_accuracy, b.row.best_val_accuracy);
            x > y || (x == y && r.row.params < b.row.params)
        });
        if better {
            best = Some(r);
        }
    }
    best.map(|r| Best {
        name: r.row.name.clone(),
        val_accuracy: r.row.best_val_accuracy.unwrap_or(0.0),
        epochs: r.epochs_reached,
        weights: format!("{}/best.safetensors", r.row.run_dir),
        command: r.command.clone().unwrap_or_default(),
    })
}

/// Epochs and images trained, and what training every configuration
/// tried to the end takes; the images per epoch from a run's config.
fn spent(dir: &Path, search: &Search, rows: &[SearchRow]) -> Spent {
    let trained: Vec<&SearchRow> = rows.iter().filter(|r| r.trained).collect();
    let per_epoch = trained
        .iter()
        .find_map(|r| {
            let run = RunDir {
                path: dir.join(&r.row.run_dir),
            };
            run.read_config().ok().map(|c| c.train_samples as u64)
        })
        .unwrap_or(0);
    let epochs: usize = trained.iter().map(|r| r.epochs_reached).sum();
    let grid_epochs = trained.len() * search.max_epochs;
    Spent {
        epochs,
        images: epochs as u64 * per_epoch,
        grid_epochs,
        grid_images: grid_epochs as u64 * per_epoch,
    }
}
