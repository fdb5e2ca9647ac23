//! `supalite gen types typescript`: supabase/postgres-meta's TypeScript
//! generator (the one `supabase gen types typescript` runs, v0.96.6 as the
//! Supabase CLI pins it) as plain Rust.
//!
//! - [`model::queries`]: the catalog queries (`catalog.sql`), run by the
//!   caller with the included schemas as `$1`; [`model::Catalog::set`]
//!   reads each answer;
//! - [`generate`]: the template's choices ([`gen`]) printed as prettier
//!   formats its output ([`ts`], [`doc`]).

pub mod collate;
pub mod doc;
pub mod gen;
pub mod model;
pub mod ts;

pub use gen::{generate, Options};
pub use model::{queries, Catalog};
