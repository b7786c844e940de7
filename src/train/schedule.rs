//! The learning rate of each epoch: `--lr-schedule` and `--warmup-epochs`.

use serde::{Deserialize, Serialize};

use super::TrainOptions;

/// How the learning rate changes from epoch to epoch (`--lr-schedule`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    #[default]
    Constant,
    /// Multiplied by `factor` every `every` epochs.
    Step { every: usize, factor: f32 },
    /// Half a cosine from `lr` down to zero at the end of the run.
    Cosine,
}

impl std::str::FromStr for LrSchedule {
    type Err = String;

    fn from_str(spec: &str) -> Result<LrSchedule, String> {
        let parts: Vec<&str> = spec.trim().split(':').collect();
        match parts.as_slice() {
            ["constant"] => Ok(LrSchedule::Constant),
            ["cosine"] => Ok(LrSchedule::Cosine),
            ["step", every, factor] => {
                let every = every.parse::<usize>().ok().filter(|&e| e > 0).ok_or(format!(
                    "`{spec}`: EVERY must be a whole number of epochs, at least 1"
                ))?;
                let factor = factor
                    .parse::<f32>()
                    .ok()
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .ok_or(format!("`{spec}`: FACTOR must be a positive number, such as 0.5"))?;
                Ok(LrSchedule::Step { every, factor })
            }
            _ => Err(format!(
                "unknown schedule `{spec}`: expected `constant`, `step:EVERY:FACTOR` (as in `step:10:0.5`) or `cosine`"
            )),
        }
    }
}

impl std::fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            LrSchedule::Constant => write!(f, "constant"),
            LrSchedule::Step { every, factor } => write!(f, "step:{every}:{factor}"),
            LrSchedule::Cosine => write!(f, "cosine"),
        }
    }
}

impl TrainOptions {
    /// The learning rate of `epoch` (from 0): during the warm-up, epoch e
    /// of W uses lr (e + 1) / (W + 1); after it, the schedule counts
    /// epochs from the warm-up's end.
    pub fn lr_at(&self, epoch: usize) -> f32 {
        let base = self.lr as f64;
        let w = self.warmup_epochs;
        if epoch < w {
            return (base * (epoch + 1) as f64 / (w + 1) as f64) as f32;
        }
        let (e, span) = (epoch - w, self.epochs.saturating_sub(w).max(1));
        let lr = match self.lr_schedule {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, factor } => base * (factor as f64).powi((e / every) as i32),
            LrSchedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * e as f64 / span as f64).cos()),
        };
        lr as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_schedules_per_epoch() {
        let lrs = |schedule: &str, warmup: usize, epochs: usize| -> Vec<f32> {
            let o = TrainOptions {
                lr: 0.1,
                epochs,
                lr_schedule: schedule.parse().unwrap(),
                warmup_epochs: warmup,
                ..TrainOptions::default()
            };
            (0..epochs).map(|e| o.lr_at(e)).collect()
        };
        let close =
            |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-7);
        assert!(close(&lrs("constant", 0, 3), &[0.1, 0.1, 0.1]));
        assert!(close(&lrs("step:2:0.5", 0, 5), &[0.1, 0.1, 0.05, 0.05, 0.025]));
        // cos(0) = 1, cos(pi/4), cos(pi/2) = 0, cos(3pi/4).
        let c = std::f32::consts::FRAC_1_SQRT_2;
        assert!(close(
            &lrs("cosine", 0, 4),
            &[0.1, 0.05 * (1.0 + c), 0.05, 0.05 * (1.0 - c)]
        ));
        // Warm-up: 1/3, 2/3 of lr, then the schedule from its start.
        assert!(close(
            &lrs("step:1:0.1", 2, 4),
            &[0.1 / 3.0, 0.2 / 3.0, 0.1, 0.01]
        ));
        assert!("step:0:0.5".parse::<LrSchedule>().is_err());
        assert!("step:2".parse::<LrSchedule>().is_err());
        assert!("linear".parse::<LrSchedule>().is_err());
        assert_eq!(
            "step:10:0.5".parse::<LrSchedule>().unwrap().to_string(),
            "step:10:0.5"
        );
    }
}
