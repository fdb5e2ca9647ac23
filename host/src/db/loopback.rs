//! Embedded PGlite on a loopback PostgreSQL port, for clients outside the
//! process: a supervised PostgREST, psql, a `pgwire` component.
//!
//! PGlite has one backend session, shared with supalite's own requests.
//! Each client exchange (messages up to Sync, Query or Flush) runs as one
//! job; a client that leaves a transaction open keeps the session to itself
//! until it ends it (or goes quiet for `IDLE_IN_TRANSACTION`). Named
//! prepared statements and portals are renamed per connection so that
//! clients cannot collide, and are closed when the client disconnects.
//! Start-up is trust authentication: listen on loopback only.

use super::pglite::PgliteHandle;
use anyhow::Result;
use bytes::{BufMut, BytesMut};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A client holding the session inside a transaction is cut off after this
/// long without a message.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(15);
/// Largest frontend message accepted.
const MAX_MESSAGE: usize = 64 << 20;

/// Accepts clients until the listener fails or the task is dropped.
pub async fn serve(listener: TcpListener, db: PgliteHandle) {
    let ids = AtomicU32::new(1);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let db = db.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            if let Err(e) = Connection::new(id, db).run(stream).await {
                tracing::debug!(%peer, "loopback client ended: {e:#}");
            }
        });
    }
}

struct Connection {
    id: u32,
    db: PgliteHandle,
    /// Renamed prepared statements this client created.
    statements: HashSet<Vec<u8>>,
    /// The session while this client has a transaction open.
    held: Option<super::pglite::Held>,
}

fn put_cstr(buf: &mut BytesMut, s: &[u8]) {
    buf.put_slice(s);
    buf.put_u8(0);
}

fn message(kind: u8, body: &[u8]) -> BytesMut {
    let mut m = BytesMut::with_capacity(body.len() + 5);
    m.put_u8(kind);
    m.put_i32(body.len() as i32 + 4);
    m.put_slice(body);
    m
}

/// Splits a NUL-terminated string off the front of `body`.
fn cstr(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = body.iter().position(|b| *b == 0)?;
    Some((&body[..end], &body[end + 1..]))
}

/// The status byte of the last ReadyForQuery in a backend answer.
pub fn last_ready_status(answer: &[u8]) -> Option<u8> {
    let mut rest = answer;
    let mut status = None;
    while rest.len() >= 5 {
        let len = i32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if len < 4 || rest.len() < len + 1 {
            break;
        }
        if rest[0] == b'Z' && len == 5 {
            status = Some(rest[5]);
        }
        rest = &rest[len + 1..];
    }
    status
}

impl Connection {
    fn new(id: u32, db: PgliteHandle) -> Connection {
        Connection {
            id,
            db,
            statements: HashSet::new(),
            held: None,
        }
    }

    fn rename(&self, name: &[u8]) -> Vec<u8> {
        if name.is_empty() {
            return Vec::new();
        }
        let mut n = format!("c{}_", self.id).into_bytes();
        n.extend_from_slice(name);
        n
    }

    /// Rewrites statement/portal names in one frontend message.
    fn rewrite(&mut self, kind: u8, body: &[u8]) -> Option<BytesMut> {
        let mut out = BytesMut::with_capacity(body.len() + 16);
        match kind {
            b'P' => {
                let (name, rest) = cstr(body)?;
                let renamed = self.rename(name);
                if !renamed.is_empty() {
                    self.statements.insert(renamed.clone());
                }
                put_cstr(&mut out, &renamed);
                out.put_slice(rest);
            }
            b'B' => {
                let (portal, rest) = cstr(body)?;
                let (stmt, rest) = cstr(rest)?;
                put_cstr(&mut out, &self.rename(portal));
                put_cstr(&mut out, &self.rename(stmt));
                out.put_slice(rest);
            }
            b'D' | b'C' => {
                let (&which, rest) = body.split_first()?;
                let (name, rest) = cstr(rest)?;
                let renamed = self.rename(name);
                if kind == b'C' && which == b'S' {
                    self.statements.remove(&renamed);
                }
                out.put_u8(which);
                put_cstr(&mut out, &renamed);
                out.put_slice(rest);
            }
            b'E' => {
                let (portal, rest) = cstr(body)?;
                put_cstr(&mut out, &self.rename(portal));
                out.put_slice(rest);
            }
            _ => out.put_slice(body),
        }
        Some(message(kind, &out))
    }

    async fn read_exact(stream: &mut TcpStream, n: usize) -> Result<Vec<u8>> {
        if n > MAX_MESSAGE {
            anyhow::bail!("message too large");
        }
        let mut buf = vec![0u8; n];
        stream.read_exact(&mut buf).await?;
        Ok(buf)
    }

    /// Start-up: refuse SSL/GSS, accept any user (trust), report parameters.
    async fn startup(stream: &mut TcpStream, id: u32) -> Result<bool> {
        loop {
            let len = u32::from_be_bytes(Self::read_exact(stream, 4).await?.try_into().unwrap());
            if !(8..=10_000).contains(&len) {
                anyhow::bail!("bad start-up packet");
            }
            let body = Self::read_exact(stream, len as usize - 4).await?;
            let code = u32::from_be_bytes(body[..4].try_into().unwrap());
            match code {
                80877103 | 80877104 => stream.write_all(b"N").await?, // SSL, GSSENC
                80877102 => return Ok(false),                         // cancel: unsupported
                196608 => break,                                      // protocol 3.0
                other => anyhow::bail!("unsupported protocol {other}"),
            }
        }
        let mut out = BytesMut::new();
        out.extend_from_slice(&message(b'R', &0i32.to_be_bytes()));
        for (k, v) in [
            ("server_version", "17.5"),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("TimeZone", "UTC"),
            ("IntervalStyle", "postgres"),
            ("is_superuser", "on"),
        ] {
            let mut b = BytesMut::new();
            put_cstr(&mut b, k.as_bytes());
            put_cstr(&mut b, v.as_bytes());
            out.extend_from_slice(&message(b'S', &b));
        }
        let mut key = BytesMut::new();
        key.put_u32(id);
        key.put_u32(id.wrapping_mul(2_654_435_761));
        out.extend_from_slice(&message(b'K', &key));
        out.extend_from_slice(&message(b'Z', b"I"));
        stream.write_all(&out).await?;
        Ok(true)
    }

    async fn run(mut self, mut stream: TcpStream) -> Result<()> {
        if !Self::startup(&mut stream, self.id).await? {
            return Ok(());
        }
        let result = self.serve(&mut stream).await;
        self.cleanup().await;
        result
    }

    async fn serve(&mut self, stream: &mut TcpStream) -> Result<()> {
        let mut batch = BytesMut::new();
        loop {
            let mut head = [0u8; 5];
            let read = stream.read_exact(&mut head);
            if self.held.is_some() {
                match tokio::time::timeout(IDLE_IN_TRANSACTION, read).await {
                    Ok(r) => r?,
                    Err(_) => anyhow::bail!("idle in transaction for too long"),
                };
            } else {
                read.await?;
            }
            let kind = head[0];
            let len = i32::from_be_bytes(head[1..5].try_into().unwrap());
            if len < 4 {
                anyhow::bail!("bad message length");
            }
            let body = Self::read_exact(stream, len as usize - 4).await?;
            if kind == b'X' {
                return Ok(());
            }
            let Some(m) = self.rewrite(kind, &body) else {
                anyhow::bail!("malformed {} message", kind as char);
            };
            batch.extend_from_slice(&m);
            if matches!(kind, b'S' | b'Q' | b'H') {
                let answer = self.exchange(std::mem::take(&mut batch)).await;
                match answer {
                    Ok(a) => stream.write_all(&a).await?,
                    Err(e) => {
                        let mut b = BytesMut::new();
                        for (f, v) in [
                            (b'S', "FATAL"),
                            (b'C', e.code.as_str()),
                            (b'M', e.message.as_str()),
                        ] {
                            b.put_u8(f);
                            put_cstr(&mut b, v.as_bytes());
                        }
                        b.put_u8(0);
                        stream.write_all(&message(b'E', &b)).await?;
                        anyhow::bail!("database failed: {e}");
                    }
                }
            }
        }
    }

    /// One exchange under the session lock; keeps the lock while the
    /// client's transaction stays open.
    async fn exchange(&mut self, request: BytesMut) -> Result<Vec<u8>, super::DbError> {
        let guard = match self.held.take() {
            Some(g) => g,
            None => self.db.hold(super::schedule::Caller::SERVICE).await?,
        };
        let answer = self.db.exchange(request, None).await?;
        if matches!(last_ready_status(&answer), Some(b'T') | Some(b'E')) {
            self.held = Some(guard);
        }
        Ok(answer)
    }

    /// Ends an open transaction and drops this client's statements.
    async fn cleanup(&mut self) {
        let mut batch = BytesMut::new();
        if self.held.is_some() {
            let mut q = BytesMut::new();
            put_cstr(&mut q, b"ROLLBACK");
            batch.extend_from_slice(&message(b'Q', &q));
        }
        for name in self.statements.drain() {
            let mut c = BytesMut::new();
            c.put_u8(b'S');
            put_cstr(&mut c, &name);
            batch.extend_from_slice(&message(b'C', &c));
        }
        if batch.is_empty() {
            return;
        }
        batch.extend_from_slice(&message(b'S', b""));
        let _ = self.exchange(batch).await;
        self.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_status_is_the_last_one() {
        let mut a = BytesMut::new();
        a.extend_from_slice(&message(b'C', b"BEGIN\0"));
        a.extend_from_slice(&message(b'Z', b"T"));
        assert_eq!(last_ready_status(&a), Some(b'T'));
        a.extend_from_slice(&message(b'Z', b"I"));
        assert_eq!(last_ready_status(&a), Some(b'I'));
        assert_eq!(last_ready_status(b"Z\0\0"), None);
    }
}
