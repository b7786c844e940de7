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
use crate::app::compare::report::{
    COLUMNS, CSV_COLUMNS, csv_text, markdown_table, text_table, val_accuracy_chart,
};
use crate::app::compare::{Report, Row, RowStatus, Sweep};
use crate::app::pareto::{self, Labelled};
use crate::chart::{ChartError, PALETTE};
use crate::train::{RunDir, TrainOptions};
use crate::units::thousands;

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
    let best = best(&rows);
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
    Ok(SearchRow {
        row: row.clone(),
        trained: true,
        epochs_reached: epochs,
        rungs_reached: search.rungs.iter().filter(|r| r.members.contains(&row.name)).count(),
        stopped: stopped(search, row),
        step_ms: candidate.step_ms,
        // Its fastest epoch: the first also compiles the kernels.
        seconds_per_epoch: row.epochs.iter().map(|m| m.seconds).min_by(f64::total_cmp),
        front: Fronts::default(),
        command: shlex::try_join(words.iter().map(String::as_str)).ok(),
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
    let first_line = |e: &Option<String>| e.as_deref().unwrap_or("").lines().next().unwrap_or("").to_string();
    if row.status == RowStatus::Failed {
        return format!("failed: {}", first_line(&row.error));
    }
    let epochs = row.epochs.len();
    if row.status == RowStatus::Finished && epochs < search.max_epochs {
        return format!("early stopping (--patience) after {}", plural(epochs, "epoch"));
    }
    let last = search.rungs.iter().enumerate().rev().find(|(_, r)| r.members.contains(&row.name));
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
    let place = ranking.iter().position(|r| r.name == row.name).map_or(0, |p| p + 1);
    let of = ranking.len();
    if i + 1 == search.schedule.len() {
        format!("reached --max-epochs {}: ranked {place} of {of}", search.max_epochs)
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
fn plural(n: usize, what: &str) -> String {
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

/// The most accurate configuration (on equal accuracy the smaller, then
/// the first).
fn best(rows: &[SearchRow]) -> Option<Best> {
    let mut best: Option<&SearchRow> = None;
    for r in rows.iter().filter(|r| r.row.best_val_accuracy.is_some()) {
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

const EXTRA_COLUMNS: [&str; 3] = ["epochs", "stopped", "Pareto front"];

impl SearchRow {
    fn cells(&self) -> Vec<String> {
        let mut cells = self.row.cells().to_vec();
        if !self.trained {
            // Counts only: it never trained.
            for cell in &mut cells[5..COLUMNS.len()] {
                *cell = "-".into();
            }
        }
        cells.pop(); // compare's note: `stopped` says it here
        let fronts: Vec<&str> = [
            (self.front.params, "params"),
            (self.front.flops, "FLOPs"),
            (self.front.time, "time"),
        ]
        .iter()
        .filter_map(|&(on, name)| on.then_some(name))
        .collect();
        cells.extend([
            self.epochs_reached.to_string(),
            self.stopped.clone(),
            if fronts.is_empty() {
                "-".into()
            } else {
                fronts.join(", ")
            },
        ]);
        cells
    }
}

impl SearchReport {
    fn columns() -> Vec<&'static str> {
        COLUMNS[..COLUMNS.len() - 1].iter().chain(&EXTRA_COLUMNS).copied().collect()
    }

    fn table(&self) -> Vec<Vec<String>> {
        self.rows.iter().map(SearchRow::cells).collect()
    }

    /// The table as text, and the best configuration.
    pub fn to_text(&self) -> String {
        let columns = Self::columns();
        let left = [0, columns.len() - 2, columns.len() - 1];
        let mut out = text_table(&columns, &self.table(), &left);
        out += &format!("\n{}\n", self.spent_sentence());
        if let Some(b) = &self.best {
            out += &format!("{}\n", best_sentence(b));
        }
        out
    }

    fn spent_sentence(&self) -> String {
        let s = &self.spent;
        let share = |a: u64, b: u64| if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 };
        format!(
            "Spent {} epochs ({} training images): {:.1} % of the {} epochs ({} images) that training all {} configurations tried to {} epochs takes.",
            s.epochs,
            thousands(s.images),
            share(s.images, s.grid_images),
            s.grid_epochs,
            thousands(s.grid_images),
            self.rows.iter().filter(|r| r.trained).count(),
            self.options.epochs
        )
    }
}

fn best_sentence(b: &Best) -> String {
    format!(
        "Best: {} at {:.2} % validation accuracy after {} (weights: {}); train it again with\n    {}",
        b.name,
        100.0 * b.val_accuracy,
        plural(b.epochs, "epoch"),
        b.weights,
        b.command
    )
}

impl SearchReport {
    pub fn to_markdown(&self) -> String {
        let o = &self.options;
        let tried = self.rows.iter().filter(|r| r.trained).count();
        let pruned = self.rows.len() - tried;
        let mut out = format!(
            "# cnnc search\n\nData `{}`; successive halving over {tried} configurations (of a grid of {}; {pruned} pruned), keeping {} at each rung, from {} to {} epochs; batch {}, {:?} lr {}, seed {}, on {}.{}\n\n",
            self.data,
            self.grid_size,
            self.keep,
            self.schedule.first().map_or(0, |r| r.epochs),
            o.epochs,
            o.batch,
            o.optimizer,
            o.lr,
            o.seed,
            self.adapter,
            match self.constraints.flags().join(", ") {
                c if c.is_empty() => String::new(),
                c => format!(" Constraints: {c}."),
            }
        );
        out += &self.rungs_table();
        out += &format!("\n{}\n\n", self.spent_sentence());
        match &self.best {
            Some(b) => out += &format!("{}\n\n", best_sentence(b).replace("\n    ", "\n\n    ")),
            None => out += "No configuration has a validation accuracy yet.\n\n",
        }
        out += "## Every configuration\n\n";
        out += &markdown_table(&Self::columns(), &self.table());
        out += &self.fronts_markdown();
        out += "\n![validation accuracy per epoch](val_accuracy.png)\n\n";
        for (file, what) in [
            ("accuracy_vs_params.png", "parameters"),
            ("accuracy_vs_flops.png", "FLOPs"),
            ("accuracy_vs_time.png", "training time"),
        ] {
            out += &format!("![validation accuracy against {what}]({file})\n\n");
        }
        out
    }

    fn rungs_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .schedule
            .iter()
            .enumerate()
            .map(|(i, planned)| {
                let record = self.rungs.get(i);
                let kept = record
                    .and_then(|r| r.ranking.as_ref())
                    .map_or("-".into(), |r| r.iter().filter(|x| x.kept).count().to_string());
                vec![
                    (i + 1).to_string(),
                    planned.epochs.to_string(),
                    planned.configs.to_string(),
                    record.map_or("-".into(), |r| r.members.len().to_string()),
                    kept,
                ]
            })
            .collect();
        markdown_table(&["rung", "epochs", "planned", "trained", "kept"], &rows)
    }

    /// For each cost, the front from the cheapest up: the best
    /// configuration within each budget, with its command.
    fn fronts_markdown(&self) -> String {
        let mut out = String::from(
            "\n## Best under each budget: the Pareto fronts\n\nEach line is the most accurate configuration for at most its cost: no other is both cheaper and more accurate.\n",
        );
        type Cost = fn(&SearchRow) -> (bool, f64, String);
        let costs: [(&str, Cost); 3] = [
            ("parameters", |r| (r.front.params, r.row.params as f64, thousands(r.row.params as u64))),
            ("FLOPs per image", |r| {
                (r.front.flops, r.row.flops_per_image as f64, thousands(r.row.flops_per_image))
            }),
            ("training seconds per epoch", |r| {
                let s = r.seconds_per_epoch.unwrap_or(f64::NAN);
                (r.front.time, s, format!("{s:.1}"))
            }),
        ];
        for (what, cost) in costs {
            let mut front: Vec<(f64, Vec<String>)> = self
                .rows
                .iter()
                .filter_map(|r| {
                    let (on, x, shown) = cost(r);
                    on.then(|| {
                        let acc = format!("{:.2}%", 100.0 * r.row.best_val_accuracy.unwrap_or(0.0));
                        (x, vec![shown, r.row.name.clone(), acc, r.epochs_reached.to_string()])
                    })
                })
                .collect();
            front.sort_by(|a, b| a.0.total_cmp(&b.0));
            let rows: Vec<Vec<String>> = front.into_iter().map(|f| f.1).collect();
            out += &format!("\n### {what}\n\n");
            out += &markdown_table(
                &[&format!("at most ({what})"), "configuration", "best val acc", "epochs"],
                &rows,
            );
        }
        out += "\n### The commands that train them\n\n";
        for r in self.rows.iter().filter(|r| r.front != Fronts::default()) {
            out += &format!("- {}: `{}`\n", r.row.name, r.command.as_deref().unwrap_or(""));
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let mut out = format!(
            "{CSV_COLUMNS},trained,epochs_reached,rungs_reached,stopped,step_ms,seconds_per_epoch,front_params,front_flops,front_time,command\n"
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
        for r in &self.rows {
            out += &format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                r.row.csv_fields(),
                r.trained,
                r.epochs_reached,
                r.rungs_reached,
                csv_text(&r.stopped),
                opt(r.step_ms),
                opt(r.seconds_per_epoch),
                r.front.params,
                r.front.flops,
                r.front.time,
                csv_text(r.command.as_deref().unwrap_or("")),
            );
        }
        out
    }

    /// Writes report.md, report.json, report.csv and the charts, atomically.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let io = |e: std::io::Error| format!("{}: {e}", dir.display());
        crate::atomic::write(&dir.join("report.md"), self.to_markdown().as_bytes()).map_err(io)?;
        let json = serde_json::to_string_pretty(self).expect("a report serialises") + "\n";
        crate::atomic::write(&dir.join("report.json"), json.as_bytes()).map_err(io)?;
        crate::atomic::write(&dir.join("report.csv"), self.to_csv().as_bytes()).map_err(io)?;
        self.charts(dir).map_err(|e| format!("drawing charts: {e}"))
    }

    fn charts(&self, dir: &Path) -> Result<(), ChartError> {
        let trained: Vec<&SearchRow> = self.rows.iter().filter(|r| !r.row.epochs.is_empty()).collect();
        val_accuracy_chart(
            &dir.join("val_accuracy.png"),
            &trained.iter().map(|r| &r.row).collect::<Vec<_>>(),
        )?;
        let charts: [(&str, &str, fn(&SearchRow) -> f64); 3] = [
            ("accuracy_vs_params.png", "parameters (log scale)", |r| r.row.params as f64),
            ("accuracy_vs_flops.png", "forward FLOPs per image (log scale)", |r| {
                r.row.flops_per_image as f64
            }),
            ("accuracy_vs_time.png", "training seconds per epoch (log scale)", |r| {
                r.seconds_per_epoch.unwrap_or(f64::NAN)
            }),
        ];
        for (file, x_desc, cost) in charts {
            let points: Vec<Labelled> = trained
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    Some(Labelled {
                        label: format!("{} ({} ep)", r.row.name, r.epochs_reached),
                        cost: cost(r),
                        accuracy: 100.0 * r.row.best_val_accuracy?,
                        color: PALETTE[i % PALETTE.len()],
                    })
                })
                .collect();
            pareto::accuracy_chart(
                &dir.join(file),
                "Best validation accuracy against cost, at the epochs each reached",
                x_desc,
                "best validation accuracy (%)",
                &points,
            )?;
        }
        Ok(())
    }
}
