//! `cnnc export --web` and `cnnc serve`: the trained model as a static
//! site that runs its generated kernels in the browser (`export::web`).

use std::path::{Path, PathBuf};

use super::evaluation::WithWeights;
use super::{Failure, invalid};
use crate::app::summary::Summary;
use crate::export::web;

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct WebExport {
    pub dir: PathBuf,
    pub kernels: usize,
    pub files: usize,
    pub weight_bytes: u64,
}

/// Writes the site of `model` with `weights` into `dir`. Needs no GPU: the
/// kernels are planned for batch 1 with the default tiles.
pub fn export_web(loaded: &WithWeights, dir: &Path) -> Result<WebExport, Failure> {
    let WithWeights {
        source,
        model: checked,
        params,
        metadata,
        ..
    } = loaded;
    let (plan, shaders) = web::lower(checked).map_err(|e| invalid(source, vec![e.to_diagnostic()]))?;
    let classes: Vec<String> = metadata
        .get("class_names")
        .and_then(|j| serde_json::from_str(j).ok())
        .filter(|names: &Vec<String>| names.len() == plan.classes)
        .unwrap_or_else(|| (0..plan.classes).map(|c| c.to_string()).collect());
    let summary = Summary::new(checked).to_json();
    let site = web::site(&plan, &shaders, params, classes, summary);
    web::write(&site, dir).map_err(|e| Failure::Usage(format!("cannot write to {}: {e}", dir.display())))?;
    Ok(WebExport {
        dir: dir.to_path_buf(),
        kernels: site.manifest.kernels.len(),
        files: site.modules.len(),
        weight_bytes: site.weights.len() as u64,
    })
}

/// Serves `dir` on 127.0.0.1 until the process ends; `ready` gets the URL.
pub fn serve(dir: &Path, port: u16, ready: impl FnOnce(&str)) -> Result<(), Failure> {
    if !dir.join("model.json").is_file() {
        return Err(Failure::Usage(format!(
            "{} holds no export (no model.json): make one with `cnnc export FILE --weights W --web {}`",
            dir.display(),
            dir.display()
        )));
    }
    web::serve::serve(dir, port, ready).map_err(Failure::Usage)
}
