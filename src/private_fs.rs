//! Files molingest writes that hold an organization's data (reject reports,
//! exports): created for the owner only (0600 files, 0700 directories), and
//! never through a symbolic link someone else planted where the file goes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Create (or truncate) `path` for the owner only. A symbolic link at
/// `path` is refused (`O_NOFOLLOW`), whoever made it.
pub fn create_file(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| refuse_link(path, e))?;
    // A file that existed keeps its old mode through `open`: narrow it.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Create `dir` (and missing parents) for the owner only. An existing
/// directory is used as it is, unless it is a symbolic link.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link: refusing to write through it",
        )),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        )),
        Err(_) => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
    }
}

fn refuse_link(path: &Path, e: io::Error) -> io::Error {
    // O_NOFOLLOW on a link fails with ELOOP.
    if e.raw_os_error() == Some(libc::ELOOP) {
        let _ = path;
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link: refusing to write through it",
        );
    }
    e
}
