//! `cnnc compare`: the filter-count experiment as one command. Each
//! variant (a model file, or one setting of its parameters) is trained
//! with the same data, seed, batch order and optimizer; the report puts
//! accuracy beside parameters, FLOPs, memory and speed, as a table and
//! as charts.
//!
//! A sweep is a directory, whichever way it runs: [`plan`] writes it
//! (`sweep.json`, the frozen models, `jobs.txt`, `slurm.sbatch`); its
//! runs train, in this process ([`run`]) or as the lines of `jobs.txt`
//! on a scheduler; [`collect`] reads the runs' directories into the
//! [`Report`]. The in-process compare plans and collects the same way, so
//! its report and a cluster's are one code path, and an interrupted
//! compare is finished by running its missing lines and collecting.

mod collect;
pub mod plan;
pub(crate) mod report;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::app::workflow::{self, DataCache, Failure};
use crate::augment::Augment;
use crate::runtime::Gpu;
use crate::train::{ConsoleProgress, Outcome};

pub use collect::{collect, collect_sweep};
pub use plan::{PlanRequest, PlannedVariant, Sweep};
pub use report::{Report, Row, RowStatus};

/// One model to train: a file and its parameter settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub file: PathBuf,
    pub settings: Vec<(String, i64)>,
    /// When `--augment` is given several times, this variant's.
    pub augment: Option<Augment>,
}

impl Variant {
    /// The model file's name without `.cnn`.
    pub fn stem(&self) -> String {
        self.file
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
    }

    /// `mnist width=16`: the file stem and its settings.
    pub fn name(&self) -> String {
        let stem = self.stem();
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

/// Trains every variant of a sweep planned into `dir`, in turn, in this
/// process (the data loaded once), then collects the report from their
/// run directories. A variant that fails has a row saying why, and the
/// others still run; Ctrl-C stops after the current run's checkpoint.
pub fn run(gpu: &Gpu, plan: &PlanRequest, dir: &Path, stop: &AtomicBool) -> Result<Report, Failure> {
    let sweep = plan::write(plan, dir)?;
    let dir = std::path::absolute(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    let total = sweep.variants.len();
    let mut data_cache = DataCache::default();
    for (i, variant) in sweep.variants.iter().enumerate() {
        let name = &variant.name;
        eprintln!("[{}/{total}] {name}", i + 1);
        let request = sweep.train_request(&dir, variant)?;
        let run_dir = request.out.clone().expect("a planned run has its directory");
        let mut progress = ConsoleProgress::with_prefix(format!("[{}/{total} {name}] ", i + 1));
        // Every variant trains on the same data: loaded once, and each
        // variant held to it as `cnnc train` would.
        let result =
            data_cache
                .model_and_data(&request.model, &request.data)
                .and_then(|(source, checked, data)| {
                    workflow::train_loaded(
                        gpu,
                        &request,
                        &source,
                        &checked,
                        data,
                        &run_dir,
                        None,
                        &mut progress,
                        stop,
                    )
                });
        // As `cnnc train --out` does, so that collecting reads it alike.
        match workflow::record_status(&run_dir, result) {
            Ok(r) if r.outcome == Outcome::Interrupted => break,
            Ok(_) => {}
            Err(failure) => eprintln!("[{}/{total}] {name} failed:\n{}", i + 1, failure.message()),
        }
    }
    collect_sweep(&dir, &sweep)
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
