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
        Command::Export { model, weights, onnx } => export(&model, &weights, onnx.as_deref()),
        Command::Compare {
            files,
            input,
            sweeps,
            data,
            train,
            out,
            plan,
            collect,
            binary,
            slurm_gpus,
            device,
        } => {
            let args = CompareArgs {
                files,
                input,
                sweeps,
                data,
                out,
                plan,
                collect,
                binary,
                slurm_gpus,
            };
            compare(args, &train, &device)
        }
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
