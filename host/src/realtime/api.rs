//! Realtime's REST broadcast, as Supabase Realtime's
//! (`BroadcastController`, `BroadcastSingleController`): `POST
//! /realtime/v1/api/broadcast` with `{"messages": [{topic, event, payload,
//! private}]}` (what realtime-js's `send()` uses before a channel is
//! joined) and `POST /realtime/v1/api/broadcast/:topic/events/:event
//! [?private=true]` with the payload as the body (`httpSend()`); 202 on
//! success. A private message needs the caller's write policy on
//! `realtime.messages` (the service role passes): the batch form skips
//! the ones it may not send, the single form answers 403 "Unauthorized".

use super::hub::{Identity, Key};
use super::{answer, percent_decode, query_param, Realtime, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use realtime::Body;
use serde_json::{json, Value};
use std::sync::Arc;

pub const PATH: &str = "/realtime/v1/api/broadcast";
/// A body larger than this is refused (413).
const MAX_BODY: usize = super::MAX_MESSAGE_BYTES;
/// Messages in one batch at most.
const MAX_MESSAGES: usize = 1000;

/// A request for the REST broadcast.
pub fn is_api<B>(req: &hyper::Request<B>) -> bool {
    let path = req.uri().path().trim_end_matches('/');
    path == PATH || path.starts_with(&format!("{PATH}/"))
}

fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("access-control-allow-origin", hyper::header::HeaderValue::from_static("*"));
    r
}

fn status(code: u16, body: Value) -> Response {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    cors(r)
}

fn accepted() -> Response {
    let mut r = hyper::Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::ACCEPTED;
    cors(r)
}

/// One message, checked as Supabase's changeset checks it.
struct Message {
    topic: String,
    event: String,
    payload: Body,
    private: bool,
}

/// The batch form's messages, or the changeset errors Supabase answers 422 with.
fn messages(body: &Value) -> Result<Vec<Message>, Value> {
    let Some(list) = body.get("messages") else {
        return Err(json!({"errors": {"messages": ["can't be blank"]}}));
    };
    let Some(list) = list.as_array().filter(|l| !l.is_empty() && l.len() <= MAX_MESSAGES) else {
        return Err(json!({"errors": {"messages": ["is invalid"]}}));
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for m in list {
        let mut e = serde_json::Map::new();
        let text = |k: &str| m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let topic = text("topic");
        let event = text("event");
        let payload = m.get("payload").filter(|p| p.is_object()).cloned();
        if topic.is_none() {
            e.insert("topic".into(), json!(["can't be blank"]));
        }
        if event.is_none() {
            e.insert("event".into(), json!(["can't be blank"]));
        }
        if payload.is_none() {
            e.insert("payload".into(), json!(["can't be blank"]));
        }
        let private = m.get("private").and_then(Value::as_bool).unwrap_or(false);
        if let (Some(topic), Some(event), Some(payload)) = (topic, event, payload) {
            out.push(Message {
                topic,
                event,
                payload: Body::Json(payload),
                private,
            });
        }
        errors.push(Value::Object(e));
    }
    if errors.iter().any(|e| e.as_object().is_some_and(|o| !o.is_empty())) {
        return Err(json!({"errors": {"messages": errors}}));
    }
    Ok(out)
}

impl Realtime {
    /// The token a REST call acts with: `Authorization: Bearer`, else `apikey`.
    fn caller<B>(&self, req: &hyper::Request<B>) -> Option<Identity> {
        let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let token = h("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
            .or_else(|| h("apikey"))?;
        self.authenticate(&token).ok()
    }

    /// May `who` send a private message to `topic`?
    async fn may_send(&self, who: &Identity, topic: &str) -> Result<bool, String> {
        if who.role == "service_role" {
            return Ok(true);
        }
        let Some(db) = self.db.as_ref() else { return Ok(false) };
        super::authz::write(db, who, topic, "broadcast").await
    }

    fn send(&self, m: &Message) {
        let key = Key::new(&format!("realtime:{}", m.topic), m.private);
        self.hub.publish(&key, 0, &m.event, None, &m.payload);
    }

    /// Serves the REST broadcast.
    pub async fn api<B>(self: &Arc<Self>, req: hyper::Request<B>) -> Response
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if req.method() == hyper::Method::OPTIONS {
            let mut r = accepted();
            *r.status_mut() = hyper::StatusCode::OK;
            let h = r.headers_mut();
            h.insert("access-control-allow-methods", hyper::header::HeaderValue::from_static("POST, OPTIONS"));
            h.insert(
                "access-control-allow-headers",
                hyper::header::HeaderValue::from_static("authorization, apikey, content-type, x-client-info"),
            );
            return r;
        }
        if req.method() != hyper::Method::POST {
            return cors(answer(405, "Method not allowed"));
        }
        let Some(who) = self.caller(&req) else {
            return status(401, json!({"message": "Unauthorized"}));
        };
        // Relays to other instances start with the feed.
        self.start_feed();
        let path = req.uri().path().trim_end_matches('/').to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let binary = req
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/octet-stream"));
        let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return status(413, json!({"message": "Payload too large"})),
        };
        // The single form: /api/broadcast/:topic/events/:event.
        if let Some(rest) = path.strip_prefix(&format!("{PATH}/")) {
            let parts: Vec<&str> = rest.split('/').collect();
            let [topic, "events", event] = parts[..] else {
                return status(404, json!({"message": "Not found"}));
            };
            let payload = if binary {
                Body::Binary(bytes.to_vec())
            } else {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) if v.is_object() => Body::Json(v),
                    _ => return status(422, json!({"errors": {"payload": ["can't be blank"]}})),
                }
            };
            let m = Message {
                topic: percent_decode(topic),
                event: percent_decode(event),
                payload,
                private: query_param(&query, "private").as_deref() == Some("true"),
            };
            if m.private {
                match self.may_send(&who, &m.topic).await {
                    Ok(true) => {}
                    Ok(false) => return status(403, json!({"message": "Unauthorized"})),
                    Err(e) => {
                        tracing::debug!("realtime: RlsPolicyError: {e}");
                        return status(422, json!({"message": "RLS policy error"}));
                    }
                }
            }
            self.send(&m);
            return accepted();
        }
        let body: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return status(422, json!({"errors": {"messages": ["can't be blank"]}})),
        };
        let list = match messages(&body) {
            Ok(l) => l,
            Err(errors) => return status(422, errors),
        };
        // Private messages per topic: sent where the caller may write.
        let mut allowed: std::collections::HashMap<String, bool> = Default::default();
        for m in &list {
            if m.private {
                let ok = match allowed.get(&m.topic) {
                    Some(ok) => *ok,
                    None => {
                        let ok = self.may_send(&who, &m.topic).await.unwrap_or(false);
                        allowed.insert(m.topic.clone(), ok);
                        ok
                    }
                };
                if !ok {
                    continue;
                }
            }
            self.send(m);
        }
        accepted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_checked_as_supabases_changeset() {
        assert_eq!(messages(&json!({})).err(), Some(json!({"errors": {"messages": ["can't be blank"]}})));
        assert_eq!(messages(&json!({"messages": 3})).err(), Some(json!({"errors": {"messages": ["is invalid"]}})));
        let e = messages(&json!({"messages": [{"topic": "a", "event": "e", "payload": {}}, {"topic": "a"}]})).err();
        assert_eq!(
            e,
            Some(json!({"errors": {"messages": [{}, {"event": ["can't be blank"], "payload": ["can't be blank"]}]}}))
        );
        let ok = messages(&json!({"messages": [{"topic": "a", "event": "e", "payload": {"x": 1}, "private": true}]})).unwrap();
        assert_eq!((ok[0].topic.as_str(), ok[0].event.as_str(), ok[0].private), ("a", "e", true));
    }
}
