//! `cnnc fmt`: which files, and each file's canonical text.

use std::path::{Path, PathBuf};

use super::workflow::{Failure, read_source};
use crate::source::Source;

/// The model files that `paths` name: files as given, folders searched
/// (recursively) for `.cnn` files, in a stable order.
pub fn model_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Failure> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Failure::Usage(format!("cannot read {}: {e}", dir.display())))?;
    let mut paths: Vec<(PathBuf, bool)> = entries
        .filter_map(|e| e.ok())
        // A linked directory is not followed: a link back up would never end.
        .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
        .collect();
    paths.sort();
    for (path, is_dir) in paths {
        if is_dir {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "cnn") {
            files.push(path);
        }
    }
    Ok(())
}

/// A file's text and its canonical form.
pub struct Formatted {
    pub source: Source,
    pub formatted: String,
}

impl Formatted {
    pub fn changed(&self) -> bool {
        self.source.text != self.formatted
    }
}

/// Reads and formats one file; a file that does not parse is refused with
/// its diagnostics.
pub fn format_file(path: &Path) -> Result<Formatted, Failure> {
    format_source(read_source(path)?)
}

pub fn format_source(source: Source) -> Result<Formatted, Failure> {
    match crate::format::format(&source.text) {
        Ok(formatted) => Ok(Formatted { source, formatted }),
        Err(d) => Err(Failure::Invalid {
            path: source.path,
            text: source.text,
            diagnostics: d.0,
        }),
    }
}
