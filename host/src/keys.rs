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

/// Supabase's newer API keys (`sb_publishable_…`, `sb_secret_…`; the
/// settings `publishable-key`, `secret-key`) and the legacy JWTs they stand
/// for: the server swaps one for the other before anything checks a token
/// (`server::layers::api_keys`, realtime's `apikey` and `access_token`), as
/// the CLI's Kong gateway does.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    /// (publishable key, anon JWT)
    publishable: Option<(String, String)>,
    /// (secret key, service_role JWT)
    secret: Option<(String, String)>,
}

impl ApiKeys {
    /// The keys for the JWT secret; none when the secret cannot sign
    /// (a JWK of public keys).
    pub fn new(publishable: &str, secret: &str, jwt_secret: &str, is_base64: bool) -> ApiKeys {
        match api_keys(jwt_secret, is_base64) {
            Ok((anon, service)) => ApiKeys {
                publishable: Some((publishable.to_string(), anon)).filter(|(k, _)| !k.is_empty()),
                secret: Some((secret.to_string(), service)).filter(|(k, _)| !k.is_empty()),
            },
            Err(_) => ApiKeys::default(),
        }
    }

    /// The JWT `key` stands for, if it is the publishable or the secret key.
    pub fn jwt_for(&self, key: &str) -> Option<&str> {
        [&self.publishable, &self.secret]
            .into_iter()
            .flatten()
            .find(|(k, _)| k == key)
            .map(|(_, jwt)| jwt.as_str())
    }

    /// Whether `key` is the secret key.
    pub fn is_secret(&self, key: &str) -> bool {
        self.secret.as_ref().is_some_and(|(k, _)| k == key)
    }
}
