//! A PostgreSQL 15 cluster for the tests: initdb into a temporary directory
//! and run `postgres` as an unprivileged user (`nobody` when the tests run as
//! root), with SCRAM password authentication on a random loopback port. One
//! cluster per test process; each test gets its own database.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub const PASSWORD: &str = "supalite-test-pw";

pub struct Cluster {
    pub port: u16,
    _dir: PathBuf,
}

/// Debian's PostgreSQL binaries (`SUPALITE_PG_BIN` overrides).
pub fn bin_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("SUPALITE_PG_BIN") {
        return PathBuf::from(p);
    }
    for v in ["17", "16", "15"] {
        let p = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if p.join("postgres").exists() {
            return p;
        }
    }
    panic!("PostgreSQL server binaries not found (install postgresql, or set SUPALITE_PG_BIN)")
}

fn as_unprivileged(cmd: &mut Command) -> &mut Command {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        cmd.uid(65534).gid(65534);
    }
    cmd
}

fn chown_nobody(p: &Path) {
    if unsafe { libc::getuid() } == 0 {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
}

/// Removes the cluster directories of test processes that have ended (a
/// cluster lives in a static, so nothing drops it: each test binary left
/// ~200 MB behind, and repeated runs filled the disk).
fn sweep_ended_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("supalite-pg-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// This process's cluster directory, removed when the process exits.
static DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_dir_at_exit() {
    if let Some(dir) = DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn start() -> Cluster {
    sweep_ended_clusters();
    let dir = std::env::temp_dir().join(format!("supalite-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if DIR.set(dir.clone()).is_ok() {
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove_dir_at_exit) };
    }
    std::fs::create_dir_all(&dir).unwrap();
    chown_nobody(&dir);
    let data = dir.join("data");
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, PASSWORD).unwrap();
    chown_nobody(&pwfile);
    let bin = bin_dir();
    let out = as_unprivileged(Command::new(bin.join("initdb")).current_dir(&dir))
        .args(["-U", "postgres", "--auth=scram-sha-256", "--pwfile"])
        .arg(&pwfile)
        .arg("-D")
        .arg(&data)
        .output()
        .expect("initdb runs");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = crate::free_port();
    let (tx, rx) = std::sync::mpsc::channel();
    let (data2, dir2) = (data.clone(), dir.clone());
    // The server is started from a thread that lives as long as the test
    // process, with PR_SET_PDEATHSIG, so it stops when the tests end.
    std::thread::spawn(move || {
        let mut cmd = Command::new(bin.join("postgres"));
        as_unprivileged(&mut cmd)
            .arg("-D")
            .arg(&data2)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ])
            .arg("-k")
            .arg(&dir2)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("postgres starts");
        tx.send(()).unwrap();
        let _ = child.wait();
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "postgres did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Accepting TCP is not quite ready for queries; wait for psql to succeed.
    let c = Cluster { port, _dir: dir };
    while c.psql("postgres", "select 1").is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "postgres did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    c
}

impl Cluster {
    /// The shared cluster of this test process.
    pub fn get() -> &'static Cluster {
        static CLUSTER: OnceLock<Cluster> = OnceLock::new();
        CLUSTER.get_or_init(start)
    }

    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(bin_dir().join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A new, empty database; returns its `postgres://` URI.
    pub fn new_database(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.psql("postgres", &format!("create database {name}"))
            .unwrap();
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }
}
