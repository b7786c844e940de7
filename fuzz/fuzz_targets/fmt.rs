//! Any text through `cnnc fmt`: nothing may panic; a file it formats must
//! format to itself again and mean the same (the same model, or the same
//! diagnostics); a file it refuses must be one that does not parse.
#![no_main]

use cnnc::model::CheckOptions;
use cnnc::source::Source;
use libfuzzer_sys::fuzz_target;

fn meaning(text: &str) -> String {
    let options = CheckOptions {
        input: Some([9, 8, 3]),
        ..CheckOptions::default()
    };
    match cnnc::load(&Source::new("fuzz.cnn", text), &options) {
        Ok(m) => m
            .layers
            .iter()
            .map(|l| format!("{} {:?} {:?} {} {}\n", l.name, l.kind, l.inputs, l.output, l.params().total()))
            .collect(),
        Err(d) => d.0.iter().map(|d| format!("{}\n", d.message)).collect(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match cnnc::format::format(text) {
        Ok(once) => {
            let twice = cnnc::format::format(&once).expect("formatted text parses");
            assert_eq!(once, twice, "not idempotent");
            assert_eq!(meaning(text), meaning(&once), "meaning changed");
        }
        Err(_) => assert!(cnnc::syntax::parse(text, cnnc::kinds::SIGNATURES).is_err(), "refused a file that parses"),
    }
});
