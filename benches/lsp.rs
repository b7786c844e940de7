//! The language server's answer to an edit: a `didChange` on a 200-line
//! model (parse, check, index, diagnostics) through `Server::handle`
//! (`cargo bench --bench lsp`).

use std::hint::black_box;

use cnnc::lsp::Server;
use cnnc::model::CheckOptions;
use criterion::{Criterion, criterion_group, criterion_main};
use lsp_server::{Message, Notification};
use serde_json::json;

/// A 200-line model: ResNet-style blocks, each used, with comments.
fn model_of_200_lines() -> String {
    let mut text = String::from("model long\nparam width = 8\ninput 32x32x3\n\n");
    text.push_str(
        "block basic(f)\n  conv f 3x3 same relu   # first\n  conv f 3x3 same\n  add in\n  relu\nend\n\n",
    );
    text.push_str("conv width 3x3 same relu\n");
    let mut lines = text.lines().count();
    let mut i = 0;
    while lines < 198 {
        text.push_str(&format!(
            "# stage {i}\nbasic(width)\nx{i}: batchnorm\nconv width 3x3 same\nadd x{i}\n"
        ));
        lines += 5;
        i += 1;
    }
    text.push_str("globalpool\ndense 10 softmax\n");
    text
}

fn change(c: &mut Criterion) {
    let text = model_of_200_lines();
    assert!(text.lines().count() >= 200, "{}", text.lines().count());
    let mut server = Server::new(CheckOptions::default());
    let uri = "file:///long.cnn";
    let open = json!({"textDocument": {"uri": uri, "languageId": "cnn", "version": 1, "text": text}});
    server.handle(Message::Notification(Notification::new(
        "textDocument/didOpen".into(),
        open,
    )));
    let diagnostics = server.document(uri).unwrap().diagnostics.len();
    assert_eq!(diagnostics, 0, "the benchmark model checks");
    let mut version = 1;
    c.bench_function("lsp change + diagnostics, 200 lines", |b| {
        b.iter(|| {
            version += 1;
            // An edit: the filter count typed anew.
            let edited = text.replacen("width = 8", &format!("width = {}", 8 + version % 2), 1);
            let change = json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": edited}]});
            let replies = server.handle(Message::Notification(Notification::new(
                "textDocument/didChange".into(),
                change,
            )));
            black_box(replies)
        })
    });
}

criterion_group!(benches, change);
criterion_main!(benches);
