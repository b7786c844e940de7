//! The `cnnc` command line: parse arguments, call the library, print.
//!
//! Exit codes: 0 success, 1 an invalid model (or a failed run), 2 a usage or
//! I/O error. A panic is always a bug.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};

use cnnc::app::summary::Summary;
use cnnc::app::workflow::{self, DataRequest, Failure, ModelRequest, TrainRequest};
use cnnc::augment::Augment;
use cnnc::codegen::OptimizerKind;
use cnnc::data::DataSpec;
use cnnc::diagnostic::{self, Diagnostic};
use cnnc::runtime::Gpu;
use cnnc::train::{ConsoleProgress, LrSchedule, Outcome, TrainOptions};
use cnnc::units::{human_bytes, thousands};

/// `--optimizer`: codegen's [`OptimizerKind`] under clap's names, so that
/// clap stays in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Optimizer {
    /// SGD with (optional) momentum, as Keras's `SGD`
    Sgd,
    /// Adam with Keras's update rule
    Adam,
    /// Adam with decoupled weight decay (PyTorch's `AdamW`)
    #[value(name = "adamw")]
    AdamW,
}

impl From<Optimizer> for OptimizerKind {
    fn from(o: Optimizer) -> Self {
        match o {
            Optimizer::Sgd => OptimizerKind::Sgd,
            Optimizer::Adam => OptimizerKind::Adam,
            Optimizer::AdamW => OptimizerKind::AdamW,
        }
    }
}

#[derive(Parser)]
#[command(
    name = "cnnc",
    version,
    about = "Compile and train small convolutional networks on the GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and shape-check a model: "ok" and its size, or every problem found
    Check(ModelArgs),
    /// Print a Keras-style table of layers, shapes, parameters and FLOPs
    Summary {
        #[command(flatten)]
        model: ModelArgs,
        /// Print one JSON object instead of the table
        #[arg(long)]
        json: bool,
        /// Print the equivalent PyTorch module (the weights' names and layouts)
        #[arg(long, conflicts_with = "json")]
        pytorch: bool,
    },
    /// Write the generated WGSL kernels and a plan manifest (plan.json)
    Compile {
        #[command(flatten)]
        model: ModelArgs,
        /// Directory to write into (created if missing)
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        /// Samples per step; every kernel is specialised to it
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// The optimizer whose update kernel to emit
        #[arg(long, value_enum, default_value = "adam")]
        optimizer: Optimizer,
    },
    /// Train a model on a dataset, writing metrics, weights and curves
    Train {
        /// The model file (.cnn); not needed with --resume
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        #[command(flatten)]
        shape: ShapeArgs,
        /// Dataset: mnist:DIR, cifar10:DIR or folder:DIR
        #[arg(long, required_unless_present = "resume")]
        data: Option<DataSpec>,
        #[command(flatten)]
        train: TrainArgs,
        /// Run directory (default runs/<model>-<time>)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Start from these weights (safetensors)
        #[arg(long, value_name = "W.safetensors")]
        init: Option<PathBuf>,
        /// Continue the interrupted run in DIR, with its own settings
        #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "data", "out", "init"])]
        resume: Option<PathBuf>,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Loss, accuracy, per-class accuracy and confusion matrix of trained weights
    Eval {
        #[command(flatten)]
        model: ModelArgs,
        /// The weights (safetensors)
        #[arg(long, value_name = "W.safetensors")]
        weights: PathBuf,
        /// Dataset: mnist:DIR, cifar10:DIR or folder:DIR (its test split)
        #[arg(long)]
        data: DataSpec,
        /// Evaluate the training split instead of the test split
        #[arg(long)]
        train_split: bool,
        /// Evaluate N samples, drawn at random with --seed (as `train --limit`/`--val-limit`
        /// draw them)
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// The seed that draws the --limit samples: give the run's --seed to
        /// evaluate the samples it validated on
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Most probable classes for PNG or JPEG images
    Predict {
        #[command(flatten)]
        model: ModelArgs,
        /// The weights (safetensors)
        #[arg(long, value_name = "W.safetensors")]
        weights: PathBuf,
        /// Images to classify
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// How many classes to show per image
        #[arg(long, default_value_t = 3)]
        top: usize,
        /// Print JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Train several models, or one over a sweep of its parameters, and compare them
    Compare {
        /// Model files (.cnn)
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Input shape for models without an `input` line
        #[arg(long, value_name = "HxWxC", value_parser = parse_shape)]
        input: Option<[usize; 3]>,
        /// Sweep a parameter, e.g. --set width=8,16,32 (repeatable: all combinations)
        #[arg(long = "set", value_name = "NAME=V1,V2,...", value_parser = parse_sweep)]
        sweeps: Vec<(String, Vec<i64>)>,
        /// Dataset: mnist:DIR, cifar10:DIR or folder:DIR
        #[arg(long)]
        data: DataSpec,
        #[command(flatten)]
        train: TrainArgs,
        /// Directory for the report and every variant's run (default runs/compare-<time>)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Training and inference throughput, first-step time, per-layer kernel times
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Timed steps
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Untimed steps first
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        #[arg(long, value_enum, default_value = "adam")]
        optimizer: Optimizer,
        /// Skip timing the reference GEMM
        #[arg(long)]
        no_gemm: bool,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// Time candidate register tiles for each layer shape on this adapter; cache the fastest
    Tune {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        #[arg(long, value_enum, default_value = "adam")]
        optimizer: Optimizer,
        #[command(flatten)]
        device: DeviceArgs,
    },
    /// List the GPU adapters wgpu can use (for --adapter)
    Adapters,
}

/// How a command names a model.
#[derive(Args)]
struct ModelArgs {
    /// The model file (.cnn)
    file: PathBuf,
    #[command(flatten)]
    shape: ShapeArgs,
}

#[derive(Args)]
struct ShapeArgs {
    /// Input shape for a model without an `input` line, e.g. 28x28x1
    #[arg(long, value_name = "HxWxC", value_parser = parse_shape)]
    input: Option<[usize; 3]>,
    /// Override a declared parameter, e.g. --set width=64 (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    set: Vec<(String, i64)>,
}

/// Flags shared by `train` (and `compare`).
#[derive(Args)]
struct TrainArgs {
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, value_enum, default_value = "adam")]
    optimizer: Optimizer,
    /// Learning rate (default: 0.001 for Adam, 0.01 for SGD, as in Keras)
    #[arg(long)]
    lr: Option<f32>,
    /// SGD momentum (default 0; with adam and adamw, beta1 = 0.9 plays its role)
    #[arg(long)]
    momentum: Option<f32>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Train on N samples drawn at random (with --seed)
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Hold out this fraction of the training samples, drawn at random
    /// (with --seed), for validation (instead of the test split)
    #[arg(long, value_name = "F")]
    val_split: Option<f64>,
    /// Validate on N validation samples drawn at random (with --seed)
    #[arg(long, value_name = "N")]
    val_limit: Option<usize>,
    /// Keep the training samples in file order
    #[arg(long)]
    no_shuffle: bool,
    /// Stop after N optimizer steps
    #[arg(long, value_name = "N")]
    steps: Option<u64>,
    /// Stop when validation accuracy has not improved for N epochs
    #[arg(long, value_name = "N")]
    patience: Option<usize>,
    /// L2 weight decay of conv and dense kernels (decoupled with --optimizer adamw)
    #[arg(long, value_name = "W", default_value_t = 0.0)]
    weight_decay: f32,
    /// Random transformations of training images: flip, shift:P, crop:P, joined with
    /// commas (`compare` takes several --augment, one variant each)
    #[arg(long, value_name = "SPEC", value_parser = |s: &str| s.parse::<Augment>())]
    augment: Vec<Augment>,
    /// Learning rate per epoch: constant, step:EVERY:FACTOR or cosine
    #[arg(long, value_name = "SCHEDULE", default_value = "constant", value_parser = |s: &str| s.parse::<LrSchedule>())]
    lr_schedule: LrSchedule,
    /// Ramp the learning rate up over the first N epochs
    #[arg(long, value_name = "N", default_value_t = 0)]
    warmup_epochs: usize,
}

impl TrainArgs {
    fn options(&self) -> Result<TrainOptions, Failure> {
        let momentum = match (self.momentum, OptimizerKind::from(self.optimizer)) {
            (None, _) => 0.0,
            (Some(m), OptimizerKind::Sgd) if (0.0..1.0).contains(&m) => m,
            (Some(m), OptimizerKind::Sgd) => {
                return Err(Failure::Usage(format!("--momentum must be in [0, 1), not {m}")));
            }
            // Ignoring it would train something else than was asked for.
            (Some(_), adam) => {
                return Err(Failure::Usage(format!(
                    "--momentum applies to --optimizer sgd only; with {}, Adam's beta1 (0.9, as in Keras) plays that role",
                    format!("{adam:?}").to_lowercase()
                )));
            }
        };
        Ok(TrainOptions {
            epochs: self.epochs,
            batch: self.batch,
            optimizer: self.optimizer.into(),
            lr: self.lr.unwrap_or(match self.optimizer.into() {
                OptimizerKind::Adam | OptimizerKind::AdamW => 1e-3,
                OptimizerKind::Sgd => 1e-2,
            }),
            momentum,
            seed: self.seed,
            shuffle: !self.no_shuffle,
            max_steps: self.steps,
            patience: self.patience,
            weight_decay: self.weight_decay,
            augment: self.augment.first().copied().unwrap_or_default(),
            lr_schedule: self.lr_schedule,
            warmup_epochs: self.warmup_epochs,
        })
    }

    fn data(&self, spec: DataSpec) -> DataRequest {
        DataRequest {
            spec,
            limit: self.limit,
            val_split: self.val_split,
            val_limit: self.val_limit,
            seed: self.seed,
        }
    }
}

#[derive(Args)]
struct DeviceArgs {
    /// GPU adapter: an index or part of a name from `cnnc adapters`
    #[arg(long, value_name = "ADAPTER")]
    adapter: Option<String>,
}

impl DeviceArgs {
    fn open(&self) -> Result<Gpu, Failure> {
        Ok(Gpu::new(self.adapter.as_deref())?)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check(&args),
        Command::Summary { model, json, pytorch } => summary(&model, json, pytorch),
        Command::Compile {
            model,
            out,
            batch,
            optimizer,
        } => compile(&model, &out, batch, optimizer.into()),
        Command::Train {
            file,
            shape,
            data,
            train,
            out,
            init,
            resume,
            device,
        } => run_train(file, shape, data, &train, out, init, resume, &device),
        Command::Eval {
            model,
            weights,
            data,
            train_split,
            limit,
            seed,
            batch,
            json,
            device,
        } => eval(
            &model,
            &weights,
            data,
            train_split,
            (limit, seed),
            batch,
            json,
            &device,
        ),
        Command::Predict {
            model,
            weights,
            images,
            top,
            json,
            device,
        } => predict(&model, &weights, &images, top, json, &device),
        Command::Compare {
            files,
            input,
            sweeps,
            data,
            train,
            out,
            device,
        } => compare(files, input, sweeps, data, &train, out, &device),
        Command::Bench {
            model,
            batch,
            steps,
            warmup,
            optimizer,
            no_gemm,
            json,
            device,
        } => bench(
            &model,
            batch,
            steps,
            warmup,
            optimizer.into(),
            !no_gemm,
            json,
            &device,
        ),
        Command::Tune {
            model,
            batch,
            optimizer,
            device,
        } => tune(&model, batch, optimizer.into(), &device),
        Command::Adapters => {
            adapters();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let code = failure.exit_code();
            report(failure);
            ExitCode::from(code)
        }
    }
}

fn model_request(args: &ModelArgs) -> ModelRequest {
    ModelRequest {
        path: args.file.clone(),
        overrides: args.shape.set.clone(),
        input: args.shape.input,
    }
}

fn load(args: &ModelArgs) -> Result<(cnnc::source::Source, cnnc::model::Model), Failure> {
    let source = workflow::read_source(&args.file)?;
    let model = workflow::check_model(&source, &model_request(args), None)?;
    Ok((source, model))
}

fn check(args: &ModelArgs) -> Result<(), Failure> {
    let (_, model) = load(args)?;
    println!(
        "ok: {} — {} layers, {} parameters, {} FLOPs per image",
        model.name,
        model.layers.len(),
        thousands(model.params().total() as u64),
        thousands(model.flops())
    );
    Ok(())
}

fn summary(args: &ModelArgs, json: bool, pytorch: bool) -> Result<(), Failure> {
    let (_, model) = load(args)?;
    let summary = Summary::new(&model);
    if pytorch {
        print!("{}", cnnc::export::torch::sequential(&model));
    } else if json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.to_table());
    }
    Ok(())
}

fn compile(
    args: &ModelArgs,
    out: &std::path::Path,
    batch: usize,
    optimizer: OptimizerKind,
) -> Result<(), Failure> {
    let (source, model) = load(args)?;
    if batch == 0 {
        return Err(Failure::Usage("--batch must be at least 1".into()));
    }
    let options = cnnc::codegen::LowerOptions {
        batch,
        optimizer,
        ..Default::default()
    };
    let invalid = |e: cnnc::codegen::LowerError| Failure::Invalid {
        path: source.path.clone(),
        text: source.text.clone(),
        diagnostics: vec![e.to_diagnostic()],
    };
    let plan = cnnc::codegen::plan(&model, &options).map_err(invalid)?;
    let shaders = cnnc::codegen::emit(&plan).map_err(invalid)?;
    let io = |e: std::io::Error| Failure::Usage(format!("cannot write to {}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(io)?;
    for (i, wgsl) in shaders.iter().enumerate() {
        std::fs::write(out.join(plan.kernel_file(i)), wgsl).map_err(io)?;
    }
    let manifest = serde_json::to_string_pretty(&plan.manifest()).expect("a plan serialises");
    std::fs::write(out.join("plan.json"), manifest + "\n").map_err(io)?;
    println!(
        "wrote {} kernels and plan.json to {} ({} of buffers at batch {batch})",
        plan.kernels.len(),
        out.display(),
        human_bytes(plan.memory_bytes() as u128)
    );
    Ok(())
}

/// Ctrl-C sets this; the training loop stops after the current step.
static STOP: AtomicBool = AtomicBool::new(false);

/// Ctrl-C sets [`STOP`]: the run finishes its step and checkpoints. A second
/// Ctrl-C (the handler is already set) quits at once.
fn stop_on_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (Ctrl-C again to quit at once)");
    });
}

#[allow(clippy::too_many_arguments)]
fn run_train(
    file: Option<PathBuf>,
    shape: ShapeArgs,
    data: Option<DataSpec>,
    args: &TrainArgs,
    out: Option<PathBuf>,
    init: Option<PathBuf>,
    resume: Option<PathBuf>,
    device: &DeviceArgs,
) -> Result<(), Failure> {
    if args.augment.len() > 1 {
        return Err(Failure::Usage(
            "--augment is given once to `train` (join several with commas, as in flip,crop:4); `compare` takes several"
                .into(),
        ));
    }
    let options = args.options()?;
    let gpu = device.open()?;
    stop_on_ctrl_c();
    eprintln!("adapter: {}", gpu.describe());
    let mut progress = ConsoleProgress::default();
    let result = match resume {
        Some(dir) => workflow::resume(&gpu, &dir, &mut progress, &STOP)?,
        None => {
            let request = TrainRequest {
                model: ModelRequest {
                    path: file.expect("clap requires FILE without --resume"),
                    overrides: shape.set,
                    input: shape.input,
                },
                data: args.data(data.expect("clap requires --data without --resume")),
                options,
                out,
                init,
            };
            workflow::train(&gpu, &request, &mut progress, &STOP)?
        }
    };
    let dir = result.dir.display();
    match result.outcome {
        Outcome::Interrupted => {
            println!("interrupted; continue with: cnnc train --resume {dir}");
            return Err(Failure::Failed("interrupted".into()));
        }
        Outcome::Finished { .. } => {}
    }
    if let (Some((epoch, score)), Some(last)) = (result.state.best, result.state.history.last()) {
        let what = if last.val_accuracy.is_some() {
            "validation"
        } else {
            "training"
        };
        println!(
            "best {what} accuracy {:.2}% at epoch {epoch}; weights in {dir}/best.safetensors (last: {dir}/model.safetensors)",
            100.0 * score
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn eval(
    args: &ModelArgs,
    weights: &std::path::Path,
    data: DataSpec,
    train_split: bool,
    (limit, seed): (Option<usize>, u64),
    batch: usize,
    json: bool,
    device: &DeviceArgs,
) -> Result<(), Failure> {
    let gpu = device.open()?;
    let request = DataRequest {
        spec: data,
        limit,
        val_split: None,
        val_limit: limit,
        seed,
    };
    let (what, report) = workflow::eval(&gpu, &model_request(args), weights, &request, batch, train_split)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serialises")
        );
    } else {
        println!("{what}");
        print!("{}", report.to_text());
    }
    Ok(())
}

fn predict(
    args: &ModelArgs,
    weights: &std::path::Path,
    images: &[PathBuf],
    top: usize,
    json: bool,
    device: &DeviceArgs,
) -> Result<(), Failure> {
    let gpu = device.open()?;
    let predictions = workflow::predict(&gpu, &model_request(args), weights, images, top.max(1))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&predictions).expect("predictions serialise")
        );
        return Ok(());
    }
    for p in predictions {
        if let Some(note) = &p.note {
            eprintln!("note: {note}");
        }
        let classes: Vec<String> = p
            .top
            .iter()
            .map(|(class, prob)| format!("{class} {:.2}%", 100.0 * prob))
            .collect();
        println!("{}: {}", p.image, classes.join(", "));
    }
    Ok(())
}

fn compare(
    files: Vec<PathBuf>,
    input: Option<[usize; 3]>,
    sweeps: Vec<(String, Vec<i64>)>,
    data: DataSpec,
    args: &TrainArgs,
    out: Option<PathBuf>,
    device: &DeviceArgs,
) -> Result<(), Failure> {
    let options = args.options()?;
    let gpu = device.open()?;
    stop_on_ctrl_c();
    eprintln!("adapter: {}", gpu.describe());
    let out = out.unwrap_or_else(|| workflow::default_run_dir("compare"));
    let request = cnnc::app::compare::CompareRequest {
        variants: cnnc::app::compare::variants(&files, &sweeps, &args.augment),
        input,
        data: args.data(data),
        options,
        out: out.clone(),
    };
    let report = cnnc::app::compare::run(&gpu, &request, &STOP)?;
    report.write(&out).map_err(Failure::Usage)?;
    println!("\n{}", report.to_text());
    println!(
        "report: {}/report.md (and report.json, report.csv, charts)",
        out.display()
    );
    let failed = report.rows.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        return Err(Failure::Failed(format!(
            "{failed} of {} variants failed",
            report.rows.len()
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn bench(
    args: &ModelArgs,
    batch: usize,
    steps: usize,
    warmup: usize,
    optimizer: OptimizerKind,
    gemm: bool,
    json: bool,
    device: &DeviceArgs,
) -> Result<(), Failure> {
    let (source, model) = load(args)?;
    let gpu = device.open()?;
    let options = cnnc::app::bench::BenchOptions {
        batch,
        steps,
        warmup,
        optimizer,
        gemm,
    };
    let report = cnnc::app::bench::run(&gpu, &source, &model, &options)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serialises")
        );
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

fn tune(
    args: &ModelArgs,
    batch: usize,
    optimizer: OptimizerKind,
    device: &DeviceArgs,
) -> Result<(), Failure> {
    let (_, model) = load(args)?;
    let gpu = device.open()?;
    eprintln!("tuning {} on {}", model.name, gpu.describe());
    let rows = cnnc::app::tune::tune(&gpu, &model, batch, optimizer)?;
    print!("{}", cnnc::app::tune::to_text(&rows));
    Ok(())
}

fn adapters() {
    let adapters = Gpu::adapters();
    if adapters.is_empty() {
        println!(
            "no adapters; on a machine without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers"
        );
    }
    for (i, info) in adapters.iter().enumerate() {
        println!("{i}: {}", cnnc::runtime::describe(info));
    }
}

fn report(failure: Failure) {
    match failure {
        Failure::Invalid {
            path,
            text,
            diagnostics,
        } => report_diagnostics(&path, &text, &diagnostics),
        Failure::Usage(message) | Failure::Failed(message) => eprintln!("error: {message}"),
    }
}

fn report_diagnostics(path: &str, text: &str, diagnostics: &[Diagnostic]) {
    let styled = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let rendered = if styled {
        diagnostic::render_styled(path, text, diagnostics)
    } else {
        diagnostic::render(path, text, diagnostics)
    };
    eprint!("{rendered}");
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 1 {
        eprintln!("{errors} errors in {path}");
    }
}

fn parse_shape(text: &str) -> Result<[usize; 3], String> {
    let parts: Vec<&str> = text.split('x').collect();
    let sizes: Result<Vec<usize>, _> = parts.iter().map(|p| p.trim().parse::<usize>()).collect();
    match sizes.as_deref() {
        Ok([h, w, c]) if *h > 0 && *w > 0 && *c > 0 => Ok([*h, *w, *c]),
        _ => Err(format!(
            "expected HEIGHTxWIDTHxCHANNELS such as 28x28x1, found `{text}`"
        )),
    }
}

fn parse_sweep(text: &str) -> Result<(String, Vec<i64>), String> {
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=V1,V2,... such as width=16,32, found `{text}`"))?;
    let values = values
        .split(',')
        .map(|v| v.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            format!("the values of `{name}` must be integers separated by commas, found `{values}`")
        })?;
    Ok((name.trim().to_string(), values))
}

fn parse_set(text: &str) -> Result<(String, i64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE such as width=64, found `{text}`"))?;
    let value = value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("the value of `{name}` must be an integer, found `{value}`"))?;
    Ok((name.trim().to_string(), value))
}
