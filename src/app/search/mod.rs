//! `cnnc search`: the best configuration for a budget. Over the `param`s
//! of one or more model files (several files are a categorical choice),
//! successive halving ([`schedule`]) trains every configuration a few
//! epochs, keeps the best fraction by validation accuracy, and continues
//! those from their checkpoints, rung by rung, to `--max-epochs`;
//! constraints on parameters, FLOPs and step time prune configurations
//! before any training ([`costs`]). The report ([`report`]) gives every
//! configuration, how far it trained and why it stopped, the Pareto fronts
//! of accuracy against parameters, FLOPs and time, and the best
//! configuration with the command that trains it.
//!
//! Successive halving rather than Hyperband or ASHA: ASHA promotes a
//! configuration as soon as it ranks in the top fraction of those finished
//! so far, so what it trains depends on the order runs finish in, and the
//! same command would not give the same search; Hyperband runs several
//! successive halvings with different least budgets, spending more to
//! hedge against a least budget too small to rank by, which `--min-epochs`
//! leaves to the user. Synchronous rungs are also what a job array runs.
//!
//! A search is a directory, whichever way it runs, on compare's sweep
//! path: [`plan`] writes it and the first rung's jobs; the jobs train (in
//! this process, or as the lines of `jobs.txt` on a scheduler); [`collect`]
//! ranks a finished rung and writes the next one's jobs, until the last.
//! The in-process search ([`run`], and [`resume`] for one that was
//! stopped) plans, runs each rung's jobs here and collects the same way,
//! so its report and a cluster's are one code path.

mod costs;
mod plan;
mod render;
mod report;
mod rungs;
mod schedule;
mod space;
mod state;

use std::path::Path;
use std::sync::atomic::AtomicBool;

pub use costs::Constraints;
pub use plan::{SearchRequest, plan};
pub use report::{Best, SearchReport, SearchRow, Spent};
pub use rungs::Advance;
pub use schedule::{Keep, Rung, schedule};
pub use space::ParamSpace;
pub use state::Search;

use crate::app::compare;
use crate::app::workflow::Failure;
use crate::runtime::Gpu;

/// Where a search stands after collecting, and its report (written).
#[derive(Debug, Clone)]
pub struct Collected {
    pub advance: Advance,
    pub report: SearchReport,
}

/// `cnnc search --collect DIR`: reads the runs of the current rung; when
/// all reached its epochs, ranks them and writes the next rung's jobs (or,
/// after the last, removes them). Writes the report either way.
pub fn collect(dir: &Path) -> Result<Collected, Failure> {
    let dir = &absolute(dir)?;
    let mut search = state::read(dir)?;
    let sweep = compare::plan::read(dir)?;
    let (advance, runs) = rungs::advance(dir, &mut search, &sweep)?;
    let report = report::build(dir, &search, &sweep, &runs).map_err(Failure::Usage)?;
    report.write(dir).map_err(Failure::Usage)?;
    Ok(Collected { advance, report })
}

/// Plans the search into `dir` and runs it here.
pub fn run(gpu: &Gpu, request: &SearchRequest, dir: &Path, stop: &AtomicBool) -> Result<Collected, Failure> {
    plan(request, dir, Some(gpu))?;
    resume(gpu, dir, stop)
}

/// Runs the search in `dir` here from where it stands (a search killed
/// half-way, or planned for a cluster): each rung's jobs not yet done,
/// then collecting, until the last rung is ranked or Ctrl-C.
pub fn resume(gpu: &Gpu, dir: &Path, stop: &AtomicBool) -> Result<Collected, Failure> {
    let dir = absolute(dir)?;
    loop {
        let search = state::read(&dir)?;
        let sweep = compare::plan::read(&dir)?;
        let finished = search.done() || !rungs::run_here(gpu, &dir, &search, &sweep, stop)?;
        let collected = collect(&dir)?;
        match &collected.advance {
            Advance::Next { .. } if !finished => {}
            Advance::Waiting(why) if !finished => {
                // Every job ran here, and still some did not get there.
                return Err(Failure::Failed(format!(
                    "some runs did not reach their rung's epochs:\n  {}",
                    why.join("\n  ")
                )));
            }
            _ => return Ok(collected),
        }
    }
}

/// The search's directory, absolute: the runs' messages name it alike
/// however the directory was given.
fn absolute(dir: &Path) -> Result<std::path::PathBuf, Failure> {
    std::path::absolute(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))
}
