//! Successive halving (Jamieson and Talwalkar, 2016; the inner loop of Li
//! et al.'s Hyperband, 2018): train every configuration for a small
//! budget, keep the best fraction by validation accuracy, continue those
//! from their checkpoints to a budget larger by the inverse of that
//! fraction, and so on until the largest.
//!
//! With `n` configurations, a fraction kept `k = P/Q` (η = Q/P), budgets
//! from `r` to `R` epochs: there are `s + 1` rungs, `s` the largest
//! integer with `R k^s >= r`; rung `i` (from 0) trains to
//! `max(r, round(R k^(s-i)))` epochs (so the last is `R`, and each is η
//! times the one before, as near as whole epochs allow; a rung that
//! rounds to its predecessor's epochs is dropped) and holds
//! `max(1, floor(n k^i))` configurations.

use serde::{Deserialize, Serialize};

/// `--keep P/Q`: the fraction of a rung's configurations the next keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keep {
    pub kept: u32,
    pub of: u32,
}

impl std::str::FromStr for Keep {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("expected a fraction P/Q below 1, such as 1/3 or 1/2, found `{text}`");
        let (p, q) = text.split_once('/').ok_or_else(bad)?;
        let (kept, of): (u32, u32) = (
            p.trim().parse().map_err(|_| bad())?,
            q.trim().parse().map_err(|_| bad())?,
        );
        if kept == 0 || kept >= of {
            return Err(bad());
        }
        Ok(Keep { kept, of })
    }
}

impl std::fmt::Display for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kept, self.of)
    }
}

/// A rung: how far its configurations train, and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    pub epochs: usize,
    pub configs: usize,
}

/// The rungs of successive halving over `n` configurations (see the
/// module's documentation); none when `n` is 0.
pub fn schedule(n: usize, keep: Keep, min_epochs: usize, max_epochs: usize) -> Vec<Rung> {
    let (p, q) = (keep.kept as f64, keep.of as f64);
    let (r, big_r) = (min_epochs.max(1), max_epochs.max(1));
    if n == 0 {
        return Vec::new();
    }
    // R (P/Q)^s >= r, in integers: R P^s >= r Q^s (s is small: Q/P > 1).
    let fits = |s: u32| {
        let (ps, qs) = (
            (keep.kept as u128).checked_pow(s),
            (keep.of as u128).checked_pow(s),
        );
        matches!((ps, qs), (Some(ps), Some(qs)) if big_r as u128 * ps >= r as u128 * qs)
    };
    let mut s = 0u32;
    while fits(s + 1) {
        s += 1;
    }
    let mut epochs: Vec<usize> = Vec::new();
    for i in 0..=s {
        let e = (big_r as f64 * (p / q).powi((s - i) as i32)).round() as usize;
        let e = e.max(r).min(big_r);
        if epochs.last() != Some(&e) {
            epochs.push(e);
        }
    }
    let mut configs = n as u128;
    let mut scale = 1u128;
    epochs
        .into_iter()
        .enumerate()
        .map(|(i, epochs)| {
            if i > 0 {
                configs *= keep.kept as u128;
                scale *= keep.of as u128;
            }
            Rung {
                epochs,
                configs: (configs / scale).max(1) as usize,
            }
        })
        .collect()
}

/// A configuration's standing in a rung: its score (the best validation
/// accuracy it reached, `None` if it failed) and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub score: Option<f64>,
    pub params: usize,
}

/// The ranking of `standings` (indices, best first): by score, a failed
/// one last; on equal scores the one with fewer parameters, then the one
/// listed first. So the same figures always give the same ranking.
pub fn rank(standings: &[Standing]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..standings.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&standings[a], &standings[b]);
        let score = |s: &Standing| s.score.filter(|v| v.is_finite()).unwrap_or(f64::NEG_INFINITY);
        score(y)
            .total_cmp(&score(x))
            .then(x.params.cmp(&y.params))
            .then(a.cmp(&b))
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn third() -> Keep {
        "1/3".parse().unwrap()
    }

    fn rungs(n: usize, keep: Keep, r: usize, big_r: usize) -> Vec<(usize, usize)> {
        schedule(n, keep, r, big_r)
            .iter()
            .map(|g| (g.configs, g.epochs))
            .collect()
    }

    /// The definition, rung by rung: (configurations, epochs).
    #[test]
    fn successive_halving_by_its_definition() {
        // n = 27, η = 3, R = 9: 27 at 1 epoch, 9 at 3, 3 at 9.
        assert_eq!(rungs(27, third(), 1, 9), [(27, 1), (9, 3), (3, 9)]);
        // n = 12: floor(12/3) = 4, floor(12/9) = 1.
        assert_eq!(rungs(12, third(), 1, 9), [(12, 1), (4, 3), (1, 9)]);
        // R = 27 gives a fourth rung; one configuration stays at least one.
        assert_eq!(rungs(12, third(), 1, 27), [(12, 1), (4, 3), (1, 9), (1, 27)]);
        // R = 10: budgets 10/9 and 10/3 rounded.
        assert_eq!(rungs(12, third(), 1, 10), [(12, 1), (4, 3), (1, 10)]);
        // Halving: 16, 8, 4, 2, 1 over 1, 2, 4, 8, 16 epochs.
        let half: Keep = "1/2".parse().unwrap();
        assert_eq!(rungs(16, half, 1, 16), [(16, 1), (8, 2), (4, 4), (2, 8), (1, 16)]);
        // A larger least budget: fewer rungs, from r up.
        assert_eq!(rungs(12, third(), 2, 9), [(12, 3), (4, 9)]);
        assert_eq!(
            rungs(12, third(), 4, 9),
            [(12, 9)],
            "R/r below η: one rung, a grid"
        );
        assert_eq!(rungs(5, third(), 1, 1), [(5, 1)]);
        // 2/3: budgets rounding onto each other are dropped.
        let two_thirds: Keep = "2/3".parse().unwrap();
        assert_eq!(rungs(9, two_thirds, 1, 3), [(9, 1), (6, 2), (4, 3)]);
        assert!(schedule(0, third(), 1, 9).is_empty());
        // Each rung trains to more epochs, the last to R, with fewer (or
        // as many) configurations, whatever the inputs.
        for n in 1..40 {
            for big_r in 1..30 {
                for keep in [third(), half, two_thirds, "1/4".parse().unwrap()] {
                    let s = schedule(n, keep, 1, big_r);
                    assert_eq!(s.last().unwrap().epochs, big_r);
                    assert_eq!(s[0].configs, n);
                    for w in s.windows(2) {
                        assert!(w[0].epochs < w[1].epochs && w[0].configs >= w[1].configs, "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn keep_reads_a_fraction_below_one() {
        assert_eq!(third(), Keep { kept: 1, of: 3 });
        assert_eq!(third().to_string(), "1/3");
        for bad in ["0/3", "3/3", "4/3", "0.5", "1/", "a/b"] {
            assert!(bad.parse::<Keep>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ranking_is_by_score_then_size_then_order() {
        let s = |score: Option<f64>, params| Standing { score, params };
        let standings = [
            s(Some(0.8), 100),
            s(None, 10),
            s(Some(0.9), 500),
            s(Some(0.8), 50),
            s(Some(0.8), 100),
            s(Some(f64::NAN), 1),
        ];
        assert_eq!(rank(&standings), [2, 3, 0, 4, 5, 1], "failed ones last, by size");
    }
}
