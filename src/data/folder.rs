//! An image folder: one sub-folder per class, of PNG or JPEG files, under
//! `train/` and `test/`, or directly in the folder (then all for training).

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Splits};

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let read = std::fs::read_dir(dir).map_err(|error| DataError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut paths = Vec::new();
    for entry in read {
        let entry = entry.map_err(|error| DataError::Io {
            path: dir.to_path_buf(),
            error,
        })?;
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}

/// Class folders of `dir`, sorted by name.
fn classes(dir: &Path) -> Result<Vec<String>, DataError> {
    let names: Vec<String> = entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if names.is_empty() {
        return Err(DataError::invalid(
            dir,
            "has no class sub-folders (one folder of images per class)",
        ));
    }
    Ok(names)
}

/// Decodes one image to `channels` (1: luma, 3: RGB).
pub(crate) fn decode(path: &Path, channels: usize) -> Result<(Vec<u8>, [usize; 3]), DataError> {
    let bytes = std::fs::read(path).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| DataError::invalid(path, format!("is not a readable PNG or JPEG image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let pixels = if channels == 1 {
        img.into_luma8().into_raw()
    } else {
        img.into_rgb8().into_raw()
    };
    Ok((pixels, [h, w, channels]))
}

fn read_split(
    dir: &Path,
    names: &[String],
    channels: usize,
    shape: &mut Option<[usize; 3]>,
) -> Result<Dataset, DataError> {
    let mut data = Dataset {
        shape: [0, 0, channels],
        images: Vec::new(),
        labels: Vec::new(),
        origin: dir.display().to_string(),
    };
    for class in classes(dir)? {
        let label = names.iter().position(|n| *n == class).ok_or_else(|| {
            DataError::invalid(
                &dir.join(&class),
                format!(
                    "is a class that the training folder does not have ({})",
                    names.join(", ")
                ),
            )
        })?;
        for path in entries(&dir.join(&class))?.into_iter().filter(|p| is_image(p)) {
            let (pixels, image_shape) = decode(&path, channels)?;
            match shape {
                None => *shape = Some(image_shape),
                Some(s) if *s != image_shape => {
                    return Err(DataError::invalid(
                        &path,
                        format!(
                            "is {}x{}, but the images before it are {}x{}; every image must have one size",
                            image_shape[0], image_shape[1], s[0], s[1]
                        ),
                    ));
                }
                Some(_) => {}
            }
            data.images.extend_from_slice(&pixels);
            data.labels.push(label as u32);
        }
    }
    if data.is_empty() {
        return Err(DataError::invalid(
            dir,
            "has no PNG or JPEG images in its class folders",
        ));
    }
    data.shape = shape.expect("set by the first image");
    Ok(data)
}

/// Without a model to say, images are greyscale if the first one is.
fn guess_channels(dir: &Path) -> Result<usize, DataError> {
    for class in classes(dir)? {
        if let Some(path) = entries(&dir.join(&class))?.into_iter().find(|p| is_image(p)) {
            let img = image::open(&path)
                .map_err(|e| DataError::invalid(&path, format!("is not a readable image: {e}")))?;
            return Ok(if img.color().has_color() { 3 } else { 1 });
        }
    }
    Ok(3)
}

pub(super) fn load(dir: &Path, channels: Option<usize>) -> Result<Splits, DataError> {
    let (train_dir, test_dir) = if dir.join("train").is_dir() {
        (dir.join("train"), Some(dir.join("test")).filter(|t| t.is_dir()))
    } else {
        (dir.to_path_buf(), None)
    };
    let names = classes(&train_dir)?;
    let channels = match channels {
        Some(c @ (1 | 3)) => c,
        Some(c) => {
            return Err(DataError::invalid(
                dir,
                format!("images have 1 or 3 channels; the model wants {c}"),
            ));
        }
        None => guess_channels(&train_dir)?,
    };
    let mut shape = None;
    let train = read_split(&train_dir, &names, channels, &mut shape)?;
    let test = test_dir
        .map(|t| read_split(&t, &names, channels, &mut shape))
        .transpose()?;
    Ok(Splits {
        train,
        test,
        class_names: Some(names),
    })
}
