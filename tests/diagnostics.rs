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

/// `depth` blocks, each using the one before it (`twice`: two times).
fn nested_blocks(depth: usize, twice: bool) -> String {
    let mut text = String::from("input 4x4x1\nblock b0()\n  relu\nend\n");
    for i in 1..depth {
        let body = format!("  b{}()\n", i - 1);
        let body = if twice { body.repeat(2) } else { body };
        text += &format!("block b{i}()\n{body}end\n");
    }
    text + &format!("b{}()\ndense 2\n", depth - 1)
}

/// The first line of what `check` says.
fn first_error(text: &str) -> String {
    let source = Source::new("deep.cnn", text);
    let errors = cnnc::load(&source, &CheckOptions::default()).unwrap_err();
    errors.0[0].message.clone()
}

/// 6,000 nested uses overflowed the checker's stack (on this test's
/// thread, 2 MiB, as on the main thread at 30,000); now a located error.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    assert_eq!(
        first_error(&nested_blocks(6000, false)),
        "blocks are used inside each other more than 64 deep"
    );
}

/// Forty blocks that each use the one before twice expand to 2^40 layers:
/// the expansion stops at the layer limit instead of running for ever.
#[test]
fn doubling_blocks_stop_at_the_layer_limit() {
    assert_eq!(
        first_error(&nested_blocks(40, true)),
        "the model expands to more than 10000 layers"
    );
}
