//! `cnnc search`: its arguments (train's flags, compare's sweep flags) and
//! what it prints.

use std::path::{Path, PathBuf};

use clap::Args;

use cnnc::app::search::{self, Advance, Collected, Constraints, Keep, ParamSpace, SearchRequest};
use cnnc::app::workflow::{self, Failure};
use cnnc::data::DataSpec;

use super::args::{DeviceArgs, ShapeArgs, SweepArgs, TrainArgs};
use super::commands::{STOP, stop_on_ctrl_c};

/// The flags that say what to search, which `--collect` and `--resume`
/// read from the search's directory instead.
const DEFINITION: [&str; 12] = [
    "files",
    "data",
    "space",
    "set",
    "input",
    "max_epochs",
    "trials",
    "max_params",
    "max_flops",
    "max_step_ms",
    "binary",
    "slurm_gpus",
];

/// `cnnc search`'s arguments.
#[derive(Args)]
pub struct SearchCommand {
    /// Model files (.cnn); several are a categorical choice
    #[arg(required_unless_present_any = ["collect", "resume"])]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// A parameter's values: NAME=LO..HI (every integer), NAME=LO..HI:log2 (LO, 2 LO, 4 LO, …),
    /// NAME=LO..HI:step=S, or NAME=A,B,C (repeatable: every combination)
    #[arg(long = "param", value_name = "NAME=VALUES")]
    pub space: Vec<ParamSpace>,
    /// Dataset: mnist:DIR, cifar10:DIR or folder:DIR
    #[arg(long, required_unless_present_any = ["collect", "resume"])]
    pub data: Option<DataSpec>,
    #[command(flatten)]
    pub train: TrainArgs,
    /// The largest budget: the epochs the last configurations train to
    #[arg(long, value_name = "N", required_unless_present_any = ["collect", "resume"])]
    pub max_epochs: Option<usize>,
    /// The least budget: the epochs every configuration trains first
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_epochs: usize,
    /// The fraction of a rung's configurations that the next rung continues
    #[arg(long, value_name = "P/Q", default_value = "1/3")]
    pub keep: Keep,
    /// Try N configurations, drawn at random (with --seed), when the grid has more
    #[arg(long, value_name = "N")]
    pub trials: Option<usize>,
    /// Prune configurations of more parameters before training
    #[arg(long, value_name = "N")]
    pub max_params: Option<usize>,
    /// Prune configurations of more forward FLOPs per image before training
    #[arg(long, value_name = "N")]
    pub max_flops: Option<u64>,
    /// Prune configurations whose training step takes longer (measured on this
    /// adapter at --batch, cached per shape) before training
    #[arg(long, value_name = "MS")]
    pub max_step_ms: Option<f64>,
    /// Directory of the search: its runs and report (default runs/search-<time>)
    #[arg(long, value_name = "DIR", conflicts_with = "mode")]
    pub out: Option<PathBuf>,
    /// Write the search to DIR without training: search.json, and the first rung's
    /// jobs as jobs.txt (one `cnnc train` per line) and slurm.sbatch (an array job)
    #[arg(long, value_name = "DIR")]
    pub plan: Option<PathBuf>,
    /// Rank the current rung of the search in DIR once its runs are done and write the
    /// next rung's jobs; after the last, the report
    #[arg(long, value_name = "DIR", conflicts_with_all = DEFINITION)]
    pub collect: Option<PathBuf>,
    /// Continue the search in DIR here, from where it stands (stopped, killed, or planned)
    #[arg(long, value_name = "DIR", conflicts_with_all = DEFINITION)]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `search`'s four ways: plan, collect, resume, or plan and run here.
pub fn search(args: SearchCommand) -> Result<(), Failure> {
    if let Some(dir) = &args.collect {
        return finish(&search::collect(dir)?, dir, false);
    }
    if let Some(dir) = &args.resume {
        let gpu = args.device.open()?;
        stop_on_ctrl_c();
        eprintln!("adapter: {}", gpu.describe());
        return finish(&search::resume(&gpu, dir, &STOP)?, dir, true);
    }
    let request = request(&args)?;
    if let Some(dir) = &args.plan {
        let gpu = match request.constraints.max_step_ms {
            Some(_) => Some(args.device.open()?),
            None => None,
        };
        let planned = search::plan(&request, dir, gpu.as_ref())?;
        let d = dir.display();
        let rung = planned.rungs.last().expect("a planned search has a rung");
        println!(
            "planned a search of {} configurations in {d} ({} rungs: {}); rung {} trains {} runs to epoch {}:\n\
             run them with `sbatch --wait {d}/slurm.sbatch` (a Slurm array job) or `parallel -j 2 < {d}/jobs.txt`,\n\
             then `cnnc search --collect {d}`, which writes the next rung's jobs; repeat until it reports",
            rung.members.len(),
            planned.schedule.len(),
            schedule_text(&planned.schedule),
            planned.rungs.len(),
            rung.members.len(),
            rung.epochs
        );
        return Ok(());
    }
    let gpu = args.device.open()?;
    stop_on_ctrl_c();
    eprintln!("adapter: {}", gpu.describe());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workflow::default_run_dir("search"));
    finish(&search::run(&gpu, &request, &out, &STOP)?, &out, true)
}

fn schedule_text(schedule: &[search::Rung]) -> String {
    let rungs: Vec<String> = schedule
        .iter()
        .map(|r| format!("{} to epoch {}", r.configs, r.epochs))
        .collect();
    rungs.join(", ")
}

fn request(args: &SearchCommand) -> Result<SearchRequest, Failure> {
    if args.train.epochs.is_some() {
        return Err(Failure::Usage(
            "search trains each configuration from --min-epochs up to at most --max-epochs; it takes no --epochs"
                .into(),
        ));
    }
    let mut options = args.train.options()?;
    options.epochs = args.max_epochs.expect("clap requires --max-epochs");
    Ok(SearchRequest {
        files: args.files.clone(),
        space: args.space.clone(),
        fixed: args.shape.set.clone(),
        augments: args.train.augment.clone(),
        input: args.shape.input,
        data: args.train.data(args.data.clone().expect("clap requires --data")),
        options,
        min_epochs: args.min_epochs,
        keep: args.keep,
        trials: args.trials,
        constraints: Constraints {
            max_params: args.max_params,
            max_flops: args.max_flops,
            max_step_ms: args.max_step_ms,
        },
        binary: args.sweep.binary()?,
        gpus_per_task: args.sweep.slurm_gpus,
    })
}

/// Prints where the search stands: its report when done; the next rung's
/// jobs; or, exit 1, the runs it waits for.
fn finish(collected: &Collected, dir: &Path, here: bool) -> Result<(), Failure> {
    let d = dir.display();
    let report = &collected.report;
    match &collected.advance {
        Advance::Done => {
            println!("\n{}", report.to_text());
            println!("report: {d}/report.md (and report.json, report.csv, charts)");
            Ok(())
        }
        Advance::Next { rung, jobs } => {
            let epochs = report.rungs.last().map_or(0, |r| r.epochs);
            println!(
                "rung {} ranked; rung {rung} continues {jobs} runs to epoch {epochs}: run {d}/jobs.txt \
                 (`sbatch --wait {d}/slurm.sbatch`), then `cnnc search --collect {d}` again",
                rung - 1
            );
            Ok(())
        }
        Advance::Waiting(why) => {
            println!("\n{}", report.to_text());
            let next = if here {
                format!("continue with `cnnc search --resume {d}`")
            } else {
                format!(
                    "run {d}/jobs.txt's missing lines (or `cnnc search --resume {d}`), then collect again"
                )
            };
            Err(Failure::Failed(format!(
                "rung {} is not done: {} run(s) have not reached its epochs:\n  {}\n{next}",
                report.rungs.len(),
                why.len(),
                why.join("\n  ")
            )))
        }
    }
}
