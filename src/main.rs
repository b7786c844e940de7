//! The `cnnc` command line: parse arguments, call the library, print.
//!
//! Exit codes: 0 success, 1 an invalid model (or a failed run), 2 a usage or
//! I/O error. A panic is always a bug.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use cnnc::diagnostic::{self, Diagnostic};
use cnnc::model::{CheckOptions, Model};
use cnnc::source::{Source, SourceError};
use cnnc::summary::Summary;
use cnnc::units::thousands;

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

/// Reads, parses and checks a model, printing every diagnostic.
fn load(args: &ModelArgs) -> Result<Model, Failure> {
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
    cnnc::load(&source, &options).map_err(|diagnostics| {
        report(&source.path, &source.text, &diagnostics.0);
        Failure::Invalid
    })
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
