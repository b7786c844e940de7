//! `cnnc export`: a trained model for other runtimes.

use std::path::Path;

use super::evaluation::{WithWeights, model_and_weights};
use super::{Failure, ModelRequest};

/// What `export --onnx` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxExport {
    pub nodes: usize,
    pub initializers: usize,
    pub bytes: usize,
}

/// The model and its weights, read once for every target of one `cnnc
/// export`, with `eval`'s warning about barely trained running statistics
/// (they export as they are).
pub fn trained_model(model: &ModelRequest, weights: &Path) -> Result<WithWeights, Failure> {
    let loaded = model_and_weights(model, weights, None)?;
    if let Some(steps) = loaded.metadata.get("steps").and_then(|s| s.parse().ok()) {
        for warning in crate::train::batchnorm_warnings(&loaded.model, steps) {
            eprintln!("warning: {warning}");
        }
    }
    Ok(loaded)
}

/// `cnnc export --onnx OUT`: the inference graph of the model with its
/// weights, as an ONNX file (see [`crate::export::onnx`]).
pub fn export_onnx(loaded: &WithWeights, out: &Path) -> Result<OnnxExport, Failure> {
    let proto = crate::export::onnx::to_proto(&loaded.model, &loaded.layout, &loaded.params);
    let bytes = prost::Message::encode_to_vec(&proto);
    crate::atomic::write(out, &bytes)
        .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", out.display())))?;
    let graph = proto.graph.unwrap_or_default();
    Ok(OnnxExport {
        nodes: graph.node.len(),
        initializers: graph.initializer.len(),
        bytes: bytes.len(),
    })
}
