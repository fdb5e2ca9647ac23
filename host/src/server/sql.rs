//! The `sql`, `admin-sql` and `schema` imports on the native database.

use super::bindings::*;
use super::state::State;
use crate::db::Database;
use anyhow::Result;

pub(super) fn no_database() -> wit_sql::DbError {
    wit_sql::DbError {
        code: "08003".into(),
        message: "no database is configured for this pipeline".into(),
        detail: None,
        hint: None,
    }
}

impl wit_schema::Host for State {
    async fn snapshot(&mut self) -> Result<(u64, String), wit_sql::DbError> {
        let Some(cache) = &self.schema else {
            return Err(no_database());
        };
        let (version, json) = cache.snapshot();
        Ok((version, json.as_str().to_string()))
    }

    async fn version(&mut self) -> u64 {
        self.schema.as_ref().map_or(0, |c| c.snapshot().0)
    }
}

impl wit_sql::Host for State {
    async fn transaction(
        &mut self,
        session: wit_sql::Session,
        statements: Vec<wit_sql::Statement>,
    ) -> Result<Vec<wit_sql::ResultSet>, wit_sql::DbError> {
        // A component may act only as a role a request can have.
        let allowed = self
            .sql_roles
            .as_ref()
            .is_none_or(|roles| roles.iter().any(|r| r == &session.role));
        if !allowed || session.role.is_empty() {
            tracing::warn!(role = %session.role, "sql: refused a role no request may have");
            return Err(wit_sql::DbError {
                code: "42501".into(),
                message: format!("role \"{}\" is not one a request may use", session.role),
                detail: None,
                hint: None,
            });
        }
        let session = pgwire_codec::Session {
            role: Some(session.role),
            claims_json: session.claims_json,
            read_only: session.read_only,
            rollback: session.rollback,
            settings: session.request_settings,
        };
        run_sql(&self.db, session, statements, self.requester).await
    }
}

impl wit_admin_sql::Host for State {
    /// The connection's own role: only the auth role imports this (the
    /// composition refuses any other component that does).
    async fn transaction(
        &mut self,
        statements: Vec<wit_sql::Statement>,
    ) -> Result<Vec<wit_sql::ResultSet>, wit_sql::DbError> {
        let session = pgwire_codec::Session {
            role: None,
            claims_json: "{}".into(),
            read_only: false,
            rollback: false,
            settings: vec![],
        };
        run_sql(&self.db, session, statements, self.requester).await
    }
}

/// One transaction through the native provider, in WIT's shapes.
pub(super) async fn run_sql(
    db: &Option<Database>,
    session: pgwire_codec::Session,
    statements: Vec<wit_sql::Statement>,
    who: crate::db::Requester,
) -> Result<Vec<wit_sql::ResultSet>, wit_sql::DbError> {
    let Some(db) = db else {
        return Err(no_database());
    };
    let statements: Vec<_> = statements
        .into_iter()
        .map(|s| pgwire_codec::Statement {
            sql: s.sql,
            params: s.params,
        })
        .collect();
    match db.transaction_for(session, &statements, who).await {
        Ok(sets) => Ok(sets
            .into_iter()
            .map(|s| wit_sql::ResultSet {
                columns: s
                    .columns
                    .into_iter()
                    .map(|(name, type_oid)| wit_sql::Column { name, type_oid })
                    .collect(),
                rows: s.rows,
                affected: s.affected,
            })
            .collect()),
        Err(e) => Err(wit_sql::DbError {
            code: e.code,
            message: e.message,
            detail: e.detail,
            hint: e.hint,
        }),
    }
}
