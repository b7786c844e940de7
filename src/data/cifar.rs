//! The CIFAR binary formats: records of label bytes, then 1024 red, 1024
//! green and 1024 blue bytes, each plane row-major, 32 x 32. CIFAR-10 has
//! one label byte; CIFAR-100 two, the coarse (superclass) label then the
//! fine one.

use std::io::Read;
use std::path::Path;

use super::{DataError, Dataset, Splits, find, open, read_error};

const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;

/// Which of CIFAR-100's two labels to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// The 100 classes.
    Fine,
    /// The 20 superclasses.
    Coarse,
}

/// One binary format: how many label bytes lead each record, which of them
/// is the label, and how many classes it has.
struct Format {
    label_bytes: usize,
    label_at: usize,
    classes: u8,
    /// The format's name, and its labels' (for messages).
    name: &'static str,
    labels: &'static str,
}

const CIFAR10: Format = Format {
    label_bytes: 1,
    label_at: 0,
    classes: 10,
    name: "CIFAR-10",
    labels: "CIFAR-10",
};

fn cifar100(labels: Labels) -> Format {
    match labels {
        Labels::Fine => Format {
            label_bytes: 2,
            label_at: 1,
            classes: 100,
            name: "CIFAR-100",
            labels: "CIFAR-100's fine",
        },
        Labels::Coarse => Format {
            label_bytes: 2,
            label_at: 0,
            classes: 20,
            name: "CIFAR-100",
            labels: "CIFAR-100's coarse",
        },
    }
}

/// Reads one CIFAR-10 batch file, converting planes to channels-last pixels.
pub(crate) fn read_batch(path: &Path, into: &mut Dataset) -> Result<(), DataError> {
    read_records(&mut *open(path)?, path, into, &CIFAR10)
}

/// As [`read_batch`], from any reader (`path` names it in errors).
pub fn read_batch_from(reader: &mut dyn Read, path: &Path, into: &mut Dataset) -> Result<(), DataError> {
    read_records(reader, path, into, &CIFAR10)
}

fn read_records(
    reader: &mut dyn Read,
    path: &Path,
    into: &mut Dataset,
    format: &Format,
) -> Result<(), DataError> {
    let record = format.label_bytes + 3 * PLANE;
    let mut bytes = Vec::new();
    reader
        .take(super::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(path, e))?;
    if bytes.len() as u64 > super::MAX_FILE_BYTES {
        return Err(DataError::invalid(
            path,
            "is larger than the 1 GiB cnnc reads from one file",
        ));
    }
    if bytes.is_empty() {
        return Err(DataError::invalid(path, "is empty"));
    }
    if bytes.len() % record != 0 {
        return Err(DataError::invalid(
            path,
            format!(
                "is {} bytes, not a whole number of {record}-byte records (truncated, or not {})",
                bytes.len(),
                format.name
            ),
        ));
    }
    for (i, record) in bytes.chunks(record).enumerate() {
        let label = record[format.label_at];
        if label >= format.classes {
            return Err(DataError::invalid(
                path,
                format!(
                    "record {i} has label {label}; {} labels are 0 to {}",
                    format.labels,
                    format.classes - 1
                ),
            ));
        }
        into.labels.push(label as u32);
        let pixels = &record[format.label_bytes..];
        for p in 0..PLANE {
            into.images
                .extend_from_slice(&[pixels[p], pixels[PLANE + p], pixels[2 * PLANE + p]]);
        }
    }
    Ok(())
}

pub fn empty(origin: String) -> Dataset {
    Dataset {
        shape: [SIDE, SIDE, 3],
        images: Vec::new(),
        labels: Vec::new(),
        origin,
    }
}

/// `data_batch_1.bin` … `data_batch_5.bin` (whichever are present) and
/// `test_batch.bin`, each possibly `.gz`.
pub(super) fn load(dir: &Path) -> Result<Splits, DataError> {
    let mut train = empty(format!("{}/data_batch_*.bin", dir.display()));
    for i in 1..=5 {
        if let Some(path) = find(dir, &[&format!("data_batch_{i}.bin")]) {
            read_batch(&path, &mut train)?;
        }
    }
    if train.is_empty() {
        return Err(DataError::invalid(
            dir,
            "no data_batch_1.bin … data_batch_5.bin[.gz]",
        ));
    }
    let test = match find(dir, &["test_batch.bin"]) {
        Some(path) => {
            let mut test = empty(path.display().to_string());
            read_batch(&path, &mut test)?;
            Some(test)
        }
        None => None,
    };
    Ok(Splits {
        train,
        test,
        class_names: Some(
            [
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ]
            .map(String::from)
            .to_vec(),
        ),
    })
}

/// CIFAR-100's `train.bin` and `test.bin` (each possibly `.gz`), with the
/// class names of `fine_label_names.txt` or `coarse_label_names.txt` when
/// the folder has it (the archive does).
pub(super) fn load_100(dir: &Path, labels: Labels) -> Result<Splits, DataError> {
    let format = cifar100(labels);
    let read = |name: &str| -> Result<Option<Dataset>, DataError> {
        let Some(path) = find(dir, &[name]) else {
            return Ok(None);
        };
        let mut set = empty(path.display().to_string());
        read_records(&mut *open(&path)?, &path, &mut set, &format)?;
        Ok(Some(set))
    };
    let train = read("train.bin")?.ok_or_else(|| DataError::invalid(dir, "no train.bin[.gz]"))?;
    let test = read("test.bin")?;
    let names_file = dir.join(match labels {
        Labels::Fine => "fine_label_names.txt",
        Labels::Coarse => "coarse_label_names.txt",
    });
    let class_names = if names_file.is_file() {
        Some(class_names(&names_file, format.classes as usize)?)
    } else {
        None
    };
    Ok(Splits {
        train,
        test,
        class_names,
    })
}

/// One class name per line (blank lines skipped), `classes` of them.
fn class_names(path: &Path, classes: usize) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != classes {
        return Err(DataError::invalid(
            path,
            format!("has {} class names; expected {classes}", names.len()),
        ));
    }
    Ok(names)
}
