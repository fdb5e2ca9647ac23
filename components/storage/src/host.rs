//! What the storage core needs from its surroundings — SQL in a
//! transaction under a role, the blob store, body streams, the clock and
//! randomness — as one trait, so that the core is plain Rust: the wasm glue
//! implements it with the component's imports (`supalite:api/sql`,
//! `supalite:api/blob-store`, `wasi:io` streams).

/// One statement with `$n` parameters in text form (`None` = NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, params: Vec<Option<String>>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// The rows of one statement, values in text form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    pub rows: Vec<Vec<Option<String>>>,
    pub affected: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub code: String,
    pub message: String,
}

/// Who a transaction runs as (`set_config('role')`, `request.jwt.claims`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub role: String,
    pub claims_json: String,
    /// Roll back at the end (a permission test, as Storage's `testPermission`).
    pub rollback: bool,
    /// `request.*` settings for SQL to read.
    pub settings: Vec<(String, String)>,
}

/// A blob store failure (`supalite:api/blob-store`'s `error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobError {
    NotFound,
    InvalidKey(String),
    TooLarge,
    Closed,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub size: u64,
    pub etag: String,
    pub modified_ms: u64,
}

/// A message body: none, whole, or a stream handle of the host's.
pub enum Body<S> {
    Empty,
    Bytes(Vec<u8>),
    Stream(S),
}

pub trait Host {
    /// A readable stream: a request body, or an object's bytes.
    type Stream;
    /// An object being written.
    type Writer;

    fn transaction(
        &mut self,
        session: &Session,
        statements: Vec<Statement>,
    ) -> Result<Vec<ResultSet>, DbError>;

    /// The next bytes of `stream` (at most `max`), `Ok(None)` at its end,
    /// `Err` when it failed (the client went away).
    fn read(&mut self, stream: &Self::Stream, max: u64) -> Result<Option<Vec<u8>>, ()>;

    fn create(&mut self, bucket: &str, key: &str, limit: u64) -> Result<Self::Writer, BlobError>;
    fn write(&mut self, writer: &Self::Writer, bytes: &[u8]) -> Result<(), BlobError>;
    /// Everything left in `stream`, written by the store itself.
    fn write_from(&mut self, writer: &Self::Writer, stream: &Self::Stream) -> Result<u64, BlobError>;
    fn finish(&mut self, writer: Self::Writer) -> Result<BlobInfo, BlobError>;
    /// Bytes `start..end` of an object.
    fn get(&mut self, bucket: &str, key: &str, start: u64, end: Option<u64>)
        -> Result<Self::Stream, BlobError>;
    fn copy(&mut self, from: (&str, &str), to: (&str, &str)) -> Result<BlobInfo, BlobError>;
    fn delete(&mut self, bucket: &str, keys: &[String]) -> Result<(), BlobError>;

    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// 16 random bytes.
    fn random(&mut self) -> [u8; 16];
}

/// A random UUID v4.
pub fn uuid(bytes: [u8; 16]) -> String {
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether `s` is a UUID (Storage's `isUuid`).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        let u = uuid([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&u));
        assert!(!is_uuid("not-a-uuid"));
    }
}
