//! What GoTrue answers for the sign-in methods supalite does not offer
//! (no OAuth, OIDC, SAML, Web3, passkey or SMS provider is configured), as
//! `internal/api`'s external.go, token.go, token_oidc.go, web3.go,
//! middleware.go (`require*Enabled`), signup.go and otp.go answer them;
//! and the identities of a user (`/user/identities`: GoTrue's unlink, when
//! `auth-manual-linking` is on).

use super::*;
use crate::links;

/// GoTrue's OAuth providers (`Provider`'s switch in external.go).
const OAUTH_PROVIDERS: &[&str] = &[
    "apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github", "gitlab",
    "google", "kakao", "keycloak", "linkedin", "linkedin_oidc", "notion", "snapchat", "spotify",
    "slack", "slack_oidc", "twitch", "twitter", "x", "vercel_marketplace", "workos", "zoom",
];

/// An OAuth-style error (`apierrors.NewOAuthError`): 400 `{error, error_description}`.
fn oauth_error(kind: &str, description: &str) -> Response {
    json_response(400, json!({"error": kind, "error_description": description}))
}

/// The issuer GoTrue names for a built-in OIDC provider's ID tokens.
fn issuer_of(provider: &str) -> Option<&'static str> {
    Some(match provider {
        "google" => "https://accounts.google.com",
        "apple" => "https://appleid.apple.com",
        "azure" => "https://login.microsoftonline.com/common/v2.0",
        "facebook" => "https://www.facebook.com",
        "kakao" => "https://kauth.kakao.com",
        "keycloak" => "",
        "snapchat" => "https://accounts.snapchat.com",
        "vercel_marketplace" => "https://marketplace.vercel.com",
        _ => return None,
    })
}

/// The 404 of a switched-off feature for paths under its prefix
/// (GoTrue's `require*Enabled` middlewares run before any route of the group).
pub fn disabled_feature(path: &str) -> Option<Response> {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    let (code, msg) = if under("/sso") {
        ("saml_provider_disabled", "SAML 2.0 is disabled")
    } else if under("/passkeys") {
        ("passkey_disabled", "Passkeys are disabled")
    } else if under("/oauth") || under("/admin/oauth") || under("/user/oauth/grants")
        || path == "/.well-known/oauth-authorization-server"
    {
        ("feature_disabled", "OAuth server is disabled")
    } else if under("/admin/custom-providers") {
        ("feature_disabled", "Custom OAuth providers are disabled")
    } else if under("/scim/v2") {
        ("feature_disabled", "SCIM server is disabled")
    } else {
        return None;
    };
    Some(error(404, code, msg))
}

/// GoTrue's `GetExternalProviderRedirectURL` for a provider that is not
/// configured: 400 "Unsupported provider: …".
pub fn unsupported_provider(query: &str) -> Response {
    let name = links::param(query, "provider").unwrap_or_default().to_lowercase();
    let why = if OAUTH_PROVIDERS.contains(&name.as_str()) {
        "provider is not enabled".to_string()
    } else if name.starts_with("custom:") {
        "custom OAuth providers are disabled".to_string()
    } else {
        format!("Provider {name} could not be found")
    };
    error(400, "validation_failed", &format!("Unsupported provider: {why}"))
}

/// `grant_type=id_token` (`signInWithIdToken`): no OIDC provider is enabled.
pub fn id_token_grant(body: &[u8]) -> Result<Response, Response> {
    let b = body_json(body)?;
    let field = |k: &str| str_field(&b, k).unwrap_or("");
    if field("id_token").is_empty() {
        return Err(oauth_error("invalid request", "id_token required"));
    }
    let provider = field("provider");
    if provider.is_empty() && (field("client_id").is_empty() || field("issuer").is_empty()) {
        return Err(oauth_error("invalid request", "provider or client_id and issuer required"));
    }
    let issuer = field("issuer");
    let known = issuer_of(provider).or_else(|| {
        ["google", "apple", "azure", "facebook", "kakao", "snapchat", "vercel_marketplace"]
            .into_iter()
            .find(|p| issuer_of(p) == Some(issuer) && !issuer.is_empty())
            .and_then(issuer_of)
    });
    if provider.starts_with("custom:") {
        return Err(error(400, "validation_failed", "Custom OAuth providers are disabled"));
    }
    match known {
        Some(iss) => Err(error(
            400,
            "provider_disabled",
            &format!("Provider (issuer {}) is not enabled", serde_json::to_string(iss).unwrap_or_default()),
        )),
        None => Err(error(
            400,
            "validation_failed",
            &format!("Custom OIDC provider {} not allowed", serde_json::to_string(provider).unwrap_or_default()),
        )),
    }
}

/// `grant_type=web3` (`signInWithWeb3`).
pub fn web3_grant() -> Response {
    error(422, "web3_provider_disabled", "Web3 provider is disabled")
}

/// `/callback` (an OAuth provider's return): GoTrue's `loadFlowState`.
pub fn callback(query: &str, body: &[u8]) -> Response {
    let state = links::param(query, "state")
        .or_else(|| {
            let form = String::from_utf8_lossy(body).to_string();
            links::param(&form, "state")
        })
        .unwrap_or_default();
    if state.is_empty() {
        return error(400, "bad_oauth_callback", "OAuth state parameter missing");
    }
    if !super::admin::is_uuid(&state) {
        return error(400, "bad_oauth_state", "OAuth state parameter is invalid");
    }
    error(400, "bad_oauth_state", "OAuth state not found or expired")
}

impl Ctx<'_> {
    /// `/user/identities/…` (`linkIdentity`, `unlinkIdentity`): signed in
    /// first, then GoTrue's `requireManualLinkingEnabled`.
    pub(super) fn identities(
        &self,
        method: &str,
        rest: &str,
        query: &str,
        headers: &[(String, String)],
    ) -> Result<Response, Response> {
        let (sub, _) = self.current(headers)?;
        if !self.cfg.manual_linking {
            return Err(error(404, "manual_linking_disabled", "Manual linking is disabled"));
        }
        match (method, rest) {
            ("GET", "/authorize") => Err(unsupported_provider(query)),
            ("DELETE", id) if id.len() > 1 && !id[1..].contains('/') => self.unlink(&sub, &id[1..]),
            _ => Err(error(404, "not_found", "Not found")),
        }
    }

    /// GoTrue's `DeleteIdentity`: the last identity stays; an e-mail
    /// identity's address leaves the user (another identity's confirmed
    /// address takes its place), a phone identity's phone too; the
    /// providers in `app_metadata` follow.
    fn unlink(&self, user_id: &str, identity_id: &str) -> Result<Response, Response> {
        if !super::admin::is_uuid(identity_id) {
            return Err(error(404, "validation_failed", "identity_id must be an UUID"));
        }
        let rows = self.one(
            "SELECT count(*)::text, max(provider) FILTER (WHERE id = $2::uuid) FROM auth.identities WHERE user_id = $1::uuid",
            vec![Some(user_id.into()), Some(identity_id.into())],
        )?;
        let count: u64 = rows.first().and_then(|r| r[0].as_deref()).and_then(|c| c.parse().ok()).unwrap_or(0);
        if count <= 1 {
            return Err(error(422, "single_identity_not_deletable", "User must have at least 1 identity after unlinking"));
        }
        let Some(provider) = rows.first().and_then(|r| r[1].clone()) else {
            return Err(error(422, "identity_not_found", "Identity doesn't exist"));
        };
        let uid = || Some(user_id.to_string());
        let mut stmts = vec![(
            "DELETE FROM auth.identities WHERE id = $1::uuid".to_string(),
            vec![Some(identity_id.into())],
        )];
        if provider == "phone" {
            stmts.push((
                "UPDATE auth.users SET phone = NULL, phone_confirmed_at = NULL, updated_at = now() WHERE id = $1::uuid".into(),
                vec![uid()],
            ));
        } else {
            // `UpdateUserEmailFromIdentities`: the e-mail of an identity
            // left (the primary one's, then any), confirmed or not.
            stmts.push((
                "UPDATE auth.users u SET email = (SELECT i.email FROM auth.identities i WHERE i.user_id = u.id AND i.email IS NOT NULL AND i.email <> ''
                                                  ORDER BY (i.email = u.email) DESC, i.created_at LIMIT 1),
                   updated_at = now()
                 WHERE u.id = $1::uuid AND NOT EXISTS (SELECT 1 FROM auth.identities i WHERE i.user_id = u.id AND i.email = u.email)"
                    .into(),
                vec![uid()],
            ));
        }
        stmts.push((
            "UPDATE auth.users u SET raw_app_meta_data = coalesce(u.raw_app_meta_data, '{}'::jsonb) || jsonb_build_object('providers',
               (SELECT coalesce(jsonb_agg(DISTINCT i.provider), '[]'::jsonb) FROM auth.identities i WHERE i.user_id = u.id))
             WHERE u.id = $1::uuid"
                .into(),
            vec![uid()],
        ));
        match self.sql.run(stmts) {
            Ok(_) => Ok(json_response(200, json!({}))),
            Err(e) if e.code == "23505" => Err(error(
                422,
                "email_conflict_identity_not_deletable",
                "Unable to unlink identity due to email conflict",
            )),
            Err(e) => Err(error(500, "unexpected_failure", &format!("Database error deleting identity: {}", e.message))),
        }
    }

    /// `POST /magiclink` (GoTrue's deprecated route; `/otp` with an e-mail).
    pub(super) fn magiclink(&self, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        if str_field(&b, "email").unwrap_or("").is_empty() {
            return Err(error(422, "validation_failed", "Password recovery requires an email"));
        }
        self.rate_limit("otp", self.cfg.rate_limit_sign_in, self.cfg.rate_limit_window_seconds, headers)?;
        self.otp(query, headers, body)
    }

    /// `GET /admin/audit`: `auth.audit_log_entries`, newest first, paged as
    /// `/admin/users` (supalite writes no entries; a restored dump's are read).
    pub(super) fn audit(&self, query: &str, headers: &[(String, String)]) -> Result<Response, Response> {
        self.require_admin(headers)?;
        let (page, per_page) = super::admin::pagination(query)?;
        let rows = self.one(
            "SELECT (SELECT count(*) FROM auth.audit_log_entries)::text,
                    coalesce((SELECT json_agg(json_build_object('instance_id', a.instance_id, 'id', a.id, 'payload', a.payload,
                        'created_at', a.created_at, 'ip_address', a.ip_address) ORDER BY a.created_at DESC)
                      FROM (SELECT * FROM auth.audit_log_entries ORDER BY created_at DESC LIMIT $1::bigint OFFSET $2::bigint) a), '[]')::text",
            vec![
                Some(per_page.min(i64::MAX as u64).to_string()),
                Some((page - 1).saturating_mul(per_page).min(i64::MAX as u64).to_string()),
            ],
        )?;
        let row = rows.first();
        let total: u64 = row.and_then(|r| r[0].as_deref()).and_then(|t| t.parse().ok()).unwrap_or(0);
        let entries: Value = row
            .and_then(|r| r[1].as_deref())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(json!([]));
        let mut r = json_response(200, entries);
        r.headers.extend(super::admin::pagination_headers("/admin/audit", query, page, per_page, total));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn refusals() {
        let r = disabled_feature("/sso").unwrap();
        assert_eq!((r.status, body(&r)["error_code"].clone()), (404, json!("saml_provider_disabled")));
        assert!(disabled_feature("/sso/saml/acs").is_some());
        assert_eq!(body(&disabled_feature("/passkeys/authentication/options").unwrap())["msg"], "Passkeys are disabled");
        assert!(disabled_feature("/ssox").is_none());
        assert!(disabled_feature("/user").is_none());
        assert_eq!(body(&unsupported_provider("provider=GitHub"))["msg"], "Unsupported provider: provider is not enabled");
        assert_eq!(
            body(&unsupported_provider("provider=nope"))["msg"],
            "Unsupported provider: Provider nope could not be found"
        );
        let e = id_token_grant(br#"{"provider":"google","token":"x"}"#).unwrap_err();
        assert_eq!(body(&e), json!({"error": "invalid request", "error_description": "id_token required"}));
        let e = id_token_grant(br#"{"provider":"google","id_token":"x"}"#).unwrap_err();
        assert_eq!(body(&e)["msg"], "Provider (issuer \"https://accounts.google.com\") is not enabled");
        assert_eq!(body(&e)["error_code"], "provider_disabled");
        let e = id_token_grant(br#"{"provider":"nope","id_token":"x"}"#).unwrap_err();
        assert_eq!(body(&e)["msg"], "Custom OIDC provider \"nope\" not allowed");
        assert_eq!(body(&callback("", b""))["error_code"], "bad_oauth_callback");
        assert_eq!(body(&callback("state=x", b""))["msg"], "OAuth state parameter is invalid");
    }
}
