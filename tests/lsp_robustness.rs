//! The language server answers every request, at every position, for
//! every text a user can have mid-edit: the parser's fuzz seeds, the test
//! models, and each of them cut after a few lines and mid-line,
//! with random edits (proptest).

use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut texts = Vec::new();
    for dir in [
        "examples",
        "tests/errors",
        "tests/warnings",
        "fuzz/seeds/parse_check",
    ] {
        let mut paths: Vec<_> = std::fs::read_dir(format!("{root}/{dir}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            if let Ok(text) = std::fs::read_to_string(&path) {
                texts.push(text);
            }
        }
    }
    assert!(texts.len() > 100);
    texts
}

#[test]
fn every_request_on_the_corpus_and_every_prefix_of_lines() {
    let mut answered = 0;
    for text in corpus() {
        answered += cnnc::lsp::exercise(&text);
        // Mid-edit: the file cut after a few lines, and mid-line.
        let breaks: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
        let step = (breaks.len() / 3).max(1);
        for &i in breaks.iter().step_by(step) {
            answered += cnnc::lsp::exercise(&text[..i]);
            let mid = (0..=i / 2).rev().find(|&j| text.is_char_boundary(j)).unwrap_or(0);
            answered += cnnc::lsp::exercise(&text[..mid]);
        }
    }
    assert!(answered > 10_000, "{answered}");
}

fn mutation() -> impl Strategy<Value = (usize, usize, String)> {
    let piece = prop_oneof![
        Just(String::new()),
        Just("(".to_string()),
        Just(";".to_string()),
        Just("\n".to_string()),
        Just("block b(".to_string()),
        Just("end".to_string()),
        Just(": ".to_string()),
        Just("from ".to_string()),
        Just("é𝄞\r".to_string()),
        "[a-z0-9 ():;=#*x\n]{0,12}",
    ];
    (any::<usize>(), 0usize..16, piece)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn edits_of_the_examples(which in 0usize..13, edits in prop::collection::vec(mutation(), 1..4)) {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut paths: Vec<_> = std::fs::read_dir(format!("{root}/examples")).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        let mut text = std::fs::read_to_string(&paths[which % paths.len()]).unwrap();
        for (at, cut, insert) in edits {
            let mut start = at % (text.len() + 1);
            while !text.is_char_boundary(start) { start -= 1; }
            let mut end = (start + cut).min(text.len());
            while !text.is_char_boundary(end) { end += 1; }
            text.replace_range(start..end, &insert);
        }
        prop_assert!(cnnc::lsp::exercise(&text) > 0);
    }
}

/// 6,000 blocks each using the one before overflowed the server's stack
/// (the editor lost its server); now the file has a diagnostic and every
/// request is answered.
#[test]
fn six_thousand_nested_blocks() {
    let mut text = String::from("input 4x4x1\nblock b0()\n  relu\nend\n");
    for i in 1..6000 {
        text += &format!("block b{i}()\n  b{}()\nend\n", i - 1);
    }
    text += "b5999()\ndense 2\n";
    assert!(cnnc::lsp::exercise(&text) > 1000);
}
