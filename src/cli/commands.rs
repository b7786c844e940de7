//! What each command does: call the library, print what it returns.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use cnnc::app::compare;
use cnnc::app::summary::Summary;
use cnnc::app::workflow::{self, DataRequest, Failure, ModelRequest, TrainRequest};
use cnnc::codegen::OptimizerKind;
use cnnc::diagnostic::{self, Diagnostic};
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

pub fn load(args: &ModelArgs) -> Result<(cnnc::source::Source, cnnc::Model), Failure> {
    let file = workflow::ModelFile::read(&args.file)?;
    let model = file.check(&model_request(args), None)?;
    let source = file.source;
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

/// `cnnc fmt`: every file formatted (or, with `--check`, listed when it
/// would change); a file that does not parse is reported and skipped.
pub fn fmt(paths: &[PathBuf], check: bool) -> Result<(), Failure> {
    use cnnc::app::fmt;
    if paths.iter().any(|p| p.as_os_str() == "-") {
        if paths.len() > 1 {
            return Err(Failure::Usage(
                "`-` (stdin) cannot be formatted with other files".into(),
            ));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| Failure::Usage(format!("cannot read stdin: {e}")))?;
        let source = workflow::source_from_bytes("<stdin>", bytes)?;
        let formatted = fmt::format_source(source)?;
        if check && formatted.changed() {
            println!("<stdin>");
            return Err(Failure::Failed("<stdin> would be reformatted".into()));
        }
        if !check {
            print!("{}", formatted.formatted);
        }
        return Ok(());
    }
    let mut worst: Option<Failure> = None;
    let mut would_change = 0;
    for path in fmt::model_files(paths)? {
        let result = fmt::format_file(&path).and_then(|f| {
            if !f.changed() {
                Ok(false)
            } else if check {
                println!("{}", path.display());
                Ok(true)
            } else {
                cnnc::atomic::write(&path, f.formatted.as_bytes())
                    .map(|()| true)
                    .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))
            }
        });
        match result {
            Ok(changed) => would_change += usize::from(changed && check),
            Err(failure) => {
                let failure_code = failure.exit_code();
                report(failure);
                if worst.as_ref().is_none_or(|w| w.exit_code() < failure_code) {
                    worst = Some(Failure::Failed("some files could not be formatted".into()));
                    if failure_code == 2 {
                        worst = Some(Failure::Usage("some files could not be formatted".into()));
                    }
                }
            }
        }
    }
    if let Some(failure) = worst {
        return Err(failure);
    }
    if would_change > 0 {
        return Err(Failure::Failed(format!(
            "{would_change} file(s) would be reformatted"
        )));
    }
    Ok(())
}

/// `cnnc lsp`: the language server on stdio until the client exits.
pub fn lsp() -> Result<(), Failure> {
    cnnc::lsp::serve_stdio().map_err(|e| Failure::Failed(format!("language server: {e}")))
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
pub static STOP: AtomicBool = AtomicBool::new(false);

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

pub fn run_train(command: TrainCommand) -> Result<(), Failure> {
    let TrainCommand {
        file,
        shape,
        data,
        train: args,
        out,
        init,
        resume,
        until_epoch,
        device,
    } = command;
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
        Some(dir) => workflow::resume(&gpu, &dir, until_epoch, &mut progress, &STOP)?,
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
                until_epoch,
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
        Outcome::Paused { epochs } => {
            println!("paused after epoch {epochs}; continue with: cnnc train --resume {dir}");
            return Ok(());
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

pub fn eval(command: &EvalCommand) -> Result<(), Failure> {
    let EvalCommand {
        model: args,
        weights,
        data,
        train_split,
        limit,
        seed,
        batch,
        json,
        device,
    } = command;
    let gpu = device.open()?;
    let request = DataRequest {
        spec: data.clone(),
        limit: *limit,
        val_split: None,
        val_limit: *limit,
        seed: *seed,
    };
    let (what, report) = workflow::eval(
        &gpu,
        &model_request(args),
        weights,
        &request,
        *batch,
        *train_split,
    )?;
    if *json {
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

/// `compare`'s three ways: plan a sweep, collect one, or both around
/// training every variant here.
pub fn compare(args: CompareCommand) -> Result<(), Failure> {
    let (train, device) = (&args.train, &args.device);
    if let Some(dir) = &args.collect {
        let report = compare::collect(dir)?;
        return finish_report(&report, dir);
    }
    let binary = args.sweep.binary()?;
    let plan = compare::PlanRequest {
        variants: compare::variants(&args.files, &args.sweeps, &train.augment),
        input: args.input,
        data: train.data(args.data.clone().expect("clap requires --data without --collect")),
        options: train.options()?,
        binary,
        gpus_per_task: args.sweep.slurm_gpus,
    };
    if let Some(dir) = &args.plan {
        let sweep = compare::plan::write(&plan, dir)?;
        let dir = dir.display();
        println!(
            "planned {} runs in {dir}: sweep.json, jobs.txt, slurm.sbatch\n\
             run them with `sbatch {dir}/slurm.sbatch` (a Slurm array job) or `parallel -j 2 < {dir}/jobs.txt`,\n\
             then `cnnc compare --collect {dir}`",
            sweep.variants.len()
        );
        return Ok(());
    }
    let gpu = device.open()?;
    stop_on_ctrl_c();
    eprintln!("adapter: {}", gpu.describe());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workflow::default_run_dir("compare"));
    let report = compare::run(&gpu, &plan, &out, &STOP)?;
    finish_report(&report, &out)
}

/// Writes the report into the sweep's directory and prints it; an
/// incomplete report (a variant failed or has not finished) is exit 1.
fn finish_report(report: &compare::Report, dir: &std::path::Path) -> Result<(), Failure> {
    report.write(dir).map_err(Failure::Usage)?;
    println!("\n{}", report.to_text());
    println!(
        "report: {}/report.md (and report.json, report.csv, charts)",
        dir.display()
    );
    if report.complete() {
        return Ok(());
    }
    let missing: Vec<String> = report
        .rows
        .iter()
        .filter(|r| r.status != compare::RowStatus::Finished)
        .map(|r| {
            format!(
                "{} ({})",
                r.name,
                serde_json::to_value(r.status)
                    .expect("a status serialises")
                    .as_str()
                    .unwrap_or("?")
                    .replace('_', " ")
            )
        })
        .collect();
    Err(Failure::Failed(format!(
        "the report is incomplete: {} of {} variants did not finish: {}",
        missing.len(),
        report.rows.len(),
        missing.join(", ")
    )))
}

pub fn bench(command: &BenchCommand) -> Result<(), Failure> {
    let args = &command.model;
    let (source, model) = load(args)?;
    let gpu = command.device.open()?;
    let options = cnnc::app::bench::BenchOptions {
        batch: command.batch,
        steps: command.steps,
        warmup: command.warmup,
        optimizer: command.optimizer.into(),
        gemm: !command.no_gemm,
        fresh_ceiling: command.fresh_ceiling,
    };
    let report = cnnc::app::bench::run(&gpu, &source, &model, &options)?;
    if command.json {
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
    let loaded = workflow::trained_model(&model_request(args), weights)?;
    if let Some(out) = &targets.onnx {
        let written = workflow::export_onnx(&loaded, out)?;
        println!(
            "wrote {} ({} nodes, {} initializers, {}): input `input` [N, C, H, W] in [0, 1], output `probabilities`",
            out.display(),
            written.nodes,
            written.initializers,
            human_bytes(written.bytes as u128)
        );
    }
    if let Some(dir) = &targets.web {
        let export = workflow::export_web(&loaded, dir)?;
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
    let adapters = cnnc::runtime::AdapterListing::all();
    if adapters.is_empty() {
        println!(
            "no adapters; on a machine without a GPU, install Mesa's lavapipe: apt-get install mesa-vulkan-drivers"
        );
    }
    for (i, adapter) in adapters.iter().enumerate() {
        println!("{i}: {adapter}");
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

/// `cnnc data`: the catalogue of standard sets, their downloads and cache.
pub fn data(action: &DataAction) -> Result<(), Failure> {
    use cnnc::data::named::{Catalogue, Named, Store};
    let usage = |e: cnnc::data::named::FetchError| Failure::Usage(e.to_string());
    let store = Store::from_env().map_err(usage)?;
    let catalogue = Catalogue::official();
    let set = |name: Named| {
        catalogue
            .set(name.set())
            .ok_or_else(|| Failure::Usage(format!("`{name}` is not in the catalogue")))
    };
    match action {
        DataAction::List => print_data_list(&store, &catalogue),
        DataAction::Get { names } => {
            for name in names {
                let dir = store.ensure(set(*name)?).map_err(usage)?;
                println!("{name}: {}", dir.display());
            }
        }
        DataAction::Path { name } => {
            let spec = set(*name)?;
            if !store.is_cached(spec) {
                return Err(Failure::Usage(format!(
                    "{name} is not in the cache yet ({}); `cnnc data get {name}` downloads it",
                    store.folder(spec).display()
                )));
            }
            println!("{}", store.data_dir(spec).display());
        }
    }
    Ok(())
}

fn print_data_list(store: &cnnc::data::named::Store, catalogue: &cnnc::data::named::Catalogue) {
    println!("cache: {} (CNNC_DATA_DIR)", store.root.display());
    if let Some(mirror) = &store.mirror {
        println!("mirror: {mirror} (CNNC_DATA_MIRROR)");
    }
    println!();
    println!("{:<14} {:>10}  {:<6}  holds", "name", "download", "cached");
    for row in store.list(&catalogue.sets) {
        println!(
            "{:<14} {:>10}  {:<6}  {}",
            row.name,
            human_bytes(row.bytes as u128),
            if row.cached { "yes" } else { "no" },
            row.description
        );
    }
    println!();
    println!("`cnnc data get NAME` downloads a set; `--data NAME` downloads it on first use.");
}
