//! Evaluation with a confusion matrix, and prediction for image files.

use std::path::Path;

use serde::Serialize;

use crate::model::Shape;
use crate::runtime::{Executable, Gpu, Pass, RuntimeError, StepUniform};
use crate::train::DeviceSplit;

/// `cnnc eval`'s figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub samples: usize,
    pub loss: f64,
    pub accuracy: f64,
    /// Per class (by label): accuracy, and how many samples it has.
    pub per_class: Vec<ClassAccuracy>,
    /// `confusion[label][predicted]`.
    pub confusion: Vec<Vec<u32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassAccuracy {
    pub class: String,
    pub samples: u32,
    pub accuracy: Option<f64>,
}

/// Runs the whole split in evaluation mode, reading predictions back after
/// each batch.
pub fn evaluate(
    gpu: &Gpu,
    exe: &Executable,
    split: &DeviceSplit,
    class_names: Option<&[String]>,
) -> Result<EvalReport, RuntimeError> {
    let classes = exe.plan.classes;
    let mut confusion = vec![vec![0u32; classes]; classes];
    let totals = crate::train::evaluate_batches(gpu, exe, split, |batch| {
        let stats = exe.read_stats(gpu)?;
        for (slot, &s) in batch.iter().enumerate() {
            let label = split.labels[s] as usize;
            if label < classes {
                confusion[label][stats[slot].predicted as usize] += 1;
            }
        }
        Ok(())
    })?;
    let counted = totals.counted.max(1) as f64;
    let per_class = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let samples: u32 = row.iter().sum();
            ClassAccuracy {
                class: class_names
                    .and_then(|n| n.get(c).cloned())
                    .unwrap_or_else(|| c.to_string()),
                samples,
                accuracy: (samples > 0).then(|| row[c] as f64 / samples as f64),
            }
        })
        .collect();
    Ok(EvalReport {
        samples: totals.counted as usize,
        loss: totals.loss_sum as f64 / counted,
        accuracy: totals.correct as f64 / counted,
        per_class,
        confusion,
    })
}

impl EvalReport {
    /// The report as text: totals, per-class accuracy, confusion matrix.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} samples: loss {:.4}, accuracy {:.2}%\n\nper class:\n",
            self.samples,
            self.loss,
            100.0 * self.accuracy
        );
        let width = self
            .per_class
            .iter()
            .map(|c| c.class.len())
            .max()
            .unwrap_or(1)
            .max(5);
        for c in &self.per_class {
            let acc = c
                .accuracy
                .map_or("-".to_string(), |a| format!("{:.2}%", 100.0 * a));
            out += &format!("  {:<width$}  {acc:>7}  of {}\n", c.class, c.samples);
        }
        out += "\nconfusion matrix (rows: true class, columns: predicted):\n";
        let cell = self
            .confusion
            .iter()
            .flatten()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(1)
            .max(self.confusion.len().to_string().len());
        out += &format!("  {:>width$} ", "");
        for c in 0..self.confusion.len() {
            out += &format!(" {c:>cell$}");
        }
        out += "\n";
        for (c, row) in self.confusion.iter().enumerate() {
            out += &format!("  {:>width$} ", self.per_class[c].class);
            for v in row {
                out += &format!(" {v:>cell$}");
            }
            out += "\n";
        }
        out
    }
}

/// Reads an image file as the model's input: converted to its channels,
/// resized (bilinear) to its height and width, scaled to [0, 1]. The note
/// says what was changed, if anything.
pub fn load_image(path: &Path, input: Shape) -> Result<(Vec<f32>, Option<String>), String> {
    let Shape::Image { h, w, c } = input else {
        unreachable!("a model's input is an image")
    };
    let img = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("{}: {e}", path.display()))?
        .decode()
        .map_err(|e| format!("{}: not a readable image: {e}", path.display()))?;
    let mut notes = Vec::new();
    if (img.height() as usize, img.width() as usize) != (h, w) {
        notes.push(format!(
            "resized from {}x{} to {h}x{w}",
            img.height(),
            img.width()
        ));
    }
    let resized = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
    let pixels = match c {
        1 => {
            if img.color().has_color() {
                notes.push("converted to greyscale".into());
            }
            resized.into_luma8().into_raw()
        }
        3 => resized.into_rgb8().into_raw(),
        other => {
            return Err(format!("the model wants {other} channels; images have 1 or 3"));
        }
    };
    let note = (!notes.is_empty()).then(|| format!("{}: {}", path.display(), notes.join(", ")));
    Ok((pixels.iter().map(|&p| p as f32 / 255.0).collect(), note))
}

/// Class probabilities for images already in the model's input form.
pub fn predict(gpu: &Gpu, exe: &Executable, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, RuntimeError> {
    let b = exe.plan.batch;
    let k = exe.plan.classes;
    let mut out = Vec::new();
    for batch in images.chunks(b) {
        let mut input: Vec<f32> = batch.concat();
        input.resize(b * batch[0].len(), 0.0);
        exe.write_batch(&input, &vec![u32::MAX; b]);
        exe.write_step(&StepUniform {
            samples: batch.len() as u32,
            ..StepUniform::default()
        });
        exe.run(Pass::Eval, None);
        let probs = exe.read_f32(gpu, exe.plan.io.probs)?;
        out.extend(probs.chunks(k).take(batch.len()).map(<[f32]>::to_vec));
    }
    Ok(out)
}
