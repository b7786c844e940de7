//! `cnnc compare`: the filter-count experiment as one command. Each
//! variant (a model file, or one setting of its parameters) is trained
//! with the same data, seed, batch order and optimizer; the report puts
//! accuracy beside parameters, FLOPs, memory and speed, as a table and
//! as charts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use plotters::prelude::*;
use serde::Serialize;

use crate::app::workflow::{self, DataRequest, Failure, LoadedData, ModelRequest, TrainRequest};
use crate::augment::Augment;
use crate::chart::{self, ChartError, PALETTE, Series};
use crate::runtime::Gpu;
use crate::train::{ConsoleProgress, EpochMetrics, Outcome};
use crate::units::{human_bytes, thousands};

/// One model to train: a file and its parameter settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub file: PathBuf,
    pub settings: Vec<(String, i64)>,
    /// When `--augment` is given several times, this variant's.
    pub augment: Option<Augment>,
}

impl Variant {
    /// `mnist width=16`: the file stem and its settings.
    pub fn name(&self) -> String {
        let stem = self
            .file
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        let mut settings: Vec<String> = self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(a) = self.augment {
            settings.push(format!("augment={a}"));
        }
        if settings.is_empty() {
            stem
        } else {
            format!("{stem} {}", settings.join(" "))
        }
    }

    /// A directory name: `mnist-width16`.
    pub fn dir_name(&self) -> String {
        self.name()
            .replace('=', "")
            .replace(' ', "-")
            .replace([':', ','], "")
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// Every file with every combination of the swept values and, when more
/// than one is given, every augmentation (the cartesian product, in the
/// order given).
pub fn variants(files: &[PathBuf], sweeps: &[(String, Vec<i64>)], augments: &[Augment]) -> Vec<Variant> {
    let mut combos: Vec<Vec<(String, i64)>> = vec![Vec::new()];
    for (name, values) in sweeps {
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((name.clone(), *v));
                    c
                })
            })
            .collect();
    }
    let augments: Vec<Option<Augment>> = match augments {
        [_, _, ..] => augments.iter().copied().map(Some).collect(),
        _ => vec![None],
    };
    let mut out = Vec::new();
    for file in files {
        for settings in &combos {
            for &augment in &augments {
                out.push(Variant {
                    file: file.clone(),
                    settings: settings.clone(),
                    augment,
                });
            }
        }
    }
    out
}

/// A row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub file: String,
    pub settings: BTreeMap<String, i64>,
    pub run_dir: String,
    /// Why the variant has no results, if it failed.
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

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub adapter: String,
    pub data: String,
    pub options: crate::train::TrainOptions,
    pub rows: Vec<Row>,
}

pub struct CompareRequest {
    pub variants: Vec<Variant>,
    pub input: Option<[usize; 3]>,
    pub data: DataRequest,
    pub options: crate::train::TrainOptions,
    pub out: PathBuf,
}

/// Trains every variant in turn; a variant that fails gets a row saying
/// why, and the others still run.
pub fn run(gpu: &Gpu, request: &CompareRequest, stop: &AtomicBool) -> Result<Report, Failure> {
    std::fs::create_dir_all(&request.out)
        .map_err(|e| Failure::Usage(format!("{}: {e}", request.out.display())))?;
    let total = request.variants.len();
    let mut data_cache: Option<LoadedData> = None;
    let mut rows = Vec::new();
    for (i, variant) in request.variants.iter().enumerate() {
        let name = variant.name();
        let dir = request.out.join(variant.dir_name());
        eprintln!("[{}/{total}] {name}", i + 1);
        let model = ModelRequest {
            path: variant.file.clone(),
            overrides: variant.settings.clone(),
            input: request.input,
        };
        let mut options = request.options.clone();
        if let Some(augment) = variant.augment {
            options.augment = augment;
        }
        let train = TrainRequest {
            model: model.clone(),
            data: request.data.clone(),
            options,
            out: Some(dir.clone()),
            init: None,
        };
        let mut progress = ConsoleProgress::with_prefix(format!("[{}/{total} {name}] ", i + 1));
        let result = (|| {
            // Every variant trains on the same data: load it once.
            let (source, checked, data) = match &data_cache {
                Some(data) => {
                    let source = workflow::read_source(&model.path)?;
                    let checked = workflow::check_model(&source, &model, Some(data.train.shape))?;
                    (source, checked, data.clone())
                }
                None => workflow::model_and_data(&model, &request.data)?,
            };
            if data_cache.is_none() {
                data_cache = Some(data.clone());
            }
            workflow::train_loaded(
                gpu,
                &train,
                &source,
                &checked,
                &data,
                &dir,
                None,
                &mut progress,
                stop,
            )
        })();
        let row = match result {
            Ok(r) => {
                if r.outcome == Outcome::Interrupted {
                    rows.push(row_of(variant, &dir, Ok(r)));
                    break;
                }
                row_of(variant, &dir, Ok(r))
            }
            Err(failure) => {
                let message = failure_text(&failure);
                eprintln!("[{}/{total}] {name} failed:\n{message}", i + 1);
                row_of(variant, &dir, Err(message))
            }
        };
        rows.push(row);
    }
    Ok(Report {
        adapter: gpu.describe(),
        data: request.data.spec.to_string(),
        options: request.options.clone(),
        rows,
    })
}

fn failure_text(failure: &Failure) -> String {
    match failure {
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

fn row_of(variant: &Variant, dir: &Path, result: Result<workflow::TrainResult, String>) -> Row {
    let mut row = Row {
        name: variant.name(),
        file: variant.file.display().to_string(),
        settings: variant.settings.iter().cloned().collect(),
        run_dir: dir.display().to_string(),
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
    };
    match result {
        Err(e) => row.error = Some(e),
        Ok(r) => {
            let history = &r.state.history;
            row.filters = r.model.conv_filters();
            row.params = r.model.params().total();
            row.flops_per_image = r.model.flops();
            row.activation_bytes_per_image = r.model.activation_bytes();
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
            row.epochs = history.clone();
            if r.outcome == Outcome::Interrupted {
                row.error = Some("interrupted".into());
            }
        }
    }
    row
}

const COLUMNS: [&str; 13] = [
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
    fn cells(&self) -> [String; 13] {
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

impl Report {
    /// The table as text, columns aligned.
    pub fn to_text(&self) -> String {
        let rows: Vec<[String; 13]> = self.rows.iter().map(Row::cells).collect();
        let mut widths = COLUMNS.map(|c| c.len());
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: [&str; 13]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i == 0 || i == 12 {
                    s += &format!("{c:<w$}  ");
                } else {
                    s += &format!("{c:>w$}  ");
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(COLUMNS);
        for r in &rows {
            out += &line(r.each_ref().map(String::as_str));
        }
        out
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
        out += &format!("| {} |\n", COLUMNS.join(" | "));
        out += &format!("|{}\n", "---|".repeat(COLUMNS.len()));
        for r in &self.rows {
            out += &format!("| {} |\n", r.cells().join(" | ").replace('\n', " "));
        }
        out += "\nTrain images/s are of the last epoch (the first also compiles the kernels).\n\n";
        out += "![validation accuracy per epoch](val_accuracy.png)\n\n";
        out += "![validation accuracy against parameters](accuracy_vs_params.png)\n\n";
        out += "![training speed against FLOPs per image](speed_vs_flops.png)\n";
        out
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "variant,file,settings,filters,params,flops_per_image,activation_bytes_per_image,train_seconds,train_images_per_s,final_train_accuracy,final_val_accuracy,best_val_accuracy,best_epoch,generalisation_gap,error\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        for r in &self.rows {
            let settings: Vec<String> = r.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out += &format!(
                "\"{}\",\"{}\",\"{}\",\"{}\",{},{},{},{:.3},{:.2},{:.6},{},{},{},{},\"{}\"\n",
                r.name,
                r.file,
                settings.join(" "),
                r.filters
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join("/"),
                r.params,
                r.flops_per_image,
                r.activation_bytes_per_image,
                r.train_seconds,
                r.train_images_per_s,
                r.final_train_accuracy,
                opt(r.final_val_accuracy),
                opt(r.best_val_accuracy),
                r.best_epoch.map_or(String::new(), |e| e.to_string()),
                opt(r.generalisation_gap),
                r.error
                    .as_deref()
                    .unwrap_or("")
                    .replace('"', "'")
                    .replace('\n', " "),
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

    fn done(&self) -> impl Iterator<Item = (usize, &Row)> {
        self.rows.iter().enumerate().filter(|(_, r)| !r.epochs.is_empty())
    }

    fn charts(&self, dir: &Path) -> Result<(), ChartError> {
        let curves: Vec<Series> = self
            .done()
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
        chart::render(&dir.join("val_accuracy.png"), (900, 560), |root| {
            chart::lines(
                root,
                "Validation accuracy per epoch",
                "epoch",
                "validation accuracy (%)",
                &curves,
                None,
                SeriesLabelPosition::LowerRight,
            )
        })?;

        let acc_points: Vec<(String, f64, f64, RGBColor)> = self
            .done()
            .filter_map(|(i, r)| {
                Some((
                    r.name.clone(),
                    r.params as f64,
                    100.0 * r.final_val_accuracy?,
                    PALETTE[i % 8],
                ))
            })
            .collect();
        chart::scatter(
            &dir.join("accuracy_vs_params.png"),
            "Final validation accuracy against parameters",
            "parameters (log scale)",
            "validation accuracy (%)",
            &acc_points,
        )?;
        let speed_points: Vec<(String, f64, f64, RGBColor)> = self
            .done()
            .map(|(i, r)| {
                (
                    r.name.clone(),
                    r.flops_per_image as f64,
                    r.train_images_per_s,
                    PALETTE[i % 8],
                )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_the_cartesian_product() {
        let v = variants(
            &[PathBuf::from("m.cnn")],
            &[("width".into(), vec![16, 32]), ("depth".into(), vec![2, 3])],
            &[],
        );
        let names: Vec<String> = v.iter().map(Variant::name).collect();
        assert_eq!(
            names,
            [
                "m width=16 depth=2",
                "m width=16 depth=3",
                "m width=32 depth=2",
                "m width=32 depth=3"
            ]
        );
        assert_eq!(v[1].dir_name(), "m-width16-depth3");
        let files = variants(&[PathBuf::from("a.cnn"), PathBuf::from("b.cnn")], &[], &[]);
        assert_eq!(files.iter().map(Variant::name).collect::<Vec<_>>(), ["a", "b"]);
        let augments = [Augment::default(), "flip,crop:4".parse().unwrap()];
        let a = variants(&[PathBuf::from("a.cnn")], &[], &augments);
        assert_eq!(
            a.iter().map(Variant::name).collect::<Vec<_>>(),
            ["a augment=none", "a augment=flip,crop:4"]
        );
        assert_eq!(a[1].dir_name(), "a-augmentflipcrop4");
        // One augmentation is a setting of every run, not a variant.
        assert_eq!(
            variants(&[PathBuf::from("a.cnn")], &[], &augments[1..])[0].augment,
            None
        );
    }
}
