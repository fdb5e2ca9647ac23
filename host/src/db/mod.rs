//! The native `sql` provider: embedded PGlite, owned by one thread.

pub mod pglite;
pub mod setup;

pub use pgwire_codec::{DbError, ResultSet, Session, Statement};
