//! `cnnc lsp` driven over stdio as an editor drives it: initialize, open,
//! change, hover, completion, definition, references, symbols, inlay
//! hints, formatting, shutdown and exit, each answer checked. And every
//! example opened: no diagnostics, and the hover of each layer line gives
//! the shape `cnnc summary` gives.

mod common;

use std::io::{BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::{Value, json};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i32,
    /// Notifications received while waiting for a response.
    notifications: Vec<Notification>,
}

impl Client {
    fn start(options: Value) -> Client {
        let mut child = common::command(&["lsp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cnnc lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut client = Client {
            child,
            stdin,
            stdout,
            next_id: 0,
            notifications: Vec::new(),
        };
        let init = client.request(
            "initialize",
            json!({"capabilities": {}, "processId": null, "rootUri": null, "initializationOptions": options}),
        );
        assert_eq!(init["capabilities"]["hoverProvider"], json!(true), "{init}");
        assert_eq!(init["serverInfo"]["name"], json!("cnnc"));
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: Message) {
        message.write(&mut self.stdin).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(Message::Notification(Notification::new(method.into(), params)));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.send(Message::Request(Request::new(id.clone(), method.into(), params)));
        loop {
            match Message::read(&mut self.stdout).unwrap().expect("a message") {
                Message::Response(r) if r.id == id => {
                    return r.response_result.unwrap_or_else(|e| panic!("{method}: {e:?}"));
                }
                Message::Notification(n) => self.notifications.push(n),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        loop {
            if let Some(i) = self
                .notifications
                .iter()
                .position(|n| n.method == "textDocument/publishDiagnostics" && n.params["uri"] == json!(uri))
            {
                let n = self.notifications.remove(i);
                return n.params["diagnostics"].as_array().unwrap().clone();
            }
            match Message::read(&mut self.stdout).unwrap().expect("a message") {
                Message::Notification(n) => self.notifications.push(n),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn open(&mut self, uri: &str, text: &str) -> Vec<Value> {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "cnn", "version": 1, "text": text}}),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32) -> Value {
        let mut params =
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
        if method == "textDocument/references" {
            params["context"] = json!({"includeDeclaration": true});
        }
        self.request(method, params)
    }

    /// The next frame that is not a notification, as JSON: a reply whose
    /// id may be null, which [`Message`] does not read.
    fn raw_reply(&mut self) -> Value {
        use std::io::{BufRead, Read};
        loop {
            let mut length = 0;
            loop {
                let mut line = String::new();
                self.stdout.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(n) = line.strip_prefix("Content-Length: ") {
                    length = n.parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            self.stdout.read_exact(&mut body).unwrap();
            let reply: Value = serde_json::from_slice(&body).unwrap();
            if reply.get("method").is_none() {
                return reply;
            }
        }
    }

    fn finish(mut self) {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

const URI: &str = "file:///tmp/res.cnn";

/// A residual model with a typo on line 3, then fixed.
const BROKEN: &str = "param width = 4\ninput 8x8x1\nconv width 3x3 same rellu\n";
const MODEL: &str = "param width = 4\ninput 8x8x1\nblock twice(f)\n  conv f 3x3 same relu\n  conv f 3x3 same\nend\nskip: conv width 3x3 same relu\ntwice(width)\nadd skip\nglobalpool\ndense 10 softmax\n";

#[test]
fn a_session_as_an_editor_runs_it() {
    let mut client = Client::start(json!({"set": {"width": 8}}));
    diagnostics_on_open_and_change(&mut client);
    hover_on_layers_and_block_calls(&mut client);
    completion_at_the_cursor(&mut client);
    definition_and_references(&mut client);
    symbols_and_inlay_hints(&mut client);
    formatting_through_fmt(&mut client);
    client.finish();
}

/// A typo is located and explained on open; the fix clears it.
fn diagnostics_on_open_and_change(client: &mut Client) {
    let diagnostics = client.open(URI, BROKEN);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d["severity"], json!(1));
    assert_eq!(
        d["range"],
        json!({"start": {"line": 2, "character": 20}, "end": {"line": 2, "character": 25}})
    );
    let message = d["message"].as_str().unwrap();
    assert!(message.starts_with("unknown activation `rellu`"), "{message}");
    assert!(message.contains("help: did you mean `relu`?"), "{message}");

    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": MODEL}]}),
    );
    assert_eq!(client.diagnostics(URI), Vec::<Value>::new());
}

/// Shapes, parameters and running totals; a block call's definition.
fn hover_on_layers_and_block_calls(client: &mut Client) {
    // Hover on `skip: conv width 3x3 same relu`, with width = 8 from the
    // initialization options: 8x8x8, 3*3*1*8 + 8 parameters.
    let hover = client.at("textDocument/hover", URI, 6, 8);
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("**conv1** → `8x8x8`"), "{text}");
    assert!(
        text.contains("| parameters | 80 (80 trainable, 0 non-trainable) |"),
        "{text}"
    );
    // On the block call: its definition; on the call's line elsewhere, its
    // two layers and the running totals.
    let hover = client.at("textDocument/hover", URI, 7, 2);
    assert_eq!(
        hover["contents"]["value"],
        json!("```cnn\nblock twice(f)\n  conv f 3x3 same relu\n  conv f 3x3 same\nend\n```")
    );
    let hover = client.at("textDocument/hover", URI, 7, 12);
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("**conv2, conv3** → `8x8x8`"), "{text}");
    assert!(text.contains("| model up to `conv3` | |"), "{text}");
    assert!(text.contains("| parameters | 1,248 (1,248 trainable"), "{text}");
}

/// Options a conv has not been given, names after `add`, counts.
fn completion_at_the_cursor(client: &mut Client) {
    // Completion: options left for a conv, and names after `add`.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"text": format!("{MODEL}conv 4 3x3 same \nadd ")}]}),
    );
    client.diagnostics(URI);
    let labels = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };
    let options = labels(client.at("textDocument/completion", URI, 11, 16));
    assert!(
        options.contains(&"relu".to_string()) && options.contains(&"stride".to_string()),
        "{options:?}"
    );
    assert!(
        !options.contains(&"same".to_string()) && !options.contains(&"valid".to_string()),
        "{options:?}"
    );
    assert_eq!(
        labels(client.at("textDocument/completion", URI, 12, 4)),
        vec!["skip"]
    );
    let first = labels(client.at("textDocument/completion", URI, 12, 0));
    assert!(
        first.contains(&"twice".to_string()) && first.contains(&"conv".to_string()),
        "{first:?}"
    );
    let counts = labels(client.at("textDocument/completion", URI, 7, 6));
    assert_eq!(counts, vec!["width"]);
}

/// Named outputs and a block's parameter.
fn definition_and_references(client: &mut Client) {
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 4}, "contentChanges": [{"text": MODEL}]}),
    );
    client.diagnostics(URI);
    // Definition and references of `skip` from its use in `add skip`.
    let def = client.at("textDocument/definition", URI, 8, 5);
    assert_eq!(
        def["range"],
        json!({"start": {"line": 6, "character": 0}, "end": {"line": 6, "character": 4}})
    );
    let refs = client.at("textDocument/references", URI, 6, 1);
    let lines: Vec<u64> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![6, 8]);
    // The block's parameter, from its use inside the block.
    let def = client.at("textDocument/definition", URI, 3, 7);
    assert_eq!(def["range"]["start"], json!({"line": 2, "character": 12}));
}

/// The outline, and each line's output shape at its end.
fn symbols_and_inlay_hints(client: &mut Client) {
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "param width = 4",
            "input 8x8x1",
            "block twice(f)",
            "skip: conv width 3x3 same relu",
            "twice(width)",
            "add skip",
            "globalpool",
            "dense 10 softmax"
        ]
    );

    let hints = client.request(
        "textDocument/inlayHint",
        json!({"textDocument": {"uri": URI}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 11, "character": 0}}}),
    );
    let hints: Vec<(u64, &str)> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["position"]["line"].as_u64().unwrap(),
                h["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hints,
        vec![
            (3, "→ 8x8x8"),
            (4, "→ 8x8x8"),
            (6, "→ 8x8x8"),
            (7, "→ 8x8x8"),
            (8, "→ 8x8x8"),
            (9, "→ 8"),
            (10, "→ 10")
        ]
    );
}

/// One edit: the whole text in `cnnc fmt`'s layout.
fn formatting_through_fmt(client: &mut Client) {
    let messy = "input 8x8x1;dense 2   softmax # out\n";
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 5}, "contentChanges": [{"text": messy}]}),
    );
    client.diagnostics(URI);
    let edits = client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(
        edits,
        json!([{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}},
                "newText": "input 8x8x1\ndense 2 softmax # out\n"}])
    );
}

#[test]
fn every_example_opens_clean_with_hover_shapes() {
    let mut client = Client::start(Value::Null);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let uri = format!("file://{}", path.display());
        let diagnostics = client.open(&uri, &text);
        assert_eq!(diagnostics, Vec::<Value>::new(), "{}", path.display());
        // The last layer line's hover names the model's output shape.
        let model = cnnc::load(
            &cnnc::source::Source::new("m.cnn", text.clone()),
            &Default::default(),
        )
        .unwrap();
        let last = model.layers.last().unwrap();
        let line = text[..last.site.start].matches('\n').count() as u32;
        let hover = client.at("textDocument/hover", &uri, line, 1);
        let value = hover["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            value.contains(&format!("→ `{}`", model.output())),
            "{}: {value}",
            path.display()
        );
        assert!(
            value.contains(&crate_thousands(model.params().total())),
            "{}: {value}",
            path.display()
        );
    }
    client.finish();
}

fn crate_thousands(n: usize) -> String {
    cnnc::units::thousands(n as u64)
}

/// 6,000 blocks each using the one before overflowed the server's stack,
/// and a malformed message ended the server: the editor lost it either
/// way (issue 21). Now the deep file gets its located error and every
/// request on it an answer, and a bad frame gets JSON-RPC's parse error
/// while the session carries on.
#[test]
fn the_server_survives_deep_nesting_and_malformed_messages() {
    let mut client = Client::start(Value::Null);
    let mut text = String::from("input 4x4x1\nblock b0()\n  relu\nend\n");
    for i in 1..6000 {
        text += &format!("block b{i}()\n  b{}()\nend\n", i - 1);
    }
    text += "b5999()\ndense 2\n";
    let uri = "file:///tmp/deep.cnn";
    let diagnostics = client.open(uri, &text);
    let deep = diagnostics.iter().find(|d| {
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than 64 deep"))
    });
    assert!(deep.is_some(), "{diagnostics:?}");
    let last_use = text.lines().count() as u32 - 2;
    client.at("textDocument/hover", uri, last_use, 1);
    client.at("textDocument/definition", uri, last_use, 1);
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    assert!(symbols.as_array().is_some_and(|s| s.len() >= 6000), "{symbols}");
    client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );

    client.stdin.write_all(b"Content-Length: 5\r\n\r\n{oops").unwrap();
    client.stdin.flush().unwrap();
    let reply = client.raw_reply();
    assert_eq!(reply["error"]["code"], json!(-32700), "{reply}");
    assert_eq!(reply["id"], Value::Null, "{reply}");
    client.at("textDocument/hover", uri, 0, 1);
    client.finish();
}
