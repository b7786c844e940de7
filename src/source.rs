//! Reading a model file: bytes to text, refusing what is not a `.cnn` model.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Span};

/// A model's source text and the path it is reported under.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// The file is there but is not model text; `text` is a lossy version of
    /// it for the diagnostic to point into.
    #[error("{path} is not a model file")]
    NotText {
        path: String,
        text: String,
        diagnostic: Box<Diagnostic>,
    },
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    pub fn read(path: &Path) -> Result<Source, SourceError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| SourceError::Io {
            path: shown.clone(),
            error,
        })?;
        Source::from_bytes(shown, bytes)
    }

    pub fn from_bytes(path: String, bytes: Vec<u8>) -> Result<Source, SourceError> {
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            let text = String::from_utf8_lossy(&bytes[..nul]).into_owned();
            let diagnostic = Diagnostic::error("this looks like a binary file, not a .cnn model")
                .note(format!("it contains a NUL byte at byte offset {nul}"))
                .help("a model file is plain text, such as `input 28x28x1; conv 32 3x3 relu; pool 2; dense 10 softmax`");
            return Err(SourceError::NotText {
                path,
                text,
                diagnostic: Box::new(diagnostic),
            });
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source { path, text }),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let diagnostic = Diagnostic::error("the file is not valid UTF-8")
                    .label(
                        Span::new(at, at + '\u{FFFD}'.len_utf8()),
                        format!("byte 0x{:02x} is not UTF-8", e.as_bytes()[at]),
                    )
                    .help("save the file as UTF-8 text");
                Err(SourceError::NotText {
                    path,
                    text,
                    diagnostic: Box::new(diagnostic),
                })
            }
        }
    }

    /// The file stem, the model's name when it has no `model` line.
    pub fn stem(&self) -> String {
        Path::new(&self.path)
            .file_stem()
            .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned())
    }
}
