//! Datasets: MNIST-style IDX files, the CIFAR-10 and CIFAR-100 binary
//! formats, and image folders, all read into one form: 8-bit images,
//! height x width x channels per sample, with u32 labels. Every problem
//! with a file is an error that names the file and says what is wrong.
//! The standard sets can also be named (`--data cifar10`): [`named`]
//! downloads, verifies and caches them.

pub mod cifar;
mod folder;
pub mod idx;
pub mod named;
mod select;

pub use select::{Selected, Selection, permutation, select};

use std::io::Read;
use std::path::{Path, PathBuf};

/// Images of one shape with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Height, width, channels.
    pub shape: [usize; 3],
    /// `len() * H * W * C` bytes, each sample H x W x C (channels last).
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
    /// Where it came from, for messages.
    pub origin: String,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per sample.
    pub fn sample_bytes(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.sample_bytes();
        &self.images[i * n..(i + 1) * n]
    }

    /// One more than the largest label.
    pub fn label_range(&self) -> usize {
        self.labels.iter().max().map_or(0, |&m| m as usize + 1)
    }
}

/// A dataset's training and test parts.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Dataset,
    /// The test split, when the dataset has one.
    pub test: Option<Dataset>,
    /// Class names (for image folders), by label.
    pub class_names: Option<Vec<String>>,
}

/// `--data`: a folder of a given kind (`KIND:DIR`), or a standard set by
/// name (`NAME`), read from the cache and downloaded on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSpec {
    Mnist(PathBuf),
    Cifar10(PathBuf),
    Cifar100 { dir: PathBuf, labels: cifar::Labels },
    Folder(PathBuf),
    Named(named::Named),
}

const KINDS: &str = "mnist:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR or folder:DIR";

impl std::str::FromStr for DataSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let Some((kind, dir)) = s.split_once(':') else {
            return named::Named::parse(s).map(DataSpec::Named).ok_or_else(|| {
                format!(
                    "unknown dataset `{s}`: give a name ({}) or KIND:DIR ({KINDS})",
                    named::Named::all_names()
                )
            });
        };
        let dir = PathBuf::from(dir);
        match kind {
            "mnist" | "idx" => Ok(DataSpec::Mnist(dir)),
            "cifar10" | "cifar" => Ok(DataSpec::Cifar10(dir)),
            "cifar100" => Ok(DataSpec::Cifar100 {
                dir,
                labels: cifar::Labels::Fine,
            }),
            "cifar100-coarse" => Ok(DataSpec::Cifar100 {
                dir,
                labels: cifar::Labels::Coarse,
            }),
            "folder" => Ok(DataSpec::Folder(dir)),
            other => Err(format!("unknown dataset kind `{other}`; use {KINDS}")),
        }
    }
}

impl DataSpec {
    /// The same data with its directory made absolute (against the current
    /// directory, without resolving links), for commands run from elsewhere.
    /// A name stays a name: it means the cache wherever it runs.
    pub fn absolute(&self) -> std::io::Result<DataSpec> {
        Ok(match self {
            DataSpec::Mnist(d) => DataSpec::Mnist(std::path::absolute(d)?),
            DataSpec::Cifar10(d) => DataSpec::Cifar10(std::path::absolute(d)?),
            DataSpec::Cifar100 { dir, labels } => DataSpec::Cifar100 {
                dir: std::path::absolute(dir)?,
                labels: *labels,
            },
            DataSpec::Folder(d) => DataSpec::Folder(std::path::absolute(d)?),
            DataSpec::Named(n) => DataSpec::Named(*n),
        })
    }
}

impl std::fmt::Display for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSpec::Mnist(d) => write!(f, "mnist:{}", d.display()),
            DataSpec::Cifar10(d) => write!(f, "cifar10:{}", d.display()),
            DataSpec::Cifar100 {
                dir,
                labels: cifar::Labels::Fine,
            } => write!(f, "cifar100:{}", dir.display()),
            DataSpec::Cifar100 {
                dir,
                labels: cifar::Labels::Coarse,
            } => write!(f, "cifar100-coarse:{}", dir.display()),
            DataSpec::Folder(d) => write!(f, "folder:{}", d.display()),
            DataSpec::Named(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A named set could not be downloaded or verified (boxed: it is large).
    #[error(transparent)]
    Fetch(Box<named::FetchError>),
}

impl DataError {
    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Loads a dataset. `channels`, when known from the model, is the channel
/// count image folders are converted to.
pub fn load(spec: &DataSpec, channels: Option<usize>) -> Result<Splits, DataError> {
    let dir = match spec {
        DataSpec::Mnist(d) | DataSpec::Cifar10(d) | DataSpec::Folder(d) => d,
        DataSpec::Cifar100 { dir, .. } => dir,
        DataSpec::Named(named) => return named::load(*named),
    };
    if !dir.is_dir() {
        return Err(DataError::invalid(dir, "not a directory"));
    }
    match spec {
        DataSpec::Mnist(dir) => idx::load_mnist(dir),
        DataSpec::Cifar10(dir) => cifar::load(dir),
        DataSpec::Cifar100 { dir, labels } => cifar::load_100(dir, *labels),
        DataSpec::Folder(dir) => folder::load(dir, channels),
        DataSpec::Named(named) => named::load(*named),
    }
}

/// Largest file we decompress or read: a header that claims more is lying
/// or the data would not fit on a GPU anyway.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 30;

/// Finds `name` or `name.gz` in `dir`.
pub(crate) fn find(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .flat_map(|n| [dir.join(n), dir.join(format!("{n}.gz"))])
        .find(|p| p.is_file())
}

/// A reader over a file, decompressing `.gz`.
pub(crate) fn open(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let file = std::fs::File::open(path).map_err(|error| DataError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let reader = std::io::BufReader::new(file);
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(flate2::read::GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads exactly `n` bytes, or says how many the file had.
pub(crate) fn read_exact(
    reader: &mut dyn Read,
    n: usize,
    path: &Path,
    what: &str,
) -> Result<Vec<u8>, DataError> {
    // Grown a chunk at a time to exactly `n`: a header may promise more
    // than the file holds, and must not make us reserve it up front.
    let mut buf: Vec<u8> = Vec::new();
    let mut got = 0;
    while got < n {
        let chunk = (n - got).min(1 << 20);
        buf.reserve_exact(chunk);
        let read = reader
            .take(chunk as u64)
            .read_to_end(&mut buf)
            .map_err(|e| read_error(path, e))?;
        got += read;
        if read < chunk {
            break;
        }
    }
    if got < n {
        return Err(DataError::invalid(
            path,
            format!("truncated: expected {n} bytes of {what}, found {got}"),
        ));
    }
    Ok(buf)
}

/// A decompression error is a bad file, not an I/O failure.
pub(crate) fn read_error(path: &Path, error: std::io::Error) -> DataError {
    match error.kind() {
        std::io::ErrorKind::InvalidInput
        | std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::UnexpectedEof => DataError::invalid(path, format!("cannot be read: {error}")),
        _ => DataError::Io {
            path: path.to_path_buf(),
            error,
        },
    }
}

/// Errors if anything follows the expected data.
pub(crate) fn expect_end(reader: &mut dyn Read, path: &Path) -> Result<(), DataError> {
    let mut extra = [0u8; 1];
    match reader.read(&mut extra) {
        Ok(0) => Ok(()),
        Ok(_) => Err(DataError::invalid(
            path,
            "has more bytes than its header describes",
        )),
        Err(e) => Err(read_error(path, e)),
    }
}

#[cfg(test)]
mod tests;
