//! `concat`: its inputs joined along the channels (images of one height
//! and width; vectors end to end). Each input's gradient is its channel
//! slice of the output's.

use super::{Context, Rule};
use crate::reference::layout::hwc;

/// A join along the channels.
pub struct ConcatRule;

/// Each input's channels, and the output's: every input holds
/// `batch * pixels` rows of its channels, the output rows of their sum.
fn channels(c: &Context, xs: &[&[f64]]) -> (Vec<usize>, usize) {
    let (h, w, total) = hwc(c.layer.output);
    let rows = c.batch() * h * w;
    let each: Vec<usize> = xs.iter().map(|x| x.len() / rows).collect();
    assert_eq!(
        each.iter().sum::<usize>(),
        total,
        "{}: channels add up",
        c.layer.name
    );
    (each, total)
}

impl Rule for ConcatRule {
    fn forward(&self, c: &Context, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        let (each, total) = channels(c, xs);
        let rows = xs[0].len() / each[0];
        let mut y = vec![0.0; rows * total];
        let mut offset = 0;
        for (x, &ch) in xs.iter().zip(&each) {
            for row in 0..rows {
                y[row * total + offset..][..ch].copy_from_slice(&x[row * ch..][..ch]);
            }
            offset += ch;
        }
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
        let (each, total) = channels(c, xs);
        let rows = dz.len() / total;
        let mut offset = 0;
        each.iter()
            .map(|&ch| {
                let dx = (0..rows * ch)
                    .map(|i| dz[(i / ch) * total + offset + i % ch])
                    .collect();
                offset += ch;
                dx
            })
            .collect()
    }
}
