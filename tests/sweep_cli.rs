//! Sweeps run elsewhere: `cnnc compare --plan DIR`, the lines of
//! `DIR/jobs.txt` run by anything (here: two at a time in reverse order,
//! and GNU parallel), then `cnnc compare --collect DIR`. The report must be
//! the in-process compare's, weights bit for bit, timing aside.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{cnnc, ok, text};
use serde_json::Value;

const MODEL: &str = "param width = 2\ninput 28x28x1\nconv width 3x3 relu\npool 2\ndense 10 softmax\n";

/// The sweep's flags: a model file, `--set`, the data and a tiny budget.
fn sweep_args(model: &Path, widths: &str) -> Vec<String> {
    let mut args: Vec<String> = vec!["compare".into(), model.display().to_string()];
    for a in [
        "--set",
        widths,
        "--data",
        "mnist:data/mnist",
        "--limit",
        "64",
        "--val-limit",
        "32",
        "--batch",
        "16",
        "--epochs",
        "2",
        "--augment",
        "none",
        "--augment",
        "shift:1",
    ] {
        args.push(a.into());
    }
    args
}

fn run_cnnc(args: &[String]) -> std::process::Output {
    cnnc(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.cnn");
    std::fs::write(&model, MODEL).unwrap();
    (dir, model)
}

fn plan(model: &Path, widths: &str, dir: &Path) -> Vec<String> {
    let mut args = sweep_args(model, widths);
    args.extend(["--plan".into(), dir.display().to_string()]);
    ok(&run_cnnc(&args));
    std::fs::read_to_string(dir.join("jobs.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// A line of jobs.txt as a shell runs it, from a directory of no interest.
fn spawn_line(line: &str) -> Child {
    Command::new("bash")
        .args(["-c", line])
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs")
}

fn wait_ok(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "a job failed: {}", text(&out.stderr));
}

fn report_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// The report without the fields that time the runs.
fn untimed(mut report: Value) -> Value {
    for row in report["rows"].as_array_mut().unwrap() {
        let row = row.as_object_mut().unwrap();
        row.remove("train_seconds");
        row.remove("train_images_per_s");
        for epoch in row["epochs"].as_array_mut().unwrap() {
            let epoch = epoch.as_object_mut().unwrap();
            epoch.remove("seconds");
            epoch.remove("images_per_s");
        }
    }
    report
}

#[test]
fn planned_jobs_run_anywhere_give_the_in_process_report() {
    let (tmp, model) = scratch();
    let here = tmp.path().join("here");
    let mut args = sweep_args(&model, "width=2,3");
    args.extend(["--out".into(), here.display().to_string()]);
    ok(&run_cnnc(&args));

    let there = tmp.path().join("there");
    let lines = plan(&model, "width=2,3", &there);
    assert_eq!(lines.len(), 4, "2 widths x 2 augmentations");
    // Out of order, two at a time, from another working directory.
    let mut reversed = lines.iter().rev();
    while let Some(first) = reversed.next() {
        let a = spawn_line(first);
        let b = reversed.next().map(|l| spawn_line(l));
        wait_ok(a);
        if let Some(b) = b {
            wait_ok(b);
        }
    }
    let collected = ok(&cnnc(&["compare", "--collect", there.to_str().unwrap()]));
    assert!(collected.contains("tiny width=3 augment=shift:1"), "{collected}");

    let (a, b) = (report_json(&here), report_json(&there));
    assert_eq!(a["rows"].as_array().unwrap().len(), 4);
    for row in a["rows"].as_array().unwrap() {
        assert_eq!(row["status"], "finished", "{row}");
        assert_eq!(row["epochs"].as_array().unwrap().len(), 2);
        assert!(row["final_val_accuracy"].as_f64().is_some());
    }
    assert_eq!(untimed(a.clone()), untimed(b.clone()));
    assert_ne!(
        a, b,
        "the timing differs, so the comparison above removed something"
    );
    for row in a["rows"].as_array().unwrap() {
        let run = row["run_dir"].as_str().unwrap();
        for weights in ["model.safetensors", "best.safetensors"] {
            let x = std::fs::read(here.join(run).join(weights)).unwrap();
            let y = std::fs::read(there.join(run).join(weights)).unwrap();
            assert!(x == y, "{run}/{weights} differ");
        }
    }
    // Collecting again reads the same runs into the same report.
    ok(&cnnc(&["compare", "--collect", there.to_str().unwrap()]));
    assert_eq!(report_json(&there), b);
    for chart in ["val_accuracy.png", "accuracy_vs_params.png", "speed_vs_flops.png"] {
        assert!(there.join(chart).is_file(), "{chart}");
    }
}

#[test]
fn gnu_parallel_runs_the_jobs() {
    if Command::new("parallel").arg("--version").output().is_err() {
        eprintln!("skipped: GNU parallel is not installed (apt-get install parallel; .ci/run installs it)");
        return;
    }
    let (tmp, model) = scratch();
    let dir = tmp.path().join("sweep");
    plan(&model, "width=2", &dir);
    let jobs = std::fs::File::open(dir.join("jobs.txt")).unwrap();
    let out = Command::new("parallel")
        .args(["--will-cite", "-j", "2", "--halt", "now,fail=1"])
        .stdin(jobs)
        .current_dir("/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    ok(&cnnc(&["compare", "--collect", dir.to_str().unwrap()]));
    let report = report_json(&dir);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "finished"), "{report}");
}

#[test]
fn collecting_says_which_runs_failed_or_have_not_finished() {
    let (tmp, model) = scratch();
    let dir = tmp.path().join("sweep");
    // width=0 cannot check: its job fails and says so in its run directory.
    let lines: Vec<String> = plan(&model, "width=2,0,3", &dir)
        .into_iter()
        .filter(|l| l.contains("shift:1"))
        .collect();
    wait_ok(spawn_line(&lines[0]));
    let failed = spawn_line(&lines[1]).wait_with_output().unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));

    let collect = || cnnc(&["compare", "--collect", dir.to_str().unwrap()]);
    let statuses = || -> Vec<(String, String)> {
        report_json(&dir)["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"].as_str().unwrap().ends_with("shift:1"))
            .map(|r| {
                let note = r["error"].as_str().unwrap_or("").to_string();
                (r["status"].as_str().unwrap().to_string(), note)
            })
            .collect()
    };
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "an incomplete report");
    assert!(text(&out.stderr).contains("the report is incomplete: 5 of 6 variants did not finish"));
    let s = statuses();
    assert_eq!(s[0].0, "finished");
    assert_eq!(s[1].0, "failed");
    assert!(s[1].1.contains("filters must be at least 1"), "{}", s[1].1);
    assert_eq!(s[2].0, "not_started");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("not started: no runs/tiny-width3-augmentshift1"),
        "{md}"
    );

    // More runs finish: collecting again takes them in.
    wait_ok(spawn_line(&lines[2]));
    let first = collect();
    let again = collect();
    assert_eq!(text(&first.stdout), text(&again.stdout));
    assert_eq!(statuses()[2].0, "finished");

    // A run killed without a word has no status; one whose weights are
    // gone is no finished run.
    let run = dir.join("runs/tiny-width3-augmentshift1");
    std::fs::remove_file(run.join("status.json")).unwrap();
    assert_eq!(collect().status.code(), Some(1), "still incomplete");
    assert_eq!(statuses()[2].0, "unfinished");
    assert!(
        statuses()[2].1.contains("unfinished: 2 of 2 epochs done"),
        "{:?}",
        statuses()
    );
    let run = dir.join("runs/tiny-width2-augmentshift1");
    std::fs::remove_file(run.join("model.safetensors")).unwrap();
    assert_eq!(collect().status.code(), Some(1), "still incomplete");
    assert_eq!(statuses()[0].0, "failed");
    assert!(statuses()[0].1.contains("model.safetensors is missing"));
}

#[test]
fn a_planned_command_carries_every_flag() {
    let (tmp, model) = scratch();
    let dir = tmp.path().join("sweep");
    let flags = [
        "--optimizer",
        "sgd",
        "--momentum",
        "0.8",
        "--lr",
        "0.03",
        "--seed",
        "5",
        "--val-split",
        "0.25",
        "--no-shuffle",
        "--steps",
        "3",
        "--patience",
        "4",
        "--weight-decay",
        "0.0005",
        "--lr-schedule",
        "step:1:0.5",
        "--warmup-epochs",
        "1",
        "--input",
        "28x28x1",
    ];
    let mut args = vec![
        "compare".to_string(),
        model.display().to_string(),
        "--set".into(),
        "width=3".into(),
        "--data".into(),
        "mnist:data/mnist".into(),
        "--limit".into(),
        "64".into(),
        "--augment".into(),
        "flip,crop:2".into(),
        "--plan".into(),
        dir.display().to_string(),
    ];
    args.extend(flags.iter().map(|s| s.to_string()));
    ok(&run_cnnc(&args));
    let sweep: Value = serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    let line = std::fs::read_to_string(dir.join("jobs.txt")).unwrap();
    wait_ok(spawn_line(line.trim_end()));
    let run = dir.join(sweep["variants"][0]["run_dir"].as_str().unwrap());
    let config: Value = serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["options"], sweep["options"],
        "the run trained with the sweep's options"
    );
    assert_eq!(config["options"]["augment"], sweep["options"]["augment"]);
    for key in ["data", "limit", "val_split", "val_limit"] {
        assert_eq!(config[key], sweep[key], "{key}");
    }
    assert_eq!(config["model"]["overrides"], serde_json::json!([["width", 3]]));
    assert_eq!(config["model"]["sha256"], sweep["models"][0]["sha256"]);
}

#[test]
fn in_process_compare_holds_every_variant_to_the_data_as_train_does() {
    let (tmp, model) = scratch();
    // The data (28x28x1, 10 classes) is loaded for the first file and kept;
    // the second file must still be refused as `cnnc train` refuses it.
    let narrow = tmp.path().join("narrow.cnn");
    std::fs::write(
        &narrow,
        "param width = 2\ninput 28x28x1\nconv width 3x3 relu\npool 2\ndense 5 softmax\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let mut args: Vec<String> = vec![
        "compare".into(),
        model.display().to_string(),
        narrow.display().to_string(),
    ];
    for a in [
        "--set",
        "width=2",
        "--data",
        "mnist:data/mnist",
        "--limit",
        "64",
        "--val-limit",
        "32",
        "--batch",
        "16",
        "--epochs",
        "1",
        "--out",
    ] {
        args.push(a.into());
    }
    args.push(out_dir.display().to_string());
    let out = run_cnnc(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = report_json(&out_dir);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{report}");
    let tiny_row = rows
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with("tiny"))
        .unwrap();
    assert_eq!(
        tiny_row["status"], "finished",
        "the model that fits trains: {tiny_row}"
    );
    let narrow_row = rows
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with("narrow"))
        .unwrap();
    assert_eq!(narrow_row["status"], "failed", "{narrow_row}");
    assert!(
        narrow_row["error"]
            .as_str()
            .unwrap()
            .contains("labels go up to 9"),
        "{narrow_row}"
    );
}
