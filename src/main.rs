//! The `cnnc` command line: parse arguments, call the library, print.
//!
//! Exit codes: 0 success, 1 an invalid model (or a failed run), 2 a usage or
//! I/O error. A panic is always a bug.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command};
use cli::commands::*;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check(&args),
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Lsp => lsp(),
        Command::Summary { model, json, pytorch } => summary(&model, json, pytorch),
        Command::Compile {
            model,
            out,
            batch,
            optimizer,
        } => compile(&model, &out, batch, optimizer.into()),
        Command::Train(command) => run_train(command),
        Command::Eval(command) => eval(&command),
        Command::Predict {
            model,
            weights,
            images,
            top,
            json,
            device,
        } => predict(&model, &weights, &images, top, json, &device),
        Command::Compare(command) => compare(command),
        Command::Search(command) => cli::search::search(command),
        Command::Bench(command) => bench(&command),
        Command::Tune {
            model,
            batch,
            optimizer,
            device,
        } => tune(&model, batch, optimizer.into(), &device),
        Command::Export {
            model,
            weights,
            targets,
            serve,
            port,
        } => export(&model, &weights, &targets, serve.then_some(port.unwrap_or(0))),
        Command::Serve { dir, port } => serve(&dir, port.unwrap_or(0)),
        Command::Adapters => {
            adapters();
            Ok(())
        }
        Command::Data { action } => data(&action),
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
