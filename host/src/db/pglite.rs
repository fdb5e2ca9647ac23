//! Embedded PGlite behind an actor: `Pglite` is not `Send` and has one
//! backend (one session), so a dedicated thread owns it and runs one
//! protocol exchange at a time. A transaction is always one exchange, so
//! requests never interleave inside a transaction.

use super::DbError;
use anyhow::{anyhow, Context, Result};
use pglite_oxide::{ExecProtocolOptions, Pglite};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

enum Job {
    /// One protocol exchange.
    Exchange(bytes::BytesMut, oneshot::Sender<Result<Vec<u8>, DbError>>),
    /// Close the database (shutdown); later jobs fail.
    Close(oneshot::Sender<()>),
}

/// A cloneable handle to the PGlite thread. The database is closed by
/// [`PgliteHandle::close`] or when the last handle is dropped.
#[derive(Clone)]
pub struct PgliteHandle {
    jobs: mpsc::Sender<Job>,
    /// PGlite's one session LISTENs on `pgrst`, so a `NOTIFY pgrst` in any
    /// transaction comes back in that transaction's answer.
    pub reload: std::sync::Arc<tokio::sync::Notify>,
    /// The one session: held for each exchange, and by a loopback client
    /// for as long as it keeps a transaction open (see `db::loopback`).
    pub session: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl PgliteHandle {
    /// Opens (creating if needed) the database in `dir` on a new thread.
    pub fn open(dir: &Path) -> Result<(PgliteHandle, std::thread::JoinHandle<()>)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let probe = dir.join(".supalite-write-test");
        std::fs::write(&probe, b"ok")
            .with_context(|| format!("data directory {} is not writable", dir.display()))?;
        let _ = std::fs::remove_file(&probe);

        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("pglite".into())
            .spawn(move || {
                let mut db = match Pglite::builder().path(&dir).open() {
                    Ok(db) => {
                        let _ = ready_tx.send(Ok(()));
                        db
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!(
                            "cannot open PGlite in {}: {e:#}",
                            dir.display()
                        )));
                        return;
                    }
                };
                let options = ExecProtocolOptions {
                    sync_to_fs: false,
                    throw_on_error: false,
                    on_notice: None,
                    data_transfer_container: None,
                };
                let mut closed = None;
                while let Ok(job) = rx.recv() {
                    match job {
                        Job::Exchange(request, reply) => {
                            let answer =
                                db.exec_protocol_raw(&request, options.clone())
                                    .map_err(|e| {
                                        DbError::internal("XX000", format!("PGlite failed: {e:#}"))
                                    });
                            let _ = reply.send(answer);
                        }
                        Job::Close(reply) => {
                            closed = Some(reply);
                            break;
                        }
                    }
                }
                if let Err(e) = db.close() {
                    tracing::warn!("closing PGlite: {e:#}");
                }
                if let Some(reply) = closed {
                    let _ = reply.send(());
                }
            })?;
        ready_rx
            .recv()
            .context("PGlite thread died during start-up")??;
        Ok((
            PgliteHandle {
                jobs: tx,
                reload: Default::default(),
                session: Default::default(),
            },
            thread,
        ))
    }

    /// Runs one protocol exchange on the PGlite thread.
    pub async fn roundtrip(&self, request: bytes::BytesMut) -> Result<Vec<u8>, DbError> {
        let _session = self.session.lock().await;
        self.exchange(request).await
    }

    /// One exchange; the caller holds `session`.
    pub async fn exchange(&self, request: bytes::BytesMut) -> Result<Vec<u8>, DbError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Exchange(request, tx))
            .map_err(|_| DbError::internal("57P01", "the database has shut down"))?;
        let answer = rx
            .await
            .map_err(|_| DbError::internal("57P01", "the database thread stopped"))??;
        if pgwire_codec::notifications(&answer)
            .iter()
            .any(|(c, p)| pgwire_codec::is_schema_reload(c, p))
        {
            self.reload.notify_one();
        }
        Ok(answer)
    }

    /// Closes the database cleanly (checkpoint) and waits for it.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}
