//! Progress for a terminal: a bar per epoch (indicatif, hidden when stderr
//! is not a terminal) and one line per epoch on stdout, always.

use indicatif::{ProgressBar, ProgressStyle};

use super::{EpochMetrics, Progress};

/// The epoch line: epoch, train loss and accuracy, validation loss and
/// accuracy, learning rate, seconds, images/s.
pub fn epoch_line(m: &EpochMetrics, epochs: usize, best: bool) -> String {
    let val = match (m.val_loss, m.val_accuracy) {
        (Some(l), Some(a)) => format!(" | val loss {l:.4} acc {:.2}%", 100.0 * a),
        _ => String::new(),
    };
    format!(
        "epoch {}/{epochs}: loss {:.4} acc {:.2}%{val} | lr {} | {:.1} s, {:.1} img/s{}",
        m.epoch,
        m.train_loss,
        100.0 * m.train_accuracy,
        m.lr as f32,
        m.seconds,
        m.images_per_s,
        if best { " *" } else { "" }
    )
}

#[derive(Default)]
pub struct ConsoleProgress {
    bar: Option<ProgressBar>,
    epochs: usize,
    /// Printed before each epoch line (for `compare`: which variant).
    pub prefix: String,
}

impl ConsoleProgress {
    /// Progress whose lines start with `prefix` (for `compare`: which variant).
    pub fn with_prefix(prefix: String) -> Self {
        ConsoleProgress {
            prefix,
            ..ConsoleProgress::default()
        }
    }
}

impl Progress for ConsoleProgress {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, samples: usize, lr: f64) {
        self.epochs = epochs;
        let bar = ProgressBar::new(samples as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} [{elapsed}<{eta}] {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}epoch {epoch}/{epochs} lr {}", self.prefix, lr as f32));
        self.bar = Some(bar);
    }

    fn update(&mut self, samples: usize, loss: f64, accuracy: f64, images_per_s: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(samples as u64);
            bar.set_message(format!(
                "loss {loss:.4} acc {:.2}% {images_per_s:.1} img/s",
                100.0 * accuracy
            ));
        }
    }

    fn epoch_end(&mut self, metrics: &EpochMetrics, best: bool) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!("{}{}", self.prefix, epoch_line(metrics, self.epochs, best));
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{message}")),
            None => eprintln!("{message}"),
        }
    }
}

/// Reports nothing (tests, scripts).
#[derive(Default)]
pub struct SilentProgress {
    pub notes: Vec<String>,
}

impl Progress for SilentProgress {
    fn note(&mut self, message: &str) {
        self.notes.push(message.to_string());
    }
}
