//! Asymmetric signing keys as GoTrue reads `GOTRUE_JWT_KEYS` and the
//! Supabase CLI writes `signing_keys.json`: a JSON array of private JWKs
//! (RS256 or ES256, each with a `kid`; `oct` keys with `k` are HMAC keys).
//! Exactly one key has `sign` in its `key_ops` and signs; every key of the
//! set verifies tokens whose header names its `kid`. The public halves are
//! what `/.well-known/jwks.json` publishes.

use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Map, Value};

/// One key of the set.
#[derive(Debug, Clone)]
pub struct SetKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    /// The public JWK (no private members), as published.
    pub public: Option<Value>,
    raw: Value,
    sign: bool,
}

#[derive(Debug, Clone)]
pub struct KeySet {
    pub keys: Vec<SetKey>,
    signing: Option<usize>,
}

/// The members a public JWK keeps (RFC 7517/7518); everything else
/// (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`, …) is private or dropped.
const PUBLIC_MEMBERS: &[&str] = &["kty", "kid", "alg", "crv", "x", "y", "n", "e"];

fn alg_of(k: &Map<String, Value>) -> Result<Algorithm, String> {
    let kid = k.get("kid").and_then(Value::as_str).unwrap_or("(no kid)");
    let kty = k.get("kty").and_then(Value::as_str).unwrap_or("");
    let alg = match k.get("alg").and_then(Value::as_str) {
        Some(a) => a.to_string(),
        // GoTrue needs `alg`; an EC P-256 or RSA key has one obvious choice.
        None => match (kty, k.get("crv").and_then(Value::as_str)) {
            ("RSA", _) => "RS256".into(),
            ("EC", Some("P-256")) => "ES256".into(),
            ("oct", _) => "HS256".into(),
            _ => return Err(format!("jwt key {kid}: no `alg`")),
        },
    };
    let a = match alg.as_str() {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        other => return Err(format!("jwt key {kid}: unsupported alg {other} (RS256, ES256 or HS256)")),
    };
    let family_ok = match kty {
        "RSA" => alg.starts_with("RS"),
        "EC" => alg.starts_with("ES"),
        "oct" => alg.starts_with("HS"),
        _ => false,
    };
    if !family_ok {
        return Err(format!("jwt key {kid}: kty {kty:?} does not fit alg {alg}"));
    }
    Ok(a)
}

fn b64(v: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the private key lacks `{name}`"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| format!("`{name}` is not base64url: {e}"))
}

impl KeySet {
    /// Parses a key set: a JSON array of JWKs (GoTrue's and the CLI's form),
    /// `{"keys": [...]}`, or one JWK.
    pub fn parse(text: &str) -> Result<KeySet, String> {
        let v: Value =
            serde_json::from_str(text.trim()).map_err(|e| format!("not JSON: {e}"))?;
        let list = match v {
            Value::Array(a) => a,
            Value::Object(mut o) if o.contains_key("keys") => match o.remove("keys") {
                Some(Value::Array(a)) => a,
                _ => return Err("`keys` is not an array".into()),
            },
            o @ Value::Object(_) => vec![o],
            _ => return Err("expected an array of JWKs".into()),
        };
        let mut keys = Vec::new();
        for raw in list {
            let Value::Object(m) = &raw else {
                return Err("every key is a JSON object (a JWK)".into());
            };
            let alg = alg_of(m)?;
            let kid = m.get("kid").and_then(Value::as_str).map(str::to_string);
            let sign = m
                .get("key_ops")
                .and_then(Value::as_array)
                .is_some_and(|ops| ops.iter().any(|o| o == "sign"));
            let public = if m.get("kty").and_then(Value::as_str) == Some("oct") {
                None
            } else {
                let mut p: Map<String, Value> = PUBLIC_MEMBERS
                    .iter()
                    .filter_map(|k| Some((k.to_string(), m.get(*k)?.clone())))
                    .collect();
                p.insert("alg".into(), json!(format!("{alg:?}")));
                // As GoTrue publishes them.
                p.insert("key_ops".into(), json!(["verify"]));
                p.insert("use".into(), json!("sig"));
                Some(Value::Object(p))
            };
            let key = SetKey { kid, alg, public, raw: raw.clone(), sign };
            key.decoding().map_err(|e| {
                format!("jwt key {}: {e}", key.kid.as_deref().unwrap_or("(no kid)"))
            })?;
            if sign {
                key.encoding().map_err(|e| {
                    format!("jwt key {}: {e}", key.kid.as_deref().unwrap_or("(no kid)"))
                })?;
            }
            keys.push(key);
        }
        let signing: Vec<usize> = (0..keys.len()).filter(|i| keys[*i].sign).collect();
        // GoTrue's rule (conf/jwk.go): one signing key, no more.
        if signing.len() > 1 {
            return Err("multiple signing keys detected, only 1 signing key is supported".into());
        }
        Ok(KeySet {
            keys,
            signing: signing.first().copied(),
        })
    }

    /// The key that signs (`key_ops` contains `sign`).
    pub fn signer(&self) -> Option<&SetKey> {
        self.signing.map(|i| &self.keys[i])
    }

    /// What `/.well-known/jwks.json` answers: the public keys (never an
    /// HMAC key, never a private member).
    pub fn published(&self) -> Value {
        json!({ "keys": self.keys.iter().filter_map(|k| k.public.clone()).collect::<Vec<_>>() })
    }
}

impl SetKey {
    pub fn decoding(&self) -> Result<DecodingKey, String> {
        match &self.public {
            None => Ok(DecodingKey::from_secret(&b64(&self.raw, "k")?)),
            Some(p) => {
                let jwk: Jwk = serde_json::from_value(p.clone()).map_err(|e| e.to_string())?;
                DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())
            }
        }
    }

    /// The private key, for signing.
    pub fn encoding(&self) -> Result<EncodingKey, String> {
        match self.alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                Ok(EncodingKey::from_secret(&b64(&self.raw, "k")?))
            }
            Algorithm::ES256 => {
                use p256::pkcs8::EncodePrivateKey;
                let d = b64(&self.raw, "d")?;
                // The CLI may drop a leading zero byte of `d`.
                let mut bytes = [0u8; 32];
                if d.len() > 32 {
                    return Err("`d` is longer than 32 bytes".into());
                }
                bytes[32 - d.len()..].copy_from_slice(&d);
                let sk = p256::SecretKey::from_slice(&bytes).map_err(|e| e.to_string())?;
                let der = sk.to_pkcs8_der().map_err(|e| e.to_string())?;
                Ok(EncodingKey::from_ec_der(der.as_bytes()))
            }
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                use rsa::BigUint;
                let int = |n: &str| b64(&self.raw, n).map(|b| BigUint::from_bytes_be(&b));
                let key = rsa::RsaPrivateKey::from_components(
                    int("n")?,
                    int("e")?,
                    int("d")?,
                    vec![int("p")?, int("q")?],
                )
                .map_err(|e| e.to_string())?;
                let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
                Ok(EncodingKey::from_rsa_der(der.as_bytes()))
            }
            a => Err(format!("cannot sign with {a:?}")),
        }
    }

    /// The header of tokens this key signs.
    pub fn header(&self) -> Header {
        let mut h = Header::new(self.alg);
        h.kid = self.kid.clone();
        h
    }
}
