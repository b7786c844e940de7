//! `cnnc fmt`: the canonical layout of every example (snapshots), and that
//! formatting never changes what a file means: on every example, every
//! test model and the fuzz seeds, the checked model (names, kinds, wiring,
//! shapes, parameters) or the diagnostics are the same before and after,
//! and formatting twice changes nothing.

mod common;

use std::path::{Path, PathBuf};

use cnnc::Model;
use cnnc::diagnostic::Diagnostics;
use cnnc::model::CheckOptions;
use cnnc::source::Source;
use common::{cnnc, text};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.cnn` file of the examples, the test models and the fuzz seeds.
fn model_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "examples",
        "tests/errors",
        "tests/warnings",
        "fuzz/seeds/parse_check",
        "fuzz/seeds/lower",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "cnn") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 100, "{}", files.len());
    files
}

/// What checking says, without spans (which formatting moves): the whole
/// model as a table of layers, or every message and label.
fn meaning(text: &str, options: &CheckOptions) -> String {
    let checked: Result<Model, Diagnostics> = cnnc::load(&Source::new("m.cnn", text), options);
    match checked {
        Ok(m) => {
            let mut out = format!("{} {} {:?} {:?}\n", m.name, m.input, m.params, m.params());
            for l in &m.layers {
                out.push_str(&format!(
                    "{} {:?} {:?} {} -> {} {:?} {}\n",
                    l.name,
                    l.kind,
                    l.inputs,
                    l.input,
                    l.output,
                    l.params(),
                    l.flops()
                ));
            }
            for w in &m.warnings {
                out.push_str(&format!("warning {}\n", w.message));
            }
            out
        }
        Err(d) => {
            d.0.iter()
                .map(|d| {
                    let labels: Vec<&str> = d.labels.iter().map(|(_, l)| l.as_str()).collect();
                    format!("error {} {labels:?} {:?} {:?}\n", d.message, d.notes, d.help)
                })
                .collect()
        }
    }
}

#[test]
fn formatting_keeps_meaning_and_is_idempotent_on_every_model() {
    let mut formatted_count = 0;
    for path in model_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not UTF-8: `cnnc fmt` refuses it before formatting
        };
        let name = path.display();
        match cnnc::format::format(&text) {
            Ok(once) => {
                formatted_count += 1;
                let twice = cnnc::format::format(&once).unwrap_or_else(|e| panic!("{name}: {e:?}\n{once}"));
                assert_eq!(once, twice, "{name}: not idempotent");
                for options in [
                    CheckOptions::default(),
                    CheckOptions {
                        input: Some([9, 8, 3]),
                        overrides: vec![("width".into(), 4)],
                        ..CheckOptions::default()
                    },
                ] {
                    assert_eq!(
                        meaning(&text, &options),
                        meaning(&once, &options),
                        "{name}: meaning changed\n{once}"
                    );
                }
            }
            Err(refused) => {
                // Refused exactly when it does not parse, with the parser's
                // own diagnostics.
                let parsed = cnnc::syntax::parse(&text, cnnc::kinds::SIGNATURES)
                    .expect_err("refused only when it does not parse");
                assert_eq!(refused, parsed, "{name}");
            }
        }
    }
    assert!(formatted_count > 60, "{formatted_count}");
}

#[test]
fn examples_in_canonical_layout() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
        "*.cnn",
        |path| {
            let text = std::fs::read_to_string(path).unwrap();
            let formatted = cnnc::format::format(&text).unwrap();
            assert_eq!(formatted, text, "{} is not formatted", path.display());
            insta::assert_snapshot!(formatted);
        }
    );
}

#[test]
fn a_messy_model_formats_to_the_canonical_layout() {
    let messy = "# a residual pair\nmodel  m ;param w=4\ninput 8x8x1\n\n\n\nblock  pair( f,g = 2 )\nconv f 3x3 relu same   # first\n    main:conv g*(f+1) 3x3 same\nadd   main in\nend\nskip:conv w 1x1;pair(w) ;add skip\n";
    insta::assert_snapshot!(cnnc::format::format(messy).unwrap());
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_lists_files_that_would_change_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let messy = write(dir.path(), "messy.cnn", "input 8x8x1; dense 2\n");
    write(dir.path(), "tidy.cnn", "input 8x8x1\ndense 2\n");
    let out = cnnc(&["fmt", "--check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), messy.display().to_string());
    assert!(text(&out.stderr).contains("1 file(s) would be reformatted"));
    // Nothing was written.
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), "input 8x8x1; dense 2\n");

    let out = cnnc(&["fmt", messy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), "input 8x8x1\ndense 2\n");
    let out = cnnc(&["fmt", "--check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_linked_directory_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let messy = write(dir.path(), "messy.cnn", "input 8x8x1; dense 2\n");
    // A link to the folder itself: following it would never end.
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let out = cnnc(&["fmt", "--check", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), messy.display().to_string());
}

#[test]
fn the_examples_pass_check() {
    let out = cnnc(&["fmt", "--check", "examples/"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn stdin_to_stdout_and_refusal_of_a_broken_file() {
    use std::io::Write;
    let mut child = common::command(&["fmt", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"input 8x8x1 ;dense  2 softmax")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "input 8x8x1\ndense 2 softmax\n");

    let dir = tempfile::tempdir().unwrap();
    let broken = write(dir.path(), "broken.cnn", "input 8x8x1;conv 3 3x3 rellu\n");
    let out = cnnc(&["fmt", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown activation `rellu`") && err.contains("broken.cnn:1:24"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "input 8x8x1;conv 3 3x3 rellu\n"
    );
}

/// Every activation, fused and alone, formats to its keyword (`swish` to
/// `silu`, its other name) without changing what the model is.
#[test]
fn every_activation_formats_to_its_keyword() {
    let mut text = String::from("input 8x8x3\n");
    for word in cnnc::activation::Activation::words().filter(|&w| w != "softmax") {
        text.push_str(&format!("conv 4 3x3 {word} same\n{word}\n"));
    }
    text.push_str("dense 3 softmax\n");
    let formatted = cnnc::format::format(&text).unwrap();
    let options = CheckOptions::default();
    assert!(
        meaning(&text, &options).contains("silu"),
        "{}",
        meaning(&text, &options)
    );
    assert_eq!(meaning(&formatted, &options), meaning(&text, &options));
    assert_eq!(cnnc::format::format(&formatted).unwrap(), formatted);
    assert!(formatted.contains("conv 4 3x3 same silu\nsilu\n"), "{formatted}");
    assert!(
        !formatted.contains("\nswish\n") && formatted.contains("\nhard_swish\n"),
        "{formatted}"
    );
}
