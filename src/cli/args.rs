//! The command line's grammar: every command and flag, with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use cnnc::app::workflow::{DataRequest, Failure};
use cnnc::augment::Augment;
use cnnc::codegen::OptimizerKind;
use cnnc::data::DataSpec;
use cnnc::data::named::Named;
use cnnc::runtime::Gpu;
use cnnc::train::{LrSchedule, TrainOptions};

/// `--optimizer`: codegen's [`OptimizerKind`] under clap's names, so that
/// clap stays in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Optimizer {
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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Parse and shape-check a model: "ok" and its size, or every problem found
    Check(ModelArgs),
    /// Rewrite model files in the canonical layout (comments kept)
    Fmt {
        /// Files or folders (searched for .cnn files); `-` reads stdin and writes stdout
        #[arg(required = true, value_name = "FILE")]
        paths: Vec<PathBuf>,
        /// Write nothing: list the files that would change, and exit 1 if any would
        #[arg(long)]
        check: bool,
    },
    /// Run the language server (LSP) on stdin and stdout, for editors
    Lsp,
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
    Train(TrainCommand),
    /// Loss, accuracy, per-class accuracy and confusion matrix of trained weights
    Eval(EvalCommand),
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
    #[command(group = clap::ArgGroup::new("mode").args(["plan", "collect"]))]
    Compare(CompareCommand),
    /// The best configuration for a budget: successive halving over a model's parameters,
    /// with the Pareto front of accuracy against parameters, FLOPs and time
    #[command(group = clap::ArgGroup::new("mode").args(["plan", "collect", "resume"]))]
    Search(super::search::SearchCommand),
    /// Training and inference throughput, first-step time, per-layer kernel times
    Bench(BenchCommand),
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
    /// Write a trained model for use outside cnnc: an ONNX file, a web page that runs it on WebGPU
    Export {
        #[command(flatten)]
        model: ModelArgs,
        /// The weights (safetensors)
        #[arg(long, value_name = "W.safetensors")]
        weights: PathBuf,
        #[command(flatten)]
        targets: ExportTargets,
        /// Then serve the --web folder on 127.0.0.1 (as `cnnc serve DIR`)
        #[arg(long, requires = "web")]
        serve: bool,
        /// The port for --serve (default: a free one)
        #[arg(long, value_name = "N", requires = "serve")]
        port: Option<u16>,
    },
    /// Serve an exported web folder on 127.0.0.1 (WebGPU needs localhost or https)
    Serve {
        /// The folder `cnnc export --web DIR` wrote
        dir: PathBuf,
        /// The port (default: a free one)
        #[arg(long, value_name = "N")]
        port: Option<u16>,
    },
    /// List the GPU adapters wgpu can use (for --adapter)
    Adapters,
    /// The standard datasets by name: list them, download one, print its folder
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
}

/// `cnnc data`'s subcommands. The cache is $CNNC_DATA_DIR (default
/// ~/.cache/cnnc/data); CNNC_DATA_MIRROR=URL downloads URL/<set>/<file> instead
/// of the official URLs.
#[derive(Subcommand)]
pub enum DataAction {
    /// The known sets: what each holds, its download size, whether it is cached, and where
    List,
    /// Download, verify and unpack sets into the cache (nothing to do for a cached one)
    Get {
        /// mnist, fashion-mnist, cifar10, cifar100 (or cifar100-coarse: the same files)
        #[arg(required = true, value_name = "NAME")]
        names: Vec<Named>,
    },
    /// Print the folder a cached set is read from (the DIR of KIND:DIR)
    Path {
        /// mnist, fashion-mnist, cifar10, cifar100 or cifar100-coarse
        #[arg(value_name = "NAME")]
        name: Named,
    },
}

/// `cnnc train`'s arguments.
#[derive(Args)]
pub struct TrainCommand {
    /// The model file (.cnn); not needed with --resume
    #[arg(required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Dataset: a name (mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse;
    /// downloaded once, see `cnnc data`) or KIND:DIR (mnist:DIR, cifar10:DIR,
    /// cifar100:DIR, cifar100-coarse:DIR, folder:DIR)
    #[arg(long, required_unless_present = "resume")]
    pub data: Option<DataSpec>,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Run directory (default runs/<model>-<time>)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Start from these weights (safetensors)
    #[arg(long, value_name = "W.safetensors")]
    pub init: Option<PathBuf>,
    /// Continue the interrupted (or paused) run in DIR, with its own settings
    #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "data", "out", "init"])]
    pub resume: Option<PathBuf>,
    /// Pause once N epochs are done, checkpointed: `--resume DIR` continues
    /// exactly as if the run had not stopped (with --resume: pause again at N)
    #[arg(long, value_name = "N")]
    pub until_epoch: Option<usize>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `cnnc eval`'s arguments.
#[derive(Args)]
pub struct EvalCommand {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The weights (safetensors)
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// Dataset (its test split): a name (mnist, fashion-mnist, cifar10, cifar100,
    /// cifar100-coarse; downloaded once, see `cnnc data`) or KIND:DIR (mnist:DIR,
    /// cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, folder:DIR)
    #[arg(long)]
    pub data: DataSpec,
    /// Evaluate the training split instead of the test split
    #[arg(long)]
    pub train_split: bool,
    /// Evaluate N samples, drawn at random with --seed (as `train --limit`/`--val-limit`
    /// draw them)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// The seed that draws the --limit samples: give the run's --seed to
    /// evaluate the samples it validated on
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// `cnnc compare`'s arguments.
#[derive(Args)]
pub struct CompareCommand {
    /// Model files (.cnn)
    #[arg(required_unless_present = "collect")]
    pub files: Vec<PathBuf>,
    /// Input shape for models without an `input` line
    #[arg(long, value_name = "HxWxC", value_parser = parse_shape)]
    pub input: Option<[usize; 3]>,
    /// Sweep a parameter, e.g. --set width=8,16,32 (repeatable: all combinations)
    #[arg(long = "set", value_name = "NAME=V1,V2,...", value_parser = parse_sweep)]
    pub sweeps: Vec<(String, Vec<i64>)>,
    /// Dataset: a name (mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse;
    /// downloaded once, see `cnnc data`) or KIND:DIR (mnist:DIR, cifar10:DIR,
    /// cifar100:DIR, cifar100-coarse:DIR, folder:DIR)
    #[arg(long, required_unless_present = "collect")]
    pub data: Option<DataSpec>,
    #[command(flatten)]
    pub train: TrainArgs,
    /// Directory for the report and every variant's run (default runs/compare-<time>)
    #[arg(long, value_name = "DIR", conflicts_with = "mode")]
    pub out: Option<PathBuf>,
    /// Write the sweep to DIR without running it: sweep.json, jobs.txt (one
    /// `cnnc train` per line) and slurm.sbatch (an array job)
    #[arg(long, value_name = "DIR")]
    pub plan: Option<PathBuf>,
    /// Build the report of the sweep in DIR from its finished runs
    #[arg(long, value_name = "DIR", conflicts_with_all = ["files", "data", "sweeps", "input", "binary", "slurm_gpus"])]
    pub collect: Option<PathBuf>,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// How planned jobs run elsewhere (`compare --plan`, `search --plan`).
#[derive(Args)]
pub struct SweepArgs {
    /// The cnnc that the planned commands run (default: this one)
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// GPUs each array task of slurm.sbatch asks for (0 for a cluster without GPUs)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub slurm_gpus: u32,
}

impl SweepArgs {
    /// The cnnc the jobs run: `--binary`, made absolute when it is a path
    /// (a bare name is looked up on each node's PATH), or this one.
    pub fn binary(&self) -> Result<PathBuf, Failure> {
        match self.binary.clone() {
            Some(b) if b.components().count() > 1 => {
                std::path::absolute(&b).map_err(|e| Failure::Usage(format!("--binary {}: {e}", b.display())))
            }
            Some(b) => Ok(b),
            None => std::env::current_exe()
                .map_err(|e| Failure::Usage(format!("cannot tell where this cnnc is ({e}); give --binary"))),
        }
    }
}

/// `cnnc bench`'s arguments.
#[derive(Args)]
pub struct BenchCommand {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed steps
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed steps first
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: Optimizer,
    /// Do not measure the adapter's ceiling (the project's best GEMM at
    /// 1024^3) when it is not cached yet; a cached one is still used
    #[arg(long)]
    pub no_gemm: bool,
    /// Measure the ceiling again and replace the cached one
    #[arg(long, conflicts_with = "no_gemm")]
    pub fresh_ceiling: bool,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// What `export` writes: one flag per target, at least one.
#[derive(Args)]
#[group(required = true, multiple = true)]
pub struct ExportTargets {
    /// The inference graph as ONNX (opset 17): input `input` [N, C, H, W]
    /// pixels in [0, 1], output `probabilities` [N, classes]
    #[arg(long, value_name = "OUT.onnx")]
    pub onnx: Option<PathBuf>,
    /// A static site into DIR: model.js (its API in README's "Deploy"), the generated
    /// WGSL, weights, model.json and index.html, a page to draw or drop images
    #[arg(long, value_name = "DIR")]
    pub web: Option<PathBuf>,
}

/// How a command names a model.
#[derive(Args)]
pub struct ModelArgs {
    /// The model file (.cnn)
    pub file: PathBuf,
    #[command(flatten)]
    pub shape: ShapeArgs,
}

#[derive(Args)]
pub struct ShapeArgs {
    /// Input shape for a model without an `input` line, e.g. 28x28x1
    #[arg(long, value_name = "HxWxC", value_parser = parse_shape)]
    pub input: Option<[usize; 3]>,
    /// Override a declared parameter, e.g. --set width=64 (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, i64)>,
}

/// Flags shared by `train` (and `compare`).
#[derive(Args)]
pub struct TrainArgs {
    /// Epochs to train [default: 1]
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: Optimizer,
    /// Learning rate (default: 0.001 for Adam, 0.01 for SGD, as in Keras)
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum (default 0; with adam and adamw, beta1 = 0.9 plays its role)
    #[arg(long)]
    pub momentum: Option<f32>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train on N samples drawn at random (with --seed)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Hold out this fraction of the training samples, drawn at random
    /// (with --seed), for validation (instead of the test split)
    #[arg(long, value_name = "F")]
    pub val_split: Option<f64>,
    /// Validate on N validation samples drawn at random (with --seed)
    #[arg(long, value_name = "N")]
    pub val_limit: Option<usize>,
    /// Keep the training samples in file order
    #[arg(long)]
    pub no_shuffle: bool,
    /// Stop after N optimizer steps
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Stop when validation accuracy has not improved for N epochs
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    /// L2 weight decay of conv and dense kernels (decoupled with --optimizer adamw)
    #[arg(long, value_name = "W", default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Random transformations of training images: flip, shift:P, crop:P, joined with
    /// commas (`compare` takes several --augment, one variant each)
    #[arg(long, value_name = "SPEC", value_parser = |s: &str| s.parse::<Augment>())]
    pub augment: Vec<Augment>,
    /// Learning rate per epoch: constant, step:EVERY:FACTOR or cosine
    #[arg(long, value_name = "SCHEDULE", default_value = "constant", value_parser = |s: &str| s.parse::<LrSchedule>())]
    pub lr_schedule: LrSchedule,
    /// Ramp the learning rate up over the first N epochs
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub warmup_epochs: usize,
}

impl TrainArgs {
    pub fn options(&self) -> Result<TrainOptions, Failure> {
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
            epochs: self.epochs.unwrap_or(1),
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

    pub fn data(&self, spec: DataSpec) -> DataRequest {
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
pub struct DeviceArgs {
    /// GPU adapter: an index or part of a name from `cnnc adapters`, or a backend
    /// (vulkan, metal, dx12, gl) (default: the environment's CNNC_ADAPTER, else the
    /// GPU a scheduler gave in CUDA_VISIBLE_DEVICES or ROCR_VISIBLE_DEVICES, else the
    /// fastest kind: discrete, integrated, then CPU)
    #[arg(long, value_name = "ADAPTER")]
    pub adapter: Option<String>,
}

impl DeviceArgs {
    pub fn open(&self) -> Result<Gpu, Failure> {
        Ok(Gpu::new(self.adapter.as_deref())?)
    }
}

pub fn parse_shape(text: &str) -> Result<[usize; 3], String> {
    let parts: Vec<&str> = text.split('x').collect();
    let sizes: Result<Vec<usize>, _> = parts.iter().map(|p| p.trim().parse::<usize>()).collect();
    match sizes.as_deref() {
        Ok([h, w, c]) if *h > 0 && *w > 0 && *c > 0 => Ok([*h, *w, *c]),
        _ => Err(format!(
            "expected HEIGHTxWIDTHxCHANNELS such as 28x28x1, found `{text}`"
        )),
    }
}

pub fn parse_sweep(text: &str) -> Result<(String, Vec<i64>), String> {
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

pub fn parse_set(text: &str) -> Result<(String, i64), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE such as width=64, found `{text}`"))?;
    let value = value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("the value of `{name}` must be an integer, found `{value}`"))?;
    Ok((name.trim().to_string(), value))
}
