//! Phoenix frames: decoding what a client sends, encoding what it receives
//! (realtime-js's `serializer.ts`: 2.0.0 arrays `[join_ref, ref, topic,
//! event, payload]`, user broadcasts as binary kind 3 in, kind 4 out).

use serde_json::{json, Value};

/// The serializer a socket asked for (`vsn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vsn {
    V1,
    V2,
}

impl Vsn {
    /// The `vsn` query parameter (absent: 1.0.0, as Phoenix).
    pub fn parse(v: Option<&str>) -> Option<Vsn> {
        match v {
            None | Some("1.0.0") => Some(Vsn::V1),
            Some("2.0.0") => Some(Vsn::V2),
            _ => None,
        }
    }
}

/// One message on a channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Msg {
    pub join_ref: Option<String>,
    pub r#ref: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

/// A user broadcast's payload: JSON, or bytes (binary frames only).
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Json(Value),
    Binary(Vec<u8>),
}

/// What a client sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// Any JSON message (a JSON `broadcast` too).
    Msg(Msg),
    /// A binary user broadcast push (kind 3).
    Broadcast {
        join_ref: Option<String>,
        r#ref: Option<String>,
        topic: String,
        event: String,
        meta: Option<Value>,
        body: Body,
    },
}

/// A frame to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

fn opt_string(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err("join_ref and ref must be strings or null".into()),
    }
}

fn string(v: &Value, what: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{what} must be a string"))
}

/// A text frame.
pub fn decode_text(vsn: Vsn, text: &str) -> Result<Incoming, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("malformed message: {e}"))?;
    let msg = match (vsn, v) {
        (Vsn::V2, Value::Array(a)) if a.len() == 5 => Msg {
            join_ref: opt_string(&a[0])?,
            r#ref: opt_string(&a[1])?,
            topic: string(&a[2], "topic")?,
            event: string(&a[3], "event")?,
            payload: a[4].clone(),
        },
        (Vsn::V2, _) => return Err("malformed message: expected [join_ref, ref, topic, event, payload]".into()),
        (Vsn::V1, Value::Object(o)) => Msg {
            join_ref: opt_string(o.get("join_ref").unwrap_or(&Value::Null))?,
            r#ref: opt_string(o.get("ref").unwrap_or(&Value::Null))?,
            topic: string(o.get("topic").unwrap_or(&Value::Null), "topic")?,
            event: string(o.get("event").unwrap_or(&Value::Null), "event")?,
            payload: o.get("payload").cloned().unwrap_or_else(|| json!({})),
        },
        (Vsn::V1, _) => return Err("malformed message: expected an object".into()),
    };
    Ok(Incoming::Msg(msg))
}

const KIND_PUSH: u8 = 3;
const KIND_BROADCAST: u8 = 4;
const ENC_BINARY: u8 = 0;
const ENC_JSON: u8 = 1;

/// A binary frame (only user broadcast pushes, kind 3, are accepted).
pub fn decode_binary(b: &[u8]) -> Result<Incoming, String> {
    let bad = |m: &str| Err(format!("malformed binary message: {m}"));
    if b.len() < 7 {
        return bad("too short");
    }
    if b[0] != KIND_PUSH {
        return bad("unknown kind");
    }
    let lens = [b[1], b[2], b[3], b[4], b[5]].map(usize::from);
    let encoding = b[6];
    let mut at = 7;
    let mut parts = Vec::with_capacity(5);
    for n in lens {
        let Some(s) = b.get(at..at + n) else {
            return bad("truncated");
        };
        let Ok(s) = std::str::from_utf8(s) else {
            return bad("a header field is not UTF-8");
        };
        parts.push(s.to_string());
        at += n;
    }
    let rest = &b[at..];
    let body = match encoding {
        ENC_JSON => Body::Json(serde_json::from_slice(rest).map_err(|e| format!("malformed binary message: {e}"))?),
        ENC_BINARY => Body::Binary(rest.to_vec()),
        _ => return bad("unknown payload encoding"),
    };
    let meta = if parts[4].is_empty() {
        None
    } else {
        Some(serde_json::from_str(&parts[4]).map_err(|e| format!("malformed binary message: {e}"))?)
    };
    let nonempty = |s: &String| (!s.is_empty()).then(|| s.clone());
    Ok(Incoming::Broadcast {
        join_ref: nonempty(&parts[0]),
        r#ref: nonempty(&parts[1]),
        topic: parts[2].clone(),
        event: parts[3].clone(),
        meta,
        body,
    })
}

/// A message as `vsn` writes it.
pub fn encode(vsn: Vsn, m: &Msg) -> Frame {
    let text = match vsn {
        Vsn::V2 => json!([m.join_ref, m.r#ref, m.topic, m.event, m.payload]).to_string(),
        Vsn::V1 => json!({
            "join_ref": m.join_ref, "ref": m.r#ref, "topic": m.topic,
            "event": m.event, "payload": m.payload,
        })
        .to_string(),
    };
    Frame::Text(text)
}

/// A user broadcast to a subscriber: 2.0.0 as a binary kind 4 frame, 1.0.0
/// as `{event: "broadcast", payload: {type, event, payload}}` (a binary
/// payload cannot be written in 1.0.0: `None`).
pub fn encode_broadcast(vsn: Vsn, topic: &str, event: &str, meta: Option<&Value>, body: &Body) -> Option<Frame> {
    match vsn {
        Vsn::V1 => {
            let Body::Json(payload) = body else { return None };
            Some(encode(
                vsn,
                &Msg {
                    join_ref: None,
                    r#ref: None,
                    topic: topic.into(),
                    event: "broadcast".into(),
                    payload: json!({"type": "broadcast", "event": event, "payload": payload}),
                },
            ))
        }
        Vsn::V2 => {
            let meta = meta.map(|m| m.to_string()).unwrap_or_default();
            if topic.len() > 255 || event.len() > 255 || meta.len() > 255 {
                return None;
            }
            let (encoding, payload) = match body {
                Body::Json(v) => (ENC_JSON, serde_json::to_vec(v).unwrap_or_default()),
                Body::Binary(b) => (ENC_BINARY, b.clone()),
            };
            let mut out = Vec::with_capacity(5 + topic.len() + event.len() + meta.len() + payload.len());
            out.extend([KIND_BROADCAST, topic.len() as u8, event.len() as u8, meta.len() as u8, encoding]);
            out.extend_from_slice(topic.as_bytes());
            out.extend_from_slice(event.as_bytes());
            out.extend_from_slice(meta.as_bytes());
            out.extend_from_slice(&payload);
            Some(Frame::Binary(out))
        }
    }
}

/// A `phx_reply` to `to`.
pub fn reply(to: &Msg, status: &str, response: Value) -> Msg {
    Msg {
        join_ref: to.join_ref.clone(),
        r#ref: to.r#ref.clone(),
        topic: to.topic.clone(),
        event: "phx_reply".into(),
        payload: json!({"status": status, "response": response}),
    }
}

/// A server push on `topic` (no ref).
pub fn push(topic: &str, join_ref: Option<&str>, event: &str, payload: Value) -> Msg {
    Msg {
        join_ref: join_ref.map(str::to_string),
        r#ref: None,
        topic: topic.into(),
        event: event.into(),
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_serializers_round_trip() {
        let m = Msg {
            join_ref: Some("1".into()),
            r#ref: Some("2".into()),
            topic: "realtime:room".into(),
            event: "phx_join".into(),
            payload: json!({"a": 1}),
        };
        for vsn in [Vsn::V1, Vsn::V2] {
            let Frame::Text(t) = encode(vsn, &m) else { panic!() };
            assert_eq!(decode_text(vsn, &t), Ok(Incoming::Msg(m.clone())));
        }
        assert!(decode_text(Vsn::V2, r#"{"topic":"x"}"#).is_err());
        assert!(decode_text(Vsn::V1, r#"[1,2,3,4,5]"#).is_err());
        assert!(decode_text(Vsn::V2, "not json").is_err());
        assert!(decode_text(Vsn::V2, r#"[null,null,5,"e",{}]"#).is_err());
    }

    #[test]
    fn binary_push_decodes_and_broadcast_encodes() {
        // realtime-js's _encodeUserBroadcastPush: kind, 5 lengths, encoding.
        let mut b = vec![3, 1, 1, 4, 2, 0, 1];
        b.extend(b"12roomhi");
        b.extend(br#"{"x":1}"#);
        let got = decode_binary(&b).unwrap();
        assert_eq!(
            got,
            Incoming::Broadcast {
                join_ref: Some("1".into()),
                r#ref: Some("2".into()),
                topic: "room".into(),
                event: "hi".into(),
                meta: None,
                body: Body::Json(json!({"x": 1})),
            }
        );
        let Some(Frame::Binary(out)) = encode_broadcast(Vsn::V2, "room", "hi", None, &Body::Json(json!({"x": 1}))) else {
            panic!()
        };
        assert_eq!(&out[..5], &[4, 4, 2, 0, 1]);
        assert_eq!(&out[5..], br#"roomhi{"x":1}"#);
        assert!(decode_binary(&[3, 9, 0, 0, 0, 0, 1]).is_err());
        assert!(decode_binary(&[4, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(decode_binary(&[3]).is_err());
        let Some(Frame::Text(t)) = encode_broadcast(Vsn::V1, "room", "hi", None, &Body::Json(json!(1))) else {
            panic!()
        };
        assert!(t.contains(r#""payload":{"event":"hi","payload":1,"type":"broadcast"}"#), "{t}");
        assert_eq!(encode_broadcast(Vsn::V1, "room", "hi", None, &Body::Binary(vec![1])), None);
    }
}
