//! The server on stdin and stdout: JSON-RPC frames (`Content-Length`
//! headers) read one at a time, each message handed to [`Server::handle`]
//! and its answers written back, the initialize/shutdown/exit handshake
//! answered here. A frame whose body is not a JSON-RPC message gets the
//! protocol's parse error (-32700, id null) and the server carries on: an
//! editor's or a plugin's bad message must not take the server away.

use std::io::{self, BufRead, Write};

use lsp_server::{ErrorCode, Message, Response};
use serde_json::{Value, json};

use super::{Server, capabilities, settings};

/// Runs the server on stdio until the client says `exit` (or stdin ends).
pub fn serve_stdio() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (stdin, stdout) = (io::stdin(), io::stdout());
    serve(&mut stdin.lock(), &mut stdout.lock())?;
    Ok(())
}

/// The server over any reader and writer (the tests' pipes).
pub fn serve(input: &mut impl BufRead, output: &mut impl Write) -> io::Result<()> {
    let mut server: Option<Server> = None;
    while let Some(body) = read_frame(input)? {
        let message: Message = match serde_json::from_slice(&body) {
            Ok(message) => message,
            Err(e) => {
                let error = json!({
                    "jsonrpc": "2.0",
                    "id": null,
                    "error": {"code": ErrorCode::ParseError as i32, "message": format!("not a JSON-RPC message: {e}")},
                });
                write_frame(output, &error.to_string())?;
                continue;
            }
        };
        let replies = match (message, &mut server) {
            (Message::Notification(n), _) if n.method == "exit" => break,
            (Message::Notification(n), _) if n.method == "initialized" => Vec::new(),
            (Message::Request(r), _) if r.method == "initialize" => {
                server = Some(Server::new(settings(r.params.get("initializationOptions"))));
                let result = json!({
                    "capabilities": capabilities(),
                    "serverInfo": { "name": "cnnc", "version": env!("CARGO_PKG_VERSION") },
                });
                vec![Message::Response(Response::new_ok(r.id, result))]
            }
            (Message::Request(r), _) if r.method == "shutdown" => {
                vec![Message::Response(Response::new_ok(r.id, Value::Null))]
            }
            (message, Some(server)) => server.handle(message),
            (Message::Request(r), None) => vec![Message::Response(Response::new_err(
                r.id,
                ErrorCode::ServerNotInitialized as i32,
                "the server has not been initialized".into(),
            ))],
            (_, None) => Vec::new(),
        };
        for reply in replies {
            reply.write(output)?;
        }
    }
    Ok(())
}

/// One frame's body, `None` at the end of the input. A header that is not
/// `Name: value` or lacks `Content-Length` is an error: the stream cannot
/// be resynchronised after it.
fn read_frame(input: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("malformed header {header:?}"))
        })?;
        if name.trim().eq_ignore_ascii_case("Content-Length") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length =
        length.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a frame without Content-Length"))?;
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    Ok(Some(body))
}

fn write_frame(output: &mut impl Write, body: &str) -> io::Result<()> {
    write!(output, "Content-Length: {}\r\n\r\n{body}", body.len())?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    /// The replies to a stream of frame bodies, as JSON values.
    fn replies(bodies: &[&str]) -> Vec<Value> {
        let input: String = bodies.iter().map(|b| frame(b)).collect();
        let mut output = Vec::new();
        serve(&mut input.as_bytes(), &mut output).unwrap();
        let mut out = output.as_slice();
        let mut values = Vec::new();
        while let Some(body) = read_frame(&mut out).unwrap() {
            values.push(serde_json::from_slice(&body).unwrap());
        }
        values
    }

    #[test]
    fn malformed_json_gets_a_parse_error_and_the_server_carries_on() {
        let out = replies(&[
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"textDocument/hover","params":{"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#,
            r#"{"jsonrpc":"2.0","method":"exit"}"#,
        ]);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0]["result"]["serverInfo"]["name"], "cnnc");
        assert_eq!(out[1]["error"]["code"], -32700);
        assert_eq!(out[1]["id"], Value::Null);
        assert_eq!(out[2]["id"], 3, "answered after the bad message");
    }

    #[test]
    fn requests_before_initialize_are_refused() {
        let out = replies(&[r#"{"jsonrpc":"2.0","id":7,"method":"textDocument/hover","params":{}}"#]);
        assert_eq!(out[0]["error"]["code"], -32002);
    }
}
