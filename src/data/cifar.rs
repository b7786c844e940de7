//! The CIFAR-10 binary format: records of one label byte, then 1024 red,
//! 1024 green and 1024 blue bytes, each plane row-major, 32 x 32.

use std::io::Read;
use std::path::Path;

use super::{DataError, Dataset, Splits, find, open, read_error};

const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;
const RECORD: usize = 1 + 3 * PLANE;
const CLASSES: u8 = 10;

/// Reads one batch file, converting planes to channels-last pixels.
pub(crate) fn read_batch(path: &Path, into: &mut Dataset) -> Result<(), DataError> {
    read_batch_from(&mut *open(path)?, path, into)
}

/// As [`read_batch`], from any reader (`path` names it in errors).
pub fn read_batch_from(reader: &mut dyn Read, path: &Path, into: &mut Dataset) -> Result<(), DataError> {
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
    if bytes.len() % RECORD != 0 {
        return Err(DataError::invalid(
            path,
            format!(
                "is {} bytes, not a whole number of {RECORD}-byte records (truncated, or not CIFAR-10)",
                bytes.len()
            ),
        ));
    }
    for (i, record) in bytes.chunks(RECORD).enumerate() {
        let label = record[0];
        if label >= CLASSES {
            return Err(DataError::invalid(
                path,
                format!("record {i} has label {label}; CIFAR-10 labels are 0 to 9"),
            ));
        }
        into.labels.push(label as u32);
        for p in 0..PLANE {
            into.images
                .extend_from_slice(&[record[1 + p], record[1 + PLANE + p], record[1 + 2 * PLANE + p]]);
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
