//! What each command does: call the library, print what it returns.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use cnnc::app::summary::Summary;
use cnnc::app::workflow::{self, DataRequest, Failure, ModelRequest, TrainRequest};
use cnnc::codegen::OptimizerKind;
use cnnc::data::DataSpec;
use cnnc::diagnostic::{self, Diagnostic};
use cnnc::runtime::Gpu;
use cnnc::train::{ConsoleProgress, Outcome};
use cnnc::units::{human_bytes, thousands};

use super::args::*;

pub fn model_request(args: &ModelArgs) -> ModelRequest {
    ModelRequest {
        path: args.file.clone(),
        overrides: args.shape.set.clone(),
        input: args.shape.input,
    }
}

pub fn load(args: &ModelArgs) -> Result<(cnnc::source::Source, cnnc::model::Model), Failure> {
    let source = workflow::read_source(&args.file)?;
    let model = workflow::check_model(&source, &model_request(args), None)?;
    if !model.warnings.is_empty() {
        report_diagnostics(&source.path, &source.text, &model.warnings);
    }
    Ok((source, model))
}

pub fn check(args: &ModelArgs) -> Result<(), Failure> {
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

pub fn summary(args: &ModelArgs, json: bool, pytorch: bool) -> Result<(), Failure> {
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

pub fn compile(
    args: &ModelArgs,
    out: &std::path::Path,
    batch: usize,
    optimizer: OptimizerKind,
) -> Result<(), Failure> {
    let (source, model) = load(args)?;
    let plan = workflow::compile(&source, &model, out, batch, optimizer)?;
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
pub fn stop_on_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (Ctrl-C again to quit at once)");
    });
}

#[allow(clippy::too_many_arguments)]
pub fn run_train(
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
pub fn eval(
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

pub fn predict(
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

pub fn compare(
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
pub fn bench(
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

pub fn tune(
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

/// `serve`: the port to serve the web export on after writing it.
pub fn export(
    args: &ModelArgs,
    weights: &std::path::Path,
    targets: &ExportTargets,
    serve_on: Option<u16>,
) -> Result<(), Failure> {
    let request = model_request(args);
    if let Some(dir) = &targets.web {
        let export = workflow::export_web(&request, weights, dir)?;
        println!(
            "wrote {}: {} kernels in {} WGSL files, {} of weights; open index.html through `cnnc serve {}`",
            export.dir.display(),
            export.kernels,
            export.files,
            human_bytes(export.weight_bytes as u128),
            export.dir.display()
        );
        if let Some(port) = serve_on {
            return serve(dir, port);
        }
    }
    Ok(())
}

pub fn serve(dir: &std::path::Path, port: u16) -> Result<(), Failure> {
    workflow::serve(dir, port, |url| {
        println!("serving {} at {url} (Ctrl-C to stop)", dir.display());
        // Whoever reads our output (a script, a test) needs the URL now.
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })
}

pub fn adapters() {
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

pub fn report(failure: Failure) {
    match failure {
        Failure::Invalid {
            path,
            text,
            diagnostics,
        } => report_diagnostics(&path, &text, &diagnostics),
        Failure::Usage(message) | Failure::Failed(message) => eprintln!("error: {message}"),
    }
}

pub fn report_diagnostics(path: &str, text: &str, diagnostics: &[Diagnostic]) {
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
