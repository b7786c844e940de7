//! `globalpool avg|max`: each channel's average or maximum over the whole
//! image. Max's gradient goes to the first maximum, as on the GPU.

use super::{Context, Rule};
use crate::model::{LayerKind, PoolKind};
use crate::reference::layout::hwc;

/// Global average and max pooling.
pub struct GlobalPoolRule;

/// The kind, the pixels per image and the channels.
fn sizes(c: &Context) -> (PoolKind, usize, usize) {
    let LayerKind::GlobalPool(kind) = c.layer.kind else {
        unreachable!("the globalpool rule computes global pools")
    };
    let (h, w, ch) = hwc(c.layer.input);
    (kind, h * w, ch)
}

/// The index of the first maximum of channel `k` of sample `n`.
fn argmax(x: &[f64], n: usize, k: usize, pixels: usize, ch: usize) -> usize {
    (0..pixels)
        .map(|p| (n * pixels + p) * ch + k)
        .fold(
            n * pixels * ch + k,
            |best, i| if x[i] > x[best] { i } else { best },
        )
}

impl Rule for GlobalPoolRule {
    fn forward(&self, c: &Context, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        let ((kind, pixels, ch), x) = (sizes(c), xs[0]);
        (0..c.batch() * ch)
            .map(|o| {
                let (n, k) = (o / ch, o % ch);
                match kind {
                    PoolKind::Max => x[argmax(x, n, k, pixels, ch)],
                    PoolKind::Avg => {
                        (0..pixels).map(|p| x[(n * pixels + p) * ch + k]).sum::<f64>() / pixels as f64
                    }
                }
            })
            .collect()
    }

    fn backward(
        &self,
        c: &Context,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let ((kind, pixels, ch), x) = (sizes(c), xs[0]);
        let mut dx = vec![0.0; x.len()];
        for (o, &d) in dz.iter().enumerate() {
            let (n, k) = (o / ch, o % ch);
            match kind {
                PoolKind::Max => dx[argmax(x, n, k, pixels, ch)] += d,
                PoolKind::Avg => (0..pixels).for_each(|p| dx[(n * pixels + p) * ch + k] += d / pixels as f64),
            }
        }
        vec![dx]
    }
}
