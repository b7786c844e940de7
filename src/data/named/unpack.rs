//! A verified `.tar.gz` into its set's folder: extracted into a private
//! folder first (`.unpack-PID`), then each top-level entry renamed into
//! place, so a reader never sees half a folder. Only regular files and
//! folders are extracted, each kept inside the destination (the tar
//! crate's `unpack_in` refuses `..` and absolute paths).

use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;

use super::FetchError;

const PRIVATE: &str = ".unpack-";

pub fn tar_gz(archive: &Path, folder: &Path) -> Result<(), FetchError> {
    let private = folder.join(format!("{PRIVATE}{}", std::process::id()));
    remove(&private)?;
    fs::create_dir(&private).map_err(|e| FetchError::io(&private, e))?;
    extract(archive, &private)?;
    let entries = fs::read_dir(&private).map_err(|e| FetchError::io(&private, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FetchError::io(&private, e))?;
        let target = folder.join(entry.file_name());
        remove(&target)?; // a copy from an earlier, interrupted unpack
        fs::rename(entry.path(), &target).map_err(|e| FetchError::io(&target, e))?;
    }
    fs::remove_dir(&private).map_err(|e| FetchError::io(&private, e))?;
    eprintln!("unpacked {} into {}", archive.display(), folder.display());
    Ok(())
}

fn extract(archive: &Path, into: &Path) -> Result<(), FetchError> {
    let failed = |e: std::io::Error| FetchError::Unpack {
        archive: archive.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::open(archive).map_err(|e| FetchError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    for entry in tar.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        let kind = entry.header().entry_type();
        if kind.is_file() || kind.is_dir() {
            entry.unpack_in(into).map_err(failed)?;
        }
    }
    Ok(())
}

/// Private folders of unpacks that a killed process left behind. Called
/// under the set's lock, so none of them is in use.
pub fn remove_leftovers(folder: &Path) -> Result<(), FetchError> {
    let entries = fs::read_dir(folder).map_err(|e| FetchError::io(folder, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(PRIVATE) {
            remove(&entry.path())?;
        }
    }
    Ok(())
}

fn remove(path: &Path) -> Result<(), FetchError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|e| FetchError::io(path, e))
}
