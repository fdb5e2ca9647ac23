//! JWT verification and role extraction (plain Rust).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use postgrest::error::ApiError;
use postgrest::Response;
use serde_json::{json, Value};

/// PostgREST allows this much clock skew for `exp`, `nbf` and `iat`.
pub const CLOCK_SKEW_SECONDS: u64 = 30;

#[derive(Debug, Clone)]
pub struct Settings {
    pub secret: Option<String>,
    pub anon_role: String,
    pub audience: Option<String>,
    pub role_claim_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: String,
    pub claims_json: String,
}

fn invalid(code: &str, message: &str) -> ApiError {
    let mut e = ApiError::new(401, code, message);
    e.headers.push((
        "www-authenticate".into(),
        format!("Bearer error=\"invalid_token\", error_description=\"{message}\""),
    ));
    e
}

/// The bearer token of a request, if one was sent.
pub fn bearer(headers: &[(String, String)]) -> Option<&str> {
    let value = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim())?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Verifies the request's token. No token → the anonymous role; any failed
/// check → 401 (never a silent downgrade to anonymous).
pub fn authenticate(s: &Settings, headers: &[(String, String)]) -> Result<Identity, ApiError> {
    let Some(token) = bearer(headers) else {
        return Ok(Identity {
            role: s.anon_role.clone(),
            claims_json: json!({ "role": s.anon_role }).to_string(),
        });
    };
    let claims = verify(s, token)?;
    let role = match claim_at(&claims, &s.role_claim_key) {
        Some(Value::String(r)) if !r.is_empty() => r.clone(),
        Some(Value::String(_)) | None => s.anon_role.clone(),
        Some(_) => return Err(invalid("PGRST301", "JWT role claim must be a string")),
    };
    Ok(Identity {
        role,
        claims_json: claims.to_string(),
    })
}

fn verify(s: &Settings, token: &str) -> Result<Value, ApiError> {
    let parts = token.split('.').count();
    if parts != 3 {
        return Err(invalid(
            "PGRST301",
            &format!("Expected 3 parts in JWT; got {parts}"),
        ));
    }
    let Some(secret) = s.secret.as_deref() else {
        return Err(ApiError::new(500, "PGRST300", "Server lacks JWT secret"));
    };
    let mut v = Validation::new(Algorithm::HS256);
    v.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    v.leeway = CLOCK_SKEW_SECONDS;
    v.required_spec_claims.clear();
    v.validate_exp = true;
    v.validate_nbf = true;
    match &s.audience {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    let data =
        decode::<Value>(token, &DecodingKey::from_secret(secret.as_bytes()), &v).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => invalid("PGRST303", "JWT expired"),
                ErrorKind::ImmatureSignature => invalid("PGRST303", "JWT not yet valid"),
                ErrorKind::InvalidAudience => invalid("PGRST303", "JWT not in audience"),
                ErrorKind::InvalidSignature => {
                    invalid("PGRST301", "JWT cryptographic operation failed")
                }
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm => {
                    invalid("PGRST301", "Wrong or unsupported encoding algorithm")
                }
                _ => invalid("PGRST301", "JWT could not be decoded"),
            }
        })?;
    let claims = data.claims;
    if !claims.is_object() {
        return Err(invalid("PGRST301", "JWT claims must be a JSON object"));
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_f64) {
        if iat > (now() + CLOCK_SKEW_SECONDS) as f64 {
            return Err(invalid("PGRST303", "JWT issued at future"));
        }
    }
    Ok(claims)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Follows a `jwt-role-claim-key` path such as `.role` or
/// `.app_metadata.roles[0]` (quoted keys `."a.b"` allowed).
pub fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = claims;
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let (key, tail) = if let Some(q) = r.strip_prefix('"') {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            } else {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                (&r[..end], &r[end..])
            };
            cur = cur.get(key)?;
            rest = tail;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let idx: usize = r[..end].trim().parse().ok()?;
            cur = cur.get(idx)?;
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(cur)
}

/// `/auth/v1`: only the health check for now (GoTrue's endpoints are a
/// later milestone); everything else is GoTrue's 404 shape.
pub fn auth_api(method: &str, path: &str) -> Response {
    let json = |status: u16, v: Value| Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: v.to_string().into_bytes(),
    };
    match (method, path) {
        ("GET", "/health") => json(
            200,
            json!({ "version": env!("CARGO_PKG_VERSION"), "name": "GoTrue", "description": "supalite auth" }),
        ),
        _ => json(
            404,
            json!({ "code": 404, "error_code": "not_found", "msg": format!("{path} is not implemented by supalite yet") }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    fn settings() -> Settings {
        Settings {
            secret: Some(SECRET.into()),
            anon_role: "anon".into(),
            audience: None,
            role_claim_key: ".role".into(),
        }
    }

    fn sign(claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn with_token(t: &str) -> Vec<(String, String)> {
        vec![("authorization".into(), format!("Bearer {t}"))]
    }

    #[test]
    fn no_token_is_anon() {
        let id = authenticate(&settings(), &[]).unwrap();
        assert_eq!(id.role, "anon");
    }

    #[test]
    fn valid_token_gives_role_and_claims() {
        let t = sign(json!({"role": "authenticated", "sub": "u1", "exp": now() + 60}));
        let id = authenticate(&settings(), &with_token(&t)).unwrap();
        assert_eq!(id.role, "authenticated");
        assert!(id.claims_json.contains("\"sub\":\"u1\""));
    }

    #[test]
    fn rejections() {
        let expired = sign(json!({"role": "authenticated", "exp": now() - 120}));
        let e = authenticate(&settings(), &with_token(&expired)).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (401, "PGRST303", "JWT expired")
        );
        assert!(e.headers[0].1.starts_with("Bearer error=\"invalid_token\""));

        let wrong = encode(
            &Header::default(),
            &json!({"role": "service_role"}),
            &EncodingKey::from_secret(b"another-secret-another-secret-123456"),
        )
        .unwrap();
        assert_eq!(
            authenticate(&settings(), &with_token(&wrong))
                .unwrap_err()
                .status,
            401
        );

        // alg: none
        use base64_like::b64;
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(r#"{"role":"service_role"}"#)
        );
        assert_eq!(
            authenticate(&settings(), &with_token(&none))
                .unwrap_err()
                .status,
            401
        );

        for garbage in ["abc", "a.b.c", "", "....."] {
            assert_eq!(
                authenticate(&settings(), &with_token(garbage))
                    .unwrap_err()
                    .status,
                401,
                "{garbage}"
            );
        }
        let future = sign(json!({"role": "authenticated", "nbf": now() + 3600}));
        assert_eq!(
            authenticate(&settings(), &with_token(&future))
                .unwrap_err()
                .code,
            "PGRST303"
        );
        // Within the 30 s skew an expired token is still accepted.
        let skew = sign(json!({"role": "authenticated", "exp": now() - 5}));
        assert!(authenticate(&settings(), &with_token(&skew)).is_ok());
    }

    #[test]
    fn audience_and_role_claim_key() {
        let mut s = settings();
        s.audience = Some("app".into());
        let t = sign(json!({"role": "authenticated", "aud": "other"}));
        assert_eq!(
            authenticate(&s, &with_token(&t)).unwrap_err().message,
            "JWT not in audience"
        );
        s.role_claim_key = ".app_metadata.roles[1]".into();
        let t = sign(json!({"aud": "app", "app_metadata": {"roles": ["x", "editor"]}}));
        assert_eq!(authenticate(&s, &with_token(&t)).unwrap().role, "editor");
    }

    mod base64_like {
        pub fn b64(s: &str) -> String {
            const T: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let b = s.as_bytes();
            let mut out = String::new();
            for chunk in b.chunks(3) {
                let n = (chunk[0] as u32) << 16
                    | (*chunk.get(1).unwrap_or(&0) as u32) << 8
                    | *chunk.get(2).unwrap_or(&0) as u32;
                for i in 0..=chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
