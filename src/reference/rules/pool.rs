//! `pool max|avg`: windows without padding. Max pooling's gradient goes to
//! the first maximum of each window, as on the GPU.

use super::{Context, Rule};
use crate::model::{LayerKind, Pool, PoolKind};
use crate::reference::layout::hwc;

/// Max and average pooling.
pub struct PoolRule;

fn pool<'a>(c: &Context<'a>) -> &'a Pool {
    let LayerKind::Pool(pool) = &c.layer.kind else {
        unreachable!("the pool rule computes pools")
    };
    pool
}

/// Calls `f(o, taps)` for every output element `o` over the batch, with
/// the input elements of its window, row by row.
fn windows(c: &Context, mut f: impl FnMut(usize, &[usize])) {
    let p = pool(c);
    let (ih, iw, ch) = hwc(c.layer.input);
    let (oh, ow, _) = hwc(c.layer.output);
    let mut taps = Vec::with_capacity(p.window[0] * p.window[1]);
    for n in 0..c.batch() {
        for oy in 0..oh {
            for ox in 0..ow {
                for k in 0..ch {
                    taps.clear();
                    for ky in 0..p.window[0] {
                        for kx in 0..p.window[1] {
                            let (iy, ix) = (oy * p.stride + ky, ox * p.stride + kx);
                            taps.push(((n * ih + iy) * iw + ix) * ch + k);
                        }
                    }
                    f(((n * oh + oy) * ow + ox) * ch + k, &taps);
                }
            }
        }
    }
}

impl Rule for PoolRule {
    fn forward(&self, c: &Context, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        let (kind, x) = (pool(c).kind, xs[0]);
        let mut y = vec![0.0; c.batch() * c.layer.output.elements()];
        windows(c, |o, taps| {
            let window = taps.iter().map(|&t| x[t]);
            y[o] = match kind {
                PoolKind::Max => window.fold(f64::NEG_INFINITY, f64::max),
                PoolKind::Avg => window.sum::<f64>() / taps.len() as f64,
            };
        });
        y
    }

    fn backward(
        &self,
        c: &Context,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let (kind, x) = (pool(c).kind, xs[0]);
        let mut dx = vec![0.0; x.len()];
        windows(c, |o, taps| match kind {
            PoolKind::Max => {
                let first = taps[0];
                let best = taps
                    .iter()
                    .fold(first, |best, &t| if x[t] > x[best] { t } else { best });
                dx[best] += dz[o];
            }
            PoolKind::Avg => taps.iter().for_each(|&t| dx[t] += dz[o] / taps.len() as f64),
        });
        vec![dx]
    }
}
