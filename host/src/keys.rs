//! API keys as `supabase status` prints them: long-lived HS256 JWTs for the
//! `anon` and `service_role` roles.

use anyhow::Result;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

/// Same claims as the Supabase CLI's local keys (expiry in 2032).
pub fn api_keys(secret: &str, is_base64: bool) -> Result<(String, String)> {
    if secret.trim_start().starts_with('{') {
        anyhow::bail!(
            "jwt-secret is a JWK/JWKS of public keys: sign API keys with the matching private key"
        );
    }
    let key = if is_base64 {
        EncodingKey::from_base64_secret(secret)?
    } else {
        EncodingKey::from_secret(secret.as_bytes())
    };
    let sign = |role: &str| {
        encode(
            &Header::default(),
            &json!({"iss": "supabase-demo", "role": role, "exp": 1983812996}),
            &key,
        )
    };
    Ok((sign("anon")?, sign("service_role")?))
}
