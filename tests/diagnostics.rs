//! Every bad model under `tests/errors/` gets a precise, located message.
//! The snapshots hold the whole rendered text, as `cnnc check` prints it.

use cnnc::diagnostic::render;
use cnnc::model::CheckOptions;
use cnnc::source::{Source, SourceError};

/// What `cnnc check` would print for the file's bytes.
fn check_output(name: &str, bytes: Vec<u8>) -> String {
    let path = format!("errors/{name}");
    let source = match Source::from_bytes(path.clone(), bytes) {
        Ok(source) => source,
        Err(SourceError::NotText { text, diagnostic, .. }) => return render(&path, &text, &[*diagnostic]),
        Err(e) => panic!("{e}"),
    };
    let options = CheckOptions {
        default_name: source.stem(),
        ..CheckOptions::default()
    };
    match cnnc::load(&source, &options) {
        Ok(model) => panic!("{name} is expected to be invalid, but checked as {model:?}"),
        Err(d) => render(&source.path, &source.text, &d.0),
    }
}

#[test]
fn bad_models() {
    insta::glob!("errors/*.cnn", |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let output = check_output(&name, std::fs::read(path).unwrap());
        insta::assert_snapshot!(output);
    });
}

#[test]
fn there_are_at_least_twenty_distinct_diagnostics() {
    let mut titles = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/errors")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let output = check_output(&name, std::fs::read(&path).unwrap());
        let first = output.lines().next().unwrap().to_string();
        assert!(first.starts_with("error"), "{name}: {output}");
        titles.insert(first);
    }
    assert!(titles.len() >= 20, "only {} distinct: {titles:#?}", titles.len());
}

fn check_with(src: &str, options: CheckOptions) -> String {
    let source = Source::new("m.cnn", src);
    match cnnc::load(&source, &options) {
        Ok(model) => panic!("expected an error, got {model:?}"),
        Err(d) => render("m.cnn", src, &d.0),
    }
}

#[test]
fn set_of_an_undeclared_parameter() {
    let options = CheckOptions {
        overrides: vec![("widht".into(), 64)],
        ..CheckOptions::default()
    };
    insta::assert_snapshot!(check_with(
        "param width = 32\ninput 28x28x1\nconv width 3x3\ndense 10 softmax",
        options
    ));
}

#[test]
fn set_on_a_model_without_parameters() {
    let options = CheckOptions {
        overrides: vec![("width".into(), 64)],
        ..CheckOptions::default()
    };
    insta::assert_snapshot!(check_with("input 28x28x1\ndense 10 softmax", options));
}

#[test]
fn command_line_input_disagrees_with_the_file() {
    let options = CheckOptions {
        input: Some([32, 32, 3]),
        ..CheckOptions::default()
    };
    insta::assert_snapshot!(check_with("input 28x28x1\ndense 10 softmax", options));
}

#[test]
fn set_value_that_makes_a_count_zero() {
    let options = CheckOptions {
        overrides: vec![("width".into(), 0)],
        ..CheckOptions::default()
    };
    insta::assert_snapshot!(check_with(
        "param width = 32\ninput 28x28x1\nconv width 3x3\ndense 10 softmax",
        options
    ));
}
