//! One process at a time on a PGlite data directory: PGlite has no
//! postmaster to refuse a second one, and two instances writing the same
//! files corrupt them. Whoever opens it holds an exclusive `flock` on
//! `<dir>/supalite.lock` until it exits (the kernel lets go of a crashed
//! process's lock by itself).

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the lock on `dir` (created if missing), or says who has it.
pub fn lock(dir: &Path) -> Result<DirLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("supalite.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            bail!(
                "the PGlite data directory {} is in use by another supalite process{} \
                 (a running `supalite serve`?): embedded PGlite has one process at a time; \
                 stop it first, or use PostgreSQL (db-uri)",
                dir.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                }
            );
        }
        return Err(err).with_context(|| format!("locking {}", path.display()));
    }
    use std::io::{Seek, Write};
    let _ = file.set_len(0);
    let _ = file.seek(std::io::SeekFrom::Start(0));
    let _ = write!(file, "{}", std::process::id());
    Ok(DirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("supalite-lock-{}", std::process::id()));
        let first = lock(&dir).unwrap();
        // flock locks belong to the open file: a second open conflicts
        // even in the same process.
        let err = lock(&dir).unwrap_err().to_string();
        assert!(err.contains("in use by another supalite process"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        lock(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
