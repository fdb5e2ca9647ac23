//! A small PostgreSQL connection pool speaking the wire protocol directly
//! (start-up and SCRAM/MD5/cleartext auth from `pgwire-codec`), so that
//! PostgreSQL and PGlite answer through exactly the same codec.

use super::DbError;
use bytes::BytesMut;
use pgwire_codec::{Startup, StartupStep};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

pub use pgwire_codec::Target;

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// The statements prepared on this connection.
    prepared: pgwire_codec::Prepared,
}

impl Conn {
    async fn connect(t: &Target) -> Result<Conn, DbError> {
        let io = |e: std::io::Error| {
            DbError::internal(
                "08001",
                format!("cannot connect to PostgreSQL at {}:{}: {e}", t.host, t.port),
            )
        };
        let stream = tokio::time::timeout(
            Duration::from_secs(10),
            TcpStream::connect((t.host.as_str(), t.port)),
        )
        .await
        .map_err(|_| {
            DbError::internal(
                "08001",
                format!(
                    "timed out connecting to PostgreSQL at {}:{}",
                    t.host, t.port
                ),
            )
        })?
        .map_err(io)?;
        let _ = stream.set_nodelay(true);
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(8192),
            prepared: pgwire_codec::Prepared::new(super::PREPARED_PER_SESSION),
        };
        let (mut startup, hello) = Startup::begin(&t.user, t.password.as_deref(), &t.database)?;
        conn.stream.write_all(&hello).await.map_err(io)?;
        let mut chunk = vec![0u8; 8192];
        loop {
            let n = conn.stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return Err(DbError::internal(
                    "08006",
                    "PostgreSQL closed the connection during start-up",
                ));
            }
            match startup.feed(&chunk[..n])? {
                StartupStep::Send(bytes) => conn.stream.write_all(&bytes).await.map_err(io)?,
                StartupStep::NeedMore => {}
                StartupStep::Ready => return Ok(conn),
            }
        }
    }

    async fn roundtrip(&mut self, request: &[u8], answers: usize) -> Result<Vec<u8>, DbError> {
        let io = |e: std::io::Error| {
            DbError::internal("08006", format!("lost the PostgreSQL connection: {e}"))
        };
        self.stream.write_all(request).await.map_err(io)?;
        self.buf.clear();
        loop {
            if self.stream.read_buf(&mut self.buf).await.map_err(io)? == 0 {
                return Err(DbError::internal(
                    "08006",
                    "PostgreSQL closed the connection",
                ));
            }
            if pgwire_codec::ready_count(&self.buf).is_some_and(|n| n >= answers) {
                return Ok(self.buf.split().to_vec());
            }
        }
    }
}

/// Up to `size` connections, opened on demand and reused; a connection
/// that fails is dropped and replaced by a new one next time.
pub struct PgPool {
    /// Notified by the LISTEN connection on `NOTIFY pgrst, 'reload schema'`.
    pub reload: std::sync::Arc<tokio::sync::Notify>,
    target: Target,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

impl PgPool {
    pub fn new(target: Target, size: usize) -> PgPool {
        PgPool {
            reload: Default::default(),
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1)),
        }
    }

    /// Keeps one extra connection in `LISTEN pgrst` and signals `reload`
    /// on schema reload notifications; reconnects with backoff.
    pub fn spawn_listener(self: &std::sync::Arc<Self>) {
        let pool = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            loop {
                if let Err(e) = pool.listen_once().await {
                    tracing::warn!("schema reload listener: {e}; reconnecting in {backoff:?}");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }

    async fn listen_once(&self) -> Result<(), DbError> {
        let mut conn = Conn::connect(&self.target).await?;
        let listen = pgwire_codec::encode_query("LISTEN pgrst")?;
        conn.roundtrip(&listen, 1).await?;
        loop {
            let n = conn
                .stream
                .read_buf(&mut conn.buf)
                .await
                .map_err(|e| DbError::internal("08006", e.to_string()))?;
            if n == 0 {
                return Err(DbError::internal(
                    "08006",
                    "PostgreSQL closed the listener connection",
                ));
            }
            if pgwire_codec::ready_count(&conn.buf).is_some() {
                let msgs = conn.buf.split();
                if pgwire_codec::notifications(&msgs)
                    .iter()
                    .any(|(c, p)| pgwire_codec::is_schema_reload(c, p))
                {
                    self.reload.notify_one();
                }
            }
        }
    }

    /// One transaction on a pooled connection, its statements prepared
    /// there (once per connection and schema `generation`) when `prepare`
    /// is on.
    pub async fn transaction(
        &self,
        session: &pgwire_codec::Session,
        statements: &[pgwire_codec::Statement],
        prepare: Option<u64>,
    ) -> Result<Vec<pgwire_codec::ResultSet>, DbError> {
        let Some(generation) = prepare else {
            let request = pgwire_codec::encode_transaction(session, statements)?;
            let answer = self.roundtrip(&request, session.answers()).await?;
            return pgwire_codec::decode_transaction(session, &answer);
        };
        let (_permit, mut conn) = self.checkout().await?;
        conn.prepared.at_generation(generation);
        let mut retried = false;
        loop {
            let request = conn.prepared.encode_transaction(session, statements)?;
            // A lost connection is dropped (not returned to the pool).
            let answer = conn.roundtrip(&request, session.answers()).await?;
            let result = pgwire_codec::decode_transaction(session, &answer);
            conn.prepared.settle(result.is_ok());
            match result {
                Err(e) if !retried && pgwire_codec::PREPARED_GONE.contains(&e.code.as_str()) => {
                    conn.prepared.reset();
                    retried = true;
                }
                result => {
                    self.idle.lock().unwrap().push(conn);
                    return result;
                }
            }
        }
    }

    /// A permit and a connection: an idle one, or a new one.
    async fn checkout(&self) -> Result<(tokio::sync::SemaphorePermit<'_>, Conn), DbError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| DbError::internal("57P01", "the pool is closed"))?;
        let idle = self.idle.lock().unwrap().pop();
        let conn = match idle {
            Some(c) => c,
            None => Conn::connect(&self.target).await?,
        };
        Ok((permit, conn))
    }

    pub async fn roundtrip(&self, request: &[u8], answers: usize) -> Result<Vec<u8>, DbError> {
        let (_permit, mut conn) = self.checkout().await?;
        let answer = conn.roundtrip(request, answers).await?;
        self.idle.lock().unwrap().push(conn);
        Ok(answer)
    }
}
