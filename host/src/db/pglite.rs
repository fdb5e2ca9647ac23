//! Embedded PGlite behind an actor: `Pglite` is not `Send` and has one
//! backend (one session), so a dedicated thread owns it and runs one job at a
//! time. A `sql` transaction is one job: one pipelined protocol exchange, so
//! requests never interleave inside a transaction.

use super::{DbError, ResultSet, Session, Statement};
use anyhow::{anyhow, Context, Result};
use pglite_oxide::{ExecProtocolOptions, Pglite};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Pglite) + Send>;

/// A cloneable handle to the PGlite thread.
#[derive(Clone)]
pub struct PgliteHandle {
    jobs: mpsc::Sender<Job>,
}

impl PgliteHandle {
    /// Opens (creating if needed) the database in `dir` on a new thread.
    pub fn open(dir: &Path) -> Result<(PgliteHandle, std::thread::JoinHandle<()>)> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let probe = dir.join(".supalite-write-test");
        std::fs::write(&probe, b"ok").with_context(|| format!("data directory {} is not writable", dir.display()))?;
        let _ = std::fs::remove_file(&probe);

        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let dir = dir.to_path_buf();
        let thread = std::thread::Builder::new().name("pglite".into()).spawn(move || {
            let mut db = match Pglite::builder().path(&dir).open() {
                Ok(db) => {
                    let _ = ready_tx.send(Ok(()));
                    db
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("cannot open PGlite in {}: {e:#}", dir.display())));
                    return;
                }
            };
            while let Ok(job) = rx.recv() {
                job(&mut db);
            }
            if let Err(e) = db.close() {
                tracing::warn!("closing PGlite: {e:#}");
            }
        })?;
        ready_rx.recv().context("PGlite thread died during start-up")??;
        Ok((PgliteHandle { jobs: tx }, thread))
    }

    /// Runs `f` on the PGlite thread and returns its result.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Pglite) -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |db| {
                let _ = tx.send(f(db));
            }))
            .map_err(|_| anyhow!("the database has shut down"))?;
        rx.await.map_err(|_| anyhow!("the database thread stopped"))
    }

    /// One `sql.transaction`: role/claims, statements, commit or rollback.
    pub async fn transaction(&self, session: Session, statements: Vec<Statement>) -> Result<Vec<ResultSet>, DbError> {
        let request = pgwire_codec::encode_transaction(&session, &statements)?;
        let answer = self
            .run(move |db| db.exec_protocol_raw(&request, protocol_options()))
            .await
            .map_err(|e| DbError::internal("08006", e.to_string()))?
            .map_err(|e| DbError::internal("XX000", format!("PGlite failed: {e:#}")))?;
        pgwire_codec::decode_answer(&answer)
    }
}

fn protocol_options() -> ExecProtocolOptions {
    ExecProtocolOptions { sync_to_fs: false, throw_on_error: false, on_notice: None, data_transfer_container: None }
}
