//! The space a search looks in: each `--param NAME=VALUES` a list of
//! integers, the model files a categorical choice, and every combination
//! (compare's variants) a configuration; `--trials N` draws N of them.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// The most values one `--param` may have: a range is a list, and a search
/// trains each value at least once.
const MAX_VALUES: usize = 10_000;

/// `--param NAME=VALUES`: a parameter and the values the search tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpace {
    pub name: String,
    pub values: Vec<i64>,
}

impl std::str::FromStr for ParamSpace {
    type Err = String;

    /// `NAME=LO..HI` (every integer), `NAME=LO..HI:log2` (LO, 2 LO, 4 LO,
    /// … up to HI), `NAME=LO..HI:step S` (or `:step=S`), or `NAME=A,B,C`.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || {
            format!(
                "expected NAME=LO..HI, NAME=LO..HI:log2, NAME=LO..HI:step S or NAME=A,B,C (such as width=8..64:log2), found `{text}`"
            )
        };
        let (name, values) = text.split_once('=').ok_or_else(usage)?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(usage());
        }
        let values = match values.split_once("..") {
            Some((lo, rest)) => range(lo, rest).ok_or_else(usage)??,
            None => list(values).ok_or_else(usage)?,
        };
        let mut seen = std::collections::BTreeSet::new();
        if let Some(v) = values.iter().find(|v| !seen.insert(**v)) {
            return Err(format!("`{name}` lists {v} twice"));
        }
        Ok(ParamSpace {
            name: name.to_string(),
            values,
        })
    }
}

fn int(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

fn list(text: &str) -> Option<Vec<i64>> {
    text.split(',').map(int).collect()
}

/// `LO..HI[:log2|:step S]`: `None` when it does not read as one, an error
/// when it reads but is empty or too long.
fn range(lo: &str, rest: &str) -> Option<Result<Vec<i64>, String>> {
    let (hi, how) = match rest.split_once(':') {
        Some((hi, how)) => (hi, Some(how.trim())),
        None => (rest, None),
    };
    let (lo, hi) = (int(lo)?, int(hi)?);
    if lo > hi {
        return Some(Err(format!(
            "the range {lo}..{hi} is empty (LO must be at most HI)"
        )));
    }
    let mut values = Vec::new();
    let mut v = lo;
    match how {
        None => values.extend(lo..=hi.min(lo.saturating_add(MAX_VALUES as i64))),
        Some("log2") => {
            if lo < 1 {
                return Some(Err(format!(
                    "a :log2 range doubles from LO, which must be at least 1, not {lo}"
                )));
            }
            while v <= hi {
                values.push(v);
                v = v.saturating_mul(2);
            }
        }
        Some(step) => {
            // `:step S`, `:step=S` or `:stepS` (the first needs quoting).
            let s = step.strip_prefix("step")?.trim_start();
            let s = int(s.strip_prefix('=').unwrap_or(s))?;
            if s < 1 {
                return Some(Err(format!("a range's step must be at least 1, not {s}")));
            }
            while v <= hi && values.len() <= MAX_VALUES {
                values.push(v);
                v = v.saturating_add(s);
            }
        }
    }
    if values.len() > MAX_VALUES {
        return Some(Err(format!(
            "{lo}..{hi} has more than {MAX_VALUES} values; give a :step or :log2"
        )));
    }
    Some(Ok(values))
}

/// Which configurations of a grid of `n` to try, in the order to look at
/// them: all in order when `trials` is absent or not smaller, else a
/// permutation drawn from `seed` (the first `trials` that pass the
/// constraints are tried).
pub fn draw_order(n: usize, trials: Option<usize>, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if trials.is_some_and(|t| t < n) {
        // Its own stream, apart from the shuffles and weights of the same seed.
        SplitMix64::new(seed ^ 0x5EA2_C4ED_0000_0000).shuffle(&mut order);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<i64>, String> {
        text.parse::<ParamSpace>().map(|p| p.values)
    }

    #[test]
    fn values_of_ranges_and_lists() {
        assert_eq!(parse("width=4..8").unwrap(), [4, 5, 6, 7, 8]);
        assert_eq!(parse("width=8..128:log2").unwrap(), [8, 16, 32, 64, 128]);
        assert_eq!(parse("width=12..100:log2").unwrap(), [12, 24, 48, 96]);
        assert_eq!(parse("width=8..40:step 16").unwrap(), [8, 24, 40]);
        assert_eq!(parse("width=8..40:step=16").unwrap(), [8, 24, 40]);
        assert_eq!(parse("width=8..40:step16").unwrap(), [8, 24, 40]);
        assert_eq!(parse("depth=1,3,2").unwrap(), [1, 3, 2]);
        assert_eq!(parse("d=-1..1").unwrap(), [-1, 0, 1]);
        let p: ParamSpace = " width = 4,8".parse().unwrap();
        assert_eq!(p.name, "width");
    }

    #[test]
    fn bad_spaces_say_why() {
        for (text, says) in [
            ("width", "expected NAME=LO..HI"),
            ("width=a..b", "expected NAME=LO..HI"),
            ("=1,2", "expected NAME=LO..HI"),
            ("width=8..4", "is empty"),
            ("width=0..8:log2", "at least 1"),
            ("width=1..8:step 0", "step must be at least 1"),
            ("width=1..8:cubic", "expected NAME=LO..HI"),
            ("width=1..100000", "more than 10000 values"),
            ("width=1..100000:step 1", "more than 10000 values"),
            ("width=4,8,4", "lists 4 twice"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn trials_are_a_seeded_draw() {
        assert_eq!(draw_order(4, None, 1), [0, 1, 2, 3]);
        assert_eq!(draw_order(4, Some(4), 1), [0, 1, 2, 3], "the grid when smaller");
        let drawn = draw_order(10, Some(3), 1);
        assert_eq!(drawn, draw_order(10, Some(3), 1), "the same seed, the same draw");
        assert_ne!(drawn, draw_order(10, Some(3), 2));
        let mut sorted = drawn.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>(), "a permutation");
    }
}
