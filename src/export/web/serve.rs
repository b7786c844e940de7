//! Serving an exported folder on `127.0.0.1`: WebGPU needs a secure
//! context, and `http://127.0.0.1` is one where `file://` is not. The HTTP
//! is tiny_http's; this file only maps a request's path to a file inside
//! the folder (never outside it) and the file to its MIME type.

use std::path::{Component, Path, PathBuf};

/// Why a request gets no file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The path leaves the folder (`..`, an absolute or odd path, or a
    /// link that points out): 403.
    Outside,
    /// Nothing there: 404.
    Missing,
}

/// The file a request's path names inside `root` (a canonical path): the
/// path percent-decoded, its query dropped, `/` meaning `index.html`; any
/// `..`, backslash or drive prefix refused, and the result, links
/// resolved, still inside `root`.
pub fn resolve(root: &Path, url: &str) -> Result<PathBuf, Refusal> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path).ok_or(Refusal::Outside)?;
    let relative = decoded.trim_start_matches('/');
    let relative = if relative.is_empty() || relative.ends_with('/') {
        format!("{relative}index.html")
    } else {
        relative.to_string()
    };
    if relative.contains('\\') || relative.contains('\0') {
        return Err(Refusal::Outside);
    }
    let relative = Path::new(&relative);
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Refusal::Outside);
    }
    let file = root.join(relative).canonicalize().map_err(|_| Refusal::Missing)?;
    if !file.starts_with(root) {
        return Err(Refusal::Outside);
    }
    if !file.is_file() {
        return Err(Refusal::Missing);
    }
    Ok(file)
}

/// `%XX` escapes decoded; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` of a file, by its extension: module scripts must be
/// served as JavaScript for the browser to run them.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wgsl" => "text/wgsl; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serves `dir` on `127.0.0.1:port` (0: a free port) until the process
/// ends, calling `ready` with the URL once it listens. GET and HEAD only.
pub fn serve(dir: &Path, port: u16, ready: impl FnOnce(&str)) -> Result<(), String> {
    let root = dir
        .canonicalize()
        .map_err(|e| format!("cannot serve {}: {e}", dir.display()))?;
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let address = server
        .server_addr()
        .to_ip()
        .expect("a TCP listener has an IP address");
    ready(&format!("http://{address}/"));
    for request in server.incoming_requests() {
        // A client that hangs up mid-answer is its own business.
        let _ = answer(&root, request);
    }
    Ok(())
}

fn answer(root: &Path, request: tiny_http::Request) -> std::io::Result<()> {
    use tiny_http::{Header, Method, Response};
    if !matches!(request.method(), Method::Get | Method::Head) {
        return request.respond(Response::from_string("only GET and HEAD\n").with_status_code(405));
    }
    let file = match resolve(root, request.url()) {
        Ok(file) => file,
        Err(Refusal::Outside) => {
            return request
                .respond(Response::from_string("outside the served folder\n").with_status_code(403));
        }
        Err(Refusal::Missing) => {
            return request.respond(Response::from_string("not found\n").with_status_code(404));
        }
    };
    let header = |name: &str, value: &str| {
        Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a header of ASCII text")
    };
    let response = Response::from_file(std::fs::File::open(&file)?)
        .with_header(header("Content-Type", content_type(&file)))
        // A new export into the same folder shows at the next reload.
        .with_header(header("Cache-Control", "no-cache"));
    request.respond(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("kernels")).unwrap();
        std::fs::write(root.join("index.html"), "page").unwrap();
        std::fs::write(root.join("kernels/a b.wgsl"), "wgsl").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "secret").unwrap();
        let root = root.canonicalize().unwrap();
        (dir, root)
    }

    #[test]
    fn serves_files_inside_the_folder() {
        let (_dir, root) = folder();
        assert_eq!(resolve(&root, "/"), Ok(root.join("index.html")));
        assert_eq!(resolve(&root, "/index.html?x=1#y"), Ok(root.join("index.html")));
        assert_eq!(
            resolve(&root, "/kernels/a%20b.wgsl"),
            Ok(root.join("kernels/a b.wgsl"))
        );
        assert_eq!(resolve(&root, "/nothing.js"), Err(Refusal::Missing));
        assert_eq!(resolve(&root, "/kernels"), Err(Refusal::Missing));
        // Leading slashes are one: this is `etc/passwd` inside the folder.
        assert_eq!(resolve(&root, "//etc/passwd"), Err(Refusal::Missing));
    }

    #[test]
    fn refuses_paths_that_leave_the_folder() {
        let (_dir, root) = folder();
        for url in [
            "/../secret.txt",
            "/kernels/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/..%5csecret.txt",
            "/./index.html",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, url), Err(Refusal::Outside), "{url}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_link_that_points_out() {
        let (dir, root) = folder();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt")).unwrap();
        assert_eq!(resolve(&root, "/link.txt"), Err(Refusal::Outside));
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(
            content_type(Path::new("model.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("k/01_conv1_forward.wgsl")),
            "text/wgsl; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("weights.bin")), "application/octet-stream");
        assert_eq!(content_type(Path::new("model.json")), "application/json");
    }
}
