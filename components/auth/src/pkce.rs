//! PKCE for the e-mail flows, as GoTrue's `internal/api/pkce.go` and
//! `models/flow_state.go` (auth-js `flowType: 'pkce'`, the default of
//! `@supabase/ssr`): a request that carries `code_challenge` +
//! `code_challenge_method` stores a flow state (`auth.flow_state`) with a
//! fresh auth code, and its e-mail's token gets the `pkce_` prefix; the
//! link's `GET /verify` then redirects with `?code=<auth code>` instead of
//! a session in the fragment, and `POST /token?grant_type=pkce` trades the
//! code and the verifier for the session, once, within
//! [`FLOW_STATE_EXPIRY`] seconds.

use super::*;
use base64::Engine;

/// GoTrue's `PKCEPrefix`.
pub const PREFIX: &str = "pkce_";
/// GoTrue's default `FlowStateExpiryDuration`: 300 s.
pub const FLOW_STATE_EXPIRY: u64 = 300;

/// A client's code challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub challenge: String,
    /// `s256` or `plain`.
    pub method: &'static str,
}

/// GoTrue's `validatePKCEParams` and `ParseCodeChallengeMethod`: `None`
/// without a challenge (the implicit flow).
pub fn challenge(b: &Map<String, Value>) -> Result<Option<Challenge>, Response> {
    let c = str_field(b, "code_challenge").unwrap_or("");
    let m = str_field(b, "code_challenge_method").unwrap_or("");
    if c.is_empty() != m.is_empty() {
        return Err(error(
            400,
            "validation_failed",
            "PKCE flow requires code_challenge_method and code_challenge",
        ));
    }
    if c.is_empty() {
        return Ok(None);
    }
    if !(43..=128).contains(&c.len()) {
        return Err(error(400, "validation_failed", "code challenge has to be between 43 and 128 characters"));
    }
    if !c.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)) {
        return Err(error(
            400,
            "validation_failed",
            "code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes",
        ));
    }
    let method = match m.to_ascii_lowercase().as_str() {
        "s256" => "s256",
        "plain" => "plain",
        _ => {
            return Err(error(
                400,
                "validation_failed",
                &format!("unsupported code_challenge method {m:?}"),
            ))
        }
    };
    Ok(Some(Challenge { challenge: c.to_string(), method }))
}

/// GoTrue's `VerifyPKCEChallenge` (constant-time comparison).
pub fn verifier_matches(c: &Challenge, verifier: &str) -> bool {
    let expected = match c.method {
        "s256" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        _ => verifier.to_string(),
    };
    let (a, b) = (expected.as_bytes(), c.challenge.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// GoTrue's `ParseAuthenticationMethod` of a verification type.
pub fn method_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "signup" | "email" => "email/signup",
        "magiclink" => "magiclink",
        "recovery" => "recovery",
        "invite" => "invite",
        "email_change" => "email_change",
        _ => return None,
    })
}

impl Ctx<'_> {
    /// GoTrue's `generateFlowState`: the token prefix for the e-mail
    /// (`pkce_` with a challenge, else none).
    pub(super) fn flow_state(
        &self,
        user_id: &str,
        provider: &str,
        method: &str,
        c: Option<&Challenge>,
    ) -> Result<&'static str, Response> {
        let Some(c) = c else { return Ok("") };
        self.one(
            "INSERT INTO auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge,
               provider_type, authentication_method, created_at, updated_at)
             VALUES (gen_random_uuid(), $1::uuid, gen_random_uuid()::text, $2, $3, $4, $5, now(), now())",
            vec![
                Some(user_id.into()),
                Some(c.method.into()),
                Some(c.challenge.clone()),
                Some(provider.into()),
                Some(method.into()),
            ],
        )?;
        Ok(PREFIX)
    }

    /// GoTrue's `issueAuthCode`: the auth code of the user's newest flow
    /// state for `method`, its issue time recorded.
    pub(super) fn issue_auth_code(&self, user_id: &str, method: &str) -> Result<String, Response> {
        let rows = self.one(
            "UPDATE auth.flow_state SET auth_code_issued_at = now(), updated_at = now()
             WHERE id = (SELECT id FROM auth.flow_state WHERE user_id = $1::uuid AND authentication_method = $2
                         ORDER BY created_at DESC LIMIT 1)
             RETURNING coalesce(auth_code, '')",
            vec![Some(user_id.into()), Some(method.into())],
        )?;
        let not_found = |why: &str| {
            error(400, "flow_state_not_found", &format!("No associated flow state found. {why}"))
        };
        match rows.first().and_then(|r| r[0].clone()) {
            None => Err(not_found("No valid flow state found for user.")),
            Some(code) if code.is_empty() => Err(not_found("Flow state does not have an auth code (not a PKCE flow).")),
            Some(code) => Ok(code),
        }
    }

    /// `POST /token?grant_type=pkce` (auth-js `exchangeCodeForSession`).
    pub(super) fn pkce_grant(&self, body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let code = str_field(&b, "auth_code").unwrap_or("");
        let verifier = str_field(&b, "code_verifier").unwrap_or("");
        if code.is_empty() || verifier.is_empty() {
            return Err(error(
                400,
                "validation_failed",
                "invalid request: both auth code and code verifier should be non-empty",
            ));
        }
        let rows = self.one(
            "SELECT id::text, user_id::text, coalesce(code_challenge, ''), coalesce(code_challenge_method::text, ''),
                    authentication_method,
                    (coalesce(CASE WHEN authentication_method = 'magiclink' THEN auth_code_issued_at END, created_at)
                       + make_interval(secs => $2::int) < now())::text
             FROM auth.flow_state WHERE auth_code = $1",
            vec![Some(code.into()), Some(FLOW_STATE_EXPIRY.to_string())],
        )?;
        let not_found = || error(404, "flow_state_not_found", "invalid flow state, no valid flow state found");
        let row = rows.first().ok_or_else(not_found)?;
        let s = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let (id, user_id) = (s(0), s(1));
        if user_id.is_empty() {
            return Err(not_found());
        }
        if s(5) == "true" {
            return Err(error(422, "flow_state_expired", "invalid flow state, flow state has expired"));
        }
        let method: &'static str = match s(3).as_str() {
            "s256" => "s256",
            "plain" => "plain",
            _ => return Err(error(400, "bad_code_verifier", "code challenge method not supported")),
        };
        if !verifier_matches(&Challenge { challenge: s(2), method }, verifier) {
            return Err(error(400, "bad_code_verifier", "code challenge does not match previously saved code verifier"));
        }
        // Used once: whoever deletes the row signs in.
        let gone = self.one("DELETE FROM auth.flow_state WHERE id = $1::uuid RETURNING id::text", vec![Some(id)])?;
        if gone.is_empty() {
            return Err(not_found());
        }
        self.sign_in(&user_id, &s(4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn challenges() {
        // RFC 7636, appendix B.
        let c = Challenge { challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(), method: "s256" };
        assert!(verifier_matches(&c, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!verifier_matches(&c, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        let p = Challenge { challenge: "x".repeat(43), method: "plain" };
        assert!(verifier_matches(&p, &"x".repeat(43)) && !verifier_matches(&p, "x"));

        assert_eq!(challenge(&body(json!({}))).unwrap(), None);
        let ok = challenge(&body(json!({"code_challenge": c.challenge, "code_challenge_method": "S256"}))).unwrap();
        assert_eq!(ok.unwrap().method, "s256");
        for bad in [
            json!({"code_challenge": c.challenge}),
            json!({"code_challenge": "short", "code_challenge_method": "s256"}),
            json!({"code_challenge": format!("{}!", "a".repeat(50)), "code_challenge_method": "s256"}),
            json!({"code_challenge": c.challenge, "code_challenge_method": "md5"}),
        ] {
            assert_eq!(challenge(&body(bad)).unwrap_err().status, 400);
        }
        assert_eq!(method_of("signup"), Some("email/signup"));
        assert_eq!(method_of("sms"), None);
    }
}
