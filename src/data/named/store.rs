//! The cache of downloaded sets: one folder per set under a root
//! (`$CNNC_DATA_DIR`, else `$XDG_CACHE_HOME/cnnc/data`, else
//! `~/.cache/cnnc/data`).
//!
//! A set's folder is complete when it holds [`COMPLETE`], written last,
//! after every file was verified and unpacked; a reader that finds it reads
//! without taking any lock or touching the network. Everything before that
//! happens under an exclusive lock on the folder's `.lock` file, so two
//! processes never write the same files: the second waits, then finds the
//! set complete. Downloads go to `NAME.part` (kept for resuming) and are
//! renamed to `NAME` only once their SHA-256 holds.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::catalogue::{Archive, SetSpec, Unpack};
use super::{FetchError, download, unpack};
use crate::units::human_bytes;

/// Marks a set's folder complete; holds what was verified, for people.
pub const COMPLETE: &str = ".cnnc-complete.json";
const LOCK: &str = ".lock";

/// Where sets are cached, and where they are downloaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub root: PathBuf,
    /// `CNNC_DATA_MIRROR`: a server with `MIRROR/<set>/<file>`, used
    /// instead of the official URLs.
    pub mirror: Option<String>,
}

/// A line of `cnnc data list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub name: String,
    pub description: String,
    /// The download's size, all files together.
    pub bytes: u64,
    pub cached: bool,
    /// The folder that `KIND:DIR` would read (complete only when `cached`).
    pub folder: PathBuf,
}

impl Store {
    /// The store the environment describes.
    pub fn from_env() -> Result<Store, FetchError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = match (var("CNNC_DATA_DIR"), var("XDG_CACHE_HOME"), var("HOME")) {
            (Some(dir), _, _) => PathBuf::from(dir),
            (None, Some(cache), _) if Path::new(&cache).is_absolute() => Path::new(&cache).join("cnnc/data"),
            (None, _, Some(home)) => Path::new(&home).join(".cache/cnnc/data"),
            _ => return Err(FetchError::NoCacheFolder),
        };
        let mirror = std::env::var("CNNC_DATA_MIRROR")
            .ok()
            .map(|m| m.trim().trim_end_matches('/').to_string())
            .filter(|m| !m.is_empty());
        Ok(Store { root, mirror })
    }

    /// The set's own folder, where its files are downloaded.
    pub fn folder(&self, set: &SetSpec) -> PathBuf {
        self.root.join(&set.name)
    }

    /// The folder its readers read.
    pub fn data_dir(&self, set: &SetSpec) -> PathBuf {
        self.folder(set).join(&set.data_dir)
    }

    pub fn is_cached(&self, set: &SetSpec) -> bool {
        self.folder(set).join(COMPLETE).is_file()
    }

    pub fn list(&self, sets: &[SetSpec]) -> Vec<Listing> {
        sets.iter()
            .map(|set| Listing {
                name: set.name.clone(),
                description: set.description.clone(),
                bytes: set.files.iter().map(|f| f.bytes).sum(),
                cached: self.is_cached(set),
                folder: self.data_dir(set),
            })
            .collect()
    }

    /// The URLs to try for one file: the mirror's alone when there is one.
    pub fn urls(&self, set: &SetSpec, file: &Archive) -> Vec<String> {
        match &self.mirror {
            Some(mirror) => vec![format!("{mirror}/{}/{}", set.name, file.name)],
            None => file.urls.clone(),
        }
    }

    /// The set's readable folder, downloading, verifying and unpacking it
    /// first unless it is complete.
    pub fn ensure(&self, set: &SetSpec) -> Result<PathBuf, FetchError> {
        if self.is_cached(set) {
            return Ok(self.data_dir(set));
        }
        let folder = self.folder(set);
        fs::create_dir_all(&folder).map_err(|e| FetchError::io(&folder, e))?;
        let _lock = lock(&folder, &set.name)?;
        if self.is_cached(set) {
            return Ok(self.data_dir(set)); // another process finished it while we waited
        }
        unpack::remove_leftovers(&folder)?;
        let mut verified = Vec::new();
        for file in &set.files {
            verified.push(self.obtain(set, file)?);
        }
        for (file, path) in set.files.iter().zip(&verified) {
            if file.unpack == Unpack::TarGz {
                unpack::tar_gz(path, &folder)?;
            }
        }
        let data_dir = self.data_dir(set);
        if !data_dir.is_dir() {
            return Err(FetchError::Unpack {
                archive: verified.first().cloned().unwrap_or(folder.clone()),
                message: format!("it holds no folder {}", set.data_dir),
            });
        }
        write_complete(set, &folder)?;
        for (file, path) in set.files.iter().zip(&verified) {
            if file.unpack == Unpack::TarGz {
                fs::remove_file(path).map_err(|e| FetchError::io(path, e))?;
            }
        }
        Ok(data_dir)
    }

    /// The verified file in the set's folder: one already there (put by
    /// hand, or downloaded by a run that stopped before unpacking) if it
    /// is the official one, else a download from each URL in turn.
    fn obtain(&self, set: &SetSpec, file: &Archive) -> Result<PathBuf, FetchError> {
        let folder = self.folder(set);
        let path = folder.join(&file.name);
        if path.is_file() {
            return match check(&path, file)? {
                None => Ok(path),
                Some(found) => {
                    fs::remove_file(&path).map_err(|e| FetchError::io(&path, e))?;
                    Err(FetchError::NotOfficial {
                        path,
                        archive: Box::new(file.clone()),
                        found,
                    })
                }
            };
        }
        let part = folder.join(format!("{}.part", file.name));
        let mut attempts = Vec::new();
        for url in self.urls(set, file) {
            if let Err(why) = download::fetch(&url, &part, file) {
                attempts.push((url, why.to_string()));
                continue;
            }
            match check(&part, file)? {
                None => {
                    fs::rename(&part, &path).map_err(|e| FetchError::io(&path, e))?;
                    eprintln!("verified {} (SHA-256 {})", file.name, file.sha256);
                    return Ok(path);
                }
                Some(found) => {
                    fs::remove_file(&part).map_err(|e| FetchError::io(&part, e))?;
                    eprintln!("{url}: {found}, not {}; deleted it", file.sha256);
                    attempts.push((
                        url,
                        format!(
                            "the download's {found}, not {}: corrupted, or not the official file; deleted it",
                            file.sha256
                        ),
                    ));
                }
            }
        }
        Err(FetchError::Unavailable {
            set: set.name.clone(),
            file: Box::new(file.clone()),
            others: set
                .files
                .iter()
                .filter(|f| f.name != file.name)
                .map(|f| f.name.clone())
                .collect(),
            attempts,
            folder,
        })
    }
}

/// `None` when the file is the official one, else what it is instead.
fn check(path: &Path, file: &Archive) -> Result<Option<String>, FetchError> {
    let (bytes, sha256) = sha256_of(path)?;
    Ok((bytes != file.bytes || sha256 != file.sha256)
        .then(|| format!("{} has SHA-256 {sha256}", human_bytes(bytes as u128))))
}

/// The size and lower-case hex SHA-256 of a file.
pub fn sha256_of(path: &Path) -> Result<(u64, String), FetchError> {
    let mut hasher = Sha256::new();
    let mut reader = File::open(path).map_err(|e| FetchError::io(path, e))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = std::io::Read::read(&mut reader, &mut buffer).map_err(|e| FetchError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    let digest = hasher.finalize();
    Ok((bytes, digest.iter().map(|b| format!("{b:02x}")).collect()))
}

/// An exclusive lock on the set's folder, held until the file is dropped
/// (closed). The operating system releases it if the process dies.
fn lock(folder: &Path, set: &str) -> Result<File, FetchError> {
    let path = folder.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| FetchError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another cnnc that is downloading {set} (it holds {})",
                path.display()
            );
            file.lock().map_err(|e| FetchError::io(&path, e))?;
            Ok(file)
        }
        Err(fs::TryLockError::Error(e)) => Err(FetchError::io(&path, e)),
    }
}

fn write_complete(set: &SetSpec, folder: &Path) -> Result<(), FetchError> {
    let files: Vec<serde_json::Value> = set
        .files
        .iter()
        .map(|f| serde_json::json!({ "name": f.name, "bytes": f.bytes, "sha256": f.sha256 }))
        .collect();
    let record = serde_json::json!({ "set": set.name, "verified": files, "data_dir": set.data_dir });
    let path = folder.join(COMPLETE);
    crate::atomic::write(&path, format!("{record:#}\n").as_bytes()).map_err(|e| FetchError::io(&path, e))
}
