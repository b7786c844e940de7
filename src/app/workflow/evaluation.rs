//! Evaluation and prediction with saved weights.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{DataRequest, Failure, ModelFile, ModelRequest, model_and_data, plan_inference};
use crate::Model;
use crate::app::inference::{self, EvalReport};
use crate::params::ParamLayout;
use crate::runtime::{Executable, Gpu};
use crate::source::Source;
use crate::train::{self, DeviceSplit};

/// A checked model with its weights and their metadata.
pub struct WithWeights {
    pub source: Source,
    pub model: Model,
    /// Where each tensor lies in `params`, as the weights were read.
    pub layout: ParamLayout,
    pub params: Vec<f32>,
    pub metadata: BTreeMap<String, String>,
}

/// Reads weights for a model, taking the input shape from the weights'
/// metadata when the model file has no `input` line.
pub(super) fn model_and_weights(
    request: &ModelRequest,
    weights: &Path,
    data_shape: Option<[usize; 3]>,
) -> Result<WithWeights, Failure> {
    let file = ModelFile::read(&request.path)?;
    let input = if file.declares_input() || request.input.is_some() {
        None
    } else {
        data_shape.or_else(|| saved_input(weights))
    };
    let model = file.check(request, input)?;
    let source = file.source;
    let layout = ParamLayout::new(&model);
    let (params, meta) =
        crate::weights::load(weights, &model, &layout).map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(WithWeights {
        source,
        model,
        layout,
        params,
        metadata: meta,
    })
}

fn saved_input(weights: &Path) -> Option<[usize; 3]> {
    let bytes = std::fs::read(weights).ok()?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    let meta: BTreeMap<String, String> =
        serde_json::from_str(header.metadata().as_ref()?.get("cnnc")?).ok()?;
    let dims: Vec<usize> = meta
        .get("input")?
        .split('x')
        .map(|d| d.parse().ok())
        .collect::<Option<_>>()?;
    (dims.len() == 3).then(|| [dims[0], dims[1], dims[2]])
}

/// `cnnc eval`: which split, and the report.
pub fn eval(
    gpu: &Gpu,
    model: &ModelRequest,
    weights: &Path,
    data: &DataRequest,
    batch: usize,
    use_train: bool,
) -> Result<(String, EvalReport), Failure> {
    let (source, checked, loaded) = model_and_data(model, data)?;
    let compiled = plan_inference(gpu, &source, &checked, batch)?;
    let (params, metadata) = crate::weights::load(weights, &checked, &compiled.plan.params)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    // Weights from elsewhere say nothing of their steps: no warning then.
    if let Some(steps) = metadata.get("steps").and_then(|s| s.parse().ok()) {
        for warning in train::batchnorm_warnings(&checked, steps) {
            eprintln!("warning: {warning}");
        }
    }
    let exe = Executable::new(gpu, compiled)?;
    exe.write_params(&params);
    let (name, split) = match (&loaded.validation, use_train) {
        (Some(v), false) => ("test", v),
        _ => ("train", &loaded.train),
    };
    let device = DeviceSplit::upload(&exe, split)?;
    let report = inference::evaluate(gpu, &exe, &device, loaded.class_names.as_deref())?;
    Ok((format!("{name} split of {}", split.origin), report))
}

/// One image's top classes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub image: String,
    pub note: Option<String>,
    /// (class, probability), most probable first.
    pub top: Vec<(String, f32)>,
}

/// `cnnc predict`: the `top` most probable classes of each image.
pub fn predict(
    gpu: &Gpu,
    model: &ModelRequest,
    weights: &Path,
    images: &[PathBuf],
    top: usize,
) -> Result<Vec<Prediction>, Failure> {
    let WithWeights {
        source,
        model: checked,
        params,
        metadata: meta,
        ..
    } = model_and_weights(model, weights, None)?;
    let class_names: Option<Vec<String>> = meta.get("class_names").and_then(|j| serde_json::from_str(j).ok());
    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    for path in images {
        let (pixels, note) = inference::load_image(path, checked.input).map_err(Failure::Usage)?;
        inputs.push(pixels);
        notes.push(note);
    }
    let plan = plan_inference(gpu, &source, &checked, images.len().clamp(1, 64))?;
    let exe = Executable::new(gpu, plan)?;
    exe.write_params(&params);
    let probs = inference::predict(gpu, &exe, &inputs)?;
    Ok(images
        .iter()
        .zip(probs)
        .zip(notes)
        .map(|((path, p), note)| {
            let mut ranked: Vec<(usize, f32)> = p.into_iter().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            Prediction {
                image: path.display().to_string(),
                note,
                top: ranked
                    .into_iter()
                    .take(top)
                    .map(|(c, p)| {
                        let name = class_names
                            .as_ref()
                            .and_then(|n| n.get(c).cloned())
                            .unwrap_or_else(|| c.to_string());
                        (name, p)
                    })
                    .collect(),
            }
        })
        .collect())
}
