//! Runs a PostgREST process for the adapter to forward to: writes its config
//! file, starts it, waits on its admin `/ready`, restarts it with back-off
//! when it dies, forwards its output to the log, and stops it on shutdown.

use crate::config::{Config, PostgrestConfig};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// PostgREST's config file for `pg` (its own key names).
pub fn config_text(pg: &PostgrestConfig, cfg: &Config, db_uri: &str) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k} = {v}\n"));
    line("db-uri", q(db_uri));
    line("db-schemas", q(&cfg.db_schemas));
    line("db-anon-role", q(&cfg.db_anon_role));
    line("jwt-secret", q(&cfg.jwt_secret));
    line("jwt-secret-is-base64", cfg.jwt_secret_is_base64.to_string());
    line("jwt-role-claim-key", q(&cfg.jwt_role_claim_key));
    if let Some(aud) = &cfg.jwt_aud {
        line("jwt-aud", q(aud));
    }
    if let Some(m) = cfg.db_max_rows {
        line("db-max-rows", m.to_string());
    }
    line("db-tx-end", q(&cfg.db_tx_end));
    line(
        "db-aggregates-enabled",
        cfg.db_aggregates_enabled.to_string(),
    );
    line("db-plan-enabled", cfg.db_plan_enabled.to_string());
    line("server-host", q("127.0.0.1"));
    line("server-port", pg.server_port.to_string());
    line("admin-server-port", pg.admin_server_port.to_string());
    out
}

/// A running supervisor; `stop` ends the process and the restart loop.
pub struct Supervisor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Writes the config, starts the process and waits until it is ready
    /// (an error if it exits first or is not ready in time).
    pub async fn start(pg: PostgrestConfig, cfg: &Config, db_uri: &str) -> Result<Supervisor> {
        let path = pg.config_file.clone().unwrap_or_else(|| {
            cfg.data_dir
                .parent()
                .unwrap_or(Path::new("."))
                .join("postgrest.conf")
        });
        write_private(&path, &config_text(&pg, cfg, db_uri))?;
        let mut child = spawn(&pg, &path)?;
        let ready = wait_ready(
            &mut child,
            pg.admin_server_port,
            Duration::from_secs(pg.ready_timeout_s),
        )
        .await;
        if let Err(e) = ready {
            stop_child(&mut child).await;
            return Err(e);
        }
        tracing::info!(
            command = %pg.command.join(" "),
            port = pg.server_port,
            pid = child.id().unwrap_or(0),
            "PostgREST ready"
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(watch_loop(pg, path, child, stopped));
        Ok(Supervisor { stop, task })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    use std::io::Write;
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing PostgREST's config file {}", path.display()))
}

fn spawn(pg: &PostgrestConfig, config: &PathBuf) -> Result<Child> {
    let mut child = Command::new(&pg.command[0])
        .args(&pg.command[1..])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start PostgREST (`{}`)", pg.command.join(" ")))?;
    let pid = child.id().unwrap_or(0);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_lines(out, pid));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_lines(err, pid));
    }
    Ok(child)
}

async fn forward_lines(stream: impl tokio::io::AsyncRead + Unpin, pid: u32) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "supalite::postgrest", pid, "{line}");
    }
}

/// `GET /ready` on the admin port answered 200?
async fn ready(port: u16) -> bool {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1.1 200") || buf[..n].starts_with(b"HTTP/1.0 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

async fn wait_ready(child: &mut Child, admin_port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("PostgREST exited before it was ready ({status})");
        }
        if ready(admin_port).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "PostgREST was not ready within {} s (GET http://127.0.0.1:{admin_port}/ready)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then SIGKILL after 5 s.
async fn stop_child(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// Restart back-off: doubles from 200 ms to 30 s; a run longer than 30 s
/// resets it.
pub fn next_backoff(previous: Duration, ran_for: Duration) -> Duration {
    if ran_for > Duration::from_secs(30) {
        Duration::from_millis(200)
    } else {
        (previous * 2).clamp(Duration::from_millis(200), Duration::from_secs(30))
    }
}

async fn watch_loop(
    pg: PostgrestConfig,
    config: PathBuf,
    mut child: Child,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut started = Instant::now();
    loop {
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(?status, "PostgREST exited");
            }
            _ = stop.changed() => {
                stop_child(&mut child).await;
                tracing::info!("PostgREST stopped");
                return;
            }
        }
        // Restart with back-off until a process starts (or we are stopped).
        loop {
            backoff = next_backoff(backoff, started.elapsed());
            tracing::info!(
                restart_in_ms = backoff.as_millis() as u64,
                "restarting PostgREST"
            );
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            started = Instant::now();
            match spawn(&pg, &config) {
                Ok(c) => {
                    tracing::info!(pid = c.id().unwrap_or(0), "PostgREST restarted");
                    child = c;
                    break;
                }
                Err(e) => tracing::error!("restarting PostgREST failed: {e:#}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let ms = Duration::from_millis;
        assert_eq!(next_backoff(ms(100), ms(10)), ms(200));
        assert_eq!(next_backoff(ms(200), ms(10)), ms(400));
        assert_eq!(
            next_backoff(Duration::from_secs(20), ms(10)),
            Duration::from_secs(30)
        );
        assert_eq!(
            next_backoff(Duration::from_secs(30), Duration::from_secs(31)),
            ms(200)
        );
    }
}
