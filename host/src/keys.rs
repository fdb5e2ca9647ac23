//! API keys as `supabase status` prints them: long-lived HS256 JWTs for the
//! `anon` and `service_role` roles.

use anyhow::Result;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

/// Same claims as the Supabase CLI's local keys (expiry in 2032).
pub fn api_keys(secret: &str) -> Result<(String, String)> {
    let key = EncodingKey::from_secret(secret.as_bytes());
    let sign = |role: &str| {
        encode(
            &Header::default(),
            &json!({"iss": "supabase-demo", "role": role, "exp": 1983812996}),
            &key,
        )
    };
    Ok((sign("anon")?, sign("service_role")?))
}
