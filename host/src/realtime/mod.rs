//! `/realtime/v1`: the realtime role's socket, served by the host before
//! the wasi:http pipeline (WASI 0.2 has no upgrade): `GET
//! /realtime/v1/websocket?apikey=…&vsn=1.0.0|2.0.0` upgraded with hyper's
//! upgrade and `tokio-tungstenite`. The protocol's rules are the `realtime`
//! crate's (plain Rust); the host owns the sockets (`socket`), the fan-out
//! (`hub`) and the change feed (`feed`).

mod api;
mod authz;
mod feed;
mod hub;
mod socket;

pub use api::is_api;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hub::{Hub, Identity};
use std::sync::Arc;

/// The websocket's path.
pub const PATH: &str = "/realtime/v1/websocket";
/// A frame larger than this ends the socket.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// What the socket needs; the hub lives across reloads.
pub struct Realtime {
    hub: Arc<Hub>,
    jwt: jwt::Settings,
    db: Option<crate::db::Database>,
    feed: Arc<std::sync::Once>,
    /// The publishable and secret keys, as the anon and service_role keys.
    api_keys: crate::keys::ApiKeys,
}

/// Answers the server sends itself (`Full` bodies; the caller boxes them).
pub type Response = hyper::Response<Full<Bytes>>;

/// A request for the realtime socket (an upgrade to websocket on [`PATH`]).
pub fn is_websocket<B>(req: &hyper::Request<B>) -> bool {
    let path = req.uri().path().trim_end_matches('/');
    path == PATH || path == "/realtime/v1/websocket/websocket"
}

fn answer(status: u16, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (hex, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455).
fn accept_key(key: &[u8]) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

impl Realtime {
    /// A realtime endpoint with `hub` (a reload keeps the running one's).
    pub fn new(
        hub: Option<Arc<Realtime>>,
        jwt: jwt::Settings,
        db: Option<crate::db::Database>,
        api_keys: crate::keys::ApiKeys,
    ) -> Realtime {
        let (hub, feed) = match hub {
            Some(r) => (r.hub.clone(), r.feed.clone()),
            None => (Arc::new(Hub::default()), Arc::new(std::sync::Once::new())),
        };
        Realtime {
            hub,
            jwt,
            db,
            feed,
            api_keys,
        }
    }

    /// A token verified as the data API verifies it.
    fn authenticate(&self, token: &str) -> Result<Identity, String> {
        // A publishable or secret key (a join's `access_token` may be one).
        let token = self.api_keys.jwt_for(token).unwrap_or(token);
        let headers = [("authorization".to_string(), format!("Bearer {token}"))];
        jwt::authenticate(&self.jwt, &headers)
            .map(|id| Identity {
                role: id.role,
                claims_json: id.claims_json,
            })
            .map_err(|e| {
                let m = e.message.clone();
                if m.contains("expired") {
                    "Token has expired".to_string()
                } else {
                    format!("Invalid token: {m}")
                }
            })
    }

    /// The change feed, started once (on the first `postgres_changes` join).
    fn start_feed(self: &Arc<Self>) {
        let Some(db) = self.db.clone() else { return };
        let hub = self.hub.clone();
        self.feed.call_once(move || {
            // Names this process's relayed broadcasts (it skips its own).
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let instance: Arc<str> = format!("{:x}-{nanos:x}", std::process::id()).into();
            if let crate::db::Backend::Postgres(_) = db.backend {
                let (tx, rx) = tokio::sync::mpsc::channel(hub::RELAY_QUEUE);
                if hub.relay.set(tx).is_ok() {
                    tokio::spawn(feed::relay(db.clone(), instance.clone(), rx));
                }
            }
            tokio::spawn(feed::run(hub, db, instance));
        });
    }

    /// The upgrade: the key checked (401 otherwise), then 101 and the
    /// socket served on its own task.
    pub fn upgrade<B: Send + 'static>(self: &Arc<Self>, mut req: hyper::Request<B>) -> Response {
        if req.method() != hyper::Method::GET {
            return answer(405, "Method not allowed");
        }
        let query = req.uri().query().unwrap_or("").to_string();
        let vsn = match realtime::Vsn::parse(query_param(&query, "vsn").as_deref()) {
            Some(v) => v,
            None => return answer(400, "Unsupported serializer version"),
        };
        let header = |n: &str| {
            req.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let key = query_param(&query, "apikey")
            .or_else(|| header("apikey"))
            .or_else(|| header("x-api-key"))
            .or_else(|| {
                header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
            });
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return answer(401, "API key is missing");
        };
        let identity = match self.authenticate(&key) {
            Ok(id) => id,
            Err(reason) => return answer(401, &reason),
        };
        let upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let Some(ws_key) = header("sec-websocket-key").filter(|_| upgrade) else {
            return answer(426, "Upgrade to websocket required");
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let rt = self.clone();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = hyper_util::rt::TokioIo::new(upgraded);
                    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                        .max_message_size(Some(MAX_MESSAGE_BYTES))
                        .max_frame_size(Some(MAX_MESSAGE_BYTES));
                    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                        io,
                        tokio_tungstenite::tungstenite::protocol::Role::Server,
                        Some(config),
                    )
                    .await;
                    socket::run(ws, rt, vsn, identity).await;
                }
                Err(e) => tracing::debug!("realtime: the upgrade failed: {e}"),
            }
        });
        let mut r = hyper::Response::new(Full::new(Bytes::new()));
        *r.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(hyper::header::UPGRADE, hyper::header::HeaderValue::from_static("websocket"));
        h.insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("Upgrade"));
        if let Ok(v) = hyper::header::HeaderValue::from_str(&accept_key(ws_key.as_bytes())) {
            h.insert(hyper::header::SEC_WEBSOCKET_ACCEPT, v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6455_accept_key() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(query_param("apikey=a%2Eb&vsn=2.0.0", "apikey").as_deref(), Some("a.b"));
        assert_eq!(query_param("vsn=2.0.0", "apikey"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
