//! `cnnc search` end to end: in this process, planned and run rung by rung
//! elsewhere (lines of jobs.txt in reverse order from another directory,
//! GNU parallel), killed and resumed; each the same report, weights bit for
//! bit, and the best configuration's weights those of an uninterrupted
//! `cnnc train` of it. Constraints prune before training.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{cnnc, ok, text};
use serde_json::Value;

const MODEL: &str = "param width = 2\ninput 28x28x1\nconv width 3x3 relu\npool 2\ndense 10 softmax\n";

/// Six widths, 128 digits, `max_epochs` at most (with 3: rungs of 6 x 1
/// and 2 x 3).
fn search_args(model: &Path, max_epochs: &str) -> Vec<String> {
    let mut args: Vec<String> = vec!["search".into(), model.display().to_string()];
    for a in [
        "--param",
        "width=1..6",
        "--data",
        "mnist:data/mnist",
        "--limit",
        "128",
        "--val-limit",
        "64",
        "--batch",
        "16",
        "--max-epochs",
        max_epochs,
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

fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn report_json(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// The report without what times the runs: seconds, speeds, and so the
/// front over time.
fn untimed(mut report: Value) -> Value {
    for row in report["rows"].as_array_mut().unwrap() {
        let row = row.as_object_mut().unwrap();
        for key in ["train_seconds", "train_images_per_s", "seconds_per_epoch"] {
            row.remove(key);
        }
        row["front"].as_object_mut().unwrap().remove("time");
        for epoch in row["epochs"].as_array_mut().unwrap() {
            let epoch = epoch.as_object_mut().unwrap();
            epoch.remove("seconds");
            epoch.remove("images_per_s");
        }
    }
    report
}

fn run_line(line: &str) -> std::process::Child {
    Command::new("bash")
        .args(["-c", line])
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs")
}

fn wait_ok(child: std::process::Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "a job failed: {}", text(&out.stderr));
}

/// Runs each rung's jobs with `run_rung` and collects, until the search
/// reports; returns how many rungs ran.
fn run_planned(dir: &Path, mut run_rung: impl FnMut(&Path)) -> usize {
    let mut rungs = 0;
    while dir.join("jobs.txt").exists() {
        assert!(rungs < 5, "the search does not end");
        run_rung(&dir.join("jobs.txt"));
        ok(&cnnc(&["search", "--collect", dir.to_str().unwrap()]));
        rungs += 1;
    }
    rungs
}

/// The trained rows' run directories.
fn trained_runs(report: &Value) -> Vec<String> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trained"] == true)
        .map(|r| r["run_dir"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_planned_search_run_anywhere_gives_the_in_process_report() {
    let (tmp, model) = scratch();
    let here = tmp.path().join("here");
    let out = ok(&run_cnnc(&with(
        search_args(&model, "3"),
        &["--out", here.to_str().unwrap()],
    )));
    assert!(out.contains("Best: tiny width="), "{out}");
    let a = report_json(&here);
    assert_eq!(a["done"], true);
    let schedule: Vec<(u64, u64)> = a["schedule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["configs"].as_u64().unwrap(), r["epochs"].as_u64().unwrap()))
        .collect();
    assert_eq!(schedule, [(6, 1), (2, 3)]);
    assert_eq!(a["spent"]["epochs"], 6 + 2 * 2, "6 x 1 epoch, then 2 more for 2");
    assert_eq!(a["spent"]["grid_epochs"], 18);
    let reached: Vec<u64> = a["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["epochs_reached"].as_u64().unwrap())
        .collect();
    assert_eq!(reached.iter().filter(|&&e| e == 3).count(), 2, "{reached:?}");
    assert_eq!(reached.iter().filter(|&&e| e == 1).count(), 4, "{reached:?}");
    assert!(!here.join("jobs.txt").exists(), "no jobs left once done");

    let there = tmp.path().join("there");
    let planned = ok(&run_cnnc(&with(
        search_args(&model, "3"),
        &["--plan", there.to_str().unwrap()],
    )));
    assert!(planned.contains("rung 1 trains 6 runs to epoch 1"), "{planned}");
    // Each rung's lines out of order, two at a time, from another directory.
    let rungs = run_planned(&there, |jobs| {
        let lines: Vec<String> = std::fs::read_to_string(jobs)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        for pair in lines.rchunks(2) {
            let children: Vec<_> = pair.iter().map(|l| run_line(l)).collect();
            children.into_iter().for_each(wait_ok);
        }
    });
    assert_eq!(rungs, 2);
    let b = report_json(&there);
    assert_eq!(untimed(a.clone()), untimed(b.clone()));
    assert_ne!(
        a, b,
        "the timing differs, so the comparison above removed something"
    );
    for run in trained_runs(&a) {
        for weights in ["model.safetensors", "best.safetensors"] {
            let x = std::fs::read(here.join(&run).join(weights)).unwrap();
            let y = std::fs::read(there.join(&run).join(weights)).unwrap();
            assert!(x == y, "{run}/{weights} differ");
        }
    }
    for chart in [
        "val_accuracy.png",
        "accuracy_vs_params.png",
        "accuracy_vs_flops.png",
        "accuracy_vs_time.png",
    ] {
        assert!(there.join(chart).is_file(), "{chart}");
    }

    // The best configuration, trained by the command the report gives
    // (uninterrupted), has the weights the search's continued run has.
    let best = &a["best"];
    let words = shlex::split(best["command"].as_str().unwrap()).unwrap();
    let alone = tmp.path().join("alone");
    let out_at = words.iter().position(|w| w == "--out").unwrap();
    let mut args: Vec<String> = words[1..out_at].to_vec();
    args.extend(["--out".into(), alone.display().to_string()]);
    ok(&run_cnnc(&args));
    let run = here.join(best["weights"].as_str().unwrap());
    assert!(
        std::fs::read(run).unwrap() == std::fs::read(alone.join("best.safetensors")).unwrap(),
        "the search's best weights are an uninterrupted run's"
    );
}

#[test]
fn gnu_parallel_runs_each_rung() {
    if Command::new("parallel").arg("--version").output().is_err() {
        eprintln!("skipped: GNU parallel is not installed (apt-get install parallel; .ci/run installs it)");
        return;
    }
    let (tmp, model) = scratch();
    let dir = tmp.path().join("search");
    ok(&run_cnnc(&with(
        search_args(&model, "3"),
        &["--plan", dir.to_str().unwrap()],
    )));
    // Collecting before the jobs ran waits for them, and says so.
    let early = cnnc(&["search", "--collect", dir.to_str().unwrap()]);
    assert_eq!(early.status.code(), Some(1));
    assert!(
        text(&early.stderr).contains("rung 1 is not done: 6 run(s)"),
        "{}",
        text(&early.stderr)
    );
    let rungs = run_planned(&dir, |jobs| {
        let out = Command::new("parallel")
            .args(["--will-cite", "-j", "2", "--halt", "now,fail=1"])
            .stdin(std::fs::File::open(jobs).unwrap())
            .current_dir("/")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    });
    assert_eq!(rungs, 2);
    let report = report_json(&dir);
    assert_eq!(report["done"], true);
    assert_eq!(trained_runs(&report).len(), 6);
}

#[test]
fn a_killed_search_resumes_to_the_same_report() {
    let (tmp, model) = scratch();
    let whole = tmp.path().join("whole");
    ok(&run_cnnc(&with(
        search_args(&model, "3"),
        &["--out", whole.to_str().unwrap()],
    )));

    let killed = tmp.path().join("killed");
    let args = with(search_args(&model, "3"), &["--out", killed.to_str().unwrap()]);
    let mut child = common::command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the third configuration's run has begun.
    while !killed.join("runs/tiny-width3/config.json").exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let collect = cnnc(&["search", "--collect", killed.to_str().unwrap()]);
    assert_eq!(collect.status.code(), Some(1), "the rung is not done");

    ok(&cnnc(&["search", "--resume", killed.to_str().unwrap()]));
    assert_eq!(untimed(report_json(&whole)), untimed(report_json(&killed)));
    // Resuming a search that is done changes nothing.
    let before = report_json(&killed);
    ok(&cnnc(&["search", "--resume", killed.to_str().unwrap()]));
    assert_eq!(report_json(&killed), before);
}

#[test]
fn constraints_prune_before_training() {
    let (tmp, model) = scratch();
    let dir = tmp.path().join("search");
    // Width w has 1,700 w + 10 parameters: at most 5,110 keeps 1, 2 and 3.
    let args = with(
        search_args(&model, "1"),
        &["--max-params", "5110", "--out", dir.to_str().unwrap()],
    );
    ok(&run_cnnc(&args));
    let report = report_json(&dir);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for row in rows {
        let width = row["settings"]["width"].as_i64().unwrap();
        let run = dir.join("runs").join(format!("tiny-width{width}"));
        if width <= 3 {
            assert_eq!(row["trained"], true, "{row}");
            assert!(run.exists());
        } else {
            assert_eq!(row["trained"], false, "{row}");
            assert!(
                row["stopped"]
                    .as_str()
                    .unwrap()
                    .contains("parameters, over --max-params 5,110"),
                "{row}"
            );
            assert!(!run.exists(), "a pruned configuration never trains");
        }
    }
    assert_eq!(report["schedule"][0]["configs"], 3);

    // A step time no configuration meets prunes them all: nothing to search.
    let none = cnnc(&[
        "search",
        model.to_str().unwrap(),
        "--param",
        "width=1,2",
        "--data",
        "mnist:data/mnist",
        "--max-epochs",
        "1",
        "--max-step-ms",
        "0.000001",
        "--plan",
        tmp.path().join("none").to_str().unwrap(),
    ]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none.stderr));
    let stderr = text(&none.stderr);
    assert!(stderr.contains("every configuration was pruned"), "{stderr}");
    assert!(
        stderr.contains("ms per training step, over --max-step-ms"),
        "{stderr}"
    );
}

#[test]
fn search_refuses_what_it_cannot_honour() {
    let (_tmp, model) = scratch();
    let m = model.to_str().unwrap();
    let base = [
        "search",
        m,
        "--data",
        "mnist:data/mnist",
        "--param",
        "width=1,2",
        "--max-epochs",
        "3",
    ];
    for (extra, says) in [
        (&["--epochs", "2"][..], "it takes no --epochs"),
        (&["--steps", "5"][..], "--steps does not go with search"),
        (
            &["--min-epochs", "4"][..],
            "--min-epochs must be at least 1 and at most --max-epochs (3)",
        ),
        (&["--set", "width=3"][..], "`width` is given twice"),
        (&["--keep", "3/2"][..], "expected a fraction P/Q below 1"),
        (&["--param", "depth=4..1"][..], "the range 4..1 is empty"),
    ] {
        let out = cnnc(&[&base[..], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(says),
            "{extra:?}: {}",
            text(&out.stderr)
        );
    }
}
