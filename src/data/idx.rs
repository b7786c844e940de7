//! IDX files (MNIST, Fashion-MNIST, EMNIST): a magic number (two zero
//! bytes, a type byte, a dimension count), big-endian u32 sizes, then the
//! data. Only unsigned-byte data (type 0x08) is image data.

use std::path::Path;

use super::{DataError, Dataset, Splits, expect_end, find, open, read_exact};

/// An IDX file's dimensions and data.
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes with `ndims` dimensions.
pub(crate) fn read(path: &Path, ndims: &[u8]) -> Result<Idx, DataError> {
    read_from(&mut *open(path)?, path, ndims)
}

/// As [`read`], from any reader (`path` names it in errors).
pub fn read_from(reader: &mut dyn std::io::Read, path: &Path, ndims: &[u8]) -> Result<Idx, DataError> {
    let magic = read_exact(reader, 4, path, "IDX header").map_err(|e| match e {
        DataError::Invalid { path, message } if message.starts_with("truncated") => DataError::Invalid {
            path,
            message: "too short to be an IDX file (no 4-byte magic number)".into(),
        },
        e => e,
    })?;
    let expected = ndims
        .iter()
        .map(|d| format!("0x000008{d:02x}"))
        .collect::<Vec<_>>()
        .join(" or ");
    if magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || !ndims.contains(&magic[3]) {
        return Err(DataError::invalid(
            path,
            format!(
                "bad magic number 0x{:02x}{:02x}{:02x}{:02x}: expected {expected} (unsigned bytes, {} dimensions)",
                magic[0],
                magic[1],
                magic[2],
                magic[3],
                ndims.iter().map(u8::to_string).collect::<Vec<_>>().join(" or ")
            ),
        ));
    }
    let n = magic[3] as usize;
    let header = read_exact(reader, 4 * n, path, "dimension sizes")?;
    let dims: Vec<usize> = header
        .chunks(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let total = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&t| t <= super::MAX_FILE_BYTES)
        .ok_or_else(|| {
            DataError::invalid(
                path,
                format!("header claims {dims:?} values, more than cnnc reads from one file"),
            )
        })?;
    let data = read_exact(
        reader,
        total as usize,
        path,
        &format!("data for dimensions {dims:?}"),
    )?;
    expect_end(reader, path)?;
    Ok(Idx { dims, data })
}

/// An IDX image file: N x H x W (greyscale), or N x H x W x C.
pub(crate) fn read_images(path: &Path) -> Result<(Vec<u8>, [usize; 3]), DataError> {
    let idx = read(path, &[3, 4])?;
    let shape = [idx.dims[1], idx.dims[2], idx.dims.get(3).copied().unwrap_or(1)];
    if shape.contains(&0) {
        return Err(DataError::invalid(
            path,
            format!("images of size {:?} hold no pixels", &idx.dims[1..]),
        ));
    }
    Ok((idx.data, shape))
}

pub(crate) fn read_labels(path: &Path) -> Result<Vec<u32>, DataError> {
    Ok(read(path, &[1])?.data.into_iter().map(u32::from).collect())
}

fn pair(dir: &Path, images: &[&str], labels: &[&str]) -> Result<Option<Dataset>, DataError> {
    match (find(dir, images), find(dir, labels)) {
        (None, None) => Ok(None),
        (Some(found), None) => Err(DataError::invalid(
            &found,
            format!("has no labels file beside it ({}[.gz])", labels[0]),
        )),
        (None, Some(found)) => Err(DataError::invalid(
            &found,
            format!("has no images file beside it ({}[.gz])", images[0]),
        )),
        (Some(image_path), Some(label_path)) => {
            let (images, shape) = read_images(&image_path)?;
            let labels = read_labels(&label_path)?;
            let count = images.len() / shape.iter().product::<usize>();
            if count != labels.len() {
                return Err(DataError::invalid(
                    &label_path,
                    format!(
                        "has {} labels, but {} has {count} images",
                        labels.len(),
                        image_path.display()
                    ),
                ));
            }
            Ok(Some(Dataset {
                shape,
                images,
                labels,
                origin: image_path.display().to_string(),
            }))
        }
    }
}

/// `train-*` and, when present, `t10k-*` files in `dir`.
pub(super) fn load_mnist(dir: &Path) -> Result<Splits, DataError> {
    let train = pair(
        dir,
        &["train-images-idx3-ubyte", "train-images.idx3-ubyte"],
        &["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
    )?
    .ok_or_else(|| {
        DataError::invalid(
            dir,
            "no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]",
        )
    })?;
    let test = pair(
        dir,
        &["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"],
        &["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"],
    )?;
    if let Some(test) = &test
        && test.shape != train.shape
    {
        return Err(DataError::invalid(
            Path::new(&test.origin),
            format!(
                "images are {:?}, but the training images are {:?}",
                test.shape, train.shape
            ),
        ));
    }
    Ok(Splits {
        train,
        test,
        class_names: None,
    })
}
