//! `cnnc compare` through the binary: a tiny sweep on the shipped MNIST,
//! and its report files.

mod common;

use common::{cnnc, text};

/// The width sweep model, small enough for CI.
const MODEL: &str = "param width = 4\ninput 28x28x1\nconv width 3x3 relu\npool 2\nconv width*2 3x3 relu\npool 2\ndense 10 softmax\n";

fn summary_params(model: &str, width: i64) -> u64 {
    let out = cnnc(&["summary", model, "--set", &format!("width={width}"), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["total_params"].as_u64().unwrap()
}

#[test]
fn a_sweep_writes_a_report_with_charts() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sweep.cnn");
    std::fs::write(&model, MODEL).unwrap();
    let out_dir = dir.path().join("cmp");
    let model_arg = model.to_str().unwrap();
    // width=0 cannot check: its row says why, and the others still run.
    let out = cnnc(&[
        "compare",
        model_arg,
        "--set",
        "width=2,0,4",
        "--data",
        "mnist:data/mnist",
        "--limit",
        "128",
        "--val-limit",
        "64",
        "--batch",
        "32",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one variant failed: {stdout}\n{stderr}"
    );
    assert!(stderr.contains("[2/3] sweep width=0 failed"), "{stderr}");
    assert!(stderr.contains("filters must be at least 1"), "{stderr}");
    assert!(
        stdout.contains("sweep width=2") && stdout.contains("sweep width=4"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (row, width) in [(&rows[0], 2), (&rows[2], 4)] {
        assert_eq!(row["error"], serde_json::Value::Null);
        assert_eq!(row["settings"]["width"], width);
        assert_eq!(row["filters"], serde_json::json!([width, 2 * width]));
        assert_eq!(
            row["params"].as_u64().unwrap(),
            summary_params(model_arg, width),
            "params as summary says"
        );
        for key in [
            "flops_per_image",
            "activation_bytes_per_image",
            "train_seconds",
            "train_images_per_s",
        ] {
            assert!(row[key].as_f64().unwrap() > 0.0, "{key}");
        }
        let gap = row["final_train_accuracy"].as_f64().unwrap() - row["final_val_accuracy"].as_f64().unwrap();
        assert!((row["generalisation_gap"].as_f64().unwrap() - gap).abs() < 1e-9);
        assert_eq!(row["best_epoch"], 1);
        assert_eq!(row["status"], "finished");
        let run = out_dir.join(row["run_dir"].as_str().unwrap());
        assert!(run.join("model.safetensors").is_file() && run.join("metrics.csv").is_file());
    }
    assert_eq!(rows[1]["status"], "failed");
    assert!(
        rows[1]["error"]
            .as_str()
            .unwrap()
            .contains("filters must be at least 1")
    );

    let csv = std::fs::read_to_string(out_dir.join("report.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0].split(',').count(), 15);
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        md.contains("| sweep width=4 |") && md.contains("![validation accuracy per epoch](val_accuracy.png)")
    );

    for chart in ["val_accuracy.png", "accuracy_vs_params.png", "speed_vs_flops.png"] {
        let bytes = std::fs::read(out_dir.join(chart)).unwrap();
        assert!(bytes.len() > 10_000, "{chart} is {} bytes", bytes.len());
        let img = image::load_from_memory(&bytes).unwrap();
        assert!(img.width() >= 800 && img.height() >= 500, "{chart}");
    }
}
