//! Datasets by name (`--data cifar10`): the first use downloads the
//! official files, checks each against the SHA-256 compiled into cnnc,
//! unpacks them into the cache, and every later use reads the cache, as
//! Keras's `load_data()` and torchvision's `download=True` do.
//!
//! - [`catalogue`]: what each set is made of and its published checksums.
//! - [`store`]: the cache (`$CNNC_DATA_DIR`, a folder per set), its lock,
//!   what proves a set complete, and the order of a first use.
//! - [`download`]: one file over HTTP(S), resumed with range requests.
//! - [`unpack`]: a verified `.tar.gz` into the set's folder.

pub mod catalogue;
mod download;
pub mod store;
mod unpack;

use std::path::{Path, PathBuf};

pub use catalogue::{Archive, Catalogue, SetSpec, Unpack};
pub use store::{Listing, Store};

use super::{DataError, Splits, cifar, idx};
use crate::units::human_bytes;

/// A standard dataset, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    Mnist,
    FashionMnist,
    Cifar10,
    /// CIFAR-100 with its 100 fine labels (what Keras's and torchvision's
    /// loaders give by default).
    Cifar100,
    /// CIFAR-100's images with their 20 coarse (superclass) labels.
    Cifar100Coarse,
}

const NAMES: [(Named, &str); 5] = [
    (Named::Mnist, "mnist"),
    (Named::FashionMnist, "fashion-mnist"),
    (Named::Cifar10, "cifar10"),
    (Named::Cifar100, "cifar100"),
    (Named::Cifar100Coarse, "cifar100-coarse"),
];

/// Fashion-MNIST's classes, by label (Zalando's README; torchvision's
/// `FashionMNIST.classes`).
const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

impl Named {
    pub fn parse(name: &str) -> Option<Named> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(named, _)| *named)
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(named, _)| *named == self)
            .map_or("", |(_, n)| n)
    }

    /// Every name, for messages.
    pub fn all_names() -> String {
        NAMES.map(|(_, n)| n).join(", ")
    }

    /// The catalogue's set it is read from: both CIFAR-100 labellings
    /// share one download.
    pub fn set(self) -> &'static str {
        match self {
            Named::Cifar100Coarse => Named::Cifar100.name(),
            other => other.name(),
        }
    }

    /// Reads the set's unpacked folder (as [`Store::ensure`] returns it).
    pub fn read(self, dir: &Path) -> Result<Splits, DataError> {
        match self {
            Named::Mnist => idx::load_mnist(dir),
            Named::FashionMnist => idx::load_mnist(dir).map(|splits| Splits {
                class_names: Some(FASHION_CLASSES.map(String::from).to_vec()),
                ..splits
            }),
            Named::Cifar10 => cifar::load(dir),
            Named::Cifar100 => cifar::load_100(dir, cifar::Labels::Fine),
            Named::Cifar100Coarse => cifar::load_100(dir, cifar::Labels::Coarse),
        }
    }
}

impl std::str::FromStr for Named {
    type Err = String;

    fn from_str(name: &str) -> Result<Named, String> {
        Named::parse(name).ok_or_else(|| format!("unknown dataset `{name}`; known: {}", Named::all_names()))
    }
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Loads a named set from the cache, downloading it first if it is not
/// there (from the official catalogue, into the folder the environment
/// says: see [`Store::from_env`]).
pub fn load(named: Named) -> Result<Splits, DataError> {
    let store = Store::from_env()?;
    let catalogue = Catalogue::official();
    let set = catalogue
        .set(named.set())
        .ok_or_else(|| FetchError::Unknown(named.set().into()))?;
    let dir = store.ensure(set)?;
    named.read(&dir)
}

/// Why a named set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot choose a folder for downloaded datasets: set CNNC_DATA_DIR (HOME is not set)")]
    NoCacheFolder,
    #[error("`{0}` is not in the catalogue")]
    Unknown(String),
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// Every URL failed: each attempt and why, and how to do it by hand.
    #[error("{}", unavailable(set, file, others, attempts, folder))]
    Unavailable {
        set: String,
        file: Box<Archive>,
        /// The set's other files, which are needed too.
        others: Vec<String>,
        /// (URL, what went wrong)
        attempts: Vec<(String, String)>,
        folder: PathBuf,
    },
    /// A file found in the cache (put there by hand, or left by an earlier
    /// run) is not the official one.
    #[error(
        "{}: {found}, not the official file ({} bytes, SHA-256 {}); deleted it. Run again to download it, or put the official file there",
        path.display(), archive.bytes, archive.sha256
    )]
    NotOfficial {
        path: PathBuf,
        archive: Box<Archive>,
        found: String,
    },
    #[error("{}: cannot unpack: {message}", archive.display())]
    Unpack { archive: PathBuf, message: String },
}

impl FetchError {
    pub(crate) fn io(path: &Path, error: std::io::Error) -> Self {
        FetchError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

impl From<FetchError> for DataError {
    fn from(error: FetchError) -> Self {
        DataError::Fetch(Box::new(error))
    }
}

fn unavailable(
    set: &str,
    file: &Archive,
    others: &[String],
    attempts: &[(String, String)],
    folder: &Path,
) -> String {
    let mut text = format!(
        "could not download {} ({}) for {set}:",
        file.name,
        human_bytes(file.bytes as u128)
    );
    for (url, why) in attempts {
        text.push_str(&format!("\n  {url}: {why}"));
    }
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(" (with the set's other files: {})", others.join(", "))
    };
    text.push_str(&format!(
        "\nWithout the network, download it elsewhere and put it in {} as {}{also}: cnnc checks each \
         the same way (this one's SHA-256 is {}). Or set CNNC_DATA_MIRROR=URL to a server that has \
         URL/{set}/{}",
        folder.display(),
        file.name,
        file.sha256,
        file.name
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_has_a_set_in_the_catalogue() {
        let catalogue = Catalogue::official();
        for (named, name) in NAMES {
            assert_eq!(Named::parse(name), Some(named));
            assert_eq!(named.name(), name);
            assert!(catalogue.set(named.set()).is_some(), "{name}");
        }
        assert_eq!(Named::Cifar100Coarse.set(), "cifar100");
        assert_eq!(Named::parse("cifar"), None);
    }
}
