//! The auth role's e-mail (the `mailer` import): sent by SMTP (`smtp`)
//! when `auth-smtp-host` is set, else kept by the built-in mail catcher — as
//! the Supabase CLI's Mailpit on port 54324: the last [`KEEP`] messages in
//! memory, a web page listing them with their links, and Mailpit's HTTP API
//! (`GET /api/v1/messages`, `GET /api/v1/message/{ID}` (or `latest`),
//! `DELETE /api/v1/messages`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

/// Messages the catcher keeps (the oldest go first).
pub const KEEP: usize = 200;
/// The largest message the catcher or SMTP takes (subject + bodies).
pub const MAX_MESSAGE_BYTES: usize = 256 << 10;

/// One e-mail, as the auth role hands it over.
pub use crate::smtp::{Message, Smtp};

/// Where e-mails go.
#[derive(Debug, Clone, Default)]
pub struct Mailer {
    pub smtp: Option<Smtp>,
    /// The sender's address and display name.
    pub from: String,
    pub from_name: Option<String>,
}


impl Mailer {
    pub fn from_config(cfg: &crate::config::Config) -> Result<Mailer, String> {
        use contract::settings as s;
        let v = &cfg.values;
        let host = v.text(&s::AUTH_SMTP_HOST).filter(|h| !h.trim().is_empty());
        let smtp = match host {
            None => None,
            Some(host) => Some(Smtp {
                host,
                port: v
                    .text(&s::AUTH_SMTP_PORT)
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(587),
                credentials: v
                    .text(&s::AUTH_SMTP_USER)
                    .filter(|u| !u.is_empty())
                    .map(|u| (u, v.text(&s::AUTH_SMTP_PASS).unwrap_or_default())),
                tls: v
                    .text(&s::AUTH_SMTP_TLS)
                    .as_deref()
                    .and_then(crate::smtp::TlsMode::parse)
                    .unwrap_or(crate::smtp::TlsMode::Auto),
                ca_pem: match v.text(&s::AUTH_SMTP_CA_FILE).map(std::path::PathBuf::from) {
                    None => None,
                    Some(p) => {
                        let pem = std::fs::read(&p)
                            .map_err(|e| format!("auth-smtp-ca-file {}: {e}", p.display()))?;
                        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                            return Err(format!(
                                "auth-smtp-ca-file {}: no PEM certificate in it",
                                p.display()
                            ));
                        }
                        Some(pem)
                    }
                },
            }),
        };
        Ok(Mailer {
            smtp,
            from: v
                .text(&s::AUTH_SMTP_ADMIN_EMAIL)
                .unwrap_or_else(|| "admin@email.com".into()),
            from_name: v.text(&s::AUTH_SMTP_SENDER_NAME).filter(|n| !n.is_empty()),
        })
    }

    /// Sends `m` by SMTP, or keeps it in the catcher.
    pub async fn send(&self, m: Message) -> Result<(), String> {
        let size = m.to.len() + m.subject.len() + m.text.len() + m.html.len();
        if size > MAX_MESSAGE_BYTES {
            return Err(format!("the message is over {MAX_MESSAGE_BYTES} bytes"));
        }
        if m.to.contains(['\r', '\n']) || m.subject.contains(['\r', '\n']) {
            return Err("a header holds a line break".into());
        }
        match &self.smtp {
            None => {
                CATCHER.keep(self.from_header(), m);
                Ok(())
            }
            Some(smtp) => crate::smtp::send(smtp, &self.from, self.from_name.as_deref(), &m).await,
        }
    }

    fn from_header(&self) -> (String, String) {
        (self.from_name.clone().unwrap_or_default(), self.from.clone())
    }
}

/// A message the catcher holds.
#[derive(Debug, Clone)]
struct Caught {
    id: String,
    from: (String, String),
    to: String,
    subject: String,
    text: String,
    html: String,
    created: SystemTime,
}

/// The catcher's messages, newest last.
pub struct Catcher {
    messages: Mutex<VecDeque<Caught>>,
    next: std::sync::atomic::AtomicU64,
}

/// One catcher per process: it outlives pipeline reloads.
pub static CATCHER: LazyLock<Catcher> = LazyLock::new(|| Catcher {
    messages: Mutex::new(VecDeque::new()),
    next: std::sync::atomic::AtomicU64::new(1),
});

/// `2026-12-07T15:14:55.123Z`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

fn address(name: &str, addr: &str) -> Value {
    json!({"Name": name, "Address": addr})
}

impl Caught {
    fn snippet(&self) -> String {
        let flat: String = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        flat.chars().take(250).collect()
    }

    fn size(&self) -> usize {
        self.subject.len() + self.text.len() + self.html.len()
    }

    /// Mailpit's message summary (the list's items).
    fn summary(&self) -> Value {
        json!({
            "ID": self.id, "MessageID": format!("{}@supalite", self.id), "Read": false,
            "From": address(&self.from.0, &self.from.1), "To": [address("", &self.to)],
            "Cc": [], "Bcc": [], "ReplyTo": [], "Subject": self.subject,
            "Created": rfc3339(self.created), "Tags": [], "Size": self.size(),
            "Attachments": 0, "Snippet": self.snippet(),
        })
    }

    /// Mailpit's message.
    fn full(&self) -> Value {
        json!({
            "ID": self.id, "MessageID": format!("{}@supalite", self.id),
            "From": address(&self.from.0, &self.from.1), "To": [address("", &self.to)],
            "Cc": [], "Bcc": [], "ReplyTo": [], "ReturnPath": self.from.1,
            "Subject": self.subject, "Date": rfc3339(self.created), "Tags": [],
            "Text": self.text, "HTML": self.html, "Size": self.size(),
            "Inline": [], "Attachments": [],
        })
    }
}

impl Catcher {
    fn keep(&self, from: (String, String), m: Message) {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let created = SystemTime::now();
        let stamp = created
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let caught = Caught {
            id: format!("{stamp:x}-{n}"),
            from,
            to: m.to,
            subject: m.subject,
            text: m.text,
            html: m.html,
            created,
        };
        let mut q = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back(caught);
        while q.len() > KEEP {
            q.pop_front();
        }
    }

    fn snapshot(&self) -> Vec<Caught> {
        let q = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().rev().cloned().collect()
    }

    fn clear(&self) {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Mailpit's `GET /api/v1/messages` (newest first; `start`, `limit`).
    fn list(&self, query: &str) -> Value {
        let all = self.snapshot();
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.parse::<usize>().ok())
        };
        let start = param("start").unwrap_or(0);
        let limit = param("limit").unwrap_or(50).min(KEEP);
        let page: Vec<Value> = all
            .iter()
            .skip(start)
            .take(limit)
            .map(Caught::summary)
            .collect();
        json!({
            "total": all.len(), "unread": all.len(), "count": page.len(),
            "messages_count": all.len(), "start": start, "tags": [], "messages": page,
        })
    }

    fn get(&self, id: &str) -> Option<Value> {
        let all = self.snapshot();
        let m = if id == "latest" {
            all.first()
        } else {
            all.iter().find(|m| m.id == id)
        };
        m.map(Caught::full)
    }

    /// The web page: each message with its links.
    fn page(&self) -> String {
        let mut html = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>supalite mail catcher</title>\
             <style>body{font-family:sans-serif;margin:2em}article{border-bottom:1px solid #ccc;padding:.5em 0}\
             .meta{color:#666;font-size:.9em}pre{white-space:pre-wrap}</style></head><body>\
             <h1>Mail catcher</h1><p>E-mails the auth API sent (newest first; \
             <code>DELETE /api/v1/messages</code> clears them).</p>",
        );
        let all = self.snapshot();
        if all.is_empty() {
            html.push_str("<p>No messages yet.</p>");
        }
        for m in &all {
            html.push_str(&format!(
                "<article><h2>{}</h2><div class=\"meta\">to {} · {} · <a href=\"/api/v1/message/{}\">JSON</a></div><pre>{}</pre>",
                escape(&m.subject),
                escape(&m.to),
                rfc3339(m.created),
                escape(&m.id),
                escape(&m.text)
            ));
            let links = links(&m.text);
            if !links.is_empty() {
                html.push_str("<ul>");
                for l in links {
                    html.push_str(&format!(
                        "<li><a href=\"{0}\">{0}</a></li>",
                        escape(&l)
                    ));
                }
                html.push_str("</ul>");
            }
            html.push_str("</article>");
        }
        html.push_str("</body></html>");
        html
    }
}

/// The `http(s)://` links in a text.
fn links(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(str::to_string)
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn reply(status: u16, content_type: &str, body: String) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// One request to the catcher.
fn answer(method: &hyper::Method, path: &str, query: &str) -> hyper::Response<Full<Bytes>> {
    let json = |status: u16, v: Value| reply(status, "application/json", v.to_string());
    match (method.as_str(), path) {
        ("GET", "/" | "/index.html") => reply(200, "text/html; charset=utf-8", CATCHER.page()),
        ("GET", "/api/v1/messages") => json(200, CATCHER.list(query)),
        ("DELETE", "/api/v1/messages") => {
            CATCHER.clear();
            reply(200, "text/plain", "ok".into())
        }
        ("GET", p) if p.starts_with("/api/v1/message/") => {
            match CATCHER.get(&p["/api/v1/message/".len()..]) {
                Some(m) => json(200, m),
                None => reply(404, "text/plain", "message not found".into()),
            }
        }
        _ => reply(404, "text/plain", "not found".into()),
    }
}

/// Serves the catcher until `shutdown` resolves.
pub async fn serve(listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = &mut shutdown => return,
        };
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let r = answer(
                        req.method(),
                        req.uri().path(),
                        req.uri().query().unwrap_or(""),
                    );
                    Ok::<_, Infallible>(r)
                });
            let serve = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            // A slow client holds one task for a bounded time only.
            let _ = tokio::time::timeout(Duration::from_secs(30), serve).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_links() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_millis(1_709_251_199_500)),
            "2024-02-29T23:59:59.500Z"
        );
        assert_eq!(
            links("Follow http://a/b?x=1&y=2\nor <a href=\"https://c\">"),
            ["http://a/b?x=1&y=2", "https://c"]
        );
    }

    #[test]
    fn catcher_keeps_the_newest() {
        let c = Catcher {
            messages: Mutex::new(VecDeque::new()),
            next: std::sync::atomic::AtomicU64::new(1),
        };
        for i in 0..KEEP + 5 {
            c.keep(
                ("".into(), "admin@email.com".into()),
                Message {
                    to: format!("u{i}@x.io"),
                    subject: format!("s{i}"),
                    text: "hello".into(),
                    html: "<b>hello</b>".into(),
                },
            );
        }
        let l = c.list("limit=2");
        assert_eq!(l["total"], KEEP);
        assert_eq!(l["messages"][0]["Subject"], format!("s{}", KEEP + 4));
        let id = l["messages"][0]["ID"].as_str().unwrap().to_string();
        assert_eq!(c.get(&id).unwrap()["HTML"], "<b>hello</b>");
        assert_eq!(c.get("latest").unwrap()["ID"], id);
        c.clear();
        assert_eq!(c.list("")["total"], 0);
    }
}
