//! `cnnc lsp`: a Language Server Protocol server over stdin and stdout, on
//! rust-analyzer's `lsp-server` (synchronous: one message at a time, no
//! async runtime) and `lsp-types`.
//!
//! [`Server::handle`] is the whole server as a function from one message
//! to the messages it answers with, so tests and fuzzing drive it without
//! pipes. Each change re-reads the file through the compiler's own stages
//! (parse, check), so the editor shows exactly what `cnnc check` says.
//! Only the CLI imports this module.

mod completion;
mod diagnostics;
mod document;
mod exercise;
mod hover;
mod index;
mod navigation;
mod stdio;

use std::collections::HashMap;

use lsp_server::{ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, InlayHintRequest,
    References, Request as _,
};
use lsp_types::{
    OneOf, PublishDiagnosticsParams, ServerCapabilities, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};
use serde_json::Value;

use crate::model::CheckOptions;
pub use document::Document;
pub use exercise::exercise;
pub use stdio::{serve, serve_stdio};

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        completion_provider: Some(lsp_types::CompletionOptions {
            trigger_characters: Some(vec![" ".into(), "(".into()]),
            ..Default::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        inlay_hint_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// `--set` and `--input` from the client's initialization options:
/// `{"set": {"width": 64}, "input": "28x28x1"}` (`set` may also be a list
/// of `"k=v"` strings). What cannot be read is ignored.
pub fn settings(options: Option<&Value>) -> CheckOptions {
    let mut check = CheckOptions::default();
    let Some(options) = options else { return check };
    match options.get("set") {
        Some(Value::Object(map)) => {
            for (k, v) in map {
                if let Some(v) = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                {
                    check.overrides.push((k.clone(), v));
                }
            }
        }
        Some(Value::Array(items)) => {
            for item in items.iter().filter_map(Value::as_str) {
                if let Some((k, v)) = item.split_once('=')
                    && let Ok(v) = v.trim().parse()
                {
                    check.overrides.push((k.trim().to_string(), v));
                }
            }
        }
        _ => {}
    }
    if let Some(input) = options.get("input").and_then(Value::as_str) {
        let dims: Vec<usize> = input.split('x').filter_map(|d| d.trim().parse().ok()).collect();
        if let [h, w, c] = dims[..] {
            check.input = Some([h, w, c]);
        }
    }
    check
}

/// The open documents and the options they are checked with.
pub struct Server {
    options: CheckOptions,
    documents: HashMap<String, (Uri, Document)>,
}

impl Server {
    pub fn new(options: CheckOptions) -> Server {
        Server {
            options,
            documents: HashMap::new(),
        }
    }

    /// The answers to one message: a response for a request, diagnostics
    /// after a document opens or changes. Never panics on any text or
    /// position; a request it cannot read gets an error response.
    pub fn handle(&mut self, message: Message) -> Vec<Message> {
        match message {
            Message::Request(request) => vec![Message::Response(self.request(request))],
            Message::Notification(n) => self.notification(n).into_iter().collect(),
            Message::Response(_) => Vec::new(),
        }
    }

    /// The analysis of an open document.
    pub fn document(&self, uri: &str) -> Option<&Document> {
        self.documents.get(uri).map(|(_, d)| d)
    }

    fn notification(&mut self, n: Notification) -> Option<Message> {
        let (uri, text) = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let p: lsp_types::DidOpenTextDocumentParams = serde_json::from_value(n.params).ok()?;
                (p.text_document.uri, p.text_document.text)
            }
            DidChangeTextDocument::METHOD => {
                let p: lsp_types::DidChangeTextDocumentParams = serde_json::from_value(n.params).ok()?;
                // A change to a document never opened is a client's mistake;
                // answering it would hold a document nobody will close.
                self.documents.get(p.text_document.uri.as_str())?;
                // Full synchronisation: the last change is the whole text.
                (p.text_document.uri, p.content_changes.into_iter().last()?.text)
            }
            DidCloseTextDocument::METHOD => {
                let p: lsp_types::DidCloseTextDocumentParams = serde_json::from_value(n.params).ok()?;
                self.documents.remove(p.text_document.uri.as_str());
                return Some(publish(p.text_document.uri, Vec::new()));
            }
            _ => return None,
        };
        let options = CheckOptions {
            default_name: stem(&uri),
            ..self.options.clone()
        };
        let doc = Document::new(text, &options);
        let diagnostics = diagnostics::to_lsp(&uri, &doc);
        self.documents
            .insert(uri.as_str().to_string(), (uri.clone(), doc));
        Some(publish(uri, diagnostics))
    }

    fn request(&self, request: Request) -> Response {
        let id = request.id.clone();
        match self.answer(request) {
            Ok(value) => Response::new_ok(id, value),
            Err(Refusal::Invalid(message)) => Response::new_err(id, ErrorCode::InvalidParams as i32, message),
            Err(Refusal::UnknownMethod(method)) => Response::new_err(
                id,
                ErrorCode::MethodNotFound as i32,
                format!("unsupported request `{method}`"),
            ),
        }
    }

    fn answer(&self, request: Request) -> Result<Value, Refusal> {
        let params = request.params;
        let json = |v: Result<Value, serde_json::Error>| v.map_err(|e| Refusal::Invalid(e.to_string()));
        match request.method.as_str() {
            HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = read(params)?;
                let (doc, offset) = self.at(&p.text_document_position_params)?;
                json(serde_json::to_value(hover::hover(doc, offset)))
            }
            Completion::METHOD => {
                let p: lsp_types::CompletionParams = read(params)?;
                let (doc, offset) = self.at(&p.text_document_position)?;
                json(serde_json::to_value(completion::complete(doc, offset)))
            }
            GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = read(params)?;
                let tdp = &p.text_document_position_params;
                let (doc, offset) = self.at(tdp)?;
                json(serde_json::to_value(navigation::definition(
                    &tdp.text_document.uri,
                    doc,
                    offset,
                )))
            }
            References::METHOD => {
                let p: lsp_types::ReferenceParams = read(params)?;
                let tdp = &p.text_document_position;
                let (doc, offset) = self.at(tdp)?;
                let with = p.context.include_declaration;
                json(serde_json::to_value(navigation::references(
                    &tdp.text_document.uri,
                    doc,
                    offset,
                    with,
                )))
            }
            DocumentSymbolRequest::METHOD => {
                let p: lsp_types::DocumentSymbolParams = read(params)?;
                json(serde_json::to_value(navigation::symbols(
                    self.doc(&p.text_document.uri)?,
                )))
            }
            InlayHintRequest::METHOD => {
                let p: lsp_types::InlayHintParams = read(params)?;
                json(serde_json::to_value(navigation::inlay_hints(
                    self.doc(&p.text_document.uri)?,
                )))
            }
            Formatting::METHOD => {
                let p: lsp_types::DocumentFormattingParams = read(params)?;
                json(serde_json::to_value(formatting(self.doc(&p.text_document.uri)?)))
            }
            other => Err(Refusal::UnknownMethod(other.to_string())),
        }
    }

    fn doc(&self, uri: &Uri) -> Result<&Document, String> {
        self.document(uri.as_str())
            .ok_or_else(|| format!("{} is not open", uri.as_str()))
    }

    fn at(&self, p: &TextDocumentPositionParams) -> Result<(&Document, usize), String> {
        let doc = self.doc(&p.text_document.uri)?;
        Ok((doc, doc.offset(p.position)))
    }
}

fn read<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, String> {
    serde_json::from_value(params).map_err(|e| format!("bad parameters: {e}"))
}

/// The whole text replaced by its formatted form; nothing while the file
/// does not parse (the diagnostics say why).
fn formatting(doc: &Document) -> Option<Vec<TextEdit>> {
    let formatted = crate::format::format(&doc.text).ok()?;
    if formatted == doc.text {
        return Some(Vec::new());
    }
    let end = doc.position(doc.text.len());
    Some(vec![TextEdit::new(
        lsp_types::Range::new(lsp_types::Position::new(0, 0), end),
        formatted,
    )])
}

/// Why a request gets an error rather than an answer.
enum Refusal {
    /// Its parameters do not fit (or name a document that is not open).
    Invalid(String),
    /// A request this server does not implement.
    UnknownMethod(String),
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal::Invalid(message)
    }
}

fn publish(uri: Uri, diagnostics: Vec<lsp_types::Diagnostic>) -> Message {
    let params = PublishDiagnosticsParams::new(uri, diagnostics, None);
    Message::Notification(Notification::new(PublishDiagnostics::METHOD.to_string(), params))
}

/// A URI path segment's text (`my%20model.cnn` is `my model.cnn`); a
/// malformed escape stays as written.
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file's stem, the model's name when it has no `model` line.
fn stem(uri: &Uri) -> String {
    let path = uri.path().as_str();
    let file = path.rsplit('/').next().unwrap_or(path);
    let file = &percent_decoded(file);
    let stem = file.strip_suffix(".cnn").unwrap_or(file);
    if stem.is_empty() {
        "model".into()
    } else {
        stem.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_server::RequestId;

    #[test]
    fn a_file_name_is_decoded_into_the_model_name() {
        let uri: Uri = "file:///tmp/my%20model%2B.cnn".parse().unwrap();
        assert_eq!(stem(&uri), "my model+");
        assert_eq!(percent_decoded("50%25%zz%"), "50%%zz%");
    }

    #[test]
    fn an_unknown_request_is_method_not_found_and_a_change_before_open_is_ignored() {
        let mut server = Server::new(CheckOptions::default());
        let request = Request::new(
            RequestId::from(1),
            "textDocument/unheardOf".into(),
            serde_json::json!({}),
        );
        let answers = server.handle(Message::Request(request));
        let Some(Message::Response(response)) = answers.first() else {
            panic!("no response: {answers:?}");
        };
        assert_eq!(
            response.response_result.as_ref().unwrap_err().code,
            ErrorCode::MethodNotFound as i32
        );
        let change = serde_json::json!({
            "textDocument": {"uri": "file:///never-opened.cnn", "version": 2},
            "contentChanges": [{"text": "input 8x8x1"}]
        });
        let published = server.handle(Message::Notification(Notification::new(
            "textDocument/didChange".into(),
            change,
        )));
        assert!(published.is_empty(), "{published:?}");
        assert!(server.document("file:///never-opened.cnn").is_none());
    }

    #[test]
    fn initialization_options_are_set_and_input() {
        let options = settings(Some(
            &serde_json::json!({"set": {"width": 64, "depth": "3"}, "input": "28x28x1"}),
        ));
        assert_eq!(
            options.overrides,
            vec![("width".to_string(), 64), ("depth".to_string(), 3)]
        );
        assert_eq!(options.input, Some([28, 28, 1]));
        let options = settings(Some(
            &serde_json::json!({"set": ["width=8", "bad", "x=y"], "input": "28x28"}),
        ));
        assert_eq!(options.overrides, vec![("width".to_string(), 8)]);
        assert_eq!(options.input, None);
    }

    #[test]
    fn a_model_without_input_gets_shapes_from_the_options() {
        let options = settings(Some(&serde_json::json!({"input": "8x8x3"})));
        let doc = Document::new("conv 4 3x3 same\nflatten\n".into(), &options);
        assert_eq!(doc.diagnostics, Vec::new());
        assert_eq!(doc.model.unwrap().layers[0].output.to_string(), "8x8x4");
    }
}
