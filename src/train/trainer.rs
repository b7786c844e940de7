//! The training procedure of a [`Trainer`]: for each epoch, its steps
//! (with the running totals read back a few times a second), then
//! validation, then saving the weights, the checkpoint and the metrics,
//! then early stopping. A run resumed from a checkpoint starts part-way
//! through an epoch and continues exactly as it would have.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{
    Checkpoint, DeviceSplit, EpochMetrics, Outcome, Progress, RunDir, TrainError, TrainOptions, TrainState,
    epoch_order, evaluate, mean, step_uniform, write_batch,
};
use crate::Model;
use crate::runtime::{Executable, Gpu, Pass, Totals};

/// Everything a training run works with.
pub struct Trainer<'a> {
    pub gpu: &'a Gpu,
    pub model: &'a Model,
    pub exe: &'a Executable,
    pub train: &'a DeviceSplit,
    pub validation: Option<&'a DeviceSplit>,
    pub options: &'a TrainOptions,
    pub dir: &'a RunDir,
    /// Set (by a Ctrl-C handler) to stop after the current step.
    pub stop: &'a AtomicBool,
    /// Saved with the weights, for `predict`.
    pub class_names: Option<Vec<String>>,
    /// Pause once this many epochs are done (`--until-epoch`): the
    /// checkpoint of that epoch's end is what `--resume` continues from.
    pub pause_after: Option<usize>,
}

/// How often the running totals are read back (each read waits for the GPU).
const READBACK_EVERY: Duration = Duration::from_millis(250);

/// How an epoch's steps ended.
enum EpochEnd {
    /// All its batches ran, or `--steps` was reached (`stopped_by_steps`).
    Trained {
        clock: EpochClock,
        stopped_by_steps: bool,
    },
    /// Ctrl-C: the checkpoint is written.
    Interrupted,
}

/// When this session's part of an epoch began. After a resume that is
/// part-way through it, and the seconds it had already run are not this
/// session's: they count in the epoch's time but not in its speed.
struct EpochClock {
    /// Now, less the seconds run before a resume.
    started: Instant,
    resumed_seconds: f64,
    first_batch: usize,
}

impl EpochClock {
    fn start(state: &TrainState) -> EpochClock {
        let resumed_seconds = state.epoch_seconds;
        EpochClock {
            started: Instant::now() - Duration::from_secs_f64(resumed_seconds),
            resumed_seconds,
            first_batch: state.next_batch,
        }
    }

    /// Training images per second this session, up to `state.next_batch`
    /// and `state.epoch_seconds`.
    fn images_per_s(&self, state: &TrainState, batch: usize, samples: usize) -> f64 {
        let done = (state.next_batch - self.first_batch) * batch;
        done.min(samples) as f64 / (state.epoch_seconds - self.resumed_seconds).max(1e-9)
    }
}

impl Trainer<'_> {
    /// Trains from `state` (fresh, or loaded from a checkpoint) until the
    /// epochs are done, `--steps` is reached, early stopping, a non-finite
    /// loss (an error), an interruption or the pause.
    pub fn run(&self, state: &mut TrainState, progress: &mut dyn Progress) -> Result<Outcome, TrainError> {
        while state.epoch < self.options.epochs {
            if self.pause_after.is_some_and(|p| state.epoch >= p) {
                progress.note(&format!(
                    "paused after epoch {} of {}; `cnnc train --resume {}` continues it",
                    state.epoch,
                    self.options.epochs,
                    self.dir.path.display()
                ));
                return Ok(Outcome::Paused { epochs: state.epoch });
            }
            let epoch = state.epoch;
            let lr = self.options.lr_at(epoch);
            let (clock, stopped_by_steps) = match self.train_epoch(state, lr, progress)? {
                EpochEnd::Trained {
                    clock,
                    stopped_by_steps,
                } => (clock, stopped_by_steps),
                EpochEnd::Interrupted => return Ok(Outcome::Interrupted),
            };
            let metrics = self.validate(state, &clock, lr)?;
            let improved = end_epoch(state, &metrics);
            self.save_epoch(state, epoch, improved, progress)?;
            progress.epoch_end(&metrics, improved);

            if stopped_by_steps || self.out_of_patience(state, progress) {
                return Ok(Outcome::Finished { stopped_early: true });
            }
        }
        Ok(Outcome::Finished { stopped_early: false })
    }

    /// The epoch's steps, from `state.next_batch` on, in its seeded order.
    /// The running totals are read back every [`READBACK_EVERY`] and after
    /// the last step; an interruption checkpoints after the current step.
    fn train_epoch(
        &self,
        state: &mut TrainState,
        lr: f32,
        progress: &mut dyn Progress,
    ) -> Result<EpochEnd, TrainError> {
        let b = self.options.batch;
        let n = self.train.len();
        let batches = n.div_ceil(b);
        let order = epoch_order(n, self.options.seed, state.epoch, self.options.shuffle);
        progress.epoch_start(state.epoch + 1, self.options.epochs, n, lr as f64);
        self.start_totals(state);
        let clock = EpochClock::start(state);
        let mut last_read = Instant::now();
        let mut read_at_step = state.step;
        let mut stopped_by_steps = false;

        for bi in clock.first_batch..batches {
            self.step(state, &order[bi * b..((bi + 1) * b).min(n)], lr);
            state.next_batch = bi + 1;

            let interrupted = self.stop.load(Ordering::SeqCst);
            stopped_by_steps = self.options.max_steps.is_some_and(|m| state.step >= m);
            let last = bi + 1 == batches || interrupted || stopped_by_steps;
            if last || last_read.elapsed() >= READBACK_EVERY {
                self.read_totals(state, &clock, read_at_step, progress)?;
                last_read = Instant::now();
                read_at_step = state.step;
            }
            if interrupted {
                self.interrupt(state, progress)?;
                return Ok(EpochEnd::Interrupted);
            }
            if stopped_by_steps {
                break;
            }
        }
        Ok(EpochEnd::Trained {
            clock,
            stopped_by_steps,
        })
    }

    /// The GPU's running totals at the start of this session's part of the
    /// epoch: zero, or where a resumed epoch left them.
    fn start_totals(&self, state: &mut TrainState) {
        if state.next_batch == 0 {
            self.exe.clear(self.exe.plan.io.totals);
            state.epoch_totals = Totals::default();
            state.epoch_seconds = 0.0;
        } else {
            self.exe.write_totals(&state.epoch_totals);
        }
    }

    /// One optimizer step on `samples`: their indices and labels, the
    /// step's uniform, one submission (not waited for).
    fn step(&self, state: &mut TrainState, samples: &[usize], lr: f32) {
        write_batch(self.exe, self.train, samples);
        state.step += 1;
        self.exe
            .write_step(&step_uniform(self.options, state.step, samples.len(), lr));
        self.exe.run(Pass::Train, Some(&self.train.data));
    }

    /// Reads the running totals back (waiting for the GPU), keeps them in
    /// `state` and reports them; a non-finite loss, which appeared in a
    /// step after `read_at_step`, stops the run.
    fn read_totals(
        &self,
        state: &mut TrainState,
        clock: &EpochClock,
        read_at_step: u64,
        progress: &mut dyn Progress,
    ) -> Result<(), TrainError> {
        let totals = self.exe.read_totals(self.gpu)?;
        if !totals.loss_sum.is_finite() {
            return Err(self.non_finite(totals.loss_sum, state.epoch, read_at_step + 1, state.step));
        }
        state.epoch_totals = totals;
        state.epoch_seconds = clock.started.elapsed().as_secs_f64();
        let (loss, accuracy) = mean(&totals);
        let (b, n) = (self.options.batch, self.train.len());
        progress.update(
            (state.next_batch * b).min(n),
            loss,
            accuracy,
            clock.images_per_s(state, b, n),
        );
        Ok(())
    }

    /// Ctrl-C: writes the checkpoint that `--resume` continues from.
    fn interrupt(&self, state: &TrainState, progress: &mut dyn Progress) -> Result<(), TrainError> {
        self.checkpoint(state, self.finite_params(state.epoch, state.step)?)?;
        progress.note(&format!(
            "interrupted in epoch {} after step {}; checkpoint written to {}",
            state.epoch + 1,
            state.step,
            self.dir.path.display()
        ));
        Ok(())
    }

    /// The epoch's figures: training's from its totals, validation's from
    /// evaluating the validation split, whose loss must be finite.
    fn validate(&self, state: &TrainState, clock: &EpochClock, lr: f32) -> Result<EpochMetrics, TrainError> {
        let images_per_s = clock.images_per_s(state, self.options.batch, self.train.len());
        let (train_loss, train_accuracy) = mean(&state.epoch_totals);
        let val = self
            .validation
            .map(|v| evaluate(self.gpu, self.exe, v))
            .transpose()?;
        let metrics = EpochMetrics {
            epoch: state.epoch + 1,
            train_loss,
            train_accuracy,
            val_loss: val.map(|v| v.0),
            val_accuracy: val.map(|v| v.1),
            seconds: clock.started.elapsed().as_secs_f64(),
            images_per_s,
            lr: lr as f64,
            steps: state.step,
        };
        if let Some(loss) = metrics.val_loss.filter(|l| !l.is_finite()) {
            return Err(self.non_finite(loss as f32, state.epoch, state.step, state.step));
        }
        Ok(metrics)
    }

    /// Saves what epoch `epoch` (from 0) left: the weights (also as the
    /// best, if they are), the checkpoint, `metrics.csv` and `curves.png`
    /// (which only warns if it cannot be drawn).
    fn save_epoch(
        &self,
        state: &TrainState,
        epoch: usize,
        improved: bool,
        progress: &mut dyn Progress,
    ) -> Result<(), TrainError> {
        let params = self.finite_params(epoch, state.step)?;
        let files: &[&str] = if improved {
            &["model.safetensors", "best.safetensors"]
        } else {
            &["model.safetensors"]
        };
        self.save_params(files, &params, state)?;
        self.checkpoint(state, params)?;
        self.dir
            .write_metrics(&state.history)
            .map_err(|e| TrainError::Io(e.to_string()))?;
        if let Err(e) = crate::chart::training_curves(
            &self.dir.path.join("curves.png"),
            &format!("{}: training curves", self.model.name),
            &curves(&state.history),
        ) {
            progress.note(&format!("could not draw curves.png: {e}"));
        }
        Ok(())
    }

    /// Early stopping: whether `--patience` epochs have passed without
    /// improvement (said in a note).
    fn out_of_patience(&self, state: &TrainState, progress: &mut dyn Progress) -> bool {
        let out = self.options.patience.is_some_and(|p| state.stale_epochs >= p);
        if out {
            progress.note(&format!(
                "early stopping: no improvement in validation accuracy for {} epochs",
                state.stale_epochs
            ));
        }
        out
    }

    /// Serialises the weights once and writes them (atomically) to each file.
    fn save_params(&self, names: &[&str], params: &[f32], state: &TrainState) -> Result<(), TrainError> {
        let metadata = state.weights_metadata(self.model, self.class_names.as_deref());
        let bytes = crate::weights::to_bytes(self.model, &self.exe.plan.params, params, &metadata);
        for name in names {
            let path = self.dir.path.join(name);
            crate::atomic::write(&path, &bytes)
                .map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// Writes the checkpoint with `params` as read back from the GPU.
    fn checkpoint(&self, state: &TrainState, params: Vec<f32>) -> Result<(), TrainError> {
        let mut optimizer = Vec::new();
        for id in self.exe.optimizer_buffers() {
            let mut v = self.exe.read_f32(self.gpu, id)?;
            v.truncate(params.len());
            optimizer.push(v);
        }
        let checkpoint = Checkpoint {
            state: state.clone(),
            params,
            optimizer,
        };
        self.dir
            .save_checkpoint(&checkpoint)
            .map_err(|e| TrainError::Io(e.to_string()))
    }

    /// The parameters, read back, if every one is finite: a step can turn
    /// them non-finite while the loss it reports (computed before the
    /// update) is finite, and such weights must never be saved as good.
    fn finite_params(&self, epoch: usize, step: u64) -> Result<Vec<f32>, TrainError> {
        let params = self.exe.read_params(self.gpu)?;
        match params.iter().find(|v| !v.is_finite()) {
            Some(&value) => Err(TrainError::NonFiniteWeights {
                value,
                epoch: epoch + 1,
                step,
                kept: self.kept(),
            }),
            None => Ok(params),
        }
    }

    fn non_finite(&self, value: f32, epoch: usize, from: u64, to: u64) -> TrainError {
        TrainError::NonFinite {
            value,
            epoch: epoch + 1,
            from,
            to,
            kept: self.kept(),
        }
    }

    /// Where the last good weights are, for the message of a stopped run.
    fn kept(&self) -> String {
        let path = self.dir.path.join("model.safetensors");
        if path.exists() {
            format!("; the last good weights are in {}", path.display())
        } else {
            String::new()
        }
    }
}

/// Adds the epoch to the history and moves `state` to the next epoch's
/// start. Returns whether the epoch is the best so far, by validation
/// accuracy (training accuracy without validation).
fn end_epoch(state: &mut TrainState, metrics: &EpochMetrics) -> bool {
    let score = metrics.val_accuracy.unwrap_or(metrics.train_accuracy);
    let improved = state.best.is_none_or(|(_, best)| score > best);
    if improved {
        state.best = Some((metrics.epoch, score));
        state.stale_epochs = 0;
    } else {
        state.stale_epochs += 1;
    }
    state.history.push(metrics.clone());
    state.epoch += 1;
    state.next_batch = 0;
    improved
}

/// The points of `curves.png`: loss, and accuracy in percent, per epoch.
fn curves(history: &[EpochMetrics]) -> crate::chart::Curves {
    let pick = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    crate::chart::Curves {
        train_loss: pick(&|r| Some(r.train_loss)),
        val_loss: pick(&|r| r.val_loss),
        train_accuracy: pick(&|r| Some(100.0 * r.train_accuracy)),
        val_accuracy: pick(&|r| r.val_accuracy.map(|a| 100.0 * a)),
    }
}
