//! The data directory's lock: one supalite serves an embedded PGlite data
//! directory at a time (two would corrupt it), and `supalite db reset`
//! refuses while one does. An advisory `flock` on `<data-dir>/supalite.lock`,
//! held for as long as the file stays open (the kernel drops it when the
//! process ends, however it ends); the file holds the server's pid.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

pub const FILE: &str = "supalite.lock";

/// The lock, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Takes the lock on `dir` (created if missing), or says who holds it.
pub fn acquire(dir: &Path) -> Result<DataDirLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let path = dir.join(FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a file descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        let holder = holder.trim();
        let who = if holder.is_empty() {
            String::new()
        } else {
            format!(" (pid {holder})")
        };
        bail!(
            "a supalite process{who} is serving the data directory {}: embedded PGlite has one \
             process at a time; stop it first, or use PostgreSQL (db-uri)",
            dir.display()
        );
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("supalite-lock-{}", std::process::id()));
        let first = super::acquire(&dir).unwrap();
        let e = super::acquire(&dir).unwrap_err().to_string();
        assert!(
            e.contains("is serving the data directory")
                && e.contains(&std::process::id().to_string()),
            "{e}"
        );
        drop(first);
        super::acquire(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
