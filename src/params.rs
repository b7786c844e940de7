//! Where each weight lives: one flat f32 buffer for all trainable
//! parameters (so the optimizer is one dispatch), laid out from the model.
//!
//! Internal layouts are the kernels' choice, not PyTorch's: a conv kernel
//! is `[KH][KW][CI][CO]` (HWIO; with `groups` G, CI is the input
//! channels / G, as Keras's grouped `Conv2D` kernel) and a dense weight `[IN][OUT]`, both
//! contiguous along the output channel. `weights` converts to PyTorch's
//! layouts on save and back on load.

pub use crate::model::ParamRole;
use crate::model::{Init, Model, Registry, TorchLayout};
use crate::rng::SplitMix64;

/// Offsets are multiples of this many floats, so that kernels may read
/// any tensor as `vec4<f32>`.
pub const ALIGN: usize = 4;

/// One tensor in the flat parameter buffer, where its kind's
/// `TensorSpec` put it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParamTensor {
    /// PyTorch-style name: `conv1.weight`, `dense2.bias`.
    pub name: String,
    /// Index of the layer in `Model::layers`.
    pub layer: usize,
    pub role: ParamRole,
    /// Offset in floats; a multiple of [`ALIGN`].
    pub offset: usize,
    /// Internal shape: HWIO for conv weights, `[IN, OUT]` for dense.
    pub shape: Vec<usize>,
    /// Whether `l2` and weight decay apply to it.
    #[serde(skip)]
    pub decays: bool,
    #[serde(skip)]
    pub init: Init,
    #[serde(skip)]
    pub torch: TorchLayout,
}

impl ParamTensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The flat buffer's layout: every tensor, in layer order. A batchnorm's
/// running statistics live here too, so that checkpoints, saving and
/// loading treat them like any weight.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ParamLayout {
    pub tensors: Vec<ParamTensor>,
    /// Floats in the buffer, padding included.
    pub len: usize,
}

impl ParamLayout {
    /// Every layer's tensors, as its kind lists them, one after another.
    pub fn new<K: Registry>(model: &Model<K>) -> ParamLayout {
        let mut tensors = Vec::new();
        let mut offset = 0;
        for (i, layer) in model.layers.iter().enumerate() {
            for spec in layer.tensors() {
                let t = ParamTensor {
                    name: format!("{}.{}", layer.name, spec.role.suffix()),
                    layer: i,
                    role: spec.role,
                    offset,
                    shape: spec.shape,
                    decays: spec.decays,
                    init: spec.init,
                    torch: spec.torch,
                };
                offset = (offset + t.len()).next_multiple_of(ALIGN);
                tensors.push(t);
            }
        }
        ParamLayout { tensors, len: offset }
    }

    pub fn get(&self, layer: usize, role: ParamRole) -> Option<&ParamTensor> {
        self.tensors.iter().find(|t| t.layer == layer && t.role == role)
    }

    /// Layer `layer`'s tensor that `l2` and weight decay apply to, if any.
    pub fn decaying(&self, layer: usize) -> Option<&ParamTensor> {
        self.tensors.iter().find(|t| t.layer == layer && t.decays)
    }

    /// Each tensor's [`Init`]: Keras's defaults (Glorot-uniform kernels,
    /// zero biases, a batchnorm starting as the identity), seeded.
    ///
    /// Glorot: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)); for a conv,
    /// fan_in = KH*KW*CI and fan_out = KH*KW*CO, as Keras computes them.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let mut values = vec![0.0f32; self.len];
        for t in &self.tensors {
            match t.init {
                Init::Zeros => {}
                Init::Ones => values[t.range()].fill(1.0),
                Init::Glorot => {
                    let receptive: usize = t.shape[..t.shape.len() - 2].iter().product();
                    let fan_in = receptive * t.shape[t.shape.len() - 2];
                    let fan_out = receptive * t.shape[t.shape.len() - 1];
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                    for v in &mut values[t.range()] {
                        *v = (rng.next_f32() * 2.0 - 1.0) * limit;
                    }
                }
            }
        }
        values
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
    fn layout_is_aligned_and_covers_every_parameter() {
        let m = model("input 5x5x3; conv 5 3x3 relu; pool 2; dense 7; dense 10 softmax");
        let layout = ParamLayout::new(&m);
        let names: Vec<&str> = layout.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conv1.weight",
                "conv1.bias",
                "dense1.weight",
                "dense1.bias",
                "dense2.weight",
                "dense2.bias"
            ]
        );
        assert!(layout.tensors.iter().all(|t| t.offset % ALIGN == 0));
        let total: usize = layout.tensors.iter().map(ParamTensor::len).sum();
        assert_eq!(total, m.params().trainable);
        assert!(layout.tensors.iter().all(|t| t.role.trainable()));
        assert_eq!(layout.tensors[0].shape, [3, 3, 3, 5]);
        assert_eq!(layout.tensors[2].shape, [5, 7]);
    }

    #[test]
    fn batchnorm_has_four_tensors_two_trainable_and_starts_as_identity() {
        let m = model("input 4x4x1; conv 3 3x3; batchnorm; relu; dense 2");
        let layout = ParamLayout::new(&m);
        let bn: Vec<&ParamTensor> = layout.tensors.iter().filter(|t| t.layer == 1).collect();
        let names: Vec<&str> = bn.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "batchnorm1.weight",
                "batchnorm1.bias",
                "batchnorm1.running_mean",
                "batchnorm1.running_var"
            ]
        );
        let trainable: usize = layout
            .tensors
            .iter()
            .filter(|t| t.role.trainable())
            .map(|t| t.len())
            .sum();
        let all: usize = layout.tensors.iter().map(|t| t.len()).sum();
        assert_eq!(
            (trainable, all - trainable),
            (m.params().trainable, m.params().non_trainable)
        );
        let values = layout.init(1);
        let expect = [1.0, 0.0, 0.0, 1.0];
        for (t, want) in bn.iter().zip(expect) {
            assert!(values[t.range()].iter().all(|&v| v == want), "{}", t.name);
        }
    }

    #[test]
    fn glorot_bounds_and_zero_biases() {
        let m = model("input 8x8x2; conv 4 3x3; dense 6");
        let layout = ParamLayout::new(&m);
        let values = layout.init(1);
        let w = &layout.tensors[0];
        let limit = (6.0f32 / (9.0 * 2.0 + 9.0 * 4.0)).sqrt();
        let ws = &values[w.range()];
        assert!(ws.iter().all(|v| v.abs() <= limit));
        assert!(ws.iter().any(|v| v.abs() > limit * 0.9), "uses the whole range");
        assert!(values[layout.tensors[1].range()].iter().all(|&b| b == 0.0));
        assert_eq!(values, layout.init(1), "seeded");
        assert_ne!(values, layout.init(2));
    }
}
