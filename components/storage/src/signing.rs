//! Signed URLs as Storage makes them: an HS256 JWT signed with the
//! project's key, `{url: "bucket/name", scope: "download"|"upload", iat,
//! exp}` (upload tokens add `owner` and `upsert`), bound to its object and
//! expiry; and what a check of one answers (jose's messages, which Storage
//! passes on).

use crate::error::{Result, StorageError};
use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

pub const SCOPE_DOWNLOAD: &str = "download";
pub const SCOPE_UPLOAD: &str = "upload";

/// The key signed URLs are signed and checked with: the HS256 `jwt-secret`
/// (base64-decoded with `jwt-secret-is-base64`), or the first symmetric
/// (`oct`) key of a JWK set. `None` when there is no such key (a set of
/// public keys only): signed URLs are then unavailable.
pub fn signing_key(secret: Option<&str>, is_base64: bool) -> Option<Vec<u8>> {
    use base64::Engine;
    let secret = secret?;
    let trimmed = secret.trim_start();
    if !trimmed.starts_with('{') {
        return if is_base64 {
            base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .ok()
        } else {
            Some(secret.as_bytes().to_vec())
        };
    }
    let v: Value = serde_json::from_str(trimmed).ok()?;
    let keys = match v.get("keys").and_then(Value::as_array) {
        Some(keys) => keys.clone(),
        None => vec![v],
    };
    keys.iter().find_map(|k| {
        (k.get("kty")? == "oct")
            .then(|| k.get("k")?.as_str())
            .flatten()
            .and_then(|k| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k.trim_end_matches('=')).ok())
    })
}

/// A token for `claims`, valid `expires_in` seconds from `now` (seconds).
pub fn sign(key: &[u8], mut claims: Value, now: u64, expires_in: u64) -> Result<String> {
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + expires_in);
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key))
        .map_err(|_| StorageError::internal("could not sign the URL"))
}

/// The message jose gives for a token that fails a check.
fn jose_message(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "\"exp\" claim timestamp check failed",
        ErrorKind::ImmatureSignature => "\"nbf\" claim timestamp check failed",
        ErrorKind::InvalidSignature => "signature verification failed",
        ErrorKind::InvalidAlgorithm => "\"alg\" (Algorithm) Header Parameter value not allowed",
        ErrorKind::MissingRequiredClaim(_) => "\"exp\" claim is missing",
        _ => "Invalid Compact JWS",
    }
}

/// The claims of a token signed with `key`: its signature, and `exp` (no
/// leeway, as jose), checked. A failure is Storage's `InvalidJWT`.
pub fn verify(key: &[u8], token: &str) -> Result<Value> {
    if token.is_empty() || token.len() > jwt::MAX_TOKEN_BYTES {
        return Err(StorageError::invalid_jwt("Invalid Compact JWS"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    decode::<Value>(token, &DecodingKey::from_secret(key), &validation)
        .map(|d| d.claims)
        .map_err(|e| StorageError::invalid_jwt(jose_message(e.kind())))
}

/// What a signed-URL route takes from its token: the claims, once its scope
/// and object are the ones asked for (Storage's `verifyObjectSignature`).
pub fn check(key: &[u8], token: &str, url: &str, scope: &str, now_ms: u64) -> Result<Value> {
    let claims = verify(key, token)?;
    // Tokens from before scopes were written: a download token has no
    // `owner`/`upsert`, an upload token has them.
    let scoped = match claims.get("scope").and_then(Value::as_str) {
        Some(s) => s == scope,
        None if scope == SCOPE_UPLOAD => claims.get("upsert").is_some(),
        None => claims.get("upsert").is_none() && claims.get("owner").is_none(),
    };
    if !scoped {
        return Err(StorageError::invalid_signature(&format!(
            "Token is not scoped for {scope}"
        )));
    }
    if claims.get("url").and_then(Value::as_str) != Some(url) {
        return Err(StorageError::invalid_signature("Invalid signature"));
    }
    let exp = claims.get("exp").and_then(Value::as_f64).unwrap_or(0.0);
    if exp * 1000.0 < now_ms as f64 {
        return Err(StorageError::expired_signature());
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";

    fn now_s() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn a_signed_url_is_bound_to_its_object_scope_and_expiry() {
        let now = now_s();
        let t = sign(KEY, json!({"url": "avatars/a.png", "scope": "download"}), now, 60).unwrap();
        assert!(check(KEY, &t, "avatars/a.png", SCOPE_DOWNLOAD, now * 1000).is_ok());
        let e = check(KEY, &t, "avatars/b.png", SCOPE_DOWNLOAD, now * 1000).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("InvalidSignature", "Invalid signature"));
        let e = check(KEY, &t, "avatars/a.png", SCOPE_UPLOAD, now * 1000).unwrap_err();
        assert_eq!(e.message, "Token is not scoped for upload");
        let e = check(b"another-secret-another-secret-another-secret", &t, "avatars/a.png", SCOPE_DOWNLOAD, now * 1000).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("InvalidJWT", "signature verification failed"));
        let old = sign(KEY, json!({"url": "avatars/a.png", "scope": "download"}), now - 120, 60).unwrap();
        let e = check(KEY, &old, "avatars/a.png", SCOPE_DOWNLOAD, now * 1000).unwrap_err();
        assert_eq!(e.message, "\"exp\" claim timestamp check failed");
        let e = check(KEY, "garbage", "avatars/a.png", SCOPE_DOWNLOAD, now * 1000).unwrap_err();
        assert_eq!((e.http, e.message.as_str()), (400, "Invalid Compact JWS"));
        // An access token signed with the same key is not a signed URL.
        let access = sign(KEY, json!({"role": "authenticated", "sub": "u"}), now, 60).unwrap();
        assert!(check(KEY, &access, "avatars/a.png", SCOPE_DOWNLOAD, now * 1000).is_err());
    }

    #[test]
    fn keys() {
        assert_eq!(signing_key(Some("abc"), false).unwrap(), b"abc");
        assert_eq!(signing_key(Some("YWJj"), true).unwrap(), b"abc");
        let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"},{"kty":"oct","k":"YWJj"}]}"#;
        assert_eq!(signing_key(Some(jwks), false).unwrap(), b"abc");
        assert_eq!(signing_key(Some(r#"{"kty":"RSA","n":"x","e":"AQAB"}"#), false), None);
        assert_eq!(signing_key(None, false), None);
    }
}
