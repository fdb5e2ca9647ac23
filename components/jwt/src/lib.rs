//! JWT verification and role extraction (plain Rust).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Header, Validation};
use contract::ApiError;
use serde_json::{json, Value};

pub mod keyset;
pub use keyset::KeySet;

/// PostgREST allows this much clock skew for `exp`, `nbf` and `iat`.
pub const CLOCK_SKEW_SECONDS: u64 = 30;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `jwt-secret`: an HMAC secret, or a JWK / JWKS (JSON) of public keys.
    pub secret: Option<String>,
    /// `jwt-secret-is-base64`
    pub secret_is_base64: bool,
    /// `jwt-keys`: a key set of private JWKs (GoTrue's `GOTRUE_JWT_KEYS`),
    /// its JSON text.
    pub keys: Option<String>,
    pub anon_role: String,
    pub audience: Option<String>,
    pub role_claim_key: String,
    /// Roles a token may carry (empty: any role).
    pub allowed_roles: Vec<String>,
}

impl Settings {
    /// Reads the settings from environment-style lookups (`SUPALITE_*`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Settings {
        use contract::settings as s;
        Settings {
            secret: s::JWT_SECRET.text(&var),
            secret_is_base64: s::JWT_SECRET_IS_BASE64.flag(&var),
            keys: s::JWT_KEYS.text(&var),
            anon_role: s::anon_role_or_default(&var),
            audience: s::JWT_AUD.text(&var),
            role_claim_key: s::JWT_ROLE_CLAIM_KEY.text_or_default(&var),
            allowed_roles: s::allowed_roles(&var),
        }
    }
}

/// Tokens larger than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

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
    if !s.allowed_roles.is_empty() && !s.allowed_roles.contains(&role) {
        return Err(invalid(
            "PGRST301",
            &format!("JWT role \"{role}\" is not allowed"),
        ));
    }
    Ok(Identity {
        role,
        claims_json: claims.to_string(),
    })
}

/// Tokens verified before, by their exact text: an instance that serves
/// many requests (the host reuses instances) checks a token's signature once
/// and then only its time claims (`exp`, `nbf`, `iat`, with the same skew).
/// A token's text fixes its signature and claims, so a hit is as good as a
/// fresh verification while those hold; failures are never kept.
pub struct TokenCache {
    entries: std::collections::HashMap<String, Identity>,
    times: std::collections::HashMap<String, [Option<f64>; 3]>,
    order: std::collections::VecDeque<String>,
    capacity: usize,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            entries: Default::default(),
            times: Default::default(),
            order: Default::default(),
            capacity,
        }
    }

    fn still_valid(times: &[Option<f64>; 3], now: f64) -> bool {
        let skew = CLOCK_SKEW_SECONDS as f64;
        let [exp, nbf, iat] = *times;
        exp.is_none_or(|e| now <= e + skew)
            && nbf.is_none_or(|n| n <= now + skew)
            && iat.is_none_or(|i| i <= now + skew)
    }

    fn get(&self, token: &str, now: f64) -> Option<Identity> {
        let times = self.times.get(token)?;
        Self::still_valid(times, now).then(|| self.entries.get(token).cloned())?
    }

    fn put(&mut self, token: &str, id: &Identity) {
        if self.capacity == 0 || self.entries.contains_key(token) {
            return;
        }
        let claims: Value = serde_json::from_str(&id.claims_json).unwrap_or(Value::Null);
        let at = |k: &str| claims.get(k).and_then(Value::as_f64);
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
                self.times.remove(&old);
            }
        }
        self.order.push_back(token.to_string());
        self.times
            .insert(token.to_string(), [at("exp"), at("nbf"), at("iat")]);
        self.entries.insert(token.to_string(), id.clone());
    }
}

/// [`authenticate`] with a cache of verified tokens.
pub fn authenticate_cached(
    s: &Settings,
    headers: &[(String, String)],
    cache: &mut TokenCache,
) -> Result<Identity, ApiError> {
    let Some(token) = bearer(headers) else {
        return authenticate(s, headers);
    };
    if let Some(id) = cache.get(token, now() as f64) {
        return Ok(id);
    }
    let id = authenticate(s, headers)?;
    cache.put(token, &id);
    Ok(id)
}

fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

impl Settings {
    /// The parsed `jwt-keys`, when set.
    pub fn key_set(&self) -> Result<Option<KeySet>, ApiError> {
        self.keys
            .as_deref()
            .map(|t| {
                KeySet::parse(t).map_err(|e| {
                    ApiError::new(500, "PGRST300", "jwt-keys is not a valid key set").details(e)
                })
            })
            .transpose()
    }
}

/// The keys that may verify a token with header `h`: the keys of
/// `jwt-keys` named by its `kid` (every key of the fitting type when it
/// has none), then `jwt-secret`'s.
fn keys_for(s: &Settings, h: &Header) -> Result<Vec<DecodingKey>, ApiError> {
    let mut from_set = Vec::new();
    if let Some(set) = s.key_set()? {
        from_set = set
            .keys
            .iter()
            .filter(|k| h.kid.is_none() || k.kid == h.kid)
            .filter(|k| k.alg == h.alg)
            .filter_map(|k| k.decoding().ok())
            .collect();
    }
    let Some(secret) = s.secret.as_deref() else {
        if from_set.is_empty() && s.keys.is_none() {
            return Err(ApiError::new(500, "PGRST300", "Server lacks JWT secret"));
        }
        if from_set.is_empty() {
            return Err(invalid("PGRST301", "No suitable key or wrong key type"));
        }
        return Ok(from_set);
    };
    match secret_keys(s, secret, h) {
        Ok(mut keys) => {
            from_set.append(&mut keys);
            Ok(from_set)
        }
        Err(_) if !from_set.is_empty() => Ok(from_set),
        Err(e) if s.keys.is_some() && e.status == 401 => {
            Err(invalid("PGRST301", "No suitable key or wrong key type"))
        }
        Err(e) => Err(e),
    }
}

/// The keys of `jwt-secret` for a token with header `h`.
fn secret_keys(s: &Settings, secret: &str, h: &Header) -> Result<Vec<DecodingKey>, ApiError> {
    let wrong_alg = || invalid("PGRST301", "Wrong or unsupported encoding algorithm");
    let trimmed = secret.trim_start();
    if !trimmed.starts_with('{') {
        if !is_hmac(h.alg) {
            return Err(wrong_alg());
        }
        let key = if s.secret_is_base64 {
            DecodingKey::from_base64_secret(secret)
                .map_err(|_| ApiError::new(500, "PGRST300", "jwt-secret is not valid base64"))?
        } else {
            DecodingKey::from_secret(secret.as_bytes())
        };
        return Ok(vec![key]);
    }
    let set: JwkSet = serde_json::from_str(trimmed)
        .or_else(|_| serde_json::from_str::<Jwk>(trimmed).map(|k| JwkSet { keys: vec![k] }))
        .map_err(|e| {
            ApiError::new(
                500,
                "PGRST300",
                "jwt-secret is neither a secret nor a valid JWK/JWKS",
            )
            .details(e.to_string())
        })?;
    let keys: Vec<DecodingKey> = set
        .keys
        .iter()
        .filter(|k| h.kid.is_none() || k.common.key_id == h.kid)
        .filter(|k| {
            let family_ok = match &k.algorithm {
                AlgorithmParameters::RSA(_) => matches!(
                    h.alg,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                ),
                AlgorithmParameters::EllipticCurve(_) => {
                    matches!(h.alg, Algorithm::ES256 | Algorithm::ES384)
                }
                AlgorithmParameters::OctetKeyPair(_) => h.alg == Algorithm::EdDSA,
                AlgorithmParameters::OctetKey(_) => is_hmac(h.alg),
            };
            let declared_ok = k
                .common
                .key_algorithm
                .is_none_or(|a| format!("{a:?}") == format!("{:?}", h.alg));
            family_ok && declared_ok
        })
        .filter_map(|k| DecodingKey::from_jwk(k).ok())
        .collect();
    if keys.is_empty() {
        return Err(invalid("PGRST301", "No suitable key or wrong key type"));
    }
    Ok(keys)
}

fn verify(s: &Settings, token: &str) -> Result<Value, ApiError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid("PGRST301", "JWT is too large"));
    }
    if token.trim().is_empty() {
        return Err(invalid(
            "PGRST301",
            "Empty JWT is sent in Authorization header",
        ));
    }
    let parts = token.split('.').count();
    if parts != 3 {
        return Err(invalid(
            "PGRST301",
            &format!("Expected 3 parts in JWT; got {parts}"),
        ));
    }
    let header = decode_header(token).map_err(|e| match e.kind() {
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => {
            invalid("PGRST301", "Wrong or unsupported encoding algorithm")
        }
        _ => invalid("PGRST301", "JWT could not be decoded"),
    })?;
    let keys = keys_for(s, &header)?;
    let mut v = Validation::new(header.alg);
    v.leeway = CLOCK_SKEW_SECONDS;
    v.required_spec_claims.clear();
    v.validate_exp = true;
    v.validate_nbf = true;
    // `aud` is checked below, by PostgREST's rules.
    v.validate_aud = false;
    let mut last = None;
    let mut claims = None;
    for key in &keys {
        match decode::<Value>(token, key, &v) {
            Ok(d) => {
                claims = Some(d.claims);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let claims = match (claims, last) {
        (Some(c), _) => c,
        (None, Some(e)) => {
            return Err(match e.kind() {
                ErrorKind::ExpiredSignature => invalid("PGRST303", "JWT expired"),
                ErrorKind::ImmatureSignature => invalid("PGRST303", "JWT not yet valid"),
                // Checked after the signature (jsonwebtoken verifies it first).
                ErrorKind::InvalidClaimFormat(name) => invalid(
                    "PGRST303",
                    &format!("The JWT '{name}' claim must be a number"),
                ),
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
            });
        }
        (None, None) => return Err(invalid("PGRST301", "No suitable key or wrong key type")),
    };
    if !claims.is_object() {
        return Err(invalid("PGRST301", "JWT claims must be a JSON object"));
    }
    check_claim_types(s, &claims)?;
    if let Some(iat) = claims.get("iat").and_then(Value::as_f64) {
        if iat > (now() + CLOCK_SKEW_SECONDS) as f64 {
            return Err(invalid("PGRST303", "JWT issued at future"));
        }
    }
    Ok(claims)
}

/// PostgREST's claim rules: `exp`, `nbf` and `iat` are numbers when present;
/// with `jwt-aud` set, an `aud` claim is a string or an array of strings and
/// names it (a token without `aud` is accepted, as PostgREST does).
fn check_claim_types(s: &Settings, claims: &Value) -> Result<(), ApiError> {
    for name in ["exp", "nbf", "iat"] {
        if claims.get(name).is_some_and(|v| !v.is_number()) {
            return Err(invalid(
                "PGRST303",
                &format!("The JWT '{name}' claim must be a number"),
            ));
        }
    }
    // The type is checked whether or not `jwt-aud` is set (as PostgREST).
    let audience = s.audience.as_deref();
    let names_it = match claims.get("aud") {
        None | Some(Value::Null) => true,
        Some(Value::String(a)) => audience.is_none_or(|x| a == x),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            audience.is_none_or(|x| items.iter().any(|a| a.as_str() == Some(x)))
        }
        Some(_) => {
            return Err(invalid(
                "PGRST303",
                "The JWT 'aud' claim must be a string or an array of strings",
            ))
        }
    };
    if names_it {
        Ok(())
    } else {
        Err(invalid("PGRST303", "JWT not in audience"))
    }
}

pub(crate) fn now() -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    fn settings() -> Settings {
        Settings::from_env(|k| (k == "SUPALITE_JWT_SECRET").then(|| SECRET.to_string()))
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
    fn roles_outside_the_allowed_list_are_rejected() {
        let t = sign(json!({"role": "postgres"}));
        let e = authenticate(&settings(), &with_token(&t)).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("not allowed"));
        assert_eq!(
            authenticate(
                &settings(),
                &with_token(&sign(json!({"role": "service_role"})))
            )
            .unwrap()
            .role,
            "service_role"
        );
    }

    #[test]
    fn oversized_and_base64_secrets() {
        let big = sign(json!({"role": "anon", "pad": "x".repeat(MAX_TOKEN_BYTES)}));
        assert!(authenticate(&settings(), &with_token(&big))
            .unwrap_err()
            .message
            .contains("too large"));
        let mut s = settings();
        s.secret = Some(
            "c3VwZXItc2VjcmV0LWp3dC10b2tlbi13aXRoLWF0LWxlYXN0LTMyLWNoYXJhY3RlcnMtbG9uZw==".into(),
        );
        s.secret_is_base64 = true;
        assert_eq!(
            authenticate(&s, &with_token(&sign(json!({"role": "authenticated"}))))
                .unwrap()
                .role,
            "authenticated"
        );
    }

    /// An RS256 config given as a JWKS; HS256 signed with the public key
    /// as the "secret" (key confusion) must fail.
    #[test]
    fn jwks_and_key_confusion() {
        // RSA public key (n, e) of a fixed test key pair is not needed: an
        // EC P-256 JWK and a token HMAC-signed with its JSON text.
        let jwk = r#"{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let mut s = settings();
        s.secret = Some(format!("{{\"keys\":[{jwk}]}}"));
        let confused = encode(
            &Header::default(),
            &json!({"role": "service_role"}),
            &EncodingKey::from_secret(jwk.as_bytes()),
        )
        .unwrap();
        let e = authenticate(&s, &with_token(&confused)).unwrap_err();
        assert_eq!(e.status, 401);
        // A token whose kid matches no key is refused too.
        let mut h = Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("other".into());
        let fake = format!(
            "{}.e30.sig",
            base64_like::b64(&serde_json::to_string(&h).unwrap())
        );
        assert_eq!(
            authenticate(&s, &with_token(&fake)).unwrap_err().status,
            401
        );
    }

    #[test]
    fn claim_types_follow_postgrest() {
        let mut s = settings();
        s.audience = Some("app".into());
        let msg = |claims: serde_json::Value| {
            let t = sign(claims);
            authenticate(&s, &with_token(&t))
                .map(|_| ())
                .map_err(|e| (e.status, e.code, e.message))
        };
        let aud_type = Err((
            401,
            "PGRST303".to_string(),
            "The JWT 'aud' claim must be a string or an array of strings".to_string(),
        ));
        assert_eq!(msg(json!({"role": "authenticated", "aud": 1})), aud_type);
        assert_eq!(
            msg(json!({"role": "authenticated", "aud": {"a": "app"}})),
            aud_type
        );
        assert_eq!(
            msg(json!({"role": "authenticated", "aud": ["app", 2]})),
            aud_type
        );
        assert!(msg(json!({"role": "authenticated", "aud": ["x", "app"]})).is_ok());
        assert!(msg(json!({"role": "authenticated", "aud": "app"})).is_ok());
        assert!(
            msg(json!({"role": "authenticated"})).is_ok(),
            "no aud is accepted"
        );
        assert_eq!(
            msg(json!({"role": "authenticated", "aud": ["x"]}))
                .unwrap_err()
                .2,
            "JWT not in audience"
        );
        let no_aud_setting = sign(json!({"role": "authenticated", "aud": {"a": 1}}));
        assert_eq!(
            authenticate(&settings(), &with_token(&no_aud_setting))
                .unwrap_err()
                .message,
            "The JWT 'aud' claim must be a string or an array of strings"
        );
        let any = sign(json!({"role": "authenticated", "aud": ["x"]}));
        assert!(authenticate(&settings(), &with_token(&any)).is_ok());
        for claim in ["exp", "nbf", "iat"] {
            let e = msg(json!({"role": "authenticated", claim: "soon"})).unwrap_err();
            assert_eq!(e.2, format!("The JWT '{claim}' claim must be a number"));
        }
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
        s.allowed_roles.push("editor".into());
        let t = sign(json!({"aud": "app", "app_metadata": {"roles": ["x", "editor"]}}));
        assert_eq!(authenticate(&s, &with_token(&t)).unwrap().role, "editor");
    }

    mod base64_like {
        use base64::Engine;
        pub fn b64(s: &str) -> String {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
        }
    }

    #[test]
    fn cached_tokens_still_expire_and_failures_are_not_kept() {
        let s = settings();
        let mut cache = TokenCache::new(2);
        let good = sign(json!({"role": "authenticated", "exp": now() + 3600}));
        let h = with_token;
        let a = authenticate_cached(&s, &h(&good), &mut cache).unwrap();
        assert_eq!(a, authenticate_cached(&s, &h(&good), &mut cache).unwrap());
        assert_eq!(cache.entries.len(), 1);
        // Time claims are checked again on every hit.
        let soon = sign(json!({"role": "anon", "exp": now() + 5}));
        authenticate_cached(&s, &h(&soon), &mut cache).unwrap();
        assert!(cache
            .get(&soon, (now() + 5 + CLOCK_SKEW_SECONDS + 1) as f64)
            .is_none());
        // A bad token is refused every time and never cached.
        let forged = format!("{}x", &good[..good.len() - 1]);
        for _ in 0..2 {
            assert!(authenticate_cached(&s, &h(&forged), &mut cache).is_err());
        }
        assert!(!cache.entries.contains_key(&forged));
        // Bounded: the oldest entry goes.
        let third = sign(json!({"role": "anon"}));
        authenticate_cached(&s, &h(&third), &mut cache).unwrap();
        assert_eq!(cache.entries.len(), 2);
        assert!(!cache.entries.contains_key(&good));
    }
}
