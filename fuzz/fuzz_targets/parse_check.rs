//! Arbitrary bytes through reading, parsing, checking and rendering the
//! diagnostics: nothing may panic.
#![no_main]

use cnnc::model::CheckOptions;
use cnnc::source::{Source, SourceError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = match Source::from_bytes("fuzz.cnn".into(), data.to_vec()) {
        Ok(source) => source,
        Err(SourceError::NotText { text, diagnostic, .. }) => {
            cnnc::diagnostic::render("fuzz.cnn", &text, &[*diagnostic]);
            return;
        }
        Err(e) => panic!("{e}"),
    };
    // With and without a command-line input shape and an override.
    for options in [
        CheckOptions::default(),
        CheckOptions {
            input: Some([7, 5, 2]),
            overrides: vec![("width".into(), 3)],
            ..CheckOptions::default()
        },
    ] {
        match cnnc::load(&source, &options) {
            Ok(model) => {
                let _ = cnnc::app::summary::Summary::new(&model).to_table();
            }
            Err(d) => {
                let text = cnnc::diagnostic::render("fuzz.cnn", &source.text, &d.0);
                assert!(text.starts_with("error"));
            }
        }
    }
});
