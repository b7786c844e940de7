//! The generated kernels learn: a small conv net trained for a few hundred
//! steps on a synthetic task drives its loss far below where it started.

use cnnc::codegen::{LowerOptions, OptimizerKind};
use cnnc::model::CheckOptions;
use cnnc::model::keras::adam_alpha;
use cnnc::rng::SplitMix64;
use cnnc::runtime::{Executable, Gpu, Pass, StepUniform};
use cnnc::source::Source;

/// 8x8 images with one bright 3x3 blob in one of four quadrants, on noise;
/// the class is the quadrant.
fn synthetic(count: usize, rng: &mut SplitMix64) -> (Vec<f32>, Vec<u32>) {
    let mut images = Vec::with_capacity(count * 64);
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let class = rng.below(4);
        let (qy, qx) = (class / 2 * 4, class % 2 * 4);
        let (dy, dx) = (rng.below(2), rng.below(2));
        for y in 0..8 {
            for x in 0..8 {
                let inside = (qy + dy..qy + dy + 3).contains(&y) && (qx + dx..qx + dx + 3).contains(&x);
                images.push(rng.next_f32() * 0.8 + if inside { 0.3 } else { 0.0 });
            }
        }
        labels.push(class as u32);
    }
    (images, labels)
}

#[test]
fn loss_falls_and_accuracy_rises() {
    let src = "input 8x8x1; conv 8 3x3 same relu; pool 2; conv 8 3x3 relu; dense 16 relu; dense 4 softmax";
    let model = cnnc::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap();
    let batch = 16;
    let plan = cnnc::codegen::plan(
        &model,
        &LowerOptions {
            batch,
            optimizer: OptimizerKind::Adam,
            ..LowerOptions::default()
        },
    )
    .unwrap();
    let params = plan.params.init(5);
    let gpu = Gpu::new(None).unwrap();
    let exe = Executable::new(&gpu, cnnc::codegen::compile(plan).unwrap()).unwrap();
    exe.write_params(&params);

    let mut rng = SplitMix64::new(9);
    let (lr, b1, b2) = (0.002, 0.9, 0.999);
    let mut windows = Vec::new();
    for t in 1..=300u32 {
        let (images, labels) = synthetic(batch, &mut rng);
        exe.write_batch(&images, &labels);
        exe.write_step(&StepUniform {
            samples: batch as u32,
            training: 1,
            seed: t,
            t,
            lr,
            alpha: adam_alpha(t, lr as f64, b1 as f64, b2 as f64) as f32,
            beta1: b1,
            beta2: b2,
            epsilon: 1e-7,
            ..StepUniform::default()
        });
        exe.run(Pass::Train, None);
        // The first step's loss is that of the initial weights.
        if t == 1 || t % 50 == 0 {
            let totals = exe.take_totals(&gpu).unwrap();
            windows.push((
                totals.loss_sum / totals.counted as f32,
                totals.correct as f32 / totals.counted as f32,
            ));
        }
    }
    let (first_loss, first_acc) = windows[0];
    let (last_loss, last_acc) = *windows.last().unwrap();
    eprintln!("loss and accuracy at step 1, then per 50 steps: {windows:?}");
    assert!(first_loss > 1.0, "starts near ln 4 = 1.39: {first_loss}");
    assert!(
        last_loss < first_loss / 4.0,
        "loss falls well below its start: {windows:?}"
    );
    assert!(
        last_acc > 0.9 && last_acc > first_acc,
        "accuracy far above chance (0.25): {windows:?}"
    );
}
