//! A run's directory: `config.json` (the manifest), `metrics.csv`,
//! `model.safetensors`, `best.safetensors`, `checkpoint.safetensors` (what
//! `--resume` needs), `curves.png` and, once the run has ended,
//! `status.json` (how). Every file is written atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{EpochMetrics, TrainOptions};
use crate::Model;
use crate::runtime::Totals;

pub struct RunDir {
    pub path: PathBuf,
}

/// Where a run stands: enough, with the weights and optimizer state, to
/// continue it exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs completed (the index of the current one).
    pub epoch: usize,
    /// The next batch of the current epoch.
    pub next_batch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// The best epoch (from 1) and its validation accuracy (or training
    /// accuracy without validation).
    pub best: Option<(usize, f64)>,
    /// Epochs since the best one.
    pub stale_epochs: usize,
    pub history: Vec<EpochMetrics>,
    /// The GPU's running totals of the current epoch, so far.
    pub epoch_totals: Totals,
    /// Seconds spent in the current epoch, so far.
    pub epoch_seconds: f64,
    /// Optimizer steps the `--init` weights had had before this run (from
    /// their metadata), so that batchnorm's running statistics count them;
    /// `None` when the weights do not say.
    #[serde(default = "no_prior_steps")]
    pub prior_steps: Option<u64>,
}

/// Checkpoints from before `prior_steps` were of runs without `--init` (or
/// counted from it).
fn no_prior_steps() -> Option<u64> {
    Some(0)
}

impl TrainState {
    /// The steps the weights have had in all, `--init`'s included, when known.
    pub fn trained_steps(&self) -> Option<u64> {
        self.prior_steps.map(|p| p + self.step)
    }

    /// Metadata stored with saved weights: what `predict` needs besides
    /// the model file (its input shape, class names).
    pub fn weights_metadata(
        &self,
        model: &Model,
        class_names: Option<&[String]>,
    ) -> BTreeMap<String, String> {
        let params: BTreeMap<&str, i64> = model.params.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut meta = BTreeMap::from([
            ("model".to_string(), model.name.clone()),
            ("input".to_string(), model.input.to_string()),
            ("epoch".to_string(), self.history.len().to_string()),
            (
                "params".to_string(),
                serde_json::to_string(&params).expect("params serialise"),
            ),
        ]);
        if let Some(steps) = self.trained_steps() {
            meta.insert("steps".into(), steps.to_string());
        }
        if let Some(names) = class_names {
            meta.insert(
                "class_names".into(),
                serde_json::to_string(names).expect("names serialise"),
            );
        }
        meta
    }
}

/// The state of an interrupted (or finished) run, in cnnc's own layouts.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub state: TrainState,
    pub params: Vec<f32>,
    /// The optimizer's buffers (Adam's m and v; SGD's velocity).
    pub optimizer: Vec<Vec<f32>>,
}

/// `status.json`: how a run ended. A run that is still going (or was
/// killed without a word: out of memory, out of its scheduler's time) has
/// none, so that readers such as `compare --collect` can tell it from a
/// finished or failed one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    /// All epochs, `--steps` or early stopping.
    Finished { stopped_early: bool },
    /// Ctrl-C: the checkpoint is written; `--resume` continues.
    Interrupted,
    /// Stopped by `--until-epoch` after these epochs, checkpointed;
    /// `--resume` continues exactly.
    Paused { epochs: usize },
    /// Stopped by an error (an invalid model, missing data, a non-finite
    /// loss): the message as `cnnc train` printed it.
    Failed { error: String },
}

/// `config.json`: what was run, on what, with which code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub model: ModelRecord,
    pub options: TrainOptions,
    /// `--data`, `--limit`, `--val-split`, `--init` as given.
    pub data: String,
    pub limit: Option<usize>,
    pub val_split: Option<f64>,
    pub val_limit: Option<usize>,
    pub init: Option<String>,
    /// SHA-256 of the indices of the samples chosen (by `--limit`,
    /// `--val-split`, `--val-limit` and the seed); absent before cnnc chose
    /// them at random.
    #[serde(default)]
    pub samples_sha256: String,
    pub train_samples: usize,
    pub validation_samples: usize,
    /// Samples of each class (by label) on each side of the split.
    #[serde(default)]
    pub train_per_class: Vec<usize>,
    #[serde(default)]
    pub validation_per_class: Vec<usize>,
    pub class_names: Option<Vec<String>>,
    pub adapter: AdapterRecord,
    /// SHA-256 of every generated kernel, in order.
    pub wgsl_sha256: String,
    pub cnnc_version: String,
    pub started: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub name: String,
    pub file: String,
    pub text: String,
    pub sha256: String,
    /// Resolved parameters (after `--set`).
    pub params: BTreeMap<String, i64>,
    /// `--set` as given.
    pub overrides: Vec<(String, i64)>,
    pub input: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterRecord {
    pub name: String,
    pub driver: String,
    pub backend: String,
}

pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

const STATUS: &str = "status.json";

/// The training state a checkpoint's header carries.
fn training_state(metadata: Option<&HashMap<String, String>>) -> Result<TrainState, String> {
    let json = metadata
        .and_then(|m| m.get("cnnc_state"))
        .ok_or("has no training state")?;
    serde_json::from_str(json).map_err(|e| e.to_string())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

impl RunDir {
    pub fn create(path: &Path) -> Result<RunDir, String> {
        std::fs::create_dir_all(path).map_err(io(path))?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn write_config(&self, config: &RunConfig) -> Result<(), String> {
        let path = self.path.join("config.json");
        let text = serde_json::to_string_pretty(config).expect("config serialises") + "\n";
        crate::atomic::write(&path, text.as_bytes()).map_err(io(&path))
    }

    pub fn read_config(&self) -> Result<RunConfig, String> {
        let path = self.path.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a cnnc run manifest: {e}", path.display()))
    }

    pub fn write_metrics(&self, rows: &[EpochMetrics]) -> Result<(), String> {
        let path = self.path.join("metrics.csv");
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let mut csv = String::from(
            "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,images_per_s,lr,steps\n",
        );
        for r in rows {
            csv += &format!(
                "{},{:.6},{:.6},{},{},{:.3},{:.2},{},{}\n",
                r.epoch,
                r.train_loss,
                r.train_accuracy,
                opt(r.val_loss),
                opt(r.val_accuracy),
                r.seconds,
                r.images_per_s,
                r.lr as f32,
                r.steps
            );
        }
        crate::atomic::write(&path, csv.as_bytes()).map_err(io(&path))
    }

    /// Records how the run ended (see [`RunStatus`]).
    pub fn write_status(&self, status: &RunStatus) -> Result<(), String> {
        let path = self.path.join(STATUS);
        let text = serde_json::to_string_pretty(status).expect("a status serialises") + "\n";
        crate::atomic::write(&path, text.as_bytes()).map_err(io(&path))
    }

    /// How the run ended; `None` while it has not (or before it began).
    pub fn read_status(&self) -> Result<Option<RunStatus>, String> {
        let path = self.path.join(STATUS);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: not a cnnc run status: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Forgets how an earlier attempt in this directory ended: a run that
    /// starts (or resumes) has not ended yet.
    pub fn clear_status(&self) -> Result<(), String> {
        let path = self.path.join(STATUS);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// The training state saved with the last checkpoint (its history of
    /// epochs, at full precision), read from the file's header alone so
    /// that the weights and optimizer state are not read; `None` before
    /// the first checkpoint.
    pub fn read_state(&self) -> Result<Option<TrainState>, String> {
        use std::io::Read;
        let path = self.path.join("checkpoint.safetensors");
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let bad = |m: &str| format!("{}: {m}", path.display());
        let mut len = [0u8; 8];
        file.read_exact(&mut len)
            .map_err(|_| bad("too short for a safetensors header"))?;
        let len = u64::from_le_bytes(len);
        // safetensors' own bound on a header (100 MB).
        if len > 100_000_000 {
            return Err(bad("has an implausibly large header"));
        }
        let mut header = vec![0u8; len as usize];
        file.read_exact(&mut header)
            .map_err(|_| bad("is truncated in its header"))?;
        #[derive(Deserialize)]
        struct Header {
            #[serde(rename = "__metadata__")]
            metadata: Option<HashMap<String, String>>,
        }
        let header: Header = serde_json::from_slice(&header).map_err(|e| bad(&e.to_string()))?;
        training_state(header.metadata.as_ref())
            .map(Some)
            .map_err(|e| bad(&e))
    }

    pub fn save_checkpoint(&self, c: &Checkpoint) -> Result<(), String> {
        let path = self.path.join("checkpoint.safetensors");
        let mut tensors: Vec<(String, Vec<u8>)> =
            vec![("params".into(), bytemuck::cast_slice(&c.params).to_vec())];
        for (i, o) in c.optimizer.iter().enumerate() {
            tensors.push((format!("optimizer.{i}"), bytemuck::cast_slice(o).to_vec()));
        }
        let views = tensors.iter().map(|(name, data)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, vec![data.len() / 4], data).expect("lengths agree"),
            )
        });
        let meta = HashMap::from([(
            "cnnc_state".to_string(),
            serde_json::to_string(&c.state).expect("state serialises"),
        )]);
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())?;
        crate::atomic::write(&path, &bytes).map_err(io(&path))
    }

    pub fn load_checkpoint(&self, params_len: usize) -> Result<Checkpoint, String> {
        let path = self.path.join("checkpoint.safetensors");
        let bytes = match std::fs::read(&path) {
            // Stopped (Ctrl-C twice, a kill) before its first checkpoint.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "the run in {0} never reached a checkpoint (it was stopped before its first one was written), so there is nothing to resume; start it again with the same `cnnc train` command (its settings are in {0}/config.json), or with `--out` another folder",
                    self.path.display()
                ));
            }
            other => other.map_err(io(&path))?,
        };
        let bad = |m: String| format!("{}: {m}", path.display());
        let file = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let state = training_state(header.metadata().as_ref()).map_err(bad)?;
        let read = |name: &str| -> Result<Vec<f32>, String> {
            let t = file.tensor(name).map_err(|e| bad(e.to_string()))?;
            let v: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
            if v.len() != params_len {
                return Err(bad(format!(
                    "`{name}` has {} values, the model {params_len}",
                    v.len()
                )));
            }
            Ok(v)
        };
        let params = read("params")?;
        let mut optimizer = Vec::new();
        while file.tensor(&format!("optimizer.{}", optimizer.len())).is_ok() {
            optimizer.push(read(&format!("optimizer.{}", optimizer.len()))?);
        }
        Ok(Checkpoint {
            state,
            params,
            optimizer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(&dir.path().join("run")).unwrap();
        let c = Checkpoint {
            state: TrainState {
                epoch: 2,
                next_batch: 7,
                step: 100,
                best: Some((2, 0.5)),
                epoch_totals: Totals {
                    loss_sum: 1.5,
                    correct: 3,
                    counted: 4,
                    batches: 1,
                },
                ..TrainState::default()
            },
            params: vec![1.0, 2.0, 3.0],
            optimizer: vec![vec![0.1, 0.2, 0.3], vec![4.0, 5.0, 6.0]],
        };
        assert_eq!(run.read_state().unwrap(), None, "no checkpoint yet");
        let never = run.load_checkpoint(3).unwrap_err();
        assert!(never.contains("never reached a checkpoint"), "{never}");
        run.save_checkpoint(&c).unwrap();
        assert_eq!(run.load_checkpoint(3).unwrap(), c);
        assert_eq!(run.read_state().unwrap(), Some(c.state.clone()));
        assert!(
            run.load_checkpoint(4)
                .unwrap_err()
                .contains("has 3 values, the model 4")
        );
    }

    #[test]
    fn status_round_trip_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path()).unwrap();
        assert_eq!(run.read_status().unwrap(), None);
        for status in [
            RunStatus::Finished { stopped_early: true },
            RunStatus::Interrupted,
            RunStatus::Paused { epochs: 3 },
            RunStatus::Failed {
                error: "the loss became NaN".into(),
            },
        ] {
            run.write_status(&status).unwrap();
            assert_eq!(run.read_status().unwrap(), Some(status));
        }
        let text = std::fs::read_to_string(dir.path().join("status.json")).unwrap();
        assert!(text.contains("\"status\": \"failed\""), "{text}");
        run.clear_status().unwrap();
        run.clear_status().unwrap();
        assert_eq!(run.read_status().unwrap(), None);
        std::fs::write(dir.path().join("status.json"), "{}").unwrap();
        assert!(run.read_status().unwrap_err().contains("not a cnnc run status"));
        std::fs::write(dir.path().join("checkpoint.safetensors"), [1, 0]).unwrap();
        assert!(run.read_state().unwrap_err().contains("too short"));
    }
}
