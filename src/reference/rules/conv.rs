//! `conv` and `dense`: one computation, a dense layer being a 1x1 conv of
//! a 1x1 image (see [`geometry`]). Kernels are `[KH][KW][CI/G][CO]`, dense
//! ones `[IN][OUT]`; zero padding is the taps that [`Geometry::tap`] skips.

use super::{Context, Rule};
use crate::model::{Layer, LayerKind};
use crate::params::ParamRole;
use crate::reference::layout::{Geometry, geometry};

/// Conv and dense layers.
pub struct ConvRule;

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

impl Rule for ConvRule {
    fn params(&self, layer: &Layer) -> Vec<(ParamRole, Vec<usize>)> {
        let (weight, units) = match &layer.kind {
            LayerKind::Conv(c) => (
                vec![
                    c.kernel[0],
                    c.kernel[1],
                    layer.input.channels() / c.groups,
                    c.filters,
                ],
                c.filters,
            ),
            LayerKind::Dense(d) => (vec![layer.input.elements(), d.units], d.units),
            _ => unreachable!("the conv rule computes convs and denses"),
        };
        vec![(ParamRole::Weight, weight), (ParamRole::Bias, vec![units])]
    }

    fn regularised(&self) -> bool {
        true
    }

    fn forward(&self, c: &Context, xs: &[&[f64]], params: &mut [f64]) -> Vec<f64> {
        let (g, x) = (geometry(c.layer), xs[0]);
        let w = &params[c.param(ParamRole::Weight)];
        let bias = &params[c.param(ParamRole::Bias)];
        let mut y: Vec<f64> = (0..c.batch() * g.oh * g.ow * g.co)
            .map(|o| bias[o % g.co])
            .collect();
        products(&g, c.batch(), |o, i, k| y[o] += x[i] * w[k]);
        y
    }

    fn backward(
        &self,
        c: &Context,
        xs: &[&[f64]],
        params: &[f64],
        dz: &[f64],
        grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let (g, x) = (geometry(c.layer), xs[0]);
        let (w_range, b_range) = (c.param(ParamRole::Weight), c.param(ParamRole::Bias));
        let w = &params[w_range.clone()];
        for (o, d) in dz.iter().enumerate() {
            grads[b_range.start + o % g.co] += d;
        }
        let mut dx = vec![0.0; x.len()];
        let dw = &mut grads[w_range];
        products(&g, c.batch(), |o, i, k| {
            dw[k] += x[i] * dz[o];
            dx[i] += w[k] * dz[o];
        });
        vec![dx]
    }
}
