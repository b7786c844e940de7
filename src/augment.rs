//! `--augment`: random transformations of training images, applied by the
//! gather kernel (`shaders/gather.wgsl`) as it builds each batch. This
//! module parses the flag and draws the same random choices on the CPU,
//! so that tests can predict every pixel the GPU writes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rng::pcg_hash;

/// Which transformations, applied in this order: flip, shift, crop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augment {
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// Translate by up to this many pixels each way, edges reflected
    /// (Keras's `RandomTranslation` fill).
    pub shift: u32,
    /// Zero-pad by this many pixels, then crop back at a random place
    /// (the CIFAR recipe).
    pub crop: u32,
}

impl Augment {
    pub fn is_none(&self) -> bool {
        *self == Augment::default()
    }

    /// The random draws of batch slot `slot` at a step with seed `step_seed`.
    pub fn draw(&self, step_seed: u32, slot: u32) -> Draw {
        let key = pcg_hash(step_seed ^ pcg_hash(slot ^ 0x5bd1_e995));
        let offset = |salt: u32, p: u32| (pcg_hash(key.wrapping_add(salt)) % (2 * p + 1)) as i64 - p as i64;
        Draw {
            flip: self.flip && pcg_hash(key) & 1 == 1,
            shift: if self.shift > 0 {
                [offset(1, self.shift), offset(2, self.shift)]
            } else {
                [0, 0]
            },
            crop: if self.crop > 0 {
                [offset(3, self.crop), offset(4, self.crop)]
            } else {
                [0, 0]
            },
        }
    }

    /// Where output pixel (y, x) of an `h` x `w` image comes from under
    /// `draw`, or `None` where the crop's zero padding shows.
    pub fn source(&self, draw: &Draw, h: usize, w: usize, y: usize, x: usize) -> Option<(usize, usize)> {
        let (h, w) = (h as i64, w as i64);
        let (mut y, mut x) = (y as i64 + draw.crop[0], x as i64 + draw.crop[1]);
        if !(0..h).contains(&y) || !(0..w).contains(&x) {
            return None;
        }
        if self.shift > 0 {
            y = reflect(y - draw.shift[0], h);
            x = reflect(x - draw.shift[1], w);
        }
        if draw.flip {
            x = w - 1 - x;
        }
        Some((y as usize, x as usize))
    }

    /// A whole image (HWC bytes) as the gather kernel writes it, in 0..1.
    pub fn apply(&self, image: &[u8], [h, w, c]: [usize; 3], step_seed: u32, slot: u32) -> Vec<f32> {
        let draw = self.draw(step_seed, slot);
        let mut out = vec![0.0; h * w * c];
        for y in 0..h {
            for x in 0..w {
                if let Some((sy, sx)) = self.source(&draw, h, w, y, x) {
                    for ch in 0..c {
                        out[(y * w + x) * c + ch] = image[(sy * w + sx) * c + ch] as f32 / 255.0;
                    }
                }
            }
        }
        out
    }
}

/// One slot's random choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    pub flip: bool,
    /// Rows, columns.
    pub shift: [i64; 2],
    pub crop: [i64; 2],
}

/// Keras's `reflect` fill: d c b a | a b c d | d c b a.
fn reflect(v: i64, n: i64) -> i64 {
    let m = v.rem_euclid(2 * n);
    if m >= n { 2 * n - 1 - m } else { m }
}

impl FromStr for Augment {
    type Err = String;

    /// `flip`, `shift:P`, `crop:P`, joined with commas; `none` for none.
    fn from_str(spec: &str) -> Result<Augment, String> {
        let mut augment = Augment::default();
        if spec.trim() == "none" {
            return Ok(augment);
        }
        for part in spec.split(',').map(str::trim) {
            let (name, value) = match part.split_once(':') {
                Some((name, value)) => (name, Some(value)),
                None => (part, None),
            };
            let pixels = |what: &str| -> Result<u32, String> {
                let value = value.ok_or(format!("`{what}` needs a size in pixels, as in `{what}:2`"))?;
                match value.parse::<u32>() {
                    Ok(p) if (1..=64).contains(&p) => Ok(p),
                    _ => Err(format!(
                        "`{what}:{value}`: the size must be a whole number of pixels from 1 to 64"
                    )),
                }
            };
            match name {
                "flip" if value.is_none() => augment.flip = true,
                "flip" => return Err("`flip` takes no value".into()),
                "shift" => augment.shift = pixels("shift")?,
                "crop" => augment.crop = pixels("crop")?,
                other => {
                    return Err(format!(
                        "unknown augmentation `{other}`: expected `flip`, `shift:P` or `crop:P`, joined with commas"
                    ));
                }
            }
        }
        Ok(augment)
    }
}

impl fmt::Display for Augment {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut parts = Vec::new();
        if self.flip {
            parts.push("flip".to_string());
        }
        if self.shift > 0 {
            parts.push(format!("shift:{}", self.shift));
        }
        if self.crop > 0 {
            parts.push(format!("crop:{}", self.crop));
        }
        if parts.is_empty() {
            parts.push("none".into());
        }
        write!(f, "{}", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_specs() {
        let a: Augment = "flip,crop:4".parse().unwrap();
        assert_eq!(
            a,
            Augment {
                flip: true,
                shift: 0,
                crop: 4
            }
        );
        assert_eq!(a.to_string(), "flip,crop:4");
        assert_eq!("shift:2".parse::<Augment>().unwrap().shift, 2);
        assert!("none".parse::<Augment>().unwrap().is_none());
        for bad in ["rotate", "crop", "crop:0", "shift:x", "flip:1", "crop:65"] {
            assert!(bad.parse::<Augment>().is_err(), "{bad}");
        }
    }

    #[test]
    fn crop_moves_the_image_and_pads_with_zeros() {
        let a = Augment {
            crop: 1,
            ..Augment::default()
        };
        let draw = Draw {
            flip: false,
            shift: [0, 0],
            crop: [1, -1],
        };
        // Output (0, 1) shows input (1, 0); the last row and first column are padding.
        assert_eq!(a.source(&draw, 3, 3, 0, 1), Some((1, 0)));
        assert_eq!(a.source(&draw, 3, 3, 2, 1), None);
        assert_eq!(a.source(&draw, 3, 3, 1, 0), None);
    }

    #[test]
    fn shift_reflects_at_the_edges_and_flip_mirrors() {
        let a = Augment {
            shift: 2,
            flip: true,
            ..Augment::default()
        };
        let draw = Draw {
            flip: true,
            shift: [0, 2],
            crop: [0, 0],
        };
        // Column 0 shifted right by 2 reads column -2, reflected to 1, then mirrored to 2 of 4.
        assert_eq!(a.source(&draw, 4, 4, 0, 0), Some((0, 2)));
        assert_eq!(reflect(-1, 4), 0);
        assert_eq!(reflect(4, 4), 3);
        assert_eq!(reflect(9, 4), 1);
    }

    #[test]
    fn draws_are_seeded_per_step_and_slot() {
        let a: Augment = "flip,shift:3,crop:2".parse().unwrap();
        assert_eq!(a.draw(7, 3), a.draw(7, 3));
        let slots: std::collections::HashSet<_> = (0..64).map(|s| format!("{:?}", a.draw(7, s))).collect();
        assert!(slots.len() > 32, "slots draw differently: {}", slots.len());
        assert!((0..64).any(|s| a.draw(7, s) != a.draw(8, s)));
        let d = a.draw(1, 1);
        assert!(d.shift.iter().all(|v| v.abs() <= 3) && d.crop.iter().all(|v| v.abs() <= 2));
    }
}
