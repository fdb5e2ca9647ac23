//! Request targets as PostgREST's server takes them. PostgREST's own docs
//! write `?select=data->>blood_type` and `?name=in.("Hebdon","Williams")`, and
//! curl sends those bytes as typed; Warp (PostgREST's server) accepts them,
//! but the `http` crate's URI parser refuses `"`, `<` and `>`, so hyper
//! answered such a request with an empty 400 before supalite saw it.
//!
//! [`LenientTargets`] sits between the socket and hyper and percent-encodes
//! those three bytes in each request line's target (`%22`, `%3C`, `%3E`,
//! which the API decodes to the same characters). It follows the message
//! framing (`Content-Length`, chunked bodies, trailers) to find each request
//! line on a keep-alive connection, and never touches a body. Anything it
//! does not follow (both or repeated framing headers, another transfer
//! coding, `CONNECT`, a malformed line) turns it into a plain pass-through
//! for the rest of the connection, leaving hyper to answer as before. So
//! does a request with an `Upgrade` header (realtime's websocket): what
//! follows its head may be another protocol's bytes, which must reach the
//! upgraded connection as sent.

use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest header or chunk-size line kept to read framing from; the
/// rest of a longer line is skipped (its name is in the kept part).
const KEEP: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Before a request line (empty lines before one are allowed).
    Start,
    Method,
    Target,
    /// The protocol version, up to the end of the request line.
    Version,
    Headers,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    Trailers,
    /// Not followed: everything passes unchanged.
    Opaque,
}

/// The framing of the requests on one connection, fed the bytes as they
/// arrive.
#[derive(Debug)]
pub struct Framing {
    state: State,
    /// The current header / chunk-size line (its first `KEEP` bytes).
    line: Vec<u8>,
    method: Vec<u8>,
    content_length: Option<u64>,
    chunked: bool,
    /// The request asks to switch protocols (`Upgrade`).
    upgrade: bool,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Start,
            line: Vec::new(),
            method: Vec::new(),
            content_length: None,
            chunked: false,
            upgrade: false,
        }
    }
}

fn encoded(b: u8) -> Option<&'static [u8]> {
    match b {
        b'"' => Some(b"%22"),
        b'<' => Some(b"%3C"),
        b'>' => Some(b"%3E"),
        _ => None,
    }
}

impl Framing {
    /// Feeds the next bytes read; `None` when they pass unchanged, else the
    /// bytes to hand on instead.
    pub fn feed(&mut self, input: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Opaque => {
                    if let Some(o) = out.as_mut() {
                        o.extend_from_slice(&input[i..]);
                    }
                    return out;
                }
                State::Body(n) | State::ChunkData(n) => {
                    let take = n.min((input.len() - i) as u64) as usize;
                    if let Some(o) = out.as_mut() {
                        o.extend_from_slice(&input[i..i + take]);
                    }
                    i += take;
                    let left = n - take as u64;
                    self.state = match (&self.state, left) {
                        (State::Body(_), 0) => State::Start,
                        (State::Body(_), _) => State::Body(left),
                        (_, 0) => State::ChunkEnd,
                        (_, _) => State::ChunkData(left),
                    };
                    continue;
                }
                State::Target => {
                    if let Some(e) = encoded(b) {
                        let o = out.get_or_insert_with(|| input[..i].to_vec());
                        o.extend_from_slice(e);
                        i += 1;
                        continue;
                    }
                    self.step(b);
                }
                _ => self.step(b),
            }
            if let Some(o) = out.as_mut() {
                o.push(b);
            }
            i += 1;
        }
        out
    }

    /// One byte of a request line, a header, a chunk-size line or trailer.
    fn step(&mut self, b: u8) {
        match self.state {
            State::Start => match b {
                b'\r' | b'\n' => {}
                _ => {
                    self.method.clear();
                    self.method.push(b);
                    self.state = State::Method;
                }
            },
            State::Method => match b {
                b' ' if self.method.eq_ignore_ascii_case(b"CONNECT") => self.state = State::Opaque,
                b' ' => self.state = State::Target,
                b'\r' | b'\n' => self.state = State::Opaque,
                _ if self.method.len() < 32 => self.method.push(b),
                _ => self.state = State::Opaque,
            },
            State::Target => match b {
                b' ' => self.state = State::Version,
                b'\r' | b'\n' => self.state = State::Opaque,
                _ => {}
            },
            State::Version => {
                if b == b'\n' {
                    self.line.clear();
                    self.content_length = None;
                    self.chunked = false;
                    self.upgrade = false;
                    self.state = State::Headers;
                }
            }
            State::Headers | State::ChunkSize | State::Trailers | State::ChunkEnd => {
                if b != b'\n' {
                    if self.line.len() < KEEP {
                        self.line.push(b);
                    }
                    return;
                }
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.state = match self.state {
                    State::Headers => self.header(&line),
                    State::ChunkSize => chunk_size(&line),
                    State::ChunkEnd if line.is_empty() => State::ChunkSize,
                    State::ChunkEnd => State::Opaque,
                    _ if line.is_empty() => State::Start,
                    _ => State::Trailers,
                };
            }
            State::Body(_) | State::ChunkData(_) | State::Opaque => {}
        }
    }

    /// A header line (an empty one ends the head).
    fn header(&mut self, line: &[u8]) -> State {
        if line.is_empty() {
            if self.upgrade {
                // After a 101 the bytes are the new protocol's (a
                // websocket's masked frames may hold any byte).
                return State::Opaque;
            }
            return match (self.chunked, self.content_length) {
                (true, None) => State::ChunkSize,
                (true, Some(_)) => State::Opaque,
                (false, Some(n)) if n > 0 => State::Body(n),
                (false, _) => State::Start,
            };
        }
        if line[0] == b' ' || line[0] == b'\t' || line.len() >= KEEP {
            // A folded line, or one too long to read a value from.
            let name = line.split(|c| *c == b':').next().unwrap_or_default();
            return if line[0] == b' '
                || line[0] == b'\t'
                || name.eq_ignore_ascii_case(b"content-length")
                || name.eq_ignore_ascii_case(b"transfer-encoding")
            {
                State::Opaque
            } else {
                State::Headers
            };
        }
        let Some(colon) = line.iter().position(|c| *c == b':') else {
            return State::Opaque;
        };
        let name = &line[..colon];
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        let value = value.trim();
        if name.eq_ignore_ascii_case(b"content-length") {
            match value.parse::<u64>() {
                Ok(n) if self.content_length.is_none_or(|m| m == n) => {
                    self.content_length = Some(n)
                }
                _ => return State::Opaque,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            if self.chunked || !last.eq_ignore_ascii_case("chunked") {
                return State::Opaque;
            }
            self.chunked = true;
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.upgrade = true;
        }
        State::Headers
    }
}

/// A chunk-size line: the next chunk's data, or the trailers after the last.
fn chunk_size(line: &[u8]) -> State {
    let text = String::from_utf8_lossy(line);
    let size = text.split(';').next().unwrap_or_default().trim();
    match u64::from_str_radix(size, 16) {
        Ok(0) => State::Trailers,
        Ok(n) if !size.is_empty() => State::ChunkData(n),
        _ => State::Opaque,
    }
}

/// A connection whose request targets reach hyper percent-encoded where
/// the `http` crate would refuse them, and whose answers from hyper itself
/// (a request it could not parse: 400, 414, 431, 505, empty-bodied) carry
/// a PostgREST-style JSON body and a new `X-Request-Id` like every other
/// error, and are logged with it.
pub struct LenientTargets<S> {
    inner: S,
    framing: Framing,
    /// Bytes already fed, waiting for room in the reader's buffer.
    pending: Vec<u8>,
    sent: usize,
    /// A rewritten answer still to be written.
    out: Vec<u8>,
    written: usize,
}

/// hyper's own answer to a request it could not parse, given the bytes of
/// one write: a lone 4xx/5xx head with an empty body and none of the
/// headers the pipeline and the host put on theirs (`x-request-id`).
/// Answers the same head with a JSON error body and a request id (made by
/// `request_id`), the status and the id.
pub fn with_json_body(
    head: &[u8],
    request_id: impl FnOnce() -> String,
) -> Option<(Vec<u8>, u16, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let rest = text.strip_prefix("HTTP/1.1 ")?;
    let status: u16 = rest.get(..3)?.parse().ok()?;
    if !(400..600).contains(&status) || !text.ends_with("\r\n\r\n") {
        return None;
    }
    let lines: Vec<&str> = text[..text.len() - 4].split("\r\n").skip(1).collect();
    if text[..text.len() - 4].contains("\r\n\r\n")
        || !lines
            .iter()
            .any(|l| l.eq_ignore_ascii_case("content-length: 0"))
        || lines.iter().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("x-request-id:") || l.starts_with("content-type:")
        })
    {
        return None;
    }
    let message = match status {
        400 => "The request could not be parsed (a malformed request line or header)",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Bad Request"),
    };
    let body = serde_json::json!({
        "code": format!("SUPALITE{status}"),
        "details": null,
        "hint": null,
        "message": message,
    })
    .to_string();
    let mut out = String::from(&text[..text.len() - rest.len()]);
    out.push_str(rest.split("\r\n").next()?);
    out.push_str("\r\n");
    for l in &lines {
        if l.eq_ignore_ascii_case("content-length: 0") {
            out.push_str(&format!("content-length: {}\r\n", body.len()));
        } else {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    let id = request_id();
    out.push_str("content-type: application/json; charset=utf-8\r\n");
    out.push_str(&format!("x-request-id: {id}\r\n\r\n"));
    out.push_str(&body);
    Some((out.into_bytes(), status, id))
}

impl<S> LenientTargets<S> {
    pub fn new(inner: S) -> Self {
        LenientTargets {
            inner,
            framing: Framing::default(),
            pending: Vec::new(),
            sent: 0,
            out: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LenientTargets<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if me.sent < me.pending.len() {
            let n = buf.remaining().min(me.pending.len() - me.sent);
            buf.put_slice(&me.pending[me.sent..me.sent + n]);
            me.sent += n;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut me.inner).poll_read(cx, buf))?;
        let fresh = &buf.filled()[before..];
        if let Some(out) = me.framing.feed(fresh) {
            // Hand on the rewritten bytes instead: what fits now, the rest
            // on the next reads.
            buf.set_filled(before);
            let n = buf.remaining().min(out.len());
            buf.put_slice(&out[..n]);
            me.pending = out;
            me.sent = n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> LenientTargets<S> {
    /// Writes what is left of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.out.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.out[self.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.out.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes `bytes` whole when they are hyper's own bare error answer.
    fn rewrite(&mut self, bytes: &[u8]) -> bool {
        // hyper's bare answers are short; anything else passes unread.
        if bytes.len() > 512
            || !(bytes.starts_with(b"HTTP/1.1 4") || bytes.starts_with(b"HTTP/1.1 5"))
        {
            return false;
        }
        match with_json_body(bytes, super::edge::new_request_id) {
            Some((out, status, id)) => {
                // The request log's line for it (the request never reached
                // the service stack).
                let method = match self.framing.method.as_slice() {
                    m if !m.is_empty() => String::from_utf8_lossy(m).into_owned(),
                    _ => "-".into(),
                };
                if status >= 500 {
                    tracing::warn!(request_id = %id, %method, status, "request refused by the HTTP parser");
                } else {
                    tracing::debug!(request_id = %id, %method, status, "request refused by the HTTP parser");
                }
                self.out = out;
                self.written = 0;
                true
            }
            None => false,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LenientTargets<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        std::task::ready!(me.drain(cx))?;
        if me.rewrite(buf) {
            // Taken whole; written by this call or the next ones.
            let _ = me.drain(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut me.inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        std::task::ready!(me.drain(cx))?;
        Pin::new(&mut me.inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        std::task::ready!(me.drain(cx))?;
        Pin::new(&mut me.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        std::task::ready!(me.drain(cx))?;
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (nonempty.next(), nonempty.next()) {
            if me.rewrite(only) {
                let _ = me.drain(cx)?;
                return Poll::Ready(Ok(only.len()));
            }
        }
        Pin::new(&mut me.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input` fed in pieces of `step` bytes, as the connection reads it.
    fn through(input: &[u8], step: usize) -> Vec<u8> {
        let mut f = Framing::default();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            match f.feed(piece) {
                Some(o) => out.extend_from_slice(&o),
                None => out.extend_from_slice(piece),
            }
        }
        out
    }

    fn every_split(input: &[u8], want: &[u8]) {
        for step in 1..=input.len() {
            assert_eq!(
                String::from_utf8_lossy(&through(input, step)),
                String::from_utf8_lossy(want),
                "read {step} bytes at a time"
            );
        }
    }

    #[test]
    fn targets_are_encoded_bodies_are_not() {
        let input = b"GET /rest/v1/t?select=data->>k&name=in.(\"a,b\") HTTP/1.1\r\nHost: x\r\n\r\n\
POST /rest/v1/t?select=<x> HTTP/1.1\r\nContent-Length: 12\r\n\r\n{\"a\":\"<>\"}\n\
GET /a?b=\"c\" HTTP/1.1\r\n\r\n";
        let want =
            b"GET /rest/v1/t?select=data-%3E%3Ek&name=in.(%22a,b%22) HTTP/1.1\r\nHost: x\r\n\r\n\
POST /rest/v1/t?select=%3Cx%3E HTTP/1.1\r\nContent-Length: 12\r\n\r\n{\"a\":\"<>\"}\n\
GET /a?b=%22c%22 HTTP/1.1\r\n\r\n";
        every_split(input, want);
    }

    #[test]
    fn chunked_bodies_and_trailers_are_followed() {
        let input = b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
5;ext=1\r\n\"<>\"\"\r\n3\r\n>>>\r\n0\r\nX-Trailer: \"<\"\r\n\r\nGET /y?\">\" HTTP/1.1\r\n\r\n";
        let want = b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
5;ext=1\r\n\"<>\"\"\r\n3\r\n>>>\r\n0\r\nX-Trailer: \"<\"\r\n\r\nGET /y?%22%3E%22 HTTP/1.1\r\n\r\n";
        every_split(input, want);
    }

    #[test]
    fn what_follows_an_upgrade_passes_unchanged() {
        // A websocket's first masked frames, sent right behind the upgrade
        // request, may hold `"`, `<`, `>` and bytes that look like a request
        // line: they reach the upgraded socket as sent.
        let mut input = b"GET /realtime/v1/websocket?vsn=\"2\" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec();
        let frames: &[u8] = b"\x81\x8a\x01\x02\x03\x04GET /a?\"<>\" HTTP/1.1\r\n\r\n\x81\x02<>";
        input.extend_from_slice(frames);
        let mut want = b"GET /realtime/v1/websocket?vsn=%222%22 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec();
        want.extend_from_slice(frames);
        every_split(&input, &want);
    }

    #[test]
    fn what_is_not_followed_passes_unchanged() {
        for input in [
            // Both framings: hyper decides (and refuses).
            &b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n<>\"GET /?\" HTTP/1.1\r\n\r\n"[..],
            // Two different lengths.
            b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n<>\"GET /?\" HTTP/1.1\r\n\r\n",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n<>\"",
            b"CONNECT a:1 HTTP/1.1\r\n\r\nGET /?\" HTTP/1.1\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: lots\r\n\r\nGET /?\" HTTP/1.1\r\n\r\n",
            b"POST /x HTTP/1.1\r\nX: a\r\n folded\r\nContent-Length: 1\r\n\r\n\"",
        ] {
            every_split(input, input);
        }
        // The request line that is not one: hyper answers it.
        let bare = b"GET /?\"\r\nGET /?\" HTTP/1.1\r\n\r\n";
        assert_eq!(through(bare, 64), b"GET /?%22\r\nGET /?\" HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn hypers_own_bare_errors_get_a_json_body() {
        let head = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 17:00:00 GMT\r\n\r\n";
        let (out, status, _) = with_json_body(head, || "rid-1".into()).unwrap();
        assert_eq!(status, 400);
        let out = String::from_utf8(out).unwrap();
        let (h, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.contains("\r\nx-request-id: rid-1"), "{out}");
        assert!(
            h.starts_with("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n"),
            "{out}"
        );
        assert!(
            h.contains(&format!("content-length: {}", body.len())),
            "{out}"
        );
        assert!(h.contains("content-type: application/json"), "{out}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "SUPALITE400");
        // Not the pipeline's or the host's own answers, nor anything that
        // is not one whole bare head.
        for other in [
            &b"HTTP/1.1 404 Not Found\r\nx-request-id: a\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert_eq!(with_json_body(other, || "rid".into()), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn a_long_header_line_is_skipped_not_kept() {
        let mut input = b"GET /?a HTTP/1.1\r\nCookie: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100_000));
        input.extend_from_slice(b"\r\n\r\nGET /?\" HTTP/1.1\r\n\r\n");
        let mut want = input.clone();
        let at = want.len() - b"\" HTTP/1.1\r\n\r\n".len();
        want.splice(at..at + 1, b"%22".iter().copied());
        assert_eq!(through(&input, 4096), want);
    }
}
