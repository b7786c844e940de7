//! Random valid models: they check, their parameter and FLOP counts equal
//! an independent formula, they lower to naga-valid WGSL, and (the small
//! ones) their forward pass on the adapter equals the CPU reference.

use std::sync::OnceLock;

use cnnc::codegen::{LowerOptions, emit, plan};
use cnnc::model::{CheckOptions, Model};
use cnnc::reference::{Mode, Reference};
use cnnc::rng::SplitMix64;
use cnnc::runtime::{Executable, Gpu, Pass, StepUniform};
use cnnc::source::Source;
use proptest::prelude::*;

/// A layer as generated, before it is written as text.
#[derive(Debug, Clone)]
enum Gen {
    Conv {
        filters: usize,
        kh: usize,
        kw: usize,
        stride: usize,
        same: bool,
        act: &'static str,
    },
    Pool {
        avg: bool,
        k: usize,
        stride: usize,
    },
    Dropout(u8),
    Act(&'static str),
    BatchNorm,
}

const ACTS: [&str; 5] = ["relu", "leaky_relu", "sigmoid", "tanh", "linear"];

fn gen_layer() -> impl Strategy<Value = Gen> {
    prop_oneof![
        4 => (1usize..10, 1usize..5, 1usize..5, 1usize..4, any::<bool>(), 0usize..5).prop_map(
            |(filters, kh, kw, stride, same, a)| Gen::Conv { filters, kh, kw, stride, same, act: ACTS[a] }
        ),
        2 => (any::<bool>(), 1usize..4, 1usize..4).prop_map(|(avg, k, stride)| Gen::Pool { avg, k, stride }),
        1 => (0u8..9).prop_map(Gen::Dropout),
        1 => (0usize..4).prop_map(|a| Gen::Act(ACTS[a])),
        1 => Just(Gen::BatchNorm),
    ]
}

/// A model, written as text, with its expected parameter and FLOP counts
/// computed here, independently of `cnnc::model`.
#[derive(Debug, Clone)]
struct Case {
    text: String,
    params: usize,
    flops: u64,
    elements: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..13,
        1usize..13,
        1usize..5,
        prop::collection::vec(gen_layer(), 0..5),
        2usize..7,
        any::<bool>(),
    )
        .prop_map(|(h0, w0, c0, layers, units, softmax)| {
            let (mut h, mut w, mut c) = (h0, w0, c0);
            let mut text = format!("input {h}x{w}x{c}\n");
            let (mut params, mut flops, mut elements) = (0usize, 0u64, h * w * c);
            for layer in layers {
                match layer {
                    Gen::Conv {
                        filters,
                        kh,
                        kw,
                        stride,
                        same,
                        act,
                    } => {
                        let (oh, ow) = if same {
                            (h.div_ceil(stride), w.div_ceil(stride))
                        } else if kh <= h && kw <= w {
                            ((h - kh) / stride + 1, (w - kw) / stride + 1)
                        } else {
                            continue; // would not fit: skip, keeping the model valid
                        };
                        let padding = if same { "same" } else { "valid" };
                        text += &format!("conv {filters} {kh}x{kw} stride {stride} {padding} {act}\n");
                        params += kh * kw * c * filters + filters;
                        flops += 2 * (oh * ow * filters * kh * kw * c) as u64;
                        (h, w, c) = (oh, ow, filters);
                    }
                    Gen::Pool { avg, k, stride } => {
                        if k > h || k > w {
                            continue;
                        }
                        text += &format!("pool {} {k} stride {stride}\n", if avg { "avg" } else { "max" });
                        (h, w) = ((h - k) / stride + 1, (w - k) / stride + 1);
                    }
                    Gen::Dropout(tenths) => text += &format!("dropout {}\n", tenths as f32 / 10.0),
                    Gen::Act(a) => text += &format!("{a}\n"),
                    // Scale, shift, running mean and variance per channel.
                    Gen::BatchNorm => {
                        text += "batchnorm\n";
                        params += 4 * c;
                    }
                }
                elements = elements.max(h * w * c);
            }
            let act = if softmax { "softmax" } else { "linear" };
            text += &format!("dense {units} {act}\n");
            params += h * w * c * units + units;
            flops += 2 * (h * w * c * units) as u64;
            Case {
                text,
                params,
                flops,
                elements,
            }
        })
}

fn check(case: &Case) -> Model {
    cnnc::load(
        &Source::new("p.cnn", case.text.as_str()),
        &CheckOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{}\n{d}", case.text))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn valid_models_check_cost_and_lower(case in case()) {
        let model = check(&case);
        prop_assert_eq!(model.params().total(), case.params, "{}", case.text);
        prop_assert_eq!(model.flops(), case.flops, "{}", case.text);
        // `emit` validates every kernel with naga.
        let shaders = plan(&model, &LowerOptions { batch: 2, ..LowerOptions::default() }).and_then(|p| emit(&p));
        prop_assert!(shaders.is_ok(), "{}: {:?}", case.text, shaders.err());
    }
}

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(None).expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)"))
}

proptest! {
    // Each case compiles its kernels on the adapter: fewer cases.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn small_models_forward_on_the_gpu_as_in_the_reference(case in case()) {
        prop_assume!(case.params < 3_000 && case.elements < 2_000);
        let model = check(&case);
        let batch = 2;
        let plan = plan(&model, &LowerOptions { batch, ..LowerOptions::default() }).unwrap();
        let outputs = plan.io.layer_outputs.clone();
        let exe = Executable::new(gpu(), plan).unwrap();
        let r = Reference::new(&model, batch);
        let mut rng = SplitMix64::new(case.text.len() as u64);
        let params: Vec<f32> = r.layout.init(3).iter().map(|v| v + rng.next_f32() * 0.1).collect();
        let input: Vec<f32> = (0..batch * model.input.elements()).map(|_| rng.next_f32()).collect();
        exe.write_params(&params);
        exe.write_batch(&input, &[0; 2]);
        exe.write_step(&StepUniform { samples: batch as u32, ..StepUniform::default() });
        exe.run(Pass::Eval, None);
        let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
        let x64: Vec<f64> = input.iter().map(|&v| v as f64).collect();
        let expected = r.forward(&p64, &x64, Mode { training: false, seed: 0 });
        for (i, layer) in model.layers.iter().enumerate() {
            let got = exe.read_f32(gpu(), outputs[i]).unwrap();
            let want = &expected.outputs[i];
            let diff: f64 = got.iter().zip(want).map(|(&a, &b)| (a as f64 - b).powi(2)).sum::<f64>().sqrt();
            let norm: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
            prop_assert!(diff / norm.max(1e-6) < 1e-4, "{}: {} differs by {}", case.text, layer.name, diff / norm.max(1e-6));
        }
    }
}
