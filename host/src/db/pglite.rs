//! Embedded PGlite behind an actor: `Pglite` is not `Send` and has one
//! backend (one session), so a dedicated thread owns it and runs one
//! protocol exchange at a time. A transaction is always one exchange, so
//! requests never interleave inside a transaction.
//!
//! The actor also supervises the database:
//! - **statement timeouts**: PGlite has no timer signals, so PostgreSQL's
//!   `statement_timeout` never fires inside it. A watchdog thread cancels a
//!   statement that runs past its request's timeout the way PostgreSQL's
//!   SIGINT handler would (pglite-oxide's `InterruptHandle`), and the request
//!   answers `57014 canceling statement due to statement timeout`;
//! - **restarts**: when PGlite itself fails (a trap, an internal error), the
//!   request caught in it answers 503 and the actor closes the instance and
//!   opens a new one on the same data directory before the next job;
//!   committed transactions are on disk, so nothing acknowledged is lost.

use super::schedule::{Caller, Cutter, Policy, Scheduler, Turn};
use super::DbError;
use anyhow::{anyhow, Context, Result};
use pglite_oxide::{ExecProtocolOptions, InterruptHandle, Pglite};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// PostgreSQL's own recursion limit (54001 `stack depth limit exceeded`),
/// which must fire before PGlite's stacks run out (PostgreSQL's default is
/// 2MB; inside PGlite it measures the C shadow stack, which grows far more
/// slowly than the native one).
const MAX_STACK_DEPTH: &str = "1MB";

type Reply = oneshot::Sender<Result<Vec<u8>, DbError>>;

enum Job {
    /// One protocol exchange (its number, for [`Watchdog::abandon`]), with
    /// the longest its statements may run.
    Exchange(u64, bytes::BytesMut, Option<Duration>, Reply),
    /// Close the database (shutdown); later jobs fail.
    Close(oneshot::Sender<()>),
}

/// Health and counters, for `/ready` and the log.
#[derive(Default)]
pub struct Health {
    /// False while the instance is being reopened after a failure.
    pub up: AtomicBool,
    /// Times PGlite failed and was reopened.
    pub restarts: AtomicU64,
    /// Statements cancelled by the watchdog.
    pub cancelled: AtomicU64,
    /// Anonymous statements cancelled at the end of their slice.
    pub cut: AtomicU64,
}

/// A cloneable handle to the PGlite thread. The database is closed by
/// [`PgliteHandle::close`] or when the last handle is dropped.
#[derive(Clone)]
pub struct PgliteHandle {
    jobs: mpsc::Sender<Job>,
    /// Exchanges sent so far (each one's number).
    sent: Arc<AtomicU64>,
    watchdog: Arc<Watchdog>,
    /// PGlite's one session LISTENs on `pgrst`, so a `NOTIFY pgrst` in any
    /// transaction comes back in that transaction's answer.
    pub reload: Arc<tokio::sync::Notify>,
    /// The one session: held for each exchange, and by a loopback client
    /// for as long as it keeps a transaction open (see `db::loopback`),
    /// taken in the scheduler's order ([`PgliteHandle::hold`]).
    session: Arc<tokio::sync::Mutex<SessionState>>,
    pub scheduler: Arc<Scheduler>,
    pub health: Arc<Health>,
}

/// PGlite's session, held: the scheduler's turn and the session's state.
pub struct Held {
    pub state: tokio::sync::OwnedMutexGuard<SessionState>,
    _turn: Turn,
}

/// What the server keeps of PGlite's one session: the statements prepared
/// in it, valid while the instance that prepared them lives.
pub struct SessionState {
    prepared: pgwire_codec::Prepared,
    /// `Health::restarts` when the statements were prepared.
    restarts: u64,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            prepared: pgwire_codec::Prepared::new(super::PREPARED_PER_SESSION),
            restarts: 0,
        }
    }
}

/// Cancels the running exchange's statement once its deadline passes.
#[derive(Default)]
struct Watchdog {
    state: Mutex<Watch>,
    wake: Condvar,
}

#[derive(Default)]
struct Watch {
    handle: Option<InterruptHandle>,
    /// The exchange running, by number.
    current: Option<u64>,
    deadline: Option<Instant>,
    fired: bool,
    stop: bool,
    /// When the watchdog thread wakes next by itself: arming a deadline
    /// after that needs no wake-up (one thread switch less per request).
    wakes_at: Option<Instant>,
    /// The scheduler's cut of the session holder's statements (the end of
    /// an anonymous slice while others wait), until the holder lets go.
    cut: Option<Instant>,
    /// The running statement was cancelled by the cut.
    cut_fired: bool,
}

/// The longest the watchdog sleeps without looking at its deadline.
const WATCH_TICK: Duration = Duration::from_secs(1);

impl Watchdog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        let mut w = self.lock();
        while !w.stop {
            let now = Instant::now();
            let next = match w.deadline {
                Some(d) if now >= d => {
                    if !w.fired {
                        w.fired = true;
                        w.cut_fired = w.cut.is_some_and(|c| now >= c);
                        if let Some(h) = w.handle {
                            h.cancel();
                        }
                    }
                    now + WATCH_TICK
                }
                Some(d) => d.min(now + WATCH_TICK),
                None => now + WATCH_TICK,
            };
            w.wakes_at = Some(next);
            w = self
                .wake
                .wait_timeout(w, next.saturating_duration_since(now))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn set_handle(&self, handle: Option<InterruptHandle>) {
        self.lock().handle = handle;
    }

    fn arm(&self, job: u64, timeout: Option<Duration>) {
        let mut w = self.lock();
        w.current = Some(job);
        w.deadline = match (timeout.map(|t| Instant::now() + t), w.cut) {
            (Some(d), Some(c)) => Some(d.min(c)),
            (d, c) => d.or(c),
        };
        w.fired = false;
        w.cut_fired = false;
        // Only a deadline before the watchdog's own next look wakes it.
        if let (Some(d), Some(at)) = (w.deadline, w.wakes_at) {
            if d < at {
                self.wake.notify_one();
            }
        }
    }

    /// Ends the exchange; whether its statement was cancelled, and whether
    /// by the scheduler's cut. A cancel the backend did not consume is
    /// withdrawn, so it cannot hit the next job.
    fn disarm(&self) -> (bool, bool) {
        let mut w = self.lock();
        w.current = None;
        w.deadline = None;
        let fired = std::mem::take(&mut w.fired);
        let cut = std::mem::take(&mut w.cut_fired);
        if fired {
            if let Some(h) = w.handle {
                h.clear();
            }
        }
        (fired, cut)
    }

    /// The request of exchange `job` is gone (its deadline passed, its
    /// client left): its statement is cancelled now, as PostgreSQL cancels
    /// the statement of a connection that went away, instead of holding
    /// PGlite's one session until it ends by itself.
    fn abandon(&self, job: u64) {
        let mut w = self.lock();
        if w.current == Some(job) && !w.fired {
            w.fired = true;
            if let Some(h) = w.handle {
                h.cancel();
            }
        }
    }

    fn stop(&self) {
        let mut w = self.lock();
        w.cut = None;
        w.stop = true;
        w.handle = None;
        self.wake.notify_one();
    }
}

impl Cutter for Watchdog {
    fn cut_at(&self, at: Instant) {
        let mut w = self.lock();
        w.cut = Some(w.cut.map_or(at, |c| c.min(at)));
        if w.current.is_some() {
            w.deadline = Some(w.deadline.map_or(at, |d| d.min(at)));
            if w.wakes_at.is_none_or(|t| at < t) {
                self.wake.notify_one();
            }
        }
    }

    fn uncut(&self) {
        self.lock().cut = None;
    }
}

/// The native stack wasmer runs PGlite's compiled code on (address space;
/// pages are touched only as deep as a statement goes). wasmer's default,
/// 1 MiB, overflows at ~150 levels of PL/pgSQL recursion — a trap PGlite
/// cannot recover from. Measured with [`MAX_STACK_DEPTH`] = 1MB: 16 MiB
/// overflows before PostgreSQL's check fires (between 3,000 and 10,000
/// levels), 32 MiB does not (54001 from ~5,000 levels on); 64 MiB leaves
/// room for recursion that uses more native stack per level.
const NATIVE_STACK: usize = 64 << 20;

/// The stop-word files of PostgreSQL's Snowball dictionaries (`english`,
/// `french`, …): PGlite's bundled runtime has the dictionaries but not these
/// files, without which `to_tsvector('english', …)` fails (see
/// `host/tsearch_data/README.md`).
const STOP_WORDS: &[(&str, &[u8])] = &[
    (
        "danish.stop",
        include_bytes!("../../tsearch_data/danish.stop"),
    ),
    (
        "dutch.stop",
        include_bytes!("../../tsearch_data/dutch.stop"),
    ),
    (
        "english.stop",
        include_bytes!("../../tsearch_data/english.stop"),
    ),
    (
        "finnish.stop",
        include_bytes!("../../tsearch_data/finnish.stop"),
    ),
    (
        "french.stop",
        include_bytes!("../../tsearch_data/french.stop"),
    ),
    (
        "german.stop",
        include_bytes!("../../tsearch_data/german.stop"),
    ),
    (
        "hungarian.stop",
        include_bytes!("../../tsearch_data/hungarian.stop"),
    ),
    (
        "italian.stop",
        include_bytes!("../../tsearch_data/italian.stop"),
    ),
    (
        "nepali.stop",
        include_bytes!("../../tsearch_data/nepali.stop"),
    ),
    (
        "norwegian.stop",
        include_bytes!("../../tsearch_data/norwegian.stop"),
    ),
    (
        "portuguese.stop",
        include_bytes!("../../tsearch_data/portuguese.stop"),
    ),
    (
        "russian.stop",
        include_bytes!("../../tsearch_data/russian.stop"),
    ),
    (
        "spanish.stop",
        include_bytes!("../../tsearch_data/spanish.stop"),
    ),
    (
        "swedish.stop",
        include_bytes!("../../tsearch_data/swedish.stop"),
    ),
    (
        "turkish.stop",
        include_bytes!("../../tsearch_data/turkish.stop"),
    ),
];

/// Writes the stop-word files PGlite's runtime lacks into this database's
/// own runtime layer (pglite-oxide overlays it on its shared runtime, at
/// `<dir>/tmp/pglite`, the parent of its PGDATA), leaving existing ones.
fn install_stop_words(dir: &Path) -> Result<()> {
    let paths = pglite_oxide::PglitePaths::with_root(dir);
    let runtime = paths
        .pgdata
        .parent()
        .ok_or_else(|| anyhow!("PGlite's data directory has no parent"))?;
    let target = runtime.join("share/postgresql/tsearch_data");
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    for (name, bytes) in STOP_WORDS {
        let path = target.join(name);
        if !path.is_file() {
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Where and how PGlite runs: its data directory and the PostgreSQL
/// settings it starts with (`pglite-shared-buffers`…).
#[derive(Debug, Clone)]
pub struct Spec {
    pub dir: PathBuf,
    pub settings: Vec<(String, String)>,
    /// Who gets the session next (`db::schedule`).
    pub policy: Policy,
}

/// Opens PGlite in `dir` and prepares its one session: it listens for
/// schema reloads and refuses too-deep expressions before its stack ends.
fn open_session(spec: &Spec) -> Result<Pglite> {
    let dir = spec.dir.as_path();
    wasmer_vm::set_stack_size(NATIVE_STACK);
    install_stop_words(dir)?;
    let mut db = Pglite::builder()
        .path(dir)
        .postgres_configs(spec.settings.iter().cloned())
        .open()
        .map_err(|e| anyhow!("cannot open PGlite in {}: {e:#}", dir.display()))?;
    let setup = pgwire_codec::encode_query(&format!(
        "SET max_stack_depth = '{MAX_STACK_DEPTH}'; LISTEN pgrst"
    ))
    .map_err(|e| anyhow!("{e}"))?;
    let answer = db
        .exec_protocol_raw(&setup, options())
        .context("preparing the PGlite session")?;
    pgwire_codec::first_error(&answer).map_err(|e| anyhow!("preparing the PGlite session: {e}"))?;
    Ok(db)
}

fn options() -> ExecProtocolOptions {
    ExecProtocolOptions {
        sync_to_fs: false,
        throw_on_error: false,
        on_notice: None,
        data_transfer_container: None,
    }
}

/// The actor: runs jobs until closed, reopening PGlite after a failure.
fn run_actor(
    spec: Spec,
    mut db: Pglite,
    jobs: mpsc::Receiver<Job>,
    watchdog: Arc<Watchdog>,
    health: Arc<Health>,
) {
    watchdog.set_handle(db.interrupt_handle());
    let mut closed = None;
    let mut errors = 0u64;
    while let Ok(job) = jobs.recv() {
        let (number, request, timeout, reply) = match job {
            Job::Exchange(number, request, timeout, reply) => (number, request, timeout, reply),
            Job::Close(reply) => {
                closed = Some(reply);
                break;
            }
        };
        if reply.is_closed() {
            // The request is gone (client disconnected, deadline): skip it.
            continue;
        }
        watchdog.arm(number, timeout);
        let answer = db.exec_protocol_raw(&request, options());
        let (timed_out, cut) = watchdog.disarm();
        match answer {
            Ok(answer) if !survived(&mut db, &answer) => {
                tracing::error!(
                    "embedded PGlite no longer answers after an error; reopening it on {}",
                    spec.dir.display()
                );
                let _ = reply.send(Ok(answer));
                db = restart(&spec, db, &watchdog, &health);
            }
            Ok(answer) => {
                let first_error = pgwire_codec::first_error(&answer);
                errors += u64::from(first_error.is_err());
                let answer = match first_error {
                    Err(_) if timed_out && reply.is_closed() => {
                        health.cancelled.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            "PGlite: cancelled the statement of a request that ended (deadline or client gone)"
                        );
                        Ok(answer)
                    }
                    Err(_) if cut => {
                        health.cut.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(
                            "PGlite: cancelled an anonymous statement at the end of its slice (pglite-anon-slice-ms): other requests wait"
                        );
                        Err(DbError::internal(
                            "53300",
                            "the embedded database is busy: this anonymous request's statement was cancelled after its share of the database (pglite-anon-slice-ms) because other requests were waiting",
                        ))
                    }
                    Err(mut e) if timed_out && e.code == "57014" => {
                        health.cancelled.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            timeout_ms = timeout.map_or(0, |t| t.as_millis() as u64),
                            "PGlite: cancelled a statement that ran past its timeout"
                        );
                        e.message = "canceling statement due to statement timeout".into();
                        Err(e)
                    }
                    _ => Ok(answer),
                };
                let _ = reply.send(answer);
                if errors >= RECYCLE_AFTER_ERRORS {
                    // PGlite's error path keeps ~0.5–1.5 KB per failed
                    // statement (measured: RSS +15 MB per 10,000 duplicate
                    // keys); a fresh instance gives it back.
                    tracing::info!(
                        errors,
                        "reopening PGlite to return the memory its error path kept"
                    );
                    errors = 0;
                    db = restart(&spec, db, &watchdog, &health);
                }
            }
            Err(e) => {
                tracing::error!(
                    "embedded PGlite failed: {e:#}; reopening it on {}",
                    spec.dir.display()
                );
                let _ = reply.send(Err(DbError::internal(
                    "08006",
                    "the embedded database failed and is being restarted",
                )));
                db = restart(&spec, db, &watchdog, &health);
            }
        }
    }
    watchdog.stop();
    if let Err(e) = db.close() {
        tracing::warn!("closing PGlite: {e:#}");
    }
    if let Some(reply) = closed {
        let _ = reply.send(());
    }
}

/// Failed statements after which the instance is replaced (see `run_actor`).
const RECYCLE_AFTER_ERRORS: u64 = 50_000;

/// Errors after which PGlite may be left unable to answer anything (its
/// stack-depth bookkeeping after a 54001, say): a probe tells.
const SUSPECT: [&str; 4] = ["54001", "XX000", "XX001", "53200"];

/// True unless `answer` failed with a suspect error and a trivial query
/// fails after it too.
fn survived(db: &mut Pglite, answer: &[u8]) -> bool {
    match pgwire_codec::first_error(answer) {
        Err(e) if SUSPECT.contains(&e.code.as_str()) => {
            let Ok(probe) = pgwire_codec::encode_query("SELECT 1") else {
                return true;
            };
            match db.exec_protocol_raw(&probe, options()) {
                Ok(a) => pgwire_codec::first_error(&a).is_ok(),
                Err(_) => false,
            }
        }
        _ => true,
    }
}

/// Replaces a failed instance: `/ready` says 503 meanwhile.
fn restart(spec: &Spec, failed: Pglite, watchdog: &Watchdog, health: &Health) -> Pglite {
    health.up.store(false, Ordering::SeqCst);
    watchdog.set_handle(None);
    let mut db = reopen(spec, failed);
    watchdog.set_handle(db.interrupt_handle());
    health.restarts.fetch_add(1, Ordering::SeqCst);
    health.up.store(true, Ordering::SeqCst);
    tracing::warn!(
        restarts = health.restarts.load(Ordering::SeqCst),
        "embedded PGlite reopened"
    );
    db
}

/// Closes a failed instance (as far as it still can) and opens a new one on
/// the same directory, retrying with back-off until it opens.
fn reopen(spec: &Spec, mut failed: Pglite) -> Pglite {
    if let Err(e) = failed.close() {
        tracing::debug!("closing the failed PGlite: {e:#}");
    }
    drop(failed);
    let mut backoff = Duration::from_millis(100);
    loop {
        match open_session(spec) {
            Ok(db) => return db,
            Err(e) => {
                tracing::error!("reopening PGlite failed: {e:#}; retrying in {backoff:?}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

impl PgliteHandle {
    /// Opens (creating if needed) the database in `dir` on a new thread.
    pub fn open(spec: Spec) -> Result<(PgliteHandle, std::thread::JoinHandle<()>)> {
        let dir = spec.dir.as_path();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let probe = dir.join(".supalite-write-test");
        std::fs::write(&probe, b"ok")
            .with_context(|| format!("data directory {} is not writable", dir.display()))?;
        let _ = std::fs::remove_file(&probe);

        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let watchdog = Arc::new(Watchdog::default());
        let health = Arc::new(Health::default());
        health.up.store(true, Ordering::SeqCst);
        {
            let watchdog = watchdog.clone();
            std::thread::Builder::new()
                .name("pglite-watchdog".into())
                .spawn(move || watchdog.run())?;
        }
        let scheduler = Scheduler::new(spec.policy, watchdog.clone());
        let actor_health = health.clone();
        let actor_watchdog = watchdog.clone();
        let thread = std::thread::Builder::new()
            .name("pglite".into())
            .spawn(move || match open_session(&spec) {
                Ok(db) => {
                    let _ = ready_tx.send(Ok(()));
                    run_actor(spec, db, rx, actor_watchdog, actor_health);
                }
                Err(e) => {
                    actor_watchdog.stop();
                    let _ = ready_tx.send(Err(e));
                }
            })?;
        ready_rx
            .recv()
            .context("PGlite thread died during start-up")??;
        Ok((
            PgliteHandle {
                jobs: tx,
                sent: Default::default(),
                watchdog,
                reload: Default::default(),
                session: Default::default(),
                scheduler,
                health,
            },
            thread,
        ))
    }

    /// The session, in the scheduler's order: refused (503 `53300`) when
    /// `caller`'s client has too many anonymous requests waiting, or its
    /// turn does not come before its deadline.
    pub async fn hold(&self, caller: Caller) -> Result<Held, DbError> {
        let turn = self.scheduler.turn(caller).await.map_err(|r| r.error())?;
        Ok(Held {
            state: self.session.clone().lock_owned().await,
            _turn: turn,
        })
    }

    /// Runs one protocol exchange on the PGlite thread (the server's own
    /// work); its statements are cancelled after `timeout`.
    pub async fn roundtrip(
        &self,
        request: bytes::BytesMut,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, DbError> {
        let _session = self.hold(Caller::SERVICE).await?;
        self.exchange(request, timeout).await
    }

    /// One transaction, its statements prepared in the session (once per
    /// PGlite instance and schema `generation`) when `prepare` is on.
    pub async fn transaction(
        &self,
        session: &pgwire_codec::Session,
        statements: &[pgwire_codec::Statement],
        timeout: Option<Duration>,
        prepare: Option<u64>,
        caller: Caller,
    ) -> Result<Vec<pgwire_codec::ResultSet>, DbError> {
        let mut held = self.hold(caller).await?;
        let state = &mut *held.state;
        let Some(generation) = prepare else {
            let request = pgwire_codec::encode_transaction(session, statements)?;
            let answer = self.exchange(request, timeout).await?;
            return pgwire_codec::decode_transaction(session, &answer);
        };
        state.prepared.at_generation(generation);
        // A reopened instance has none of the old statements.
        let restarts = self.health.restarts.load(Ordering::SeqCst);
        if state.restarts != restarts {
            state.prepared.reset();
            state.restarts = restarts;
        }
        let mut retried = false;
        loop {
            let request = state.prepared.encode_transaction(session, statements)?;
            let result = match self.exchange(request, timeout).await {
                Ok(answer) => pgwire_codec::decode_transaction(session, &answer),
                Err(e) => Err(e),
            };
            state.prepared.settle(result.is_ok());
            match result {
                // A loopback client deallocated (or took) our names.
                Err(e) if !retried && pgwire_codec::PREPARED_GONE.contains(&e.code.as_str()) => {
                    state.prepared.reset();
                    retried = true;
                }
                result => return result,
            }
        }
    }

    /// One exchange; the caller holds `session`.
    pub async fn exchange(
        &self,
        request: bytes::BytesMut,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, DbError> {
        let (tx, rx) = oneshot::channel();
        let number = self.sent.fetch_add(1, Ordering::Relaxed);
        self.jobs
            .send(Job::Exchange(number, request, timeout, tx))
            .map_err(|_| DbError::internal("57P01", "the database has shut down"))?;
        // Dropped before the answer (the request ended): cancel the statement.
        let abandoned = Abandoned {
            watchdog: &self.watchdog,
            job: Some(number),
        };
        let answer = rx.await;
        abandoned.answered();
        let answer =
            answer.map_err(|_| DbError::internal("57P01", "the database thread stopped"))??;
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

/// Cancels exchange `job`'s statement if dropped before it was answered.
struct Abandoned<'a> {
    watchdog: &'a Watchdog,
    job: Option<u64>,
}

impl Abandoned<'_> {
    fn answered(mut self) {
        self.job = None;
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(job) = self.job {
            self.watchdog.abandon(job);
        }
    }
}
