//! The `cnnc` command line: parse arguments, call the library, print.
//!
//! Exit codes: 0 success, 1 an invalid model (or a failed run), 2 a usage or
//! I/O error. A panic is always a bug.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use cnnc::codegen::{LowerOptions, OptimizerKind, Plan, lower};
use cnnc::diagnostic::{self, Diagnostic};
use cnnc::model::{CheckOptions, Model};
use cnnc::runtime::Gpu;
use cnnc::source::{Source, SourceError};
use cnnc::summary::Summary;
use cnnc::units::{human_bytes, thousands};

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
        optimizer: OptimizerKind,
    },
    /// List the GPU adapters wgpu can use (for --adapter)
    Adapters,
}

/// How a command names a model.
#[derive(Args)]
struct ModelArgs {
    /// The model file (.cnn)
    file: PathBuf,
    /// Input shape for a model without an `input` line, e.g. 28x28x1
    #[arg(long, value_name = "HxWxC", value_parser = parse_shape)]
    input: Option<[usize; 3]>,
    /// Override a declared parameter, e.g. --set width=64 (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    set: Vec<(String, i64)>,
}

/// What ends a command early, and the exit code it gives.
enum Failure {
    /// Diagnostics already printed: the model is invalid (exit 1).
    Invalid,
    /// A usage or I/O problem (exit 2).
    Usage(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check(&args),
        Command::Summary { model, json } => summary(&model, json),
        Command::Compile {
            model,
            out,
            batch,
            optimizer,
        } => compile(&model, &out, batch, optimizer),
        Command::Adapters => {
            adapters();
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn check(args: &ModelArgs) -> Result<(), Failure> {
    let model = load(args)?;
    let params = model.params();
    println!(
        "ok: {} — {} layers, {} parameters, {} FLOPs per image",
        model.name,
        model.layers.len(),
        thousands(params.total() as u64),
        thousands(model.flops())
    );
    Ok(())
}

fn summary(args: &ModelArgs, json: bool) -> Result<(), Failure> {
    let model = load(args)?;
    let summary = Summary::new(&model);
    if json {
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
    let (source, model) = load_with_source(args)?;
    let plan = lower_model(&source, &model, batch, optimizer)?;
    let io = |e: std::io::Error| Failure::Usage(format!("cannot write to {}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(io)?;
    for (i, kernel) in plan.kernels.iter().enumerate() {
        std::fs::write(out.join(plan.kernel_file(i)), &kernel.wgsl).map_err(io)?;
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

/// Lowers a model, reporting a model that cannot run against its source.
fn lower_model(
    source: &Source,
    model: &Model,
    batch: usize,
    optimizer: OptimizerKind,
) -> Result<Plan, Failure> {
    if batch == 0 {
        return Err(Failure::Usage("--batch must be at least 1".into()));
    }
    let options = LowerOptions {
        batch,
        optimizer,
        ..LowerOptions::default()
    };
    lower(model, &options).map_err(|e| {
        report(&source.path, &source.text, &[e.to_diagnostic()]);
        Failure::Invalid
    })
}

/// Reads, parses and checks a model, printing every diagnostic.
fn load(args: &ModelArgs) -> Result<Model, Failure> {
    load_with_source(args).map(|(_, model)| model)
}

fn load_with_source(args: &ModelArgs) -> Result<(Source, Model), Failure> {
    let source = match Source::read(&args.file) {
        Ok(source) => source,
        Err(SourceError::Io { path, error }) => {
            return Err(Failure::Usage(format!("cannot read {path}: {error}")));
        }
        Err(SourceError::NotText {
            path,
            text,
            diagnostic,
        }) => {
            report(&path, &text, &[*diagnostic]);
            return Err(Failure::Invalid);
        }
    };
    let options = CheckOptions {
        default_name: source.stem(),
        input: args.input,
        overrides: args.set.clone(),
    };
    match cnnc::load(&source, &options) {
        Ok(model) => Ok((source, model)),
        Err(diagnostics) => {
            report(&source.path, &source.text, &diagnostics.0);
            Err(Failure::Invalid)
        }
    }
}

fn report(path: &str, text: &str, diagnostics: &[Diagnostic]) {
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
