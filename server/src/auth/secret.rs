//! The token secret of the demo default: generated once at first start into a 0600 file, then read back.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Random bytes in a generated secret.
const GENERATED_SECRET_BYTES: usize = 32;

/// Why the secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the token secret {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot create the token secret {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the token secret {path} is too short (at least {min} bytes); delete it to have a new one generated")]
    TooShort { path: PathBuf, min: usize },
}

/// The secret in `path`, creating the file (and its folder) with a fresh random secret when missing.
pub fn load_or_create(path: &Path, min_len: usize) -> Result<Vec<u8>, SecretError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable_by_others(path);
            let secret = text.trim().as_bytes().to_vec();
            if secret.len() < min_len {
                return Err(SecretError::TooShort { path: path.to_owned(), min: min_len });
            }
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(source) => Err(SecretError::Read { path: path.to_owned(), source }),
    }
}

fn create(path: &Path) -> Result<Vec<u8>, SecretError> {
    let write_error = |source| SecretError::Write { path: path.to_owned(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).and_then(|()| file.write_all(b"\n")).map_err(write_error)?;
            tracing::info!(path = %path.display(), "generated a new login token secret");
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs, so that both sign alike.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path, 1),
        Err(source) => Err(write_error(source)),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the token secret file is readable by others; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_generated_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/token-secret");
        let first = load_or_create(&path, 16).unwrap();
        assert_eq!(first.len(), GENERATED_SECRET_BYTES * 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(load_or_create(&path, 16).unwrap(), first);
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(load_or_create(&path, 16), Err(SecretError::TooShort { .. })));
    }
}
