//! GoTrue's e-mail flows (issue 26): `/otp` (magic link and e-mail code),
//! `/verify` (GET: a redirect with the session in the fragment; POST:
//! `verifyOtp`), `/recover`, `/resend`, `/invite`, `/admin/generate_link`,
//! the sign-up confirmation and the e-mail change, as `internal/api`'s
//! otp.go, magic_link.go, verify.go, recover.go, resend.go, invite.go and
//! mail.go do them. Codes are stored as GoTrue stores them: the SHA-224 of
//! address and code in `auth.users` (`confirmation_token`, `recovery_token`,
//! `email_change_token_*`) and `auth.one_time_tokens`; a code is cleared
//! when used, so a reused link is refused.

use super::*;
use crate::links;
use crate::mails::{self, Kind};

const SINGLE_CONFIRMATION: &str =
    "Confirmation link accepted. Please proceed to confirm link sent to the other email";

/// A token column of `auth.users`, its sent-at column, and its
/// `auth.one_time_tokens.token_type` (the column's name).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok {
    Confirmation,
    Recovery,
    EmailChangeNew,
    EmailChangeCurrent,
    Reauthentication,
}

impl Tok {
    pub(super) fn column(self) -> &'static str {
        match self {
            Tok::Confirmation => "confirmation_token",
            Tok::Recovery => "recovery_token",
            Tok::EmailChangeNew => "email_change_token_new",
            Tok::EmailChangeCurrent => "email_change_token_current",
            Tok::Reauthentication => "reauthentication_token",
        }
    }

    pub(super) fn sent(self) -> &'static str {
        match self {
            Tok::Confirmation => "confirmation_sent_at",
            Tok::Recovery => "recovery_sent_at",
            Tok::EmailChangeNew | Tok::EmailChangeCurrent => "email_change_sent_at",
            Tok::Reauthentication => "reauthentication_sent_at",
        }
    }
}

/// What `verify` reads of a user (`$2`: the code lifetime in seconds).
const VCOLS: &str = "u.id::text, coalesce(u.banned_until > now(), false)::text,
  coalesce(u.confirmation_token, ''), coalesce(u.recovery_token, ''),
  coalesce(u.email_change_token_current, ''), coalesce(u.email_change_token_new, ''),
  (u.confirmation_sent_at IS NULL OR u.confirmation_sent_at + make_interval(secs => $2::int) < now())::text,
  (u.recovery_sent_at IS NULL OR u.recovery_sent_at + make_interval(secs => $2::int) < now())::text,
  (u.email_change_sent_at IS NULL OR u.email_change_sent_at + make_interval(secs => $2::int) < now())::text,
  coalesce(u.email, ''), coalesce(u.email_change, ''), coalesce(u.email_change_confirm_status, 0)::text,
  (u.email_confirmed_at IS NOT NULL)::text";

/// A user as the e-mail flows see it.
#[derive(Debug, Clone, Default)]
struct EUser {
    id: String,
    banned: bool,
    confirmation_token: String,
    recovery_token: String,
    change_current: String,
    change_new: String,
    confirmation_expired: bool,
    recovery_expired: bool,
    change_expired: bool,
    email: String,
    email_change: String,
    confirm_status: i64,
    confirmed: bool,
}

impl EUser {
    fn from_row(r: &[Option<String>]) -> EUser {
        let s = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let b = |i: usize| s(i) == "true";
        EUser {
            id: s(0),
            banned: b(1),
            confirmation_token: s(2),
            recovery_token: s(3),
            change_current: s(4),
            change_new: s(5),
            confirmation_expired: b(6),
            recovery_expired: b(7),
            change_expired: b(8),
            email: s(9),
            email_change: s(10),
            confirm_status: s(11).parse().unwrap_or(0),
            confirmed: b(12),
        }
    }
}

/// The end of a verification: the user (who then gets a session or, in
/// the PKCE flow, an auth code), or (the first of two e-mail change
/// confirmations) a message.
enum Verified {
    User(String),
    Message(&'static str),
}

fn ok_empty() -> Response {
    json_response(200, json!({}))
}

fn otp_expired(msg: &str) -> Response {
    error(403, "otp_expired", msg)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// GoTrue's `validateEmail`.
pub(super) fn validate_email(email: &str) -> Result<String, Response> {
    let email = email.trim();
    if email.is_empty() {
        return Err(error(400, "validation_failed", "An email address is required"));
    }
    if email.len() > 255 {
        return Err(error(400, "validation_failed", "An email address is too long"));
    }
    if !valid_email(email) {
        return Err(error(
            400,
            "validation_failed",
            "Unable to validate email address: invalid format",
        ));
    }
    Ok(email.to_lowercase())
}

impl Ctx<'_> {
    fn euser(&self, cond: &str, first: &str) -> Result<Option<EUser>, Response> {
        let rows = self.one(
            &format!("SELECT {VCOLS} FROM auth.users u WHERE ({cond}) AND u.deleted_at IS NULL LIMIT 1"),
            vec![Some(first.into()), Some(self.cfg.otp_exp.min(i32::MAX as u64).to_string())],
        )?;
        Ok(rows.first().map(|r| EUser::from_row(r)))
    }

    fn by_email(&self, email: &str) -> Result<Option<EUser>, Response> {
        self.euser("u.email = $1 AND NOT u.is_sso_user", email)
    }

    /// GoTrue's `GetReferrer`: an allowed `redirect_to` (header, then
    /// query), else an allowed `Referer`, else the site URL.
    pub(super) fn referrer(&self, query: &str, headers: &[(String, String)]) -> String {
        let allowed = |u: &str| links::redirect_allowed(&self.cfg.site_url, &self.cfg.redirect_urls, u);
        let asked = header(headers, "redirect_to")
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .or_else(|| links::param(query, "redirect_to"))
            .unwrap_or_default();
        if allowed(&asked) {
            return asked;
        }
        match header(headers, "referer") {
            Some(r) if allowed(r) => r.to_string(),
            _ => self.cfg.site_url.clone(),
        }
    }

    fn action_link(&self, hash: &str, kind: &str, redirect: &str) -> String {
        format!(
            "{}/verify?token={}&type={}&redirect_to={}",
            self.issuer,
            links::escape(hash),
            links::escape(kind),
            links::redirect_param(redirect)
        )
    }

    /// GoTrue's `validateSentWithinFrequencyLimit` on `column`.
    pub(super) fn frequency(&self, user_id: &str, column: &str) -> Result<(), Response> {
        let rows = self.one(
            &format!(
                "SELECT floor(extract(epoch from (\"{column}\" + make_interval(secs => $2::int)) - now()))::bigint::text
                 FROM auth.users WHERE id = $1::uuid AND \"{column}\" + make_interval(secs => $2::int) > now()"
            ),
            vec![Some(user_id.into()), Some(self.cfg.max_frequency.min(i32::MAX as u64).to_string())],
        )?;
        match rows.first().and_then(|r| r[0].clone()) {
            Some(left) => Err(error(
                429,
                "over_email_send_rate_limit",
                &format!("For security purposes, you can only request this after {left} seconds."),
            )),
            None => Ok(()),
        }
    }

    /// `rate_limit_email_sent`: e-mails per hour, counted as GoTrue does
    /// (none at all when it is 0; counted only without autoconfirm).
    pub(super) fn email_budget(&self) -> Result<(), Response> {
        let exceeded = || error(429, "over_email_send_rate_limit", "email rate limit exceeded");
        if self.cfg.rate_limit_email_sent == 0 {
            return Err(exceeded());
        }
        if self.cfg.autoconfirm {
            return Ok(());
        }
        let rows = self.one(
            "INSERT INTO auth.rate_limits AS r (key, window_start, hits) VALUES ('email_sent', now(), 1)
             ON CONFLICT (key) DO UPDATE SET
               hits = CASE WHEN r.window_start < now() - interval '1 hour' THEN 1 ELSE r.hits + 1 END,
               window_start = CASE WHEN r.window_start < now() - interval '1 hour' THEN now() ELSE r.window_start END
             RETURNING hits::text",
            vec![],
        )?;
        let hits: u64 = rows
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|h| h.parse().ok())
            .unwrap_or(0);
        if hits > u64::from(self.cfg.rate_limit_email_sent) {
            return Err(exceeded());
        }
        Ok(())
    }

    /// Renders and sends one e-mail; `what` names it in the error
    /// ("Error sending magic link email").
    pub(super) fn deliver(&self, kind: Kind, to: &str, url: &str, code: &str, new_email: &str, what: &str) -> Result<(), Response> {
        let m = mails::render(kind, url, code, new_email);
        self.mail
            .send(to, &m.subject, &m.text, &m.html)
            .map_err(|e| error(500, "unexpected_failure", &format!("Error sending {what} email: {e}")))
    }

    /// Stores a sent code's hash on the user and in `auth.one_time_tokens`.
    pub(super) fn store_token(&self, user_id: &str, tok: Tok, hash: &str, relates_to: &str, extra: &str) -> Result<(), Response> {
        self.one(
            &format!(
                "WITH u AS (UPDATE auth.users SET \"{}\" = $2, \"{}\" = now(), updated_at = now(){extra} WHERE id = $1::uuid RETURNING id)
                 INSERT INTO auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to, created_at, updated_at)
                 SELECT gen_random_uuid(), u.id, $3, $2, $4, now(), now() FROM u
                 ON CONFLICT (user_id, token_type) DO UPDATE SET token_hash = excluded.token_hash,
                   relates_to = excluded.relates_to, created_at = now(), updated_at = now()",
                tok.column(),
                tok.sent()
            ),
            vec![Some(user_id.into()), Some(hash.into()), Some(tok.column().into()), Some(relates_to.into())],
        )?;
        Ok(())
    }

    /// GoTrue's `sendConfirmation`.
    pub(super) fn send_confirmation(&self, user_id: &str, email: &str, redirect: &str, prefix: &str) -> Result<(), Response> {
        self.frequency(user_id, "confirmation_sent_at")?;
        self.email_budget()?;
        let code = links::otp(self.cfg.otp_length);
        let hash = format!("{prefix}{}", links::token_hash(email, &code));
        let url = self.action_link(&hash, "signup", redirect);
        self.deliver(Kind::Confirmation, email, &url, &code, "", "confirmation")?;
        self.store_token(user_id, Tok::Confirmation, &hash, email, "")
    }

    fn send_magic_link(&self, u: &EUser, redirect: &str, prefix: &str) -> Result<(), Response> {
        self.frequency(&u.id, "recovery_sent_at")?;
        self.email_budget()?;
        let code = links::otp(self.cfg.otp_length);
        let hash = format!("{prefix}{}", links::token_hash(&u.email, &code));
        let url = self.action_link(&hash, "magiclink", redirect);
        self.deliver(Kind::MagicLink, &u.email, &url, &code, "", "magic link")?;
        self.store_token(&u.id, Tok::Recovery, &hash, &u.email, "")
    }

    fn send_recovery(&self, u: &EUser, redirect: &str, prefix: &str) -> Result<(), Response> {
        self.frequency(&u.id, "recovery_sent_at")?;
        self.email_budget()?;
        let code = links::otp(self.cfg.otp_length);
        let hash = format!("{prefix}{}", links::token_hash(&u.email, &code));
        let url = self.action_link(&hash, "recovery", redirect);
        self.deliver(Kind::Recovery, &u.email, &url, &code, "", "recovery")?;
        self.store_token(&u.id, Tok::Recovery, &hash, &u.email, "")
    }

    fn send_invite(&self, u: &EUser, redirect: &str) -> Result<(), Response> {
        self.email_budget()?;
        let code = links::otp(self.cfg.otp_length);
        let hash = links::token_hash(&u.email, &code);
        let url = self.action_link(&hash, "invite", redirect);
        self.deliver(Kind::Invite, &u.email, &url, &code, "", "invite")?;
        self.store_token(&u.id, Tok::Confirmation, &hash, &u.email, ", invited_at = now()")
    }

    /// GoTrue's `sendEmailChange`: a link to the new address, and one to
    /// the current address when both must confirm.
    fn send_email_change(&self, u: &EUser, new_email: &str, redirect: &str, prefix: &str) -> Result<(), Response> {
        self.frequency(&u.id, "email_change_sent_at")?;
        self.email_budget()?;
        let code_new = links::otp(self.cfg.otp_length);
        let hash_new = format!("{prefix}{}", links::token_hash(new_email, &code_new));
        let both = self.cfg.secure_email_change && !u.email.is_empty();
        let current = both.then(|| {
            let code = links::otp(self.cfg.otp_length);
            let hash = format!("{prefix}{}", links::token_hash(&u.email, &code));
            (code, hash)
        });
        let url = self.action_link(&hash_new, "email_change", redirect);
        self.deliver(Kind::EmailChange, new_email, &url, &code_new, new_email, "email change")?;
        if let Some((code, hash)) = &current {
            let url = self.action_link(hash, "email_change", redirect);
            self.deliver(Kind::EmailChange, &u.email, &url, code, new_email, "email change")?;
        }
        self.set_email_change(&u.id, new_email, Some(&hash_new), current.as_ref().map(|c| c.1.as_str()))
    }

    /// Records a pending e-mail change and its codes' hashes.
    fn set_email_change(&self, user_id: &str, new_email: &str, new: Option<&str>, current: Option<&str>) -> Result<(), Response> {
        let mut stmts = vec![(
            "UPDATE auth.users SET email_change = $2, email_change_token_new = coalesce($3, ''),
               email_change_token_current = coalesce($4, ''), email_change_confirm_status = 0,
               email_change_sent_at = now(), updated_at = now() WHERE id = $1::uuid"
                .to_string(),
            vec![Some(user_id.into()), Some(new_email.into()), new.map(Into::into), current.map(Into::into)],
        )];
        stmts.push((
            "DELETE FROM auth.one_time_tokens WHERE user_id = $1::uuid AND token_type IN ('email_change_token_new', 'email_change_token_current')".into(),
            vec![Some(user_id.into())],
        ));
        for (tok, hash, relates) in [
            (Tok::EmailChangeNew, new, new_email),
            (Tok::EmailChangeCurrent, current, ""),
        ] {
            if let Some(h) = hash {
                stmts.push((
                    "INSERT INTO auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to, created_at, updated_at)
                     SELECT gen_random_uuid(), u.id, $2, $3, CASE WHEN $4 = '' THEN coalesce(u.email, '') ELSE $4 END, now(), now()
                     FROM auth.users u WHERE u.id = $1::uuid"
                        .into(),
                    vec![Some(user_id.into()), Some(tok.column().into()), Some(h.into()), Some(relates.into())],
                ));
            }
        }
        self.sql.run(stmts).map_err(db_error)?;
        Ok(())
    }

    fn delete_user(&self, id: &str) {
        let _ = self.one("DELETE FROM auth.users WHERE id = $1::uuid", vec![Some(id.into())]);
    }

    /// A user without a password (invited, or signed up by magic link).
    fn create_passwordless(&self, email: &str, data: &Value) -> Result<EUser, Response> {
        let id = self.create_user(email, None, false, data, &json!({}))?;
        self.euser("u.id = $1::uuid", &id)?
            .ok_or_else(|| error(500, "unexpected_failure", "the user was not created"))
    }

    /// `POST /otp` (`signInWithOtp({ email })`).
    pub(super) fn otp(&self, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let email = str_field(&b, "email").unwrap_or("").trim().to_string();
        let phone = str_field(&b, "phone").unwrap_or("");
        if !email.is_empty() && !phone.is_empty() {
            return Err(error(400, "validation_failed", "Only an email address or phone number should be provided"));
        }
        if !email.is_empty() && b.get("channel").and_then(Value::as_str).is_some_and(|c| !c.is_empty()) {
            return Err(error(400, "validation_failed", "Channel should only be specified with Phone OTP"));
        }
        let create = b.get("create_user").and_then(Value::as_bool).unwrap_or(true);
        let data = b.get("data").filter(|d| d.is_object()).cloned().unwrap_or(json!({}));
        if !email.is_empty() {
            let email = validate_email(&email)?;
            let user = self.by_email(&email)?;
            if !create && user.is_none() {
                return Err(error(422, "otp_disabled", "Signups not allowed for otp"));
            }
            let c = pkce::challenge(&b)?;
            return self.magic_link(&email, user, &data, query, headers, c.as_ref());
        }
        if !phone.is_empty() {
            return Err(error(400, "phone_provider_disabled", "Unsupported phone provider"));
        }
        Err(error(400, "validation_failed", "One of email or phone must be set"))
    }

    /// GoTrue's `MagicLink`: a new (or unconfirmed) user signs up first.
    fn magic_link(
        &self,
        email: &str,
        user: Option<EUser>,
        data: &Value,
        query: &str,
        headers: &[(String, String)],
        c: Option<&pkce::Challenge>,
    ) -> Result<Response, Response> {
        let redirect = self.referrer(query, headers);
        let user = match user {
            Some(u) if u.confirmed => u,
            existing => {
                if self.cfg.disable_signup {
                    return Err(error(422, "signup_disabled", "Signups not allowed for this instance"));
                }
                let (u, created) = match existing {
                    Some(u) => (u, false),
                    None => (self.create_passwordless(email, data)?, true),
                };
                if !self.cfg.autoconfirm {
                    let sent = self
                        .flow_state(&u.id, "email", "email/signup", c)
                        .and_then(|prefix| self.send_confirmation(&u.id, email, &redirect, prefix));
                    if let Err(e) = sent {
                        if created {
                            self.delete_user(&u.id);
                        }
                        return Err(e);
                    }
                    return Ok(ok_empty());
                }
                self.one(
                    "UPDATE auth.users SET email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE id = $1::uuid",
                    vec![Some(u.id.clone())],
                )?;
                u
            }
        };
        if user.banned {
            return Err(error(400, "user_banned", "User is banned"));
        }
        let prefix = self.flow_state(&user.id, "magiclink", "magiclink", c)?;
        self.send_magic_link(&user, &redirect, prefix)?;
        Ok(ok_empty())
    }

    /// `POST /recover` (`resetPasswordForEmail`).
    pub(super) fn recover(&self, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let email = str_field(&b, "email").unwrap_or("").trim();
        if email.is_empty() {
            return Err(error(400, "validation_failed", "Password recovery requires an email"));
        }
        let email = validate_email(email)?;
        let Some(user) = self.by_email(&email)? else {
            return Ok(ok_empty());
        };
        let prefix = self.flow_state(&user.id, "recovery", "recovery", pkce::challenge(&b)?.as_ref())?;
        self.send_recovery(&user, &self.referrer(query, headers), prefix)?;
        Ok(ok_empty())
    }

    /// `POST /resend`.
    pub(super) fn resend(&self, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let kind = str_field(&b, "type").unwrap_or("");
        let email = str_field(&b, "email").unwrap_or("").trim();
        let phone = str_field(&b, "phone").unwrap_or("");
        if !["signup", "email_change", "sms", "phone_change"].contains(&kind) {
            return Err(error(400, "validation_failed", "Missing one of these types: signup, email_change, sms, phone_change"));
        }
        if email.is_empty() && kind == "signup" {
            return Err(error(400, "validation_failed", "Type provided requires an email address"));
        }
        if phone.is_empty() && kind == "sms" {
            return Err(error(400, "validation_failed", "Type provided requires a phone number"));
        }
        if !email.is_empty() && !phone.is_empty() {
            return Err(error(400, "validation_failed", "Only an email address or phone number should be provided."));
        }
        if !phone.is_empty() {
            return Err(error(400, "phone_provider_disabled", "Phone logins are disabled"));
        }
        if email.is_empty() {
            return Err(error(400, "validation_failed", "Missing email address or phone number"));
        }
        let email = validate_email(email)?;
        let Some(user) = self.by_email(&email)? else {
            return Ok(ok_empty());
        };
        let redirect = self.referrer(query, headers);
        let c = pkce::challenge(&b)?;
        match kind {
            "signup" if !user.confirmed => {
                let prefix = self.flow_state(&user.id, "email/signup", "email/signup", c.as_ref())?;
                self.send_confirmation(&user.id, &user.email, &redirect, prefix)?
            }
            "email_change" if !user.email_change.is_empty() => {
                let new = user.email_change.clone();
                let prefix = self.flow_state(&user.id, "email_change", "email_change", c.as_ref())?;
                self.send_email_change(&user, &new, &redirect, prefix)?
            }
            _ => {}
        }
        Ok(ok_empty())
    }

    /// `POST /invite` (admin `inviteUserByEmail`).
    pub(super) fn invite(&self, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, Response> {
        self.require_admin(headers)?;
        let b = body_json(body)?;
        let email = validate_email(str_field(&b, "email").unwrap_or(""))?;
        let data = b.get("data").filter(|d| d.is_object()).cloned().unwrap_or(json!({}));
        let (user, created) = match self.by_email(&email)? {
            Some(u) if u.confirmed => {
                return Err(error(422, "email_exists", "A user with this email address has already been registered"))
            }
            Some(u) => (u, false),
            None => (self.create_passwordless(&email, &data)?, true),
        };
        if let Err(e) = self.send_invite(&user, &self.referrer(query, headers)) {
            if created {
                self.delete_user(&user.id);
            }
            return Err(e);
        }
        Ok(json_response(200, self.user_json(&user.id)?.unwrap_or(Value::Null)))
    }

    /// `POST /admin/generate_link`: the link and code of an e-mail, not sent.
    pub(super) fn generate_link(&self, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<Response, Response> {
        self.require_admin(headers)?;
        let b = body_json(body)?;
        let email = validate_email(str_field(&b, "email").unwrap_or(""))?;
        let mut kind = str_field(&b, "type").unwrap_or("").to_string();
        let data = b.get("data").filter(|d| d.is_object()).cloned().unwrap_or(json!({}));
        let mut password = str_field(&b, "password").map(str::to_string);
        let asked = str_field(&b, "redirect_to").unwrap_or("");
        let redirect = if links::redirect_allowed(&self.cfg.site_url, &self.cfg.redirect_urls, asked) {
            asked.to_string()
        } else {
            self.referrer(query, headers)
        };
        let mut user = self.by_email(&email)?;
        if user.is_none() {
            match kind.as_str() {
                "magiclink" => {
                    kind = "signup".into();
                    password = Some(random_token());
                }
                "recovery" | "email_change_current" | "email_change_new" => {
                    return Err(error(404, "user_not_found", "User with this email not found"))
                }
                _ => {}
            }
        }
        let code = links::otp(self.cfg.otp_length);
        let hash = links::token_hash(&email, &code);
        let link_hash;
        let link_type;
        match kind.as_str() {
            "magiclink" | "recovery" => {
                let u = user.as_ref().ok_or_else(|| error(404, "user_not_found", "User with this email not found"))?;
                self.store_token(&u.id, Tok::Recovery, &hash, &email, "")?;
                link_hash = hash.clone();
                link_type = kind.clone();
            }
            "invite" => {
                let u = match user.take() {
                    Some(u) if u.confirmed => {
                        return Err(error(422, "email_exists", "A user with this email address has already been registered"))
                    }
                    Some(u) => u,
                    None => self.create_passwordless(&email, &data)?,
                };
                self.store_token(&u.id, Tok::Confirmation, &hash, &email, ", invited_at = now()")?;
                user = Some(u);
                link_hash = hash.clone();
                link_type = kind.clone();
            }
            "signup" => {
                let u = match user.take() {
                    Some(u) if u.confirmed => {
                        return Err(error(422, "email_exists", "A user with this email address has already been registered"))
                    }
                    Some(u) => {
                        self.one(
                            "UPDATE auth.users SET raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || $2::jsonb WHERE id = $1::uuid",
                            vec![Some(u.id.clone()), Some(data.to_string())],
                        )?;
                        u
                    }
                    None => {
                        let p = password.unwrap_or_default();
                        if p.is_empty() {
                            return Err(error(422, "validation_failed", "Signup requires a valid password"));
                        }
                        check_password(&p)?;
                        let id = self.create_user(&email, Some(&p), false, &data, &json!({}))?;
                        self.euser("u.id = $1::uuid", &id)?
                            .ok_or_else(|| error(500, "unexpected_failure", "the user was not created"))?
                    }
                };
                self.store_token(&u.id, Tok::Confirmation, &hash, &email, "")?;
                user = Some(u);
                link_hash = hash.clone();
                link_type = kind.clone();
            }
            "email_change_current" | "email_change_new" => {
                if !self.cfg.secure_email_change && kind == "email_change_current" {
                    return Err(error(400, "validation_failed", "Enable secure email change to generate link for current email"));
                }
                let u = user.as_ref().ok_or_else(|| error(404, "user_not_found", "User with this email not found"))?;
                let new_email = validate_email(str_field(&b, "new_email").unwrap_or(""))?;
                if self.by_email(&new_email)?.is_some_and(|d| d.id != u.id) {
                    return Err(error(422, "email_exists", "A user with this email address has already been registered"));
                }
                let new_hash = links::token_hash(&new_email, &code);
                if kind == "email_change_current" {
                    self.set_email_change(&u.id, &new_email, None, Some(&hash))?;
                    link_hash = hash.clone();
                } else {
                    self.set_email_change(&u.id, &new_email, Some(&new_hash), None)?;
                    link_hash = new_hash;
                }
                link_type = "email_change".to_string();
            }
            other => {
                return Err(error(400, "validation_failed", &format!("Invalid email action link type requested: {other}")))
            }
        }
        let id = user.map(|u| u.id).unwrap_or_default();
        let mut out = self.user_json(&id)?.unwrap_or(json!({}));
        if let Some(o) = out.as_object_mut() {
            o.insert("action_link".into(), json!(self.action_link(&link_hash, &link_type, &redirect)));
            o.insert("email_otp".into(), json!(code));
            o.insert("hashed_token".into(), json!(hash));
            o.insert("verification_type".into(), json!(kind));
            o.insert("redirect_to".into(), json!(redirect));
        }
        Ok(json_response(200, out))
    }

    /// `PUT /user` with a new `email` while confirmations are on: the
    /// change waits for its links (GoTrue's `sendEmailChange`); the rest
    /// of the update applies. Takes `email` out of `b`.
    pub(super) fn email_change_request(&self, user_id: &str, b: &mut Map<String, Value>, query: &str, headers: &[(String, String)]) -> Result<(), Response> {
        if self.cfg.autoconfirm {
            return Ok(());
        }
        let Some(Value::String(new)) = b.remove("email") else {
            return Ok(());
        };
        let new = validate_email(&new)?;
        let u = self
            .euser("u.id = $1::uuid", user_id)?
            .ok_or_else(|| error(404, "user_not_found", "User not found"))?;
        if new == u.email {
            return Ok(());
        }
        if self.by_email(&new)?.is_some() {
            return Err(error(422, "email_exists", "A user with this email address has already been registered"));
        }
        let prefix = self.flow_state(&u.id, "email_change", "email_change", pkce::challenge(b)?.as_ref())?;
        self.send_email_change(&u, &new, &self.referrer(query, headers), prefix)
    }

    /// `GET /verify?token=…&type=…&redirect_to=…` (the e-mail's link): 303
    /// to the redirect with the session, or the error, in the fragment.
    pub(super) fn verify_get(&self, query: &str, headers: &[(String, String)]) -> Result<Response, Response> {
        let token = links::param(query, "token").unwrap_or_default();
        let kind = links::param(query, "type").unwrap_or_default();
        let redirect = self.referrer(query, headers);
        if kind.is_empty() {
            return Err(error(400, "validation_failed", "Verify requires a verification type"));
        }
        if token.is_empty() {
            return Err(error(400, "validation_failed", "Verify requires a token or a token hash"));
        }
        // GoTrue's flow: a `pkce_` token's link ends in an auth code.
        let pkce = token.starts_with(pkce::PREFIX);
        enum Outcome {
            Session(Value),
            Code(String),
            Message(&'static str),
        }
        let outcome = self.verify_hash(&kind, &token).and_then(|v| match v {
            Verified::User(id) if pkce => {
                let method = pkce::method_of(&kind)
                    .ok_or_else(|| error(400, "validation_failed", "Unsupported verification type"))?;
                Ok(Outcome::Code(self.issue_auth_code(&id, method)?))
            }
            Verified::User(id) => {
                let r = self.sign_in(&id, "otp")?;
                Ok(Outcome::Session(serde_json::from_slice(&r.body).unwrap_or(Value::Null)))
            }
            Verified::Message(m) => Ok(Outcome::Message(m)),
        });
        let base = redirect.split('#').next().unwrap_or("");
        let location = match outcome {
            Ok(Outcome::Code(code)) => links::with_query(&redirect, &[("code", code)]),
            Ok(Outcome::Session(s)) => {
                let field = |k: &str| match &s[k] {
                    Value::String(v) => v.clone(),
                    v => v.to_string(),
                };
                let pairs = [
                    ("access_token", field("access_token")),
                    ("token_type", field("token_type")),
                    ("expires_in", field("expires_in")),
                    ("expires_at", field("expires_at")),
                    ("refresh_token", field("refresh_token")),
                    ("type", kind.clone()),
                    ("sb", String::new()),
                ];
                format!("{base}#{}", links::form(&pairs))
            }
            Ok(Outcome::Message(m)) => {
                // PKCE: the message in the query too (GoTrue's prepRedirectURL).
                let query = if pkce { vec![("message", m.to_string())] } else { vec![] };
                let fragment = links::form(&[("message", m.to_string()), ("sb", String::new())]);
                format!("{}#{fragment}", links::with_query(base, &query))
            }
            Err(e) => {
                let v: Value = serde_json::from_slice(&e.body).unwrap_or(Value::Null);
                let mut pairs = vec![
                    ("error_code", v["error_code"].as_str().unwrap_or("").to_string()),
                    ("error_description", v["msg"].as_str().unwrap_or("").to_string()),
                ];
                let oauth = match e.status {
                    400 => Some("invalid_request"),
                    401 => Some("unauthorized_client"),
                    403 => Some("access_denied"),
                    500 => Some("server_error"),
                    503 => Some("temporarily_unavailable"),
                    _ => None,
                };
                if let Some(o) = oauth {
                    pairs.push(("error", o.to_string()));
                }
                // PKCE: the error in the query too (GoTrue's prepErrorRedirectURL).
                let query = if pkce { pairs.clone() } else { vec![] };
                pairs.insert(2, ("sb", String::new()));
                format!("{}#{}", links::with_query(base, &query), links::form(&pairs))
            }
        };
        Ok(Response {
            status: 303,
            headers: vec![("location".into(), location)],
            body: vec![],
        })
    }

    /// `POST /verify` (`verifyOtp`): the session, as a password sign-in's.
    pub(super) fn verify_post(&self, body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let f = |k: &str| str_field(&b, k).unwrap_or("").to_string();
        let (kind, token, token_hash, email, phone) = (f("type"), f("token"), f("token_hash"), f("email"), f("phone"));
        if kind.is_empty() {
            return Err(error(400, "validation_failed", "Verify requires a verification type"));
        }
        if token.is_empty() == token_hash.is_empty() {
            return Err(error(400, "validation_failed", "Verify requires either a token or a token hash"));
        }
        let verified = if !token.is_empty() {
            if !phone.is_empty() && email.is_empty() {
                // No phone users here (no SMS provider): no code can match.
                return Err(otp_expired("Token has expired or is invalid"));
            }
            if email.is_empty() || !phone.is_empty() {
                return Err(error(400, "validation_failed", "Only an email address or phone number should be provided on verify"));
            }
            let email = validate_email(&email)
                .map_err(|_| error(422, "validation_failed", "Invalid email format"))?;
            self.verify_code(&kind, &email, &links::token_hash(&email, &token))?
        } else {
            if !email.is_empty() || !phone.is_empty() || !f("redirect_to").is_empty() {
                return Err(error(400, "validation_failed", "Only the token_hash and type should be provided"));
            }
            self.verify_hash(&kind, &token_hash)?
        };
        match verified {
            Verified::User(id) => self.sign_in(&id, "otp"),
            Verified::Message(m) => Ok(json_response(200, json!({"msg": m, "code": "200"}))),
        }
    }

    /// GoTrue's `verifyTokenHash`: the user whose stored hash is `hash`.
    fn verify_hash(&self, kind: &str, hash: &str) -> Result<Verified, Response> {
        let cond = match kind {
            "email" => "u.confirmation_token = $1 OR u.recovery_token = $1",
            "signup" | "invite" => "u.confirmation_token = $1",
            "recovery" | "magiclink" => "u.recovery_token = $1",
            "email_change" => "u.email_change_token_current = $1 OR u.email_change_token_new = $1",
            _ => return Err(error(400, "validation_failed", "Invalid email verification type")),
        };
        let invalid = || otp_expired("Email link is invalid or has expired");
        if hash.is_empty() || hash.len() > 255 {
            return Err(invalid());
        }
        let u = self.euser(cond, hash)?.ok_or_else(invalid)?;
        if u.banned {
            return Err(error(403, "user_banned", "User is banned"));
        }
        let (kind, expired) = match kind {
            "email" if u.recovery_token == hash => ("magiclink", u.recovery_expired),
            "email" => ("signup", u.confirmation_expired),
            "signup" | "invite" => (kind, u.confirmation_expired),
            "recovery" | "magiclink" => (kind, u.recovery_expired),
            _ => (kind, u.change_expired),
        };
        if expired {
            return Err(invalid());
        }
        self.apply(kind, &u, hash)
    }

    /// GoTrue's `verifyUserAndToken`: the code sent to `email`.
    fn verify_code(&self, kind: &str, email: &str, hash: &str) -> Result<Verified, Response> {
        let invalid = || otp_expired("Token has expired or is invalid");
        let u = if kind == "email_change" {
            let rows = self.one(
                &format!("SELECT {VCOLS} FROM auth.users u WHERE (u.email_change_token_current = $1 OR u.email_change_token_new = $1) AND (u.email = $3 OR u.email_change = $3) AND u.deleted_at IS NULL LIMIT 1"),
                vec![Some(hash.into()), Some(self.cfg.otp_exp.min(i32::MAX as u64).to_string()), Some(email.into())],
            )?;
            rows.first().map(|r| EUser::from_row(r))
        } else {
            self.by_email(email)?
        };
        let u = u.ok_or_else(invalid)?;
        if u.banned {
            return Err(error(403, "user_banned", "User is banned"));
        }
        let matches = |stored: &str, expired: bool| !stored.is_empty() && !expired && (stored == hash || stored == format!("pkce_{hash}"));
        let kind = match kind {
            "email" if matches(&u.confirmation_token, u.confirmation_expired) => "signup",
            "email" if matches(&u.recovery_token, u.recovery_expired) => "magiclink",
            "signup" | "invite" if matches(&u.confirmation_token, u.confirmation_expired) => kind,
            "recovery" | "magiclink" if matches(&u.recovery_token, u.recovery_expired) => kind,
            "email_change"
                if matches(&u.change_current, u.change_expired) || matches(&u.change_new, u.change_expired) =>
            {
                kind
            }
            _ => return Err(invalid()),
        };
        self.apply(kind, &u, hash)
    }

    /// The verification's effect, then a session (`amr` method `otp`).
    fn apply(&self, kind: &str, u: &EUser, hash: &str) -> Result<Verified, Response> {
        let id = Some(u.id.clone());
        let stmts: Vec<(String, Vec<Option<String>>)> = match kind {
            "signup" | "invite" => vec![
                ("UPDATE auth.users SET email_confirmed_at = coalesce(email_confirmed_at, now()), confirmation_token = '', updated_at = now() WHERE id = $1::uuid".into(), vec![id.clone()]),
                ("DELETE FROM auth.one_time_tokens WHERE user_id = $1::uuid AND token_type = 'confirmation_token'".into(), vec![id.clone()]),
                ("UPDATE auth.identities SET identity_data = identity_data || '{\"email_verified\": true}'::jsonb, updated_at = now() WHERE user_id = $1::uuid AND provider = 'email'".into(), vec![id.clone()]),
            ],
            "recovery" | "magiclink" => vec![
                ("UPDATE auth.users SET recovery_token = '', confirmation_token = CASE WHEN email_confirmed_at IS NULL THEN '' ELSE confirmation_token END,
                   email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now() WHERE id = $1::uuid".into(), vec![id.clone()]),
                ("DELETE FROM auth.one_time_tokens WHERE user_id = $1::uuid AND token_type = 'recovery_token'".into(), vec![id.clone()]),
                ("UPDATE auth.identities SET identity_data = identity_data || '{\"email_verified\": true}'::jsonb, updated_at = now() WHERE user_id = $1::uuid AND provider = 'email'".into(), vec![id.clone()]),
            ],
            _ if !self.cfg.autoconfirm && self.cfg.secure_email_change && u.confirm_status == 0 && !u.email.is_empty() => {
                // The first of two confirmations: that code is spent.
                let tok = if u.change_current == hash || u.change_current == format!("pkce_{hash}") {
                    Tok::EmailChangeCurrent
                } else {
                    Tok::EmailChangeNew
                };
                self.sql
                    .run(vec![
                        (format!("UPDATE auth.users SET email_change_confirm_status = 1, \"{}\" = '', updated_at = now() WHERE id = $1::uuid", tok.column()), vec![id.clone()]),
                        ("DELETE FROM auth.one_time_tokens WHERE user_id = $1::uuid AND token_type = $2".into(), vec![id.clone(), Some(tok.column().into())]),
                    ])
                    .map_err(db_error)?;
                return Ok(Verified::Message(SINGLE_CONFIRMATION));
            }
            _ => vec![
                ("UPDATE auth.users SET email = email_change, email_change = '', email_change_token_current = '', email_change_token_new = '',
                   email_change_confirm_status = 0, email_confirmed_at = now(), is_anonymous = false, updated_at = now() WHERE id = $1::uuid".into(), vec![id.clone()]),
                ("DELETE FROM auth.one_time_tokens WHERE user_id = $1::uuid AND token_type IN ('email_change_token_new', 'email_change_token_current')".into(), vec![id.clone()]),
                ("INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
                  SELECT u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true, 'phone_verified', false), 'email', now(), now()
                  FROM auth.users u WHERE u.id = $1::uuid
                  ON CONFLICT (provider_id, provider) DO UPDATE SET identity_data = auth.identities.identity_data || excluded.identity_data, updated_at = now()".into(), vec![id.clone()]),
            ],
        };
        match self.sql.run(stmts) {
            Ok(_) => {}
            Err(e) if e.code == "23505" => {
                return Err(error(422, "email_exists", "A user with this email address has already been registered"))
            }
            Err(e) => return Err(db_error(e)),
        }
        Ok(Verified::User(u.id.clone()))
    }
}
