//! Planning a search: the grid of configurations (compare's variants of
//! the files, the `--param` values and the augmentations), each checked
//! for its size and cost and pruned by the constraints, `--trials` of them
//! drawn, then written down: the configurations tried as a compare sweep
//! (`sweep.json`, `models/`), the search as `search.json`, and the first
//! rung's jobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::costs::{self, Constraints};
use super::rungs;
use super::schedule::{Keep, schedule};
use super::space::{ParamSpace, draw_order};
use super::state::{self, Candidate, RungRecord, SEARCH_FILE, Search};
use crate::Model;
use crate::app::compare::{self, PlanRequest, Variant};
use crate::app::workflow::{self, DataRequest, Failure, ModelFile, ModelRequest};
use crate::augment::Augment;
use crate::runtime::Gpu;
use crate::source::Source;
use crate::train::TrainOptions;

/// Everything `cnnc search` takes.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub files: Vec<PathBuf>,
    /// `--param`: the values searched.
    pub space: Vec<ParamSpace>,
    /// `--set`: settings every configuration shares.
    pub fixed: Vec<(String, i64)>,
    /// Several are a categorical choice, as in compare.
    pub augments: Vec<Augment>,
    pub input: Option<[usize; 3]>,
    pub data: DataRequest,
    /// The training flags; `epochs` is `--max-epochs`.
    pub options: TrainOptions,
    pub min_epochs: usize,
    pub keep: Keep,
    pub trials: Option<usize>,
    pub constraints: Constraints,
    /// The `cnnc` the jobs run.
    pub binary: PathBuf,
    pub gpus_per_task: u32,
}

fn usage(message: String) -> Failure {
    Failure::Usage(message)
}

fn validate(r: &SearchRequest) -> Result<(), Failure> {
    if r.min_epochs == 0 || r.min_epochs > r.options.epochs {
        return Err(usage(format!(
            "--min-epochs must be at least 1 and at most --max-epochs ({}), not {}",
            r.options.epochs, r.min_epochs
        )));
    }
    if r.trials == Some(0) {
        return Err(usage("--trials must be at least 1".into()));
    }
    if r.options.max_steps.is_some() {
        return Err(usage(
            "--steps does not go with search: its budgets are epochs (--min-epochs to --max-epochs)".into(),
        ));
    }
    let mut names: Vec<&str> = r.fixed.iter().map(|(n, _)| n.as_str()).collect();
    for p in &r.space {
        if names.contains(&p.name.as_str()) {
            return Err(usage(format!(
                "`{}` is given twice (by --param or --set); give each parameter once",
                p.name
            )));
        }
        names.push(&p.name);
    }
    Ok(())
}

/// Plans the search into `dir` (see the module's documentation): its
/// first rung's jobs are in `jobs.txt`. `gpu` measures step times for
/// `--max-step-ms`. Planning the same search again changes nothing (the
/// search in `dir` goes on where it is); planning another is refused.
pub fn plan(request: &SearchRequest, dir: &Path, gpu: Option<&Gpu>) -> Result<Search, Failure> {
    validate(request)?;
    let dir = std::path::absolute(dir).map_err(|e| usage(format!("{}: {e}", dir.display())))?;
    let mut sweeps: Vec<(String, Vec<i64>)> =
        request.fixed.iter().map(|(n, v)| (n.clone(), vec![*v])).collect();
    sweeps.extend(request.space.iter().map(|p| (p.name.clone(), p.values.clone())));
    let grid = compare::variants(&request.files, &sweeps, &request.augments);
    let candidates = candidates(request, &grid, gpu)?;
    let tried: Vec<Variant> = candidates
        .iter()
        .filter(|c| c.pruned.is_none())
        .map(|c| c.variant.clone())
        .collect();
    if tried.is_empty() {
        let why: Vec<String> = candidates
            .iter()
            .take(5)
            .map(|c| format!("{}: {}", c.name, c.pruned.as_deref().unwrap_or("")))
            .collect();
        return Err(usage(format!(
            "every configuration was pruned, so there is nothing to search:\n  {}",
            why.join("\n  ")
        )));
    }
    let schedule = schedule(
        tried.len(),
        request.keep,
        request.min_epochs,
        request.options.epochs,
    );
    let search = Search {
        cnnc_version: env!("CARGO_PKG_VERSION").to_string(),
        files: request.files.iter().map(|f| f.display().to_string()).collect(),
        space: request.space.clone(),
        fixed: request.fixed.clone(),
        keep: request.keep,
        min_epochs: request.min_epochs,
        max_epochs: request.options.epochs,
        trials: request.trials,
        constraints: request.constraints.clone(),
        grid_size: grid.len(),
        rungs: vec![RungRecord {
            epochs: schedule[0].epochs,
            members: tried.iter().map(Variant::name).collect(),
            ranking: None,
        }],
        schedule,
        candidates,
        gpus_per_task: request.gpus_per_task,
    };
    if dir.join(SEARCH_FILE).exists() {
        let existing = state::read(&dir)?;
        if existing.definition() != search.definition() {
            return Err(usage(format!(
                "{} already holds another search (its search.json differs); plan into a new directory, or continue that one with `cnnc search --resume {}` or `--collect {}`",
                dir.display(),
                dir.display(),
                dir.display()
            )));
        }
        return Ok(existing);
    }
    let sweep = compare::plan::freeze(
        &PlanRequest {
            variants: tried,
            input: request.input,
            data: request.data.clone(),
            options: request.options.clone(),
            binary: request.binary.clone(),
            gpus_per_task: request.gpus_per_task,
        },
        &dir,
    )?;
    state::write(&dir, &search)?;
    rungs::write_jobs(&dir, &search, &sweep)?;
    Ok(search)
}

/// Every configuration of the grid checked and held to the static
/// constraints; then, in the order `--trials` draws them, step times
/// measured (for `--max-step-ms`) until enough pass. In the grid's order:
/// those pruned statically and those looked at after.
fn candidates(
    request: &SearchRequest,
    grid: &[Variant],
    gpu: Option<&Gpu>,
) -> Result<Vec<Candidate>, Failure> {
    let mut checker = Checker {
        request,
        files: BTreeMap::new(),
        data_shape: None,
    };
    let mut all = Vec::new();
    let mut models = Vec::new();
    for variant in grid {
        let (candidate, model) = checker.candidate(variant)?;
        all.push(candidate);
        models.push(model);
    }
    let feasible: Vec<usize> = (0..grid.len()).filter(|&i| all[i].pruned.is_none()).collect();
    let mut looked: Vec<bool> = all.iter().map(|c| c.pruned.is_some()).collect();
    let mut tried = 0;
    for k in draw_order(feasible.len(), request.trials, request.options.seed) {
        if request.trials.is_some_and(|t| tried >= t) {
            break;
        }
        let i = feasible[k];
        looked[i] = true;
        if request.constraints.max_step_ms.is_some() {
            let gpu = gpu.ok_or_else(|| usage("--max-step-ms measures each step on a GPU adapter".into()))?;
            let (source, model) = models[i].as_ref().expect("a feasible configuration checked");
            let mut options = request.options.clone();
            if let Some(a) = grid[i].augment {
                options.augment = a;
            }
            let ms = costs::step_ms(gpu, source, model, &options)?;
            all[i].step_ms = Some(ms);
            all[i].pruned = request.constraints.step_excess(ms);
        }
        tried += usize::from(all[i].pruned.is_none());
    }
    Ok(all
        .into_iter()
        .zip(looked)
        .filter_map(|(c, l)| l.then_some(c))
        .collect())
}

/// Checks configurations: each file read once, the data's shape read once
/// if a file has no `input` line and `--input` is not given.
struct Checker<'a> {
    request: &'a SearchRequest,
    files: BTreeMap<PathBuf, ModelFile>,
    data_shape: Option<[usize; 3]>,
}

impl Checker<'_> {
    /// The configuration with its counts, pruned when it does not check
    /// or exceeds a static constraint; and its checked model, if it checks.
    fn candidate(&mut self, variant: &Variant) -> Result<(Candidate, Option<(Source, Model)>), Failure> {
        if !self.files.contains_key(&variant.file) {
            let file = ModelFile::read(&variant.file)?;
            self.files.insert(variant.file.clone(), file);
        }
        let declares_input = self.files[&variant.file].declares_input();
        let input = match self.request.input {
            Some(i) => Some(i),
            None if declares_input => None,
            None => Some(self.data_shape()?),
        };
        let request = ModelRequest {
            path: variant.file.clone(),
            overrides: variant.settings.clone(),
            input,
        };
        let mut candidate = Candidate {
            name: variant.name(),
            variant: variant.clone(),
            params: 0,
            flops_per_image: 0,
            filters: Vec::new(),
            activation_bytes_per_image: 0,
            step_ms: None,
            pruned: None,
        };
        let file = &self.files[&variant.file];
        match file.check(&request, None) {
            Ok(model) => {
                candidate.params = model.params().total();
                candidate.flops_per_image = model.flops();
                candidate.filters = model.conv_filters();
                candidate.activation_bytes_per_image = model.activation_bytes();
                candidate.pruned = self.request.constraints.static_excess(&model);
                Ok((candidate, Some((file.source.clone(), model))))
            }
            Err(failure) => {
                let message = failure.message();
                let first = message.lines().next().unwrap_or("").trim_start_matches("error: ");
                candidate.pruned = Some(format!("the model does not check: {first}"));
                Ok((candidate, None))
            }
        }
    }

    fn data_shape(&mut self) -> Result<[usize; 3], Failure> {
        if let Some(shape) = self.data_shape {
            return Ok(shape);
        }
        let shape = workflow::load_data(&self.request.data, None)?.train.shape;
        Ok(*self.data_shape.insert(shape))
    }
}
