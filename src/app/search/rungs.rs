//! A rung's work, whoever does it, and the step to the next rung. A rung's
//! jobs are commands: the first rung's start each configuration's run,
//! paused at the rung's epochs (`cnnc train … --until-epoch E`); later
//! rungs continue the kept runs from their checkpoints (`cnnc train
//! --resume RUN --until-epoch E`). They are written as `jobs.txt` and
//! `slurm.sbatch` (compare's [`Jobs`]) or run here, one after another.
//! [`advance`] reads the runs once they all reached the rung's epochs,
//! ranks them and begins the next rung.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::schedule::{Standing, rank};
use super::state::{self, Ranked, RungRecord, Search};
use crate::app::compare::plan::{JOBS_FILE, Jobs, SBATCH_FILE};
use crate::app::compare::{self, Report, Row, RowStatus, Sweep};
use crate::app::workflow::{self, DataCache, Failure};
use crate::runtime::Gpu;
use crate::train::{ConsoleProgress, Outcome, RunDir, RunStatus};

/// One configuration's part of a rung.
#[derive(Debug, Clone, PartialEq)]
pub struct RungJob {
    pub name: String,
    /// Its run's directory, absolute.
    pub run_dir: PathBuf,
    /// Train until this many epochs are done; `None`: to the end.
    pub until_epoch: Option<usize>,
    /// The first rung: the run starts (rather than continues).
    pub fresh: bool,
}

/// The jobs of the search's current rung: each member's, but for runs
/// that ended for good before it (early stopping, a failure).
pub fn current_jobs(dir: &Path, search: &Search, sweep: &Sweep) -> Vec<RungJob> {
    let Some(rung) = search.rungs.last().filter(|r| r.ranking.is_none()) else {
        return Vec::new();
    };
    let fresh = search.rungs.len() == 1;
    sweep
        .variants
        .iter()
        .filter(|v| rung.members.contains(&v.name))
        .map(|v| RungJob {
            name: v.name.clone(),
            run_dir: dir.join(&v.run_dir),
            until_epoch: (rung.epochs < search.max_epochs).then_some(rung.epochs),
            fresh,
        })
        .filter(|job| fresh || !ended(&job.run_dir))
        .collect()
}

/// Whether a run has ended for good: finished (early) or failed.
fn ended(run_dir: &Path) -> bool {
    let run = RunDir {
        path: run_dir.to_path_buf(),
    };
    matches!(
        run.read_status(),
        Ok(Some(RunStatus::Finished { .. } | RunStatus::Failed { .. }))
    )
}

/// Whether a run has reached `epochs` (or ended for good) already.
fn reached(run_dir: &Path, epochs: usize) -> bool {
    let run = RunDir {
        path: run_dir.to_path_buf(),
    };
    match run.read_status() {
        Ok(Some(RunStatus::Paused { epochs: done })) => done >= epochs,
        Ok(Some(RunStatus::Finished { .. })) => true,
        _ => false,
    }
}

/// The job as a `cnnc` command, as words.
pub fn command(dir: &Path, sweep: &Sweep, job: &RungJob) -> Result<Vec<String>, Failure> {
    if job.fresh {
        let variant = sweep
            .variants
            .iter()
            .find(|v| v.name == job.name)
            .expect("a job is of a planned variant");
        let mut request = sweep.train_request(dir, variant)?;
        request.until_epoch = job.until_epoch;
        return Ok(compare::plan::command(&sweep.binary, &request));
    }
    let mut words = vec![
        sweep.binary.clone(),
        "train".into(),
        "--resume".into(),
        job.run_dir.display().to_string(),
    ];
    if let Some(e) = job.until_epoch {
        words.extend(["--until-epoch".into(), e.to_string()]);
    }
    Ok(words)
}

/// Writes the current rung's `jobs.txt` and `slurm.sbatch`; removes them
/// when there is nothing left to run, so that a loop running them knows
/// to stop. Returns how many jobs there are.
pub fn write_jobs(dir: &Path, search: &Search, sweep: &Sweep) -> Result<usize, Failure> {
    let jobs = current_jobs(dir, search, sweep);
    if jobs.is_empty() {
        for file in [JOBS_FILE, SBATCH_FILE] {
            match std::fs::remove_file(dir.join(file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Failure::Usage(format!("{}: {e}", dir.join(file).display())));
                }
                _ => {}
            }
        }
        return Ok(0);
    }
    let commands = jobs
        .iter()
        .map(|j| command(dir, sweep, j))
        .collect::<Result<Vec<_>, _>>()?;
    Jobs {
        commands,
        collect_with: "search",
        log_prefix: format!("rung{}-", search.rungs.len()),
        gpus_per_task: search.gpus_per_task,
    }
    .write(dir)?;
    Ok(jobs.len())
}

/// Runs the current rung's jobs here, one after another (the data loaded
/// once), skipping runs that already reached the rung's epochs (a search
/// resumed after it was stopped). A job that fails leaves its run saying
/// why, and the others still run. Returns `false` when Ctrl-C stopped it.
pub fn run_here(
    gpu: &Gpu,
    dir: &Path,
    search: &Search,
    sweep: &Sweep,
    stop: &AtomicBool,
) -> Result<bool, Failure> {
    let jobs = current_jobs(dir, search, sweep);
    let rung = search.rungs.len();
    let epochs = search.rungs.last().map_or(0, |r| r.epochs);
    let mut data_cache = DataCache::default();
    for (i, job) in jobs.iter().enumerate() {
        if reached(&job.run_dir, epochs) {
            continue;
        }
        let tag = format!("[rung {rung}, {}/{} {}] ", i + 1, jobs.len(), job.name);
        eprintln!("{tag}to epoch {epochs}");
        let mut progress = ConsoleProgress::with_prefix(tag.clone());
        let has_checkpoint = job.run_dir.join("checkpoint.safetensors").is_file();
        let result = if job.fresh && !has_checkpoint {
            let variant = sweep
                .variants
                .iter()
                .find(|v| v.name == job.name)
                .expect("planned");
            let mut request = sweep.train_request(dir, variant)?;
            request.until_epoch = job.until_epoch;
            let result =
                data_cache
                    .model_and_data(&request.model, &request.data)
                    .and_then(|(source, model, data)| {
                        workflow::train_loaded(
                            gpu,
                            &request,
                            &source,
                            &model,
                            data,
                            &job.run_dir,
                            None,
                            &mut progress,
                            stop,
                        )
                    });
            workflow::record_status(&job.run_dir, result)
        } else {
            workflow::resume_cached(
                gpu,
                &job.run_dir,
                job.until_epoch,
                &mut data_cache,
                &mut progress,
                stop,
            )
        };
        match result {
            Ok(r) if r.outcome == Outcome::Interrupted => return Ok(false),
            Ok(_) => {}
            Err(failure) => eprintln!("{tag}failed:\n{}", failure.message()),
        }
    }
    Ok(true)
}

/// What collecting a rung found.
#[derive(Debug, Clone, PartialEq)]
pub enum Advance {
    /// Some runs of the current rung have not reached its epochs: why, each.
    Waiting(Vec<String>),
    /// The next rung (from 1) is begun: its jobs are written.
    Next { rung: usize, jobs: usize },
    /// The last rung is ranked.
    Done,
}

/// Collects the runs; when every run of the current rung reached its
/// epochs (or ended for good), ranks them, records the ranking and begins
/// the next rung, writing its jobs, until one has jobs or the search is
/// done. Returns what it found and the sweep's report of the runs.
pub fn advance(dir: &Path, search: &mut Search, sweep: &Sweep) -> Result<(Advance, Report), Failure> {
    loop {
        let report = compare::collect_sweep(dir, sweep)?;
        let Some(rung) = search.rungs.last().cloned() else {
            return Ok((Advance::Done, report));
        };
        if rung.ranking.is_some() {
            return Ok((Advance::Done, report));
        }
        let rows: Vec<&Row> = rung
            .members
            .iter()
            .map(|name| {
                report
                    .rows
                    .iter()
                    .find(|r| &r.name == name)
                    .expect("a member is a row")
            })
            .collect();
        let waiting: Vec<String> = rows.iter().filter_map(|r| pending(r, rung.epochs)).collect();
        if !waiting.is_empty() {
            return Ok((Advance::Waiting(waiting), report));
        }
        let index = search.rungs.len();
        let next = search.schedule.get(index).copied();
        let ranking = ranking(&rows, rung.epochs, next.map(|n| n.configs));
        let kept: Vec<String> = ranking
            .iter()
            .filter(|r| r.kept)
            .map(|r| r.name.clone())
            .collect();
        search.rungs.last_mut().expect("a rung").ranking = Some(ranking);
        // With none kept (every run failed), the search is over.
        if let Some(next) = next.filter(|_| !kept.is_empty()) {
            let members = sweep
                .variants
                .iter()
                .filter(|v| kept.contains(&v.name))
                .map(|v| v.name.clone())
                .collect();
            search.rungs.push(RungRecord {
                epochs: next.epochs,
                members,
                ranking: None,
            });
        }
        state::write(dir, search)?;
        let jobs = write_jobs(dir, search, sweep)?;
        if search.done() {
            return Ok((Advance::Done, compare::collect_sweep(dir, sweep)?));
        }
        if jobs > 0 {
            let report = compare::collect_sweep(dir, sweep)?;
            return Ok((
                Advance::Next {
                    rung: search.rungs.len(),
                    jobs,
                },
                report,
            ));
        }
    }
}

/// Why a row has not reached `epochs`, if it has not.
fn pending(row: &Row, epochs: usize) -> Option<String> {
    let done = row.epochs.len();
    match row.status {
        RowStatus::Finished | RowStatus::Failed => None,
        RowStatus::Paused if done >= epochs => None,
        RowStatus::NotStarted => Some(format!("{}: not started", row.name)),
        _ => Some(format!(
            "{}: {done} of {epochs} epochs ({})",
            row.name,
            row.error
                .as_deref()
                .unwrap_or("running, or stopped without a word")
        )),
    }
}

/// The rung's ranking: each member's best validation accuracy up to the
/// rung's epochs, best first, the first `keep` kept (all that did not fail
/// at the last rung, `keep` being `None`).
fn ranking(rows: &[&Row], epochs: usize, keep: Option<usize>) -> Vec<Ranked> {
    let standings: Vec<Standing> = rows
        .iter()
        .map(|r| Standing {
            score: (r.status != RowStatus::Failed)
                .then(|| score(r, epochs))
                .flatten(),
            params: r.params,
        })
        .collect();
    rank(&standings)
        .into_iter()
        .enumerate()
        .map(|(place, i)| Ranked {
            name: rows[i].name.clone(),
            score: standings[i].score,
            kept: standings[i].score.is_some() && keep.is_none_or(|k| place < k),
        })
        .collect()
}

/// A run's best validation accuracy over its first `epochs` epochs.
pub fn score(row: &Row, epochs: usize) -> Option<f64> {
    row.epochs
        .iter()
        .take(epochs)
        .filter_map(|m| m.val_accuracy)
        .fold(None, |best, a| Some(best.map_or(a, |b: f64| b.max(a))))
}
