//! Weights on disk: safetensors with PyTorch's names and layouts, so a
//! file loads into the equivalent `torch.nn.Sequential` (see
//! [`crate::export::torch`]) with `load_state_dict` unchanged.
//!
//! - `convN.weight` is `[out, in, kh, kw]` (OIHW), `convN.bias` `[out]`;
//! - `denseN.weight` is `[out, in]`, `denseN.bias` `[out]`, with `in`
//!   ordered as PyTorch's `nn.Flatten` orders an image: channel, row, column.
//!
//! Inside cnnc, conv kernels are HWIO and dense weights `[in, out]` with
//! images flattened row, column, channel; this module converts both ways.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::model::{KindRule, Model, Operand, Registry, Shape, TorchLayout};
use crate::params::{ParamLayout, ParamTensor};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a safetensors file: {message}")]
    Format { path: String, message: String },
    #[error("{path} does not fit this model:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Mismatch { path: String, problems: Vec<String> },
}

/// How a dense or batchnorm layer's input features are ordered when they
/// come from an image: the image's shape, found by walking back through layers that
/// keep feature order to a flatten. Where this gives a shape, that layer's
/// saved tensors expect the features in PyTorch's `nn.Flatten` order
/// (channel, row, column); elsewhere in cnnc's.
pub fn flattened_image<K: Registry>(model: &Model<K>, layer: usize) -> Option<(usize, usize, usize)> {
    let mut operand = model.layers[layer].inputs[0];
    while let Operand::Layer(j) = operand {
        let l = &model.layers[j];
        match (l.input, l.output) {
            (Shape::Image { h, w, c }, Shape::Flat(_)) if l.rule().is_view() => return Some((h, w, c)),
            _ if l.rule().keeps_feature_order() => operand = l.inputs[0],
            _ => return None,
        }
    }
    None
}

/// For PyTorch's input feature `i` of layer `layer`, cnnc's: an image
/// flattened by PyTorch is (channel, row, column), by cnnc (row, column,
/// channel).
fn torch_feature<K: Registry>(model: &Model<K>, layer: usize) -> impl Fn(usize) -> usize + use<K> {
    let image = flattened_image(model, layer);
    move |i| match image {
        Some((h, w, c)) => {
            let (ch, rest) = (i / (h * w), i % (h * w));
            rest * c + ch
        }
        None => i,
    }
}

/// The PyTorch shape of a tensor.
pub fn torch_shape(t: &ParamTensor) -> Vec<usize> {
    match (t.torch, t.shape.as_slice()) {
        (TorchLayout::ConvKernel, &[kh, kw, ci, co]) => vec![co, ci, kh, kw],
        (TorchLayout::DenseKernel, &[i, o]) => vec![o, i],
        _ => t.shape.clone(),
    }
}

/// For each element of a tensor in PyTorch order, its index in cnnc's.
fn torch_to_internal<K: Registry>(model: &Model<K>, t: &ParamTensor) -> Vec<usize> {
    match (t.torch, t.shape.as_slice()) {
        (TorchLayout::ConvKernel, &[kh, kw, ci, co]) => {
            let mut order = Vec::with_capacity(t.len());
            for o in 0..co {
                for i in 0..ci {
                    for y in 0..kh {
                        for x in 0..kw {
                            order.push(((y * kw + x) * ci + i) * co + o);
                        }
                    }
                }
            }
            order
        }
        (TorchLayout::DenseKernel, &[inputs, outputs]) => {
            let feature = torch_feature(model, t.layer);
            let mut order = Vec::with_capacity(t.len());
            for o in 0..outputs {
                for i in 0..inputs {
                    order.push(feature(i) * outputs + o);
                }
            }
            order
        }
        // A batchnorm over a flattened image normalises each feature: its
        // four vectors follow the features' order, as a dense kernel's rows.
        (TorchLayout::Features, &[features]) => (0..features).map(torch_feature(model, t.layer)).collect(),
        (TorchLayout::ConvKernel | TorchLayout::DenseKernel, shape) => {
            unreachable!("{}: a kernel of shape {shape:?}", t.name)
        }
        (TorchLayout::Same | TorchLayout::Features, _) => (0..t.len()).collect(),
    }
}

/// The model's weights as PyTorch tensors: (name, shape, values).
pub fn to_torch<K: Registry>(
    model: &Model<K>,
    layout: &ParamLayout,
    params: &[f32],
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    layout
        .tensors
        .iter()
        .map(|t| {
            let values = torch_to_internal(model, t)
                .into_iter()
                .map(|i| params[t.offset + i])
                .collect();
            (t.name.clone(), torch_shape(t), values)
        })
        .collect()
}

/// Serialises weights (with string metadata) as safetensors bytes.
pub fn to_bytes<K: Registry>(
    model: &Model<K>,
    layout: &ParamLayout,
    params: &[f32],
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let tensors = to_torch(model, layout, params);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| (name, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = bytes.iter().map(|(name, shape, data)| {
        (
            name.clone(),
            TensorView::new(Dtype::F32, shape.clone(), data).expect("shape and data agree"),
        )
    });
    // One key, so that the header (a hash map) is the same bytes every run.
    let meta = HashMap::from([(
        "cnnc".to_string(),
        serde_json::to_string(metadata).expect("strings serialise"),
    )]);
    safetensors::serialize(views, Some(meta)).expect("f32 tensors serialise")
}

/// Writes weights atomically.
pub fn save<K: Registry>(
    path: &Path,
    model: &Model<K>,
    layout: &ParamLayout,
    params: &[f32],
    metadata: &BTreeMap<String, String>,
) -> Result<(), WeightsError> {
    crate::atomic::write(path, &to_bytes(model, layout, params, metadata)).map_err(|error| WeightsError::Io {
        path: path.display().to_string(),
        error,
    })
}

/// Reads weights for `model`, refusing a file whose names or shapes differ
/// (listing every difference). Returns the flat parameters and metadata.
pub fn load<K: Registry>(
    path: &Path,
    model: &Model<K>,
    layout: &ParamLayout,
) -> Result<(Vec<f32>, BTreeMap<String, String>), WeightsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| WeightsError::Io {
        path: shown.clone(),
        error,
    })?;
    from_bytes(&bytes, &shown, model, layout)
}

pub fn from_bytes<K: Registry>(
    bytes: &[u8],
    shown: &str,
    model: &Model<K>,
    layout: &ParamLayout,
) -> Result<(Vec<f32>, BTreeMap<String, String>), WeightsError> {
    let format = |e: safetensors::SafeTensorError| WeightsError::Format {
        path: shown.to_string(),
        message: e.to_string(),
    };
    let file = SafeTensors::deserialize(bytes).map_err(format)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(format)?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("cnnc"))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();

    let mut problems = Vec::new();
    let mut params = vec![0.0f32; layout.len];
    for t in &layout.tensors {
        let want = torch_shape(t);
        match file.tensor(&t.name) {
            Err(_) => problems.push(format!("`{}` {want:?} is missing", t.name)),
            Ok(view) if view.dtype() != Dtype::F32 => {
                problems.push(format!("`{}` is {:?}, expected F32", t.name, view.dtype()))
            }
            Ok(view) if view.shape() != want.as_slice() => problems.push(format!(
                "`{}` has shape {:?}, the model needs {want:?}",
                t.name,
                view.shape()
            )),
            Ok(view) => {
                let values = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                for (i, v) in torch_to_internal(model, t).into_iter().zip(values) {
                    params[t.offset + i] = v;
                }
            }
        }
    }
    let mut extra: Vec<&str> = file
        .names()
        .into_iter()
        .filter(|n| !layout.tensors.iter().any(|t| t.name == *n))
        .collect();
    extra.sort_unstable();
    problems.extend(
        extra
            .iter()
            .map(|n| format!("`{n}` is not a tensor of this model")),
    );
    if problems.is_empty() {
        Ok((params, metadata))
    } else {
        Err(WeightsError::Mismatch {
            path: shown.to_string(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckOptions;
    use crate::source::Source;

    fn model(src: &str) -> crate::Model {
        crate::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap()
    }

    #[test]
    fn conv_weights_become_oihw() {
        let m = model("input 3x3x2; conv 3 2x2; dense 2");
        let layout = ParamLayout::new(&m);
        let params: Vec<f32> = (0..layout.len).map(|i| i as f32).collect();
        let torch = to_torch(&m, &layout, &params);
        let (name, shape, values) = &torch[0];
        assert_eq!(
            (name.as_str(), shape.as_slice()),
            ("conv1.weight", [3, 2, 2, 2].as_slice())
        );
        // torch[o=1][i=0][y=1][x=0] is HWIO [y=1][x=0][i=0][o=1] = ((1*2+0)*2+0)*3+1 = 13.
        // In OIHW, [1][0][1][0] is element ((1 * 2 + 0) * 2 + 1) * 2 + 0 = 10.
        assert_eq!(values[10], 13.0);
    }

    #[test]
    fn dense_after_flatten_uses_pytorch_feature_order() {
        let m = model("input 2x2x3; flatten; dense 1");
        let layout = ParamLayout::new(&m);
        let params: Vec<f32> = (0..layout.len).map(|i| i as f32).collect();
        let torch = to_torch(&m, &layout, &params);
        // Internal feature (y, x, c) = (y*2 + x)*3 + c; PyTorch's is c*4 + y*2 + x.
        assert_eq!(
            torch[0].2,
            [0.0, 3.0, 6.0, 9.0, 1.0, 4.0, 7.0, 10.0, 2.0, 5.0, 8.0, 11.0]
        );
    }

    #[test]
    fn batchnorm_saves_under_pytorch_names_and_round_trips() {
        let m = model("input 4x4x1; conv 3 3x3; batchnorm; relu; dense 5; batchnorm; dense 2");
        let layout = ParamLayout::new(&m);
        let params: Vec<f32> = (0..layout.len).map(|i| i as f32 * 0.5).collect();
        let torch = to_torch(&m, &layout, &params);
        let bn: Vec<(&str, &[usize])> = torch
            .iter()
            .filter(|(n, _, _)| n.starts_with("batchnorm1"))
            .map(|(n, s, _)| (n.as_str(), s.as_slice()))
            .collect();
        assert_eq!(
            bn,
            [
                ("batchnorm1.weight", [3].as_slice()),
                ("batchnorm1.bias", &[3]),
                ("batchnorm1.running_mean", &[3]),
                ("batchnorm1.running_var", &[3])
            ]
        );
        let var = layout
            .tensors
            .iter()
            .find(|t| t.name == "batchnorm2.running_var")
            .unwrap();
        let saved = torch
            .iter()
            .find(|(n, _, _)| n == "batchnorm2.running_var")
            .unwrap();
        assert_eq!(saved.2, params[var.range()]);
        let bytes = to_bytes(&m, &layout, &params, &BTreeMap::new());
        let (back, _) = from_bytes(&bytes, "w.safetensors", &m, &layout).unwrap();
        for t in &layout.tensors {
            assert_eq!(back[t.range()], params[t.range()], "{}", t.name);
        }
    }

    #[test]
    fn round_trip_and_mismatches() {
        let m = model("input 5x5x2; conv 4 3x3 relu; pool 2; dropout 0.1; dense 3");
        let layout = ParamLayout::new(&m);
        let params = layout.init(3);
        let meta = BTreeMap::from([("epoch".to_string(), "2".to_string())]);
        let bytes = to_bytes(&m, &layout, &params, &meta);
        let (back, meta_back) = from_bytes(&bytes, "w.safetensors", &m, &layout).unwrap();
        assert_eq!(back, params);
        assert_eq!(meta_back, meta);
        assert_eq!(
            bytes,
            to_bytes(&m, &layout, &params, &meta),
            "the same bytes every time"
        );

        let other = model("input 5x5x2; conv 5 3x3 relu; pool 2; dense 3; dense 2");
        let err = from_bytes(&bytes, "w.safetensors", &other, &ParamLayout::new(&other))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`conv1.weight` has shape [4, 2, 3, 3], the model needs [5, 2, 3, 3]"),
            "{err}"
        );
        assert!(err.contains("`dense2.weight` [2, 3] is missing"), "{err}");
        assert!(
            from_bytes(b"junk", "w", &m, &layout)
                .unwrap_err()
                .to_string()
                .contains("not a safetensors file")
        );
    }

    /// The exported weights, run the way PyTorch runs them (NCHW images,
    /// OIHW kernels, `nn.Flatten` in C, H, W order, `[out, in]` linear
    /// weights), give the reference's logits.
    #[test]
    fn exported_weights_compute_the_same_function_in_pytorch_layout() {
        let m = model(
            "input 6x5x3; conv 4 3x3 same relu; pool 2; conv 2 2x2 relu; flatten; dense 5 relu; dense 3",
        );
        let layout = ParamLayout::new(&m);
        let params = layout.init(7);
        let input: Vec<f64> = (0..6 * 5 * 3).map(|i| ((i * 37 % 11) as f64) / 11.0).collect();
        let r = crate::reference::Reference::new(&m, 1);
        let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
        let mode = crate::reference::Mode {
            training: false,
            seed: 0,
        };
        let expected = r.forward(&p64, &input, mode).outputs.last().unwrap().clone();

        let torch: HashMap<String, (Vec<usize>, Vec<f64>)> = to_torch(&m, &layout, &params)
            .into_iter()
            .map(|(n, s, v)| (n, (s, v.into_iter().map(f64::from).collect())))
            .collect();
        // NHWC -> CHW.
        let (h, w, c) = (6, 5, 3);
        let chw: Vec<f64> = (0..c * h * w)
            .map(|i| {
                let (ch, y, x) = (i / (h * w), i / w % h, i % w);
                input[(y * w + x) * c + ch]
            })
            .collect();
        // A valid-padded, stride-1 conv with `pad` zeros around, then relu.
        let conv = |x: &[f64], (c, h, w): (usize, usize, usize), name: &str, pad: usize| {
            let (shape, wt) = &torch[&format!("{name}.weight")];
            let (_, b) = &torch[&format!("{name}.bias")];
            let (o, k) = (shape[0], shape[2]);
            let (oh, ow) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
            let mut y = vec![0.0; o * oh * ow];
            for oc in 0..o {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let mut s = b[oc];
                        for ic in 0..c {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (iy, ix) = (yy + ky, xx + kx);
                                    if iy < pad || ix < pad || iy - pad >= h || ix - pad >= w {
                                        continue;
                                    }
                                    s += wt[((oc * c + ic) * k + ky) * k + kx]
                                        * x[(ic * h + iy - pad) * w + ix - pad];
                                }
                            }
                        }
                        y[(oc * oh + yy) * ow + xx] = s.max(0.0);
                    }
                }
            }
            (y, (o, oh, ow))
        };
        let (y, (c1, h1, w1)) = conv(&chw, (c, h, w), "conv1", 1);
        // Max pool 2: 6x5 -> 3x2.
        let (ph, pw) = (h1 / 2, w1 / 2);
        let pooled: Vec<f64> = (0..c1 * ph * pw)
            .map(|i| {
                let (ch, py, px) = (i / (ph * pw), i / pw % ph, i % pw);
                (0..4)
                    .map(|t| y[(ch * h1 + 2 * py + t / 2) * w1 + 2 * px + t % 2])
                    .fold(f64::MIN, f64::max)
            })
            .collect();
        let (y, _) = conv(&pooled, (c1, ph, pw), "conv2", 0);
        let linear = |x: &[f64], name: &str, relu: bool| {
            let (shape, wt) = &torch[&format!("{name}.weight")];
            let (_, b) = &torch[&format!("{name}.bias")];
            (0..shape[0])
                .map(|o| {
                    let s = b[o] + (0..shape[1]).map(|i| wt[o * shape[1] + i] * x[i]).sum::<f64>();
                    if relu { s.max(0.0) } else { s }
                })
                .collect::<Vec<f64>>()
        };
        let logits = linear(&linear(&y, "dense1", true), "dense2", false);
        for (a, b) in logits.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-5, "{logits:?} vs {expected:?}");
        }
    }

    /// A batchnorm after a flatten normalises features that PyTorch orders
    /// (channel, row, column): its exported vectors follow that order.
    #[test]
    fn batchnorm_after_flatten_exports_in_pytorch_feature_order() {
        let m = model("input 2x3x2; flatten; batchnorm; dense 3");
        let layout = ParamLayout::new(&m);
        let mut rng = crate::rng::SplitMix64::new(3);
        // Distinct statistics per feature, so that an order mix-up shows.
        let params: Vec<f32> = (0..layout.len).map(|_| 0.5 + rng.next_f32()).collect();
        let input: Vec<f64> = (0..12).map(|i| ((i * 5 % 7) as f64) / 7.0).collect();
        let r = crate::reference::Reference::new(&m, 1);
        let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
        let mode = crate::reference::Mode {
            training: false,
            seed: 0,
        };
        let expected = r.forward(&p64, &input, mode).outputs.last().unwrap().clone();

        let torch: HashMap<String, Vec<f64>> = to_torch(&m, &layout, &params)
            .into_iter()
            .map(|(n, _, v)| (n, v.into_iter().map(f64::from).collect()))
            .collect();
        let (h, w, c) = (2, 3, 2);
        // nn.Flatten of an NCHW image, then nn.BatchNorm1d in evaluation.
        let features: Vec<f64> = (0..c * h * w)
            .map(|f| {
                let (ch, y, x) = (f / (h * w), f / w % h, f % w);
                let v = input[(y * w + x) * c + ch];
                let t = |s: &str| torch[&format!("batchnorm1.{s}")][f];
                (v - t("running_mean")) / (t("running_var") + 1e-3).sqrt() * t("weight") + t("bias")
            })
            .collect();
        let (wt, b) = (&torch["dense1.weight"], &torch["dense1.bias"]);
        for o in 0..3 {
            let y = b[o] + (0..12).map(|f| wt[o * 12 + f] * features[f]).sum::<f64>();
            assert!(
                (y - expected[o]).abs() < 1e-5,
                "output {o}: {y} vs {}",
                expected[o]
            );
        }
    }
}
