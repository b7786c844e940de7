//! Convolutions and dense layers, one computation: a dense layer is a 1x1
//! convolution of a 1x1 image (see [`Geometry::dense`]). Kernels are
//! `[KH][KW][CI/G][CO]`, dense ones `[IN][OUT]`; zero padding is the taps
//! that [`Geometry::tap`] skips. The `conv` and `dense` kinds call these.

use super::{Context, Geometry};
use crate::model::{ParamRole, Registry};

/// Calls `f(o, i, k)` for every product of the layer over the batch:
/// output element `o` takes input element `i` times kernel element `k`.
/// For each output, the products come in the order (ky, kx, ci). With
/// groups, output channel `co` reads its group's input channels only, and
/// the kernel holds `ci / groups` of them per filter.
fn products(g: &Geometry, batch: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (cig, cog) = (g.ci / g.groups, g.co / g.groups);
    for n in 0..batch {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let out = ((n * g.oh + oy) * g.ow + ox) * g.co;
                for co in 0..g.co {
                    let first = (co / cog) * cig;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let Some(p) = g.tap(n, oy, ox, ky, kx) else {
                                continue;
                            };
                            for ci in 0..cig {
                                f(
                                    out + co,
                                    p * g.ci + first + ci,
                                    ((ky * g.kw + kx) * cig + ci) * g.co + co,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `x * W + bias`, with the layer's `Weight` and `Bias` tensors.
pub fn gemm_forward<K: Registry>(c: &Context<K>, g: &Geometry, x: &[f64], params: &[f64]) -> Vec<f64> {
    let w = &params[c.param(ParamRole::Weight)];
    let bias = &params[c.param(ParamRole::Bias)];
    let mut y: Vec<f64> = (0..c.batch() * g.oh * g.ow * g.co)
        .map(|o| bias[o % g.co])
        .collect();
    products(g, c.batch(), |o, i, k| y[o] += x[i] * w[k]);
    y
}

/// The input's gradient; adds the weight's and the bias's to `grads`.
pub fn gemm_backward<K: Registry>(
    c: &Context<K>,
    g: &Geometry,
    x: &[f64],
    params: &[f64],
    dz: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let (w_range, b_range) = (c.param(ParamRole::Weight), c.param(ParamRole::Bias));
    let w = &params[w_range.clone()];
    for (o, d) in dz.iter().enumerate() {
        grads[b_range.start + o % g.co] += d;
    }
    let mut dx = vec![0.0; x.len()];
    let dw = &mut grads[w_range];
    products(g, c.batch(), |o, i, k| {
        dw[k] += x[i] * dz[o];
        dx[i] += w[k] * dz[o];
    });
    dx
}
