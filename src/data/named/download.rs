//! One file over HTTP(S) into `NAME.part`, continued where an earlier
//! attempt stopped: a range request for the missing bytes, appended when
//! the server answers 206, started over when it answers 200. ureq does the
//! HTTP, rustls the TLS (with webpki-roots' certificates), and the proxy
//! comes from `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY` (with `NO_PROXY`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::catalogue::Archive;
use crate::units::{human_bytes, thousands};

/// Why one URL did not give the file (the caller tries the next one).
#[derive(Debug, thiserror::Error)]
pub enum Attempt {
    #[error("{0}")]
    Request(String),
    #[error("the server answered {0}")]
    Status(String),
    #[error(
        "the connection broke after {} of {} ({why}); the part is kept in {}, and the next try continues from it",
        human_bytes(*got as u128), human_bytes(*expected as u128), part
    )]
    Dropped {
        got: u64,
        expected: u64,
        why: String,
        part: String,
    },
    #[error("the server sent more than the official file's {} bytes", thousands(*.0))]
    TooLong(u64),
    #[error("the server's file has {} bytes; the official one has {}", thousands(*.0), thousands(*.1))]
    WrongSize(u64, u64),
    #[error("{0}")]
    Io(String),
}

/// Downloads `url` into `part` (which may hold the first bytes already)
/// until it has `file.bytes` bytes. The caller verifies the result.
pub fn fetch(url: &str, part: &Path, file: &Archive) -> Result<(), Attempt> {
    let mut have = part.metadata().map_or(0, |m| m.len());
    if have > file.bytes {
        have = 0; // longer than the file can be: not a part of it
    }
    if have == file.bytes {
        return Ok(()); // complete already; the checksum decides
    }
    let mut request = agent(url).get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| Attempt::Request(e.to_string()))?;
    let status = response.status();
    let start = match status.as_u16() {
        200 => 0, // no range, or one it does not honour: start over
        206 if resumes_at(&response, have) => have,
        206 | 416 => {
            // Another range than asked for, or a part longer than the
            // server's file: either way the part is no use with this server.
            let _ = std::fs::remove_file(part);
            return Err(Attempt::Status(format!(
                "{status} to a request for the bytes after the first {have}; deleted the part"
            )));
        }
        _ => return Err(Attempt::Status(status.to_string())),
    };
    if let Some(total) = total_size(&response, start)
        && total != file.bytes
    {
        return Err(Attempt::WrongSize(total, file.bytes));
    }
    if start > 0 {
        eprintln!(
            "resuming {} at {} from {url}",
            file.name,
            human_bytes(start as u128)
        );
    } else {
        eprintln!(
            "downloading {} ({}) from {url}",
            file.name,
            human_bytes(file.bytes as u128)
        );
    }
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .append(start > 0)
        .truncate(start == 0)
        .open(part)
        .map_err(|e| Attempt::Io(format!("{}: {e}", part.display())))?;
    let body = response.into_body().into_reader();
    let result = copy(body, &mut out, start, file, &part.display().to_string());
    out.sync_all()
        .map_err(|e| Attempt::Io(format!("{}: {e}", part.display())))?;
    result
}

/// The whole file's size as the server gives it: a 200's length, or the
/// total after the slash of a 206's `Content-Range: bytes A-B/TOTAL`.
fn total_size(response: &ureq::http::Response<ureq::Body>, start: u64) -> Option<u64> {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    if start == 0 {
        header("content-length")?.trim().parse().ok()
    } else {
        header("content-range")?.rsplit_once('/')?.1.trim().parse().ok()
    }
}

/// Whether a 206 answer starts at the byte we asked for.
fn resumes_at(response: &ureq::http::Response<ureq::Body>, have: u64) -> bool {
    response
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|range| range.starts_with(&format!("bytes {have}-")))
}

/// Copies the body after the `start` bytes already in `out`, with a
/// progress bar (bytes, rate, time left; hidden when stderr is not a
/// terminal). Stops at the file's size: more is an error, less a break.
fn copy(mut body: impl Read, out: &mut File, start: u64, file: &Archive, part: &str) -> Result<(), Attempt> {
    let bar = ProgressBar::new(file.bytes).with_position(start);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(file.name.clone());
    let mut got = start;
    let mut buffer = vec![0u8; 1 << 16];
    let dropped = |got: u64, why: String| Attempt::Dropped {
        got,
        expected: file.bytes,
        why,
        part: part.to_string(),
    };
    let result = loop {
        let n = match body.read(&mut buffer) {
            Ok(0) if got < file.bytes => break Err(dropped(got, "the server closed it".into())),
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(dropped(got, e.to_string())),
        };
        if got + n as u64 > file.bytes {
            break Err(Attempt::TooLong(file.bytes));
        }
        if let Err(e) = out.write_all(&buffer[..n]) {
            break Err(Attempt::Io(format!("{part}: {e}")));
        }
        got += n as u64;
        bar.set_position(got);
    };
    bar.finish_and_clear();
    result
}

/// An agent that reads HTTP status codes itself. A loopback address never
/// goes through a proxy (as Go's and Python's HTTP clients treat it), so
/// a local mirror works whatever the proxy variables say.
fn agent(url: &str) -> ureq::Agent {
    let proxy = if is_loopback(url) {
        None
    } else {
        ureq::Proxy::try_from_env()
    };
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(format!("cnnc/{}", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .proxy(proxy)
        .build()
        .into()
}

fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        assert!(super::is_loopback("http://127.0.0.1:8000/mnist/x.gz"));
        assert!(super::is_loopback("http://localhost/x"));
        assert!(super::is_loopback("http://[::1]:80/x"));
        assert!(!super::is_loopback("https://www.cs.toronto.edu/~kriz/x"));
        assert!(!super::is_loopback("http://10.0.0.1/x"));
    }
}
