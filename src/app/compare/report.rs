//! The report of a sweep: a row per variant (accuracy beside
//! parameters, FLOPs, memory and speed) as text, Markdown, JSON and CSV,
//! and its charts.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::app::pareto::{self, Labelled};
use crate::chart::{self, ChartError, PALETTE, Point, Series};
use crate::train::EpochMetrics;
use crate::units::{human_bytes, thousands};

/// A row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    /// The model file as given to `compare`.
    pub file: String,
    pub settings: BTreeMap<String, i64>,
    /// The variant's run, relative to the sweep's directory.
    pub run_dir: String,
    pub status: RowStatus,
    /// Why the variant has no (or not all of its) results.
    pub error: Option<String>,
    pub filters: Vec<usize>,
    pub params: usize,
    pub flops_per_image: u64,
    pub activation_bytes_per_image: u64,
    pub train_seconds: f64,
    /// Of the last epoch (the first includes compiling kernels).
    pub train_images_per_s: f64,
    pub final_train_accuracy: f64,
    pub final_val_accuracy: Option<f64>,
    pub best_val_accuracy: Option<f64>,
    pub best_epoch: Option<usize>,
    /// Final train accuracy minus final validation accuracy.
    pub generalisation_gap: Option<f64>,
    pub epochs: Vec<EpochMetrics>,
}

/// Where a variant's run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    Finished,
    /// Ctrl-C: `cnnc train --resume` continues it.
    Interrupted,
    /// Stopped by `--until-epoch` (a search's rung): `--resume` continues it.
    Paused,
    Failed,
    /// Started, not ended: still running, or killed without a word.
    Unfinished,
    /// No run directory yet.
    NotStarted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The adapter the runs trained on (several, `; `-separated, when
    /// they differ).
    pub adapter: String,
    pub data: String,
    pub options: crate::train::TrainOptions,
    pub rows: Vec<Row>,
}

pub(crate) const COLUMNS: [&str; 13] = [
    "variant",
    "filters",
    "params",
    "FLOPs/image",
    "act. memory/image",
    "train time (s)",
    "train images/s",
    "final train acc",
    "final val acc",
    "best val acc",
    "best epoch",
    "gap (train - val)",
    "note",
];

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v))
}

impl Row {
    /// A finished row with nothing measured yet.
    pub(crate) fn unmeasured(name: &str, file: &str, settings: BTreeMap<String, i64>, run_dir: &str) -> Row {
        Row {
            name: name.into(),
            file: file.into(),
            settings,
            run_dir: run_dir.into(),
            status: RowStatus::Finished,
            error: None,
            filters: Vec::new(),
            params: 0,
            flops_per_image: 0,
            activation_bytes_per_image: 0,
            train_seconds: 0.0,
            train_images_per_s: 0.0,
            final_train_accuracy: 0.0,
            final_val_accuracy: None,
            best_val_accuracy: None,
            best_epoch: None,
            generalisation_gap: None,
            epochs: Vec::new(),
        }
    }

    /// The row's cells under [`COLUMNS`].
    pub(crate) fn cells(&self) -> [String; 13] {
        let ok = self.error.is_none() || !self.epochs.is_empty();
        let num = |s: String| if ok { s } else { "-".into() };
        [
            self.name.clone(),
            num(self
                .filters
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("/")),
            num(thousands(self.params as u64)),
            num(thousands(self.flops_per_image)),
            num(human_bytes(self.activation_bytes_per_image as u128)),
            num(format!("{:.1}", self.train_seconds)),
            num(format!("{:.1}", self.train_images_per_s)),
            num(pct(Some(self.final_train_accuracy))),
            num(pct(self.final_val_accuracy)),
            num(pct(self.best_val_accuracy)),
            self.best_epoch.map_or("-".into(), |e| e.to_string()),
            self.generalisation_gap
                .map_or("-".into(), |g| format!("{:+.2} pts", 100.0 * g)),
            self.error
                .as_ref()
                .map_or(String::new(), |e| e.lines().next().unwrap_or("").to_string()),
        ]
    }
}

pub(crate) const CSV_COLUMNS: &str = "variant,file,settings,filters,params,flops_per_image,activation_bytes_per_image,train_seconds,train_images_per_s,final_train_accuracy,final_val_accuracy,best_val_accuracy,best_epoch,generalisation_gap,error";

impl Row {
    /// The row's fields under [`CSV_COLUMNS`], comma-separated.
    pub(crate) fn csv_fields(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let settings: Vec<String> = self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "\"{}\",\"{}\",\"{}\",\"{}\",{},{},{},{:.3},{:.2},{:.6},{},{},{},{},{}",
            self.name,
            self.file,
            settings.join(" "),
            self.filters
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("/"),
            self.params,
            self.flops_per_image,
            self.activation_bytes_per_image,
            self.train_seconds,
            self.train_images_per_s,
            self.final_train_accuracy,
            opt(self.final_val_accuracy),
            opt(self.best_val_accuracy),
            self.best_epoch.map_or(String::new(), |e| e.to_string()),
            opt(self.generalisation_gap),
            csv_text(self.error.as_deref().unwrap_or("")),
        )
    }
}

/// Text as one quoted CSV field on one line.
pub(crate) fn csv_text(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "'").replace('\n', " "))
}

/// A table as text: columns aligned, those in `left` to the left, the
/// rest to the right.
pub(crate) fn text_table(header: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            let pad = w.saturating_sub(c.chars().count());
            if left.contains(&i) {
                s += &format!("{c}{}  ", " ".repeat(pad));
            } else {
                s += &format!("{}{c}  ", " ".repeat(pad));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for r in rows {
        out += &line(&mut r.iter().map(String::as_str));
    }
    out
}

/// A Markdown table, a cell's newlines made spaces.
pub(crate) fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", header.join(" | "));
    out += &format!("|{}\n", "---|".repeat(header.len()));
    for r in rows {
        out += &format!("| {} |\n", r.join(" | ").replace('\n', " "));
    }
    out
}

impl Report {
    /// Whether every variant finished.
    pub fn complete(&self) -> bool {
        self.rows.iter().all(|r| r.status == RowStatus::Finished)
    }

    /// The table as text, columns aligned.
    pub fn to_text(&self) -> String {
        let rows: Vec<Vec<String>> = self.rows.iter().map(|r| r.cells().to_vec()).collect();
        text_table(&COLUMNS, &rows, &[0, COLUMNS.len() - 1])
    }

    pub fn to_markdown(&self) -> String {
        let o = &self.options;
        let mut extras = String::new();
        if o.lr_schedule != crate::train::LrSchedule::Constant || o.warmup_epochs > 0 {
            extras += &format!(
                ", {} schedule, {} warm-up epoch(s)",
                o.lr_schedule, o.warmup_epochs
            );
        }
        if o.weight_decay > 0.0 {
            extras += &format!(", weight decay {}", o.weight_decay);
        }
        if !o.augment.is_none() {
            extras += &format!(", augment {} (unless the variant says)", o.augment);
        }
        let mut out = format!(
            "# cnnc compare\n\nData `{}`, {} epoch(s), batch {}, {:?} lr {}{extras}, seed {}, on {}.\n\n",
            self.data, o.epochs, o.batch, o.optimizer, o.lr, o.seed, self.adapter
        );
        let rows: Vec<Vec<String>> = self.rows.iter().map(|r| r.cells().to_vec()).collect();
        out += &markdown_table(&COLUMNS, &rows);
        out += "\nTrain images/s are of the last epoch (the first also compiles the kernels).\n\n";
        out += "![validation accuracy per epoch](val_accuracy.png)\n\n";
        out += "![validation accuracy against parameters](accuracy_vs_params.png)\n\n";
        out += "![training speed against FLOPs per image](speed_vs_flops.png)\n";
        out
    }

    pub fn to_csv(&self) -> String {
        let mut out = format!("{CSV_COLUMNS}\n");
        for r in &self.rows {
            out += &r.csv_fields();
            out += "\n";
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

    fn done(&self) -> impl Iterator<Item = (usize, &Row)> {
        self.rows.iter().enumerate().filter(|(_, r)| !r.epochs.is_empty())
    }

    fn charts(&self, dir: &Path) -> Result<(), ChartError> {
        let done: Vec<&Row> = self.done().map(|(_, r)| r).collect();
        val_accuracy_chart(&dir.join("val_accuracy.png"), &done)?;
        let acc_points: Vec<Labelled> = self
            .done()
            .filter_map(|(i, r)| {
                Some(Labelled {
                    label: r.name.clone(),
                    cost: r.params as f64,
                    accuracy: 100.0 * r.final_val_accuracy?,
                    color: PALETTE[i % 8],
                })
            })
            .collect();
        pareto::accuracy_chart(
            &dir.join("accuracy_vs_params.png"),
            "Final validation accuracy against parameters",
            "parameters (log scale)",
            "validation accuracy (%)",
            &acc_points,
        )?;
        let speed_points: Vec<Point> = self
            .done()
            .map(|(i, r)| Point {
                label: r.name.clone(),
                x: r.flops_per_image as f64,
                y: r.train_images_per_s,
                color: PALETTE[i % 8],
                on_front: false,
            })
            .collect();
        chart::scatter(
            &dir.join("speed_vs_flops.png"),
            "Training speed against compute",
            "forward FLOPs per image (log scale)",
            "training images/s",
            &speed_points,
        )
    }
}

/// Validation accuracy per epoch, a line per row (a row's colour is its
/// place among `rows`).
pub(crate) fn val_accuracy_chart(path: &Path, rows: &[&Row]) -> Result<(), ChartError> {
    let curves: Vec<Series> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            name: r.name.clone(),
            points: r
                .epochs
                .iter()
                .filter_map(|m| Some((m.epoch as f64, 100.0 * m.val_accuracy?)))
                .collect(),
            thin: false,
            color: PALETTE[i % PALETTE.len()],
        })
        .collect();
    chart::render(path, (900, 560), |root| {
        chart::lines(
            root,
            "Validation accuracy per epoch",
            "epoch",
            "validation accuracy (%)",
            &curves,
            None,
            SeriesLabelPosition::LowerRight,
        )
    })
}
