//! GoTrue's reauthentication (`internal/api/reauthenticate.go`, and the
//! password part of `user.go`'s `UserUpdate`): `GET /reauthenticate` mails
//! a signed-in user a code; with `auth-secure-password-change` a password
//! change in a session older than 24 hours needs that code as `nonce`
//! (valid for `auth-mailer-otp-exp` seconds, once). A new password equal
//! to the current one is refused (`same_password`), as GoTrue refuses it.

use super::email::Tok;
use super::*;
use crate::links;
use crate::mails::Kind;

/// GoTrue's `InvalidNonceMessage`.
const INVALID_NONCE: &str = "Nonce has expired or is invalid";

/// What the password change reads of a user and its session.
struct Row {
    email: String,
    confirmed: bool,
    /// The session is older than 24 hours (or gone).
    stale_session: bool,
    token: String,
    token_expired: bool,
    hash: String,
}

impl Ctx<'_> {
    fn reauth_row(&self, user_id: &str, session_id: &str) -> Result<Row, Response> {
        let rows = self.one(
            "SELECT coalesce(u.email, ''), (u.email_confirmed_at IS NOT NULL)::text,
                    (s.created_at IS NULL OR s.created_at + interval '24 hours' < now())::text,
                    coalesce(u.reauthentication_token, ''),
                    (u.reauthentication_sent_at IS NULL OR u.reauthentication_sent_at + make_interval(secs => $3::int) <= now())::text,
                    coalesce(u.encrypted_password, '')
             FROM auth.users u LEFT JOIN auth.sessions s ON s.id::text = $2 AND s.user_id = u.id
             WHERE u.id = $1::uuid",
            vec![
                Some(user_id.into()),
                Some(session_id.into()),
                Some(self.cfg.otp_exp.min(i32::MAX as u64).to_string()),
            ],
        )?;
        let r = rows
            .first()
            .ok_or_else(|| error(404, "user_not_found", "User from sub claim in JWT does not exist"))?;
        let s = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        Ok(Row {
            email: s(0),
            confirmed: s(1) == "true",
            stale_session: s(2) == "true",
            token: s(3),
            token_expired: s(4) == "true",
            hash: s(5),
        })
    }

    /// `GET /reauthenticate` (`supabase.auth.reauthenticate()`).
    pub(super) fn reauthenticate(&self, headers: &[(String, String)]) -> Result<Response, Response> {
        let (sub, sid) = self.current(headers)?;
        let row = self.reauth_row(&sub, &sid)?;
        if row.email.is_empty() {
            return Err(error(
                400,
                "validation_failed",
                "Reauthentication requires the user to have an email or a phone number",
            ));
        }
        if !row.confirmed {
            return Err(error(422, "email_not_confirmed", "Please verify your email first."));
        }
        self.frequency(&sub, Tok::Reauthentication.sent())?;
        self.email_budget()?;
        let code = links::otp(self.cfg.otp_length);
        let hash = links::token_hash(&row.email, &code);
        self.deliver(Kind::Reauthentication, &row.email, "", &code, "", "reauthentication")?;
        self.store_token(&sub, Tok::Reauthentication, &hash, &row.email, "")?;
        Ok(json_response(200, json!({})))
    }

    /// Before `PUT /user` changes the password: GoTrue's reauthentication
    /// check (`nonce`) and its same-password refusal. A valid nonce is
    /// used up.
    pub(super) fn check_password_change(
        &self,
        user_id: &str,
        session_id: &str,
        b: &Map<String, Value>,
    ) -> Result<(), Response> {
        let Some(password) = str_field(b, "password") else {
            return Ok(());
        };
        let row = self.reauth_row(user_id, session_id)?;
        if self.cfg.secure_password_change && row.stale_session {
            let nonce = str_field(b, "nonce").unwrap_or("");
            if nonce.is_empty() {
                return Err(error(400, "reauthentication_needed", "Password update requires reauthentication"));
            }
            let expected = links::token_hash(&row.email, nonce);
            if row.token.is_empty() || row.token_expired || !same(&expected, &row.token) {
                return Err(error(422, "reauthentication_not_valid", INVALID_NONCE));
            }
            self.sql
                .run(vec![
                    (
                        "UPDATE auth.users SET reauthentication_token = '', reauthentication_sent_at = NULL WHERE id = $1::uuid".into(),
                        vec![Some(user_id.into())],
                    ),
                    (
                        "DELETE FROM auth.one_time_tokens WHERE user_id = $1::uuid AND token_type = 'reauthentication_token'".into(),
                        vec![Some(user_id.into())],
                    ),
                ])
                .map_err(|e| error(500, "unexpected_failure", &format!("Error during reauthentication: {}", e.message)))?;
        }
        if !password.is_empty() && !row.hash.is_empty() && verify_password(password, &row.hash) {
            return Err(error(422, "same_password", "New password should be different from the old password."));
        }
        Ok(())
    }
}

/// Compares two hashes in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_compare() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd"));
        assert!(!super::same("abc", "ab"));
    }
}
