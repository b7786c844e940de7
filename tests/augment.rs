//! `--augment` in the gather kernel: each slot's image moved exactly as
//! `cnnc::augment` predicts, the same for the same step seed, different
//! for another, and never in evaluation.

use cnnc::augment::Augment;
use cnnc::codegen::LowerOptions;
use cnnc::data::Dataset;
use cnnc::model::CheckOptions;
use cnnc::runtime::{Executable, Gpu, Pass, StepUniform};
use cnnc::source::Source;

const H: usize = 5;
const W: usize = 4;
const C: usize = 2;
const BATCH: usize = 16;

/// The batch the gather kernel builds from a 3-sample dataset, every slot
/// holding sample `slot % 3`, with the step's `seed` and `training` flag.
fn gather(augment: Augment, seed: u32, training: bool) -> (Vec<f32>, Dataset) {
    let gpu = Gpu::new(None).expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)");
    let model = cnnc::load(
        &Source::new("a.cnn", format!("input {H}x{W}x{C}; dense 2").as_str()),
        &CheckOptions::default(),
    )
    .unwrap();
    let options = LowerOptions {
        batch: BATCH,
        augment,
        ..LowerOptions::default()
    };
    let plan = cnnc::codegen::plan(&model, &options).unwrap();
    let input = plan.io.input;
    let indices = plan.io.indices;
    let exe = Executable::new(&gpu, cnnc::codegen::compile(plan).unwrap()).unwrap();
    let sample = H * W * C;
    // Distinct, nonzero pixels: 1..=120 over the three samples.
    let data = Dataset {
        shape: [H, W, C],
        images: (0..3 * sample).map(|i| (i + 1) as u8).collect(),
        labels: vec![0, 1, 0],
        origin: "test".into(),
    };
    let device = exe.upload(&data).unwrap();
    let slots: Vec<u32> = (0..BATCH as u32).map(|s| s % 3).collect();
    exe.write(indices, bytemuck::cast_slice(&slots));
    exe.write_step(&StepUniform {
        samples: BATCH as u32,
        training: u32::from(training),
        seed,
        ..StepUniform::default()
    });
    exe.run(Pass::Eval, Some(&device));
    (exe.read_f32(&gpu, input).unwrap(), data)
}

fn image(data: &Dataset, slot: usize) -> &[u8] {
    let sample = H * W * C;
    let s = slot % 3;
    &data.images[s * sample..(s + 1) * sample]
}

#[test]
fn every_pixel_as_the_cpu_predicts() {
    for spec in ["flip", "shift:1", "crop:2", "flip,shift:2,crop:1"] {
        let augment: Augment = spec.parse().unwrap();
        let (batch, data) = gather(augment, 77, true);
        let mut moved = 0;
        for slot in 0..BATCH {
            let expected = augment.apply(image(&data, slot), [H, W, C], 77, slot as u32);
            let got = &batch[slot * H * W * C..(slot + 1) * H * W * C];
            assert_eq!(got, expected.as_slice(), "{spec}: slot {slot}");
            let plain: Vec<f32> = image(&data, slot).iter().map(|&b| b as f32 / 255.0).collect();
            moved += usize::from(got != plain.as_slice());
        }
        assert!(
            moved >= BATCH / 4,
            "{spec}: only {moved} of {BATCH} images changed"
        );
    }
}

#[test]
fn crop_moves_whole_images_and_pads_with_zeros() {
    let augment: Augment = "crop:1".parse().unwrap();
    let (batch, data) = gather(augment, 5, true);
    let mut offsets = std::collections::HashSet::new();
    for slot in 0..BATCH {
        let got = &batch[slot * H * W * C..(slot + 1) * H * W * C];
        let img = image(&data, slot);
        // The output is the input moved by one (dy, dx) in [-1, 1]^2, zeros outside.
        let found = (-1i64..=1)
            .flat_map(|dy| (-1i64..=1).map(move |dx| (dy, dx)))
            .find(|&(dy, dx)| {
                (0..H as i64).all(|y| {
                    (0..W as i64).all(|x| {
                        (0..C).all(|c| {
                            let (sy, sx) = (y + dy, x + dx);
                            let want = if (0..H as i64).contains(&sy) && (0..W as i64).contains(&sx) {
                                img[((sy as usize) * W + sx as usize) * C + c] as f32 / 255.0
                            } else {
                                0.0
                            };
                            got[((y as usize) * W + x as usize) * C + c] == want
                        })
                    })
                })
            });
        offsets.insert(found.unwrap_or_else(|| panic!("slot {slot} is not a moved copy: {got:?}")));
    }
    assert!(offsets.len() >= 3, "crops vary between slots: {offsets:?}");
}

#[test]
fn seeded_and_never_in_evaluation() {
    let augment: Augment = "flip,shift:2,crop:2".parse().unwrap();
    let (a, data) = gather(augment, 1, true);
    let (b, _) = gather(augment, 1, true);
    let (c, _) = gather(augment, 2, true);
    assert_eq!(a, b, "the same step seed, the same batch");
    assert_ne!(a, c, "another seed, another batch");
    let (eval, _) = gather(augment, 1, false);
    let plain: Vec<f32> = (0..BATCH)
        .flat_map(|s| image(&data, s).to_vec())
        .map(|b| b as f32 / 255.0)
        .collect();
    assert_eq!(eval, plain, "evaluation batches are never transformed");
}
