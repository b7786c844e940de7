//! `search.json`: a search written down. Its definition (the space, the
//! schedule, the constraints and every configuration looked at, with its
//! costs and whether it was pruned) and its progress: the rungs begun,
//! each with its configurations and, once collected, their ranking. The
//! runs themselves are a compare sweep in the same directory
//! (`sweep.json`, `models/`, `runs/`), one per configuration tried.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::costs::Constraints;
use super::schedule::{Keep, Rung};
use super::space::ParamSpace;
use crate::app::compare::Variant;
use crate::app::workflow::Failure;

pub const SEARCH_FILE: &str = "search.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub cnnc_version: String,
    /// The model files as given.
    pub files: Vec<String>,
    pub space: Vec<ParamSpace>,
    /// `--set`: settings every configuration shares.
    pub fixed: Vec<(String, i64)>,
    pub keep: Keep,
    pub min_epochs: usize,
    pub max_epochs: usize,
    pub trials: Option<usize>,
    pub constraints: Constraints,
    /// Configurations in the grid (files x values x augmentations).
    pub grid_size: usize,
    /// Every configuration looked at, in the grid's order: those tried
    /// and those pruned.
    pub candidates: Vec<Candidate>,
    /// Successive halving's rungs for the configurations tried.
    pub schedule: Vec<Rung>,
    /// GPUs each array task asks Slurm for.
    pub gpus_per_task: u32,
    /// The rungs begun, in order; the last is the one running.
    pub rungs: Vec<RungRecord>,
}

/// A configuration the search looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub variant: Variant,
    /// Zero (and empty) when the model does not check.
    pub params: usize,
    pub flops_per_image: u64,
    pub filters: Vec<usize>,
    pub activation_bytes_per_image: u64,
    /// Measured when `--max-step-ms` is given.
    pub step_ms: Option<f64>,
    /// Why it is not trained: a constraint, or an invalid model.
    pub pruned: Option<String>,
}

/// A rung begun: its epochs, its configurations (by name, in the sweep's
/// order) and, once all reached its epochs, the ranking that chose the
/// next rung's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungRecord {
    pub epochs: usize,
    pub members: Vec<String>,
    pub ranking: Option<Vec<Ranked>>,
}

/// A configuration's place in a rung's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub name: String,
    /// Its best validation accuracy up to the rung's epochs; `None` if
    /// its run failed.
    pub score: Option<f64>,
    /// In the next rung (or, at the last, among the finalists).
    pub kept: bool,
}

impl Search {
    /// The definition without the progress: what planning again must
    /// find unchanged.
    pub fn definition(&self) -> Search {
        Search {
            rungs: Vec::new(),
            ..self.clone()
        }
    }

    /// Whether the search is over: its last rung is ranked, or a rung
    /// kept none (all its runs failed).
    pub fn done(&self) -> bool {
        match self.rungs.last().and_then(|r| r.ranking.as_ref()) {
            Some(ranking) => self.rungs.len() == self.schedule.len() || !ranking.iter().any(|r| r.kept),
            None => false,
        }
    }

    pub fn candidate(&self, name: &str) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.name == name)
    }
}

/// Reads `dir/search.json`.
pub fn read(dir: &Path) -> Result<Search, Failure> {
    let path = dir.join(SEARCH_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::Usage(format!(
            "{}: {e}; a search's directory is what `cnnc search --plan DIR` (or `--out DIR`) wrote",
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("{}: not a cnnc search: {e}", path.display())))
}

/// Writes `dir/search.json`, atomically.
pub fn write(dir: &Path, search: &Search) -> Result<(), Failure> {
    let path = dir.join(SEARCH_FILE);
    let json = serde_json::to_string_pretty(search).expect("a search serialises") + "\n";
    crate::atomic::write(&path, json.as_bytes())
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}
