//! Every request at every position of a text, through [`Server::handle`]:
//! what the fuzz target and the robustness tests run.

use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::json;

use super::Server;
use crate::model::CheckOptions;

/// Opens `text`, changes it to itself with its last line cut, and sends
/// each request at each position (every character of the first 300 lines,
/// up to 120 columns, and one past each line's end, and a line past the
/// end); returns the answers. Panics if a request goes unanswered or
/// is refused.
pub fn exercise(text: &str) -> usize {
    let mut server = Server::new(CheckOptions {
        input: Some([9, 8, 3]),
        ..CheckOptions::default()
    });
    let uri = "file:///fuzz.cnn";
    let open = json!({"textDocument": {"uri": uri, "languageId": "cnn", "version": 1, "text": text}});
    let cut = text.rfind('\n').map_or("", |i| &text[..i]);
    let change = json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": cut}]});
    let mut answers = 0;
    for (method, params) in [("textDocument/didOpen", open), ("textDocument/didChange", change)] {
        let published = server.handle(Message::Notification(Notification::new(method.into(), params)));
        assert_eq!(published.len(), 1, "{method} publishes diagnostics");
    }
    let document = json!({"textDocument": {"uri": uri}});
    let whole = json!({"start": {"line": 0, "character": 0}, "end": {"line": 9999, "character": 0}});
    let mut requests = vec![
        ("textDocument/documentSymbol", document.clone()),
        (
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": uri}, "range": whole}),
        ),
        (
            "textDocument/formatting",
            json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
        ),
    ];
    for (line, content) in text
        .split('\n')
        .take(300)
        .enumerate()
        .chain([(text.split('\n').count(), "")])
    {
        let columns = content.encode_utf16().count().min(120) + 1;
        for character in 0..=columns {
            let at =
                json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
            for method in [
                "textDocument/hover",
                "textDocument/completion",
                "textDocument/definition",
            ] {
                requests.push((method, at.clone()));
            }
            let mut references = at;
            references["context"] = json!({"includeDeclaration": true});
            requests.push(("textDocument/references", references));
        }
    }
    for (i, (method, params)) in requests.into_iter().enumerate() {
        let id = RequestId::from(i as i32);
        let replies = server.handle(Message::Request(Request::new(id.clone(), method.into(), params)));
        match replies.as_slice() {
            [Message::Response(r)] if r.id == id && r.response_result.is_ok() => answers += 1,
            other => panic!("{method}: {other:?}"),
        }
    }
    answers
}
