//! GoTrue's MFA (issue 26), TOTP factors, as `internal/api/mfa.go` and
//! `admin.go`: `POST /factors` (enrol), `POST /factors/{id}/challenge`,
//! `POST /factors/{id}/verify` (the session becomes `aal2`: a new access
//! and refresh token), `DELETE /factors/{id}`, and the admin's
//! `GET /admin/users/{id}/factors`, `PUT` and `DELETE
//! /admin/users/{id}/factors/{factor_id}`. Factors, challenges and each
//! session's authentication methods live in `auth.mfa_factors`,
//! `auth.mfa_challenges` and `auth.mfa_amr_claims`; every token takes its
//! `aal` and `amr` from its session's claims, as GoTrue's
//! `CalculateAALAndAMR`, so a refresh keeps `aal2`. The TOTP secret is
//! stored as GoTrue stores it by default (`DB_ENCRYPTION` off: plain).
//! Phone factors need an SMS provider and passkeys (WebAuthn) are not
//! implemented: they are refused with GoTrue's "disabled" errors.

use super::*;
use crate::totp;

/// A factor as GoTrue returns it (`models.Factor`) from `auth.mfa_factors`
/// row `f` (`USER_JSON` lists a user's factors with the same expression).
const FACTOR_JSON: &str = "(jsonb_build_object('id', f.id, 'created_at', f.created_at, 'updated_at', f.updated_at, 'status', f.status, 'friendly_name', f.friendly_name, 'factor_type', f.factor_type, 'phone', coalesce(f.phone, ''), 'last_challenged_at', f.last_challenged_at) - CASE WHEN coalesce(f.friendly_name, '') = '' THEN 'friendly_name' ELSE '' END)";

/// GoTrue's `MFA_CHALLENGE_EXPIRY_DURATION` (seconds).
const CHALLENGE_EXPIRY: u64 = 300;
/// GoTrue's `MFA_FACTOR_EXPIRY_DURATION`: an unverified factor never
/// challenged is removed after it (seconds).
const FACTOR_EXPIRY: u64 = 300;
/// GoTrue's `MFA_MAX_VERIFIED_FACTORS`.
const MAX_VERIFIED_FACTORS: usize = 10;
/// GoTrue's `MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY`: challenges, and
/// verifications, one client may make per minute.
const RATE_LIMIT_CHALLENGE_AND_VERIFY: u32 = 15;

/// The methods that make a session `aal2` (GoTrue's `IsAAL2Claim`).
fn is_aal2_method(m: &str) -> bool {
    matches!(m, "totp" | "mfa/phone" | "mfa/webauthn")
}

/// A session's `aal` and `amr` from its claims (method, unix time), most
/// recent first; a session without claims (made before they were kept)
/// has `method` at `iat`.
fn aal_amr_of(claims: &[(String, u64)], method: &str, iat: u64) -> (&'static str, Value) {
    if claims.is_empty() {
        return ("aal1", json!([{"method": method, "timestamp": iat}]));
    }
    let mut sorted: Vec<&(String, u64)> = claims.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1));
    let aal = if claims.iter().any(|(m, _)| is_aal2_method(m)) { "aal2" } else { "aal1" };
    let amr = sorted
        .iter()
        .map(|(m, t)| json!({"method": m, "timestamp": t}))
        .collect();
    (aal, Value::Array(amr))
}

/// `/admin/users/{user_id}/factors[/{factor_id}]`: the two ids (the
/// second empty for the list).
pub(super) fn admin_path(p: &str) -> Option<(&str, &str)> {
    let (user, tail) = p.strip_prefix("/admin/users/")?.split_once('/')?;
    let tail = tail.strip_prefix("factors")?;
    (tail.is_empty() || tail.starts_with('/')).then(|| (user, tail.trim_start_matches('/')))
}

/// The client's address (the one the server appended to
/// `X-Forwarded-For`), as GoTrue's `GetIPAddress`; a challenge must be
/// verified from the address it was made from.
fn client_ip(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-for"))
        .and_then(|(_, v)| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string())
}

/// GoTrue's default issuer: the host (and port) of the site URL.
fn site_host(site_url: &str) -> Option<&str> {
    let rest = site_url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// GoTrue's `amrMethodForFactorType`.
fn amr_method(factor_type: &str) -> &'static str {
    match factor_type {
        "phone" => "mfa/phone",
        "webauthn" => "mfa/webauthn",
        _ => "totp",
    }
}

use super::admin::is_uuid;

/// A string field of the body; anything else than a string is the body
/// GoTrue could not decode.
fn text_field(b: &Map<String, Value>, k: &str) -> Result<String, Response> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(error(
            400,
            "bad_json",
            &format!("Could not parse request body as JSON: {k} must be a string"),
        )),
    }
}

fn not_found() -> Response {
    error(404, "mfa_factor_not_found", "Factor not found")
}

fn name_conflict(name: &str) -> Response {
    error(
        422,
        "mfa_factor_name_conflict",
        &format!("A factor with the friendly name {name:?} for this user already exists"),
    )
}

/// A factor of the signed-in user, and that session's `aal`.
struct Factor {
    id: String,
    kind: String,
    verified: bool,
    secret: String,
    session_aal: String,
}

impl Ctx<'_> {
    /// The session's `aal` and `amr` for its access token.
    pub(super) fn aal_amr(
        &self,
        session_id: &str,
        method: &str,
        iat: u64,
    ) -> Result<(&'static str, Value), Response> {
        let rows = self.one(
            "SELECT authentication_method::text, extract(epoch from updated_at)::bigint::text
             FROM auth.mfa_amr_claims WHERE session_id = $1::uuid ORDER BY updated_at DESC, authentication_method",
            vec![Some(session_id.into())],
        )?;
        let claims: Vec<(String, u64)> = rows
            .into_iter()
            .map(|r| {
                let m = r.first().cloned().flatten().unwrap_or_default();
                let t = r.get(1).cloned().flatten().and_then(|t| t.parse().ok()).unwrap_or(0);
                (m, t)
            })
            .collect();
        Ok(aal_amr_of(&claims, method, iat))
    }

    /// `/factors…` (`rest` after `/factors`), signed in, not anonymous.
    pub(super) fn factors(
        &self,
        method: &str,
        rest: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, Response> {
        let (sub, sid) = self.current(headers)?;
        if self.claims(headers)?["is_anonymous"].as_bool() == Some(true) {
            return Err(error(
                403,
                "no_authorization",
                "Anonymous user not allowed to perform these actions",
            ));
        }
        let rest = rest.trim_start_matches('/');
        let unsupported = || error(404, "not_found", &format!("{method} /factors/{rest} is not supported"));
        if rest.is_empty() {
            return match method {
                "POST" => self.enroll(&sub, &sid, body),
                _ => Err(unsupported()),
            };
        }
        let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
        if !matches!((method, action), ("POST", "challenge") | ("POST", "verify") | ("DELETE", "")) {
            return Err(unsupported());
        }
        let f = self.load_factor(&sub, &sid, id)?;
        match action {
            "challenge" => {
                self.rate_limit("mfa_challenge", RATE_LIMIT_CHALLENGE_AND_VERIFY, 60, headers)?;
                self.challenge(&f, headers, body)
            }
            "verify" => {
                self.rate_limit("mfa_verify", RATE_LIMIT_CHALLENGE_AND_VERIFY, 60, headers)?;
                self.verify_factor(&sub, &sid, &f, headers, body)
            }
            _ => self.unenroll(&sub, &f),
        }
    }

    /// GoTrue's `loadFactor`: the user's own factor, else 404.
    fn load_factor(&self, sub: &str, sid: &str, id: &str) -> Result<Factor, Response> {
        if !is_uuid(id) {
            return Err(error(404, "validation_failed", "factor_id must be an UUID"));
        }
        let rows = self.one(
            "SELECT f.id::text, f.factor_type::text, (f.status::text = 'verified')::text, coalesce(f.secret, ''),
                    (SELECT coalesce(s.aal::text, '') FROM auth.sessions s WHERE s.id = $3::uuid)
             FROM auth.mfa_factors f WHERE f.id = $1::uuid AND f.user_id = $2::uuid",
            vec![Some(id.into()), Some(sub.into()), Some(sid.into())],
        )?;
        let r = rows.first().ok_or_else(not_found)?;
        let s = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        Ok(Factor {
            id: s(0),
            kind: s(1),
            verified: s(2) == "true",
            secret: s(3),
            session_aal: s(4),
        })
    }

    fn verify_enabled(&self, kind: &str) -> Result<(), Response> {
        match kind {
            "totp" if self.cfg.mfa_totp_verify => Ok(()),
            "totp" => Err(error(422, "mfa_totp_verify_disabled", "MFA verification is disabled for TOTP")),
            "phone" => Err(error(422, "mfa_phone_verify_disabled", "MFA verification is disabled for Phone")),
            "webauthn" => Err(error(422, "mfa_webauthn_verify_disabled", "MFA verification is disabled for WebAuthn")),
            _ => Err(error(400, "validation_failed", "factor_type needs to be totp, phone, or webauthn")),
        }
    }

    /// `POST /factors`: a new unverified TOTP factor, its secret, URI and
    /// QR code (GoTrue's `EnrollFactor`, `validateFactors`).
    fn enroll(&self, sub: &str, sid: &str, body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let friendly = text_field(&b, "friendly_name")?;
        let factor_type = text_field(&b, "factor_type")?;
        let issuer = text_field(&b, "issuer")?;
        match factor_type.as_str() {
            "totp" if self.cfg.mfa_totp_enroll => {}
            "totp" => return Err(error(422, "mfa_totp_enroll_disabled", "MFA enroll is disabled for TOTP")),
            "phone" => return Err(error(422, "mfa_phone_enroll_disabled", "MFA enroll is disabled for Phone")),
            "webauthn" => {
                return Err(error(422, "mfa_webauthn_enroll_disabled", "MFA enroll is disabled for WebAuthn"))
            }
            _ => {
                return Err(error(400, "validation_failed", "factor_type needs to be totp, phone, or webauthn"))
            }
        }
        let issuer = if issuer.is_empty() {
            site_host(&self.cfg.site_url)
                .ok_or_else(|| error(500, "unexpected_failure", "site url is improperly formatted"))?
                .to_string()
        } else {
            issuer
        };
        let mut sets = self
            .sql
            .run(vec![
                (
                    "DELETE FROM auth.mfa_factors f WHERE f.status::text <> 'verified'
                       AND NOT EXISTS (SELECT 1 FROM auth.mfa_challenges c WHERE c.factor_id = f.id)
                       AND f.created_at + make_interval(secs => $1::int) < now()"
                        .into(),
                    vec![Some(FACTOR_EXPIRY.to_string())],
                ),
                (
                    "SELECT coalesce(f.friendly_name, ''), (f.status::text = 'verified')::text FROM auth.mfa_factors f WHERE f.user_id = $1::uuid"
                        .into(),
                    vec![Some(sub.into())],
                ),
                (
                    "SELECT coalesce(u.email, ''), (SELECT coalesce(s.aal::text, '') FROM auth.sessions s WHERE s.id = $2::uuid)
                     FROM auth.users u WHERE u.id = $1::uuid"
                        .into(),
                    vec![Some(sub.into()), Some(sid.into())],
                ),
            ])
            .map_err(db_error)?;
        let me = sets.pop().unwrap_or_default();
        let factors = sets.pop().unwrap_or_default();
        let me = me.first().ok_or_else(|| error(404, "user_not_found", "User not found"))?;
        let email = me[0].clone().unwrap_or_default();
        let session_aal = me[1].clone().unwrap_or_default();
        let mut verified = 0;
        for f in &factors {
            if f[0].as_deref() == Some(friendly.as_str()) {
                return Err(name_conflict(&friendly));
            }
            if f[1].as_deref() == Some("true") {
                verified += 1;
            }
        }
        let too_many = || {
            error(
                422,
                "too_many_enrolled_mfa_factors",
                "Maximum number of verified factors reached, unenroll to continue",
            )
        };
        if factors.len() as u64 >= self.cfg.mfa_max_enrolled_factors || verified >= MAX_VERIFIED_FACTORS {
            return Err(too_many());
        }
        if verified > 0 && session_aal != "aal2" {
            return Err(error(403, "insufficient_aal", "AAL2 required to enroll a new factor"));
        }
        let secret = totp::new_secret().map_err(|_| error(500, "unexpected_failure", "no randomness"))?;
        let uri = totp::uri(&issuer, &email, &secret);
        let qr = totp::qr_svg(&uri)
            .ok_or_else(|| error(500, "unexpected_failure", "Error generating QR Code"))?;
        let res = self.sql.run(vec![(
            "INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
             VALUES (gen_random_uuid(), $1::uuid, $2, 'totp', 'unverified', now(), now(), $3) RETURNING id::text"
                .into(),
            vec![Some(sub.into()), Some(friendly.clone()), Some(secret.clone())],
        )]);
        let id = match res {
            Ok(mut s) => s.pop().and_then(|r| r.into_iter().next()).and_then(|r| r[0].clone()).unwrap_or_default(),
            Err(e) if e.code == "23505" => return Err(name_conflict(&friendly)),
            Err(e) => return Err(db_error(e)),
        };
        Ok(json_response(
            200,
            json!({
                "id": id, "type": "totp", "friendly_name": friendly,
                "totp": {"qr_code": qr, "secret": secret, "uri": uri},
            }),
        ))
    }

    /// `POST /factors/{id}/challenge`: a challenge valid for five minutes,
    /// to be verified from the same address.
    fn challenge(&self, f: &Factor, headers: &[(String, String)], body: &[u8]) -> Result<Response, Response> {
        body_json(body)?;
        self.verify_enabled(&f.kind)?;
        let mut sets = self
            .sql
            .run(vec![
                (
                    "INSERT INTO auth.mfa_challenges (id, factor_id, created_at, ip_address)
                     VALUES (gen_random_uuid(), $1::uuid, now(), $2::inet)
                     RETURNING id::text, floor(extract(epoch from created_at))::bigint::text"
                        .into(),
                    vec![Some(f.id.clone()), Some(client_ip(headers))],
                ),
                (
                    "UPDATE auth.mfa_factors SET last_challenged_at = now() WHERE id = $1::uuid".into(),
                    vec![Some(f.id.clone())],
                ),
            ])
            .map_err(db_error)?;
        sets.pop();
        let rows = sets.pop().unwrap_or_default();
        let r = rows.first().ok_or_else(|| error(500, "unexpected_failure", "the challenge was not created"))?;
        let created: u64 = r[1].as_deref().and_then(|t| t.parse().ok()).unwrap_or_else(now);
        Ok(json_response(
            200,
            json!({"id": r[0], "type": f.kind, "expires_at": created + CHALLENGE_EXPIRY}),
        ))
    }

    /// `POST /factors/{id}/verify`: the code of a live challenge of this
    /// factor raises the session to `aal2` (GoTrue's `verifyTOTPFactor`
    /// and `updateMFASessionAndClaims`): a `totp` claim, a new refresh
    /// token, the factor verified, the user's `aal1` sessions ended and
    /// other unverified TOTP factors removed.
    fn verify_factor(
        &self,
        sub: &str,
        sid: &str,
        f: &Factor,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, Response> {
        let b = body_json(body)?;
        let challenge_id = text_field(&b, "challenge_id")?;
        let challenge_id = if challenge_id.is_empty() {
            "00000000-0000-0000-0000-000000000000".to_string()
        } else if is_uuid(&challenge_id) {
            challenge_id
        } else {
            return Err(error(
                400,
                "bad_json",
                "Could not parse request body as JSON: challenge_id must be a UUID",
            ));
        };
        let code = text_field(&b, "code")?;
        if code.is_empty() {
            return Err(error(400, "validation_failed", "Code needs to be non-empty"));
        }
        self.verify_enabled(&f.kind)?;
        // GoTrue's `validateChallenge`.
        let rows = self.one(
            "SELECT (c.verified_at IS NOT NULL OR c.ip_address IS DISTINCT FROM $3::inet)::text,
                    (c.created_at + make_interval(secs => $4::int) < now())::text
             FROM auth.mfa_challenges c WHERE c.id = $1::uuid AND c.factor_id = $2::uuid",
            vec![
                Some(challenge_id.clone()),
                Some(f.id.clone()),
                Some(client_ip(headers)),
                Some(CHALLENGE_EXPIRY.to_string()),
            ],
        )?;
        let r = rows.first().ok_or_else(|| {
            error(422, "mfa_factor_not_found", "MFA factor with the provided challenge ID not found")
        })?;
        if r[0].as_deref() == Some("true") {
            return Err(error(422, "mfa_ip_address_mismatch", "Challenge and verify IP addresses mismatch."));
        }
        if r[1].as_deref() == Some("true") {
            self.one("DELETE FROM auth.mfa_challenges WHERE id = $1::uuid", vec![Some(challenge_id.clone())])?;
            return Err(error(
                422,
                "mfa_challenge_expired",
                &format!("MFA challenge {challenge_id} has expired, verify against another challenge or create a new challenge."),
            ));
        }
        if !totp::check(&f.secret, &code, now()) {
            return Err(error(422, "mfa_verification_failed", "Invalid TOTP code entered"));
        }
        let refresh = random_token();
        let mut sets = self
            .sql
            .run(vec![
                (
                    "UPDATE auth.mfa_challenges SET verified_at = now() WHERE id = $1::uuid".into(),
                    vec![Some(challenge_id)],
                ),
                (
                    "UPDATE auth.mfa_factors SET status = 'verified', updated_at = now() WHERE id = $1::uuid AND status::text <> 'verified'".into(),
                    vec![Some(f.id.clone())],
                ),
                (
                    "INSERT INTO auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
                     VALUES (gen_random_uuid(), $1::uuid, now(), now(), $2)
                     ON CONFLICT (session_id, authentication_method) DO UPDATE SET updated_at = now()"
                        .into(),
                    vec![Some(sid.into()), Some(amr_method(&f.kind).into())],
                ),
                (
                    "WITH old AS (UPDATE auth.refresh_tokens SET revoked = true, updated_at = now()
                                  WHERE session_id = $1::uuid AND NOT revoked RETURNING token)
                     INSERT INTO auth.refresh_tokens (token, user_id, session_id, parent, revoked, created_at, updated_at)
                     SELECT $2, $3, $1::uuid, (SELECT max(token) FROM old), false, now(), now()"
                        .into(),
                    vec![Some(sid.into()), Some(token_hash(&refresh)), Some(sub.into())],
                ),
                (
                    "UPDATE auth.sessions SET aal = 'aal2', factor_id = $2::uuid, updated_at = now() WHERE id = $1::uuid".into(),
                    vec![Some(sid.into()), Some(f.id.clone())],
                ),
                (
                    "DELETE FROM auth.sessions WHERE user_id = $1::uuid AND aal < 'aal2'".into(),
                    vec![Some(sub.into())],
                ),
                (
                    "DELETE FROM auth.mfa_factors WHERE user_id = $1::uuid AND status::text = 'unverified' AND factor_type::text = $2".into(),
                    vec![Some(sub.into()), Some(f.kind.clone())],
                ),
                (
                    format!("SELECT {USER_JSON} FROM auth.users u WHERE u.id = $1::uuid"),
                    vec![Some(sub.into())],
                ),
            ])
            .map_err(db_error)?;
        let user: Value = sets
            .pop()
            .unwrap_or_default()
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| error(404, "user_not_found", "User not found"))?;
        self.session(user, sid, &refresh, "totp")
    }

    /// `DELETE /factors/{id}`: a verified factor only from an `aal2`
    /// session; its sessions go back to `aal1` (GoTrue's `UnenrollFactor`).
    fn unenroll(&self, sub: &str, f: &Factor) -> Result<Response, Response> {
        if f.verified && f.session_aal != "aal2" {
            return Err(error(422, "insufficient_aal", "AAL2 required to unenroll verified factor"));
        }
        self.delete_factor(sub, &f.id, &f.kind)?;
        Ok(json_response(200, json!({"id": f.id})))
    }

    /// Deletes a factor and downgrades its sessions to `aal1` (GoTrue's
    /// `DowngradeSessionsToAAL1`); the factor as it was.
    fn delete_factor(&self, user_id: &str, id: &str, kind: &str) -> Result<Value, Response> {
        let mut sets = self
            .sql
            .run(vec![
                (
                    "DELETE FROM auth.mfa_amr_claims WHERE authentication_method = $2
                       AND session_id IN (SELECT s.id FROM auth.sessions s WHERE s.factor_id = $1::uuid)"
                        .into(),
                    vec![Some(id.into()), Some(amr_method(kind).into())],
                ),
                (
                    "UPDATE auth.sessions SET aal = 'aal1', factor_id = NULL WHERE user_id = $2::uuid AND factor_id = $1::uuid".into(),
                    vec![Some(id.into()), Some(user_id.into())],
                ),
                (
                    format!("DELETE FROM auth.mfa_factors f WHERE f.id = $1::uuid RETURNING {FACTOR_JSON}::text"),
                    vec![Some(id.into())],
                ),
            ])
            .map_err(db_error)?;
        Ok(sets
            .pop()
            .unwrap_or_default()
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null))
    }

    /// `/admin/users/{user_id}/factors[/{factor_id}]` (service role).
    pub(super) fn admin_factors(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, Response> {
        let (user_id, factor_id) = admin_path(path).unwrap_or_default();
        self.require_admin(headers)?;
        if !is_uuid(user_id) {
            return Err(error(404, "validation_failed", "user_id must be an UUID"));
        }
        let rows = self.one(
            "SELECT 1 FROM auth.users WHERE id = $1::uuid",
            vec![Some(user_id.into())],
        )?;
        if rows.is_empty() {
            return Err(error(404, "user_not_found", "User not found"));
        }
        if factor_id.is_empty() {
            if method != "GET" {
                return Err(error(405, "method_not_allowed", "Method not allowed"));
            }
            let rows = self.one(
                &format!("SELECT coalesce(json_agg({FACTOR_JSON} ORDER BY f.created_at), '[]')::text FROM auth.mfa_factors f WHERE f.user_id = $1::uuid"),
                vec![Some(user_id.into())],
            )?;
            let list: Value = rows
                .first()
                .and_then(|r| r[0].as_deref())
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(json!([]));
            return Ok(json_response(200, list));
        }
        if factor_id.contains('/') || !matches!(method, "PUT" | "DELETE") {
            return Err(error(404, "not_found", &format!("{method} {path} is not supported")));
        }
        if !is_uuid(factor_id) {
            return Err(error(404, "validation_failed", "factor_id must be an UUID"));
        }
        let rows = self.one(
            "SELECT factor_type::text FROM auth.mfa_factors WHERE id = $1::uuid AND user_id = $2::uuid",
            vec![Some(factor_id.into()), Some(user_id.into())],
        )?;
        let kind = rows.first().and_then(|r| r[0].clone()).ok_or_else(not_found)?;
        if method == "DELETE" {
            let f = self.delete_factor(user_id, factor_id, &kind)?;
            return Ok(json_response(200, f));
        }
        let b = body_json(body)?;
        let friendly = text_field(&b, "friendly_name")?;
        let sql = format!(
            "UPDATE auth.mfa_factors f SET friendly_name = CASE WHEN $2::text = '' THEN f.friendly_name ELSE $2::text END,
                    updated_at = CASE WHEN $2::text = '' THEN f.updated_at ELSE now() END
             WHERE f.id = $1::uuid RETURNING {FACTOR_JSON}::text"
        );
        match self.sql.run(vec![(sql, vec![Some(factor_id.into()), Some(friendly.clone())])]) {
            Ok(mut s) => {
                let f: Value = s
                    .pop()
                    .unwrap_or_default()
                    .first()
                    .and_then(|r| r[0].as_deref())
                    .and_then(|s| serde_json::from_str(s).ok())
                    .ok_or_else(not_found)?;
                Ok(json_response(200, f))
            }
            Err(e) if e.code == "23505" => Err(name_conflict(&friendly)),
            Err(e) => Err(db_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aal_and_amr_from_claims() {
        let (aal, amr) = aal_amr_of(&[], "password", 7);
        assert_eq!(aal, "aal1");
        assert_eq!(amr, json!([{"method": "password", "timestamp": 7}]));
        let claims = vec![("password".to_string(), 10), ("totp".to_string(), 20)];
        let (aal, amr) = aal_amr_of(&claims, "token_refresh", 30);
        assert_eq!(aal, "aal2");
        assert_eq!(
            amr,
            json!([{"method": "totp", "timestamp": 20}, {"method": "password", "timestamp": 10}])
        );
        assert_eq!(aal_amr_of(&[("otp".into(), 1)], "x", 2).0, "aal1");
        assert_eq!(aal_amr_of(&[("mfa/phone".into(), 1)], "x", 2).0, "aal2");
    }

    #[test]
    fn paths_addresses_and_issuers() {
        let u = "00000000-0000-0000-0000-00000000000a";
        assert_eq!(admin_path(&format!("/admin/users/{u}/factors")), Some((u, "")));
        assert_eq!(admin_path(&format!("/admin/users/{u}/factors/x")), Some((u, "x")));
        assert_eq!(admin_path(&format!("/admin/users/{u}")), None);
        assert_eq!(admin_path(&format!("/admin/users/{u}/factorsx")), None);
        assert_eq!(admin_path("/admin/users"), None);
        let h = |v: &str| vec![("x-forwarded-for".to_string(), v.to_string())];
        assert_eq!(client_ip(&h("10.0.0.1, 127.0.0.1")), "127.0.0.1");
        assert_eq!(client_ip(&h("::1")), "::1");
        assert_eq!(client_ip(&h("garbage")), "0.0.0.0");
        assert_eq!(client_ip(&[]), "0.0.0.0");
        assert_eq!(site_host("http://localhost:3000"), Some("localhost:3000"));
        assert_eq!(site_host("https://app.example.com/path?q"), Some("app.example.com"));
        assert_eq!(site_host("nope"), None);
        assert_eq!(amr_method("totp"), "totp");
        assert_eq!(amr_method("phone"), "mfa/phone");
        assert_eq!(name_conflict("").status, 422);
        assert!(String::from_utf8(name_conflict("").body).unwrap().contains(r#"friendly name \"\" for"#));
    }

    #[test]
    fn user_json_lists_factors_as_factor_json() {
        assert!(USER_JSON.contains(&FACTOR_JSON[1..FACTOR_JSON.len() - 1]), "USER_JSON's factors differ from FACTOR_JSON");
    }
}
