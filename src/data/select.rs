//! Which samples a run trains and validates on. `--limit`, `--val-split`
//! and `--val-limit` draw from one seeded random permutation per split,
//! never from the file order: image folders are stored class by class, so
//! a cut of the file order would leave whole classes out of one side, and
//! MNIST's test set puts its easier half first. The chosen samples keep
//! their file order (so `--no-shuffle` still means file order).

use sha2::{Digest, Sha256};

use super::{Dataset, Splits};
use crate::rng::SplitMix64;

/// How to choose a run's samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Selection {
    /// At most this many training samples (validation split included).
    pub limit: Option<usize>,
    /// Hold out this fraction of the (limited) training samples.
    pub val_split: Option<f64>,
    /// At most this many validation samples.
    pub val_limit: Option<usize>,
    /// The run's `--seed`: the same seed chooses the same samples.
    pub seed: u64,
}

/// The training and validation samples of a run.
#[derive(Debug, Clone)]
pub struct Selected {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    /// SHA-256 of the chosen indices: `--resume` checks it still holds.
    pub digest: String,
}

/// Distinguishes the permutation of the training split from the test split's.
const TRAIN_STREAM: u64 = 0x7472_6169_6e00_0001;
const TEST_STREAM: u64 = 0x7465_7374_0000_0002;

/// A seeded random permutation of `0..n`, one per seed and stream.
pub fn permutation(n: usize, seed: u64, stream: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64::new(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ stream).shuffle(&mut order);
    order
}

impl Dataset {
    /// How many samples each label has, up to the largest.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.label_range()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize], origin: String) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * self.sample_bytes());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            shape: self.shape,
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            origin,
        }
    }
}

/// Chooses the samples: the first `limit` of a seeded permutation of the
/// training split, of which the last `val_split` fraction validates;
/// otherwise the first `val_limit` of a seeded permutation of the test split.
pub fn select(splits: &Splits, selection: &Selection) -> Selected {
    let seed = selection.seed;
    let mut train = permutation(splits.train.len(), seed, TRAIN_STREAM);
    if let Some(limit) = selection.limit {
        train.truncate(limit);
    }
    let mut validation = match selection.val_split {
        Some(f) => {
            let held = ((train.len() as f64 * f).round() as usize).min(train.len());
            Some((
                &splits.train,
                train.split_off(train.len() - held),
                "validation split",
            ))
        }
        None => splits
            .test
            .as_ref()
            .map(|t| (t, permutation(t.len(), seed, TEST_STREAM), "test split")),
    };
    if let (Some((_, v, _)), Some(limit)) = (&mut validation, selection.val_limit) {
        v.truncate(limit);
    }
    train.sort_unstable();
    let mut hash = Sha256::new();
    for &i in &train {
        hash.update((i as u64).to_le_bytes());
    }
    let validation = validation
        .filter(|(_, v, _)| !v.is_empty())
        .map(|(from, mut v, what)| {
            v.sort_unstable();
            hash.update(what.as_bytes());
            for &i in &v {
                hash.update((i as u64).to_le_bytes());
            }
            let origin = if what == "test split" {
                from.origin.clone()
            } else {
                format!("{} ({what})", from.origin)
            };
            from.subset(&v, origin)
        });
    Selected {
        train: splits.train.subset(&train, splits.train.origin.clone()),
        validation,
        digest: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    }
}
