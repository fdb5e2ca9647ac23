//! A small SMTP client for the auth e-mails (RFC 5321): plain TCP, EHLO,
//! `AUTH PLAIN` when a user is set, one message of `multipart/alternative`
//! text and HTML (RFC 2045 quoted-printable-free: base64 bodies), every
//! step under a timeout. No STARTTLS/TLS (not written yet).

/// An SMTP server.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

/// One e-mail.
#[derive(Debug, Clone)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(char::from(T[(n >> 18) as usize & 63]));
        out.push(char::from(T[(n >> 12) as usize & 63]));
        out.push(if c.len() > 1 { char::from(T[(n >> 6) as usize & 63]) } else { '=' });
        out.push(if c.len() > 2 { char::from(T[n as usize & 63]) } else { '=' });
    }
    out
}

/// Base64 in lines of 76 characters.
fn b64_lines(bytes: &[u8]) -> String {
    let s = b64(bytes);
    s.as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// RFC 2047 for a header with non-ASCII text.
fn header_text(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", b64(s.as_bytes()))
    }
}

fn valid_address(a: &str) -> bool {
    !a.is_empty() && a.len() <= 320 && a.contains('@') && !a.contains(|c: char| c.is_whitespace() || "<>\r\n,".contains(c))
}

/// The message text (headers and body), dot-stuffed, ending in CRLF.
pub fn render(from: &str, from_name: Option<&str>, m: &Message, boundary: &str, date: &str) -> String {
    let from_h = match from_name {
        Some(n) => format!("{} <{from}>", header_text(&n.replace('"', ""))),
        None => format!("<{from}>"),
    };
    let mut out = format!(
        "From: {from_h}\r\nTo: <{}>\r\nSubject: {}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
         --{boundary}--\r\n",
        m.to,
        header_text(&m.subject),
        b64_lines(m.text.as_bytes()),
        b64_lines(m.html.as_bytes()),
    );
    // Base64 lines never start with a dot; headers could.
    out = out.replace("\r\n.", "\r\n..");
    out
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    /// Reads a (multi-line) reply; `Err` unless its code starts with `want`.
    fn expect(&mut self, want: char) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            let n = (&mut self.r)
                .take(4096)
                .read_line(&mut line)
                .map_err(|e| format!("reading the reply: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            last = line.trim_end().to_string();
            if last.len() < 4 || last.as_bytes()[3] != b'-' {
                break;
            }
        }
        if last.starts_with(want) {
            Ok(())
        } else {
            Err(format!("the server answered: {last}"))
        }
    }

    fn cmd(&mut self, line: &str, want: char) -> Result<(), String> {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| format!("writing: {e}"))?;
        self.expect(want)
    }
}

use std::io::Read;

/// Sends `m` through `smtp` (blocking).
pub fn send(smtp: &Smtp, from: &str, from_name: Option<&str>, m: &Message) -> Result<(), String> {
    if !valid_address(from) {
        return Err(format!("auth-smtp-admin-email is not an address: {from}"));
    }
    if !valid_address(&m.to) {
        return Err(format!("not an address: {}", m.to));
    }
    let addr = format!("{}:{}", smtp.host, smtp.port);
    let target = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("SMTP {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("SMTP {addr}: no address"))?;
    let stream = TcpStream::connect_timeout(&target, TIMEOUT).map_err(|e| format!("SMTP {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let mut c = Conn {
        r: BufReader::new(stream.try_clone().map_err(|e| e.to_string())?),
        w: stream,
    };
    let run = |c: &mut Conn| -> Result<(), String> {
        c.expect('2')?;
        c.cmd("EHLO supalite", '2')?;
        if let Some((user, pass)) = &smtp.credentials {
            let token = b64(format!("\0{user}\0{pass}").as_bytes());
            c.cmd(&format!("AUTH PLAIN {token}"), '2')?;
        }
        c.cmd(&format!("MAIL FROM:<{from}>"), '2')?;
        c.cmd(&format!("RCPT TO:<{}>", m.to), '2')?;
        c.cmd("DATA", '3')?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let boundary = format!("supalite-{:x}", now.as_nanos());
        let date = httpdate(now.as_secs());
        let body = render(from, from_name, m, &boundary, &date);
        c.w.write_all(body.as_bytes()).map_err(|e| format!("writing: {e}"))?;
        c.cmd(".", '2')?;
        let _ = c.cmd("QUIT", '2');
        Ok(())
    };
    run(&mut c).map_err(|e| format!("SMTP {addr}: {e}"))
}

/// RFC 5322's date (`Mon, 07 Dec 2026 15:14:55 +0000`): HTTP's date
/// (the `httpdate` crate) with the numeric zone mail prefers.
fn httpdate(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    httpdate::fmt_http_date(t).replace(" GMT", " +0000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(b64(b"\0u\0p"), "AHUAcA==");
        assert_eq!(b64(b"abc"), "YWJj");
        assert_eq!(httpdate(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        let m = Message { to: "a@b.co".into(), subject: "Hé".into(), text: "t".into(), html: "<b>h</b>".into() };
        let r = render("admin@x.io", Some("App"), &m, "B", "D");
        assert!(r.contains("Subject: =?UTF-8?B?"));
        assert!(r.contains("From: App <admin@x.io>"));
        assert!(r.ends_with("--B--\r\n"));
        assert!(!valid_address("a@b.co>\r\nRCPT TO:<x@y"));
    }
}
