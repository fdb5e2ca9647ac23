//! The native `sql` provider. Every operation is one pipelined protocol
//! exchange built by `pgwire-codec`; only the transport differs:
//! embedded PGlite (in process, one session) or a PostgreSQL pool (TCP).

pub mod loopback;
pub mod pglite;
pub mod postgres;
pub mod setup;

pub use pgwire_codec::{DbError, ResultSet, Session, Statement};
use std::sync::Arc;

#[derive(Clone)]
pub enum Database {
    Pglite(pglite::PgliteHandle),
    Postgres(Arc<postgres::PgPool>),
}

impl Database {
    /// Notified when someone runs `NOTIFY pgrst, 'reload schema'`.
    pub fn reload_signal(&self) -> Arc<tokio::sync::Notify> {
        match self {
            Database::Pglite(db) => db.reload.clone(),
            Database::Postgres(pool) => pool.reload.clone(),
        }
    }

    /// Sends one pipeline and returns the raw answer (`answers` ReadyForQuery messages).
    async fn roundtrip(
        &self,
        request: bytes::BytesMut,
        answers: usize,
    ) -> Result<Vec<u8>, DbError> {
        match self {
            Database::Pglite(db) => db.roundtrip(request).await,
            Database::Postgres(pool) => pool.roundtrip(&request, answers).await,
        }
    }

    /// One `sql.transaction`: role and claims, the statements, commit — or
    /// roll back everything on the first error.
    pub async fn transaction(
        &self,
        session: &Session,
        statements: &[Statement],
    ) -> Result<Vec<ResultSet>, DbError> {
        let request = pgwire_codec::encode_transaction(session, statements)?;
        let answer = self.roundtrip(request, session.answers()).await?;
        pgwire_codec::decode_transaction(session, &answer)
    }

    /// One statement as the connection's own role (start-up work only).
    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Option<String>>,
    ) -> Result<ResultSet, DbError> {
        let session = Session {
            role: None,
            claims_json: "{}".into(),
            read_only: false,
            rollback: false,
        };
        let mut sets = self
            .transaction(
                &session,
                &[Statement {
                    sql: sql.into(),
                    params,
                }],
            )
            .await?;
        Ok(sets.pop().unwrap_or_default())
    }

    /// A multi-statement script and an optional record, atomically.
    pub async fn script(&self, sql: &str, record: Option<&Statement>) -> Result<(), DbError> {
        let request = pgwire_codec::encode_script(sql, record)?;
        let answer = self
            .roundtrip(request, pgwire_codec::SCRIPT_ANSWERS)
            .await?;
        pgwire_codec::first_error(&answer)
    }
}
