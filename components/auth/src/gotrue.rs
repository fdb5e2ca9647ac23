//! A GoTrue-compatible `/auth/v1` (the subset supabase-js uses for email and
//! password accounts): sign-up, password and refresh-token grants with
//! rotation and reuse detection, the current user, logout, settings, health,
//! and the admin user endpoints. Users, sessions and refresh tokens live in
//! Supabase's `auth.users`, `auth.sessions` and `auth.refresh_tokens`;
//! passwords are argon2id hashes (bcrypt hashes exported from Supabase are
//! verified too); refresh tokens are stored as SHA-256 hashes.
//!
//! Plain Rust over a [`Sql`] trait, so the component glue stays thin.

use crate::verify::{self, Settings};

#[path = "email.rs"]
mod email;
#[path = "admin.rs"]
mod admin;
#[path = "reauth.rs"]
mod reauth;
#[path = "providers.rs"]
mod providers;
#[path = "mfa.rs"]
mod mfa;
#[path = "pkce.rs"]
mod pkce;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use jsonwebtoken::{encode, EncodingKey, Header};
use contract::Response;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// One transaction of statements; each result is rows of text values.
pub trait Sql {
    fn run(
        &self,
        statements: Vec<(String, Vec<Option<String>>)>,
    ) -> Result<Vec<Vec<Vec<Option<String>>>>, SqlError>;
}

#[derive(Debug, Clone)]
pub struct SqlError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Sign users in right after sign-up (GoTrue's `mailer_autoconfirm`).
    pub autoconfirm: bool,
    pub disable_signup: bool,
    /// Access token lifetime in seconds.
    pub jwt_expiry: u64,
    /// Seconds a rotated refresh token may still be used.
    pub reuse_interval: f64,
    /// Refresh-token grants one client may make per window (GoTrue's
    /// `rate_limit_token_refresh`: 150 per 5 minutes).
    pub rate_limit_token: u32,
    pub rate_limit_window_seconds: u32,
    /// Sign-ups and password sign-ins one client may make per window
    /// (GoTrue's `rate_limit_sign_in_sign_ups`: 30 per 5 minutes).
    pub rate_limit_sign_in: u32,
    /// Anonymous sign-ins one client may make per hour (GoTrue's
    /// `rate_limit_anonymous_users`: 30).
    pub rate_limit_anonymous: u32,
    /// `POST /signup` without an e-mail signs in an anonymous user
    /// (`supabase.auth.signInAnonymously()`; off by default, as Supabase's).
    pub anonymous_sign_ins: bool,
    // --- e-mail flows (issue 26) ---
    /// GoTrue's `SITE_URL`: where links redirect by default.
    pub site_url: String,
    /// GoTrue's `URI_ALLOW_LIST` (globs).
    pub redirect_urls: Vec<String>,
    /// Seconds an e-mailed code or link is valid.
    pub otp_exp: u64,
    pub otp_length: usize,
    /// E-mails per hour (all users; GoTrue counts them without autoconfirm).
    pub rate_limit_email_sent: u32,
    /// Seconds between two e-mails of a kind to one user.
    pub max_frequency: u64,
    /// E-mail change confirmed from both addresses.
    pub secure_email_change: bool,
    /// A password change in a session older than 24 hours needs the
    /// `/reauthenticate` code (GoTrue's `SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION`).
    pub secure_password_change: bool,
    /// `/user/identities` served (GoTrue's `SECURITY_MANUAL_LINKING_ENABLED`).
    pub manual_linking: bool,
    // --- MFA (issue 26, mfa.rs) ---
    pub mfa_max_enrolled_factors: u64,
    pub mfa_totp_enroll: bool,
    pub mfa_totp_verify: bool,
}

use contract::settings as s;

impl AuthConfig {
    /// The auth role's settings (defaults from `contract::settings`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> AuthConfig {
        AuthConfig {
            autoconfirm: s::AUTH_AUTOCONFIRM.flag(&var),
            disable_signup: s::AUTH_DISABLE_SIGNUP.flag(&var),
            jwt_expiry: s::AUTH_JWT_EXPIRY.number(&var).unwrap_or_default(),
            reuse_interval: s::AUTH_REFRESH_TOKEN_REUSE_INTERVAL
                .number::<u64>(&var)
                .unwrap_or_default() as f64,
            rate_limit_token: s::AUTH_RATE_LIMIT_TOKEN.number(&var).unwrap_or_default(),
            rate_limit_window_seconds: s::AUTH_RATE_LIMIT_WINDOW.number(&var).unwrap_or(1),
            rate_limit_sign_in: s::AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS
                .number(&var)
                .unwrap_or_default(),
            rate_limit_anonymous: s::AUTH_RATE_LIMIT_ANONYMOUS_USERS
                .number(&var)
                .unwrap_or_default(),
            anonymous_sign_ins: s::AUTH_ANONYMOUS_SIGN_INS.flag(&var),
            site_url: s::AUTH_SITE_URL.text_or_default(&var),
            redirect_urls: s::AUTH_ADDITIONAL_REDIRECT_URLS.list(&var),
            otp_exp: s::AUTH_MAILER_OTP_EXP.number(&var).unwrap_or(3600),
            otp_length: s::AUTH_MAILER_OTP_LENGTH
                .number::<usize>(&var)
                .unwrap_or(6)
                .clamp(6, 10),
            rate_limit_email_sent: s::AUTH_RATE_LIMIT_EMAIL_SENT.number(&var).unwrap_or(30),
            max_frequency: s::AUTH_SMTP_MAX_FREQUENCY.number(&var).unwrap_or(60),
            secure_email_change: s::AUTH_DOUBLE_CONFIRM_CHANGES.flag(&var),
            secure_password_change: s::AUTH_SECURE_PASSWORD_CHANGE.flag(&var),
            manual_linking: s::AUTH_MANUAL_LINKING.flag(&var),
            mfa_max_enrolled_factors: s::AUTH_MFA_MAX_ENROLLED_FACTORS.number(&var).unwrap_or(10),
            mfa_totp_enroll: s::AUTH_MFA_TOTP_ENROLL_ENABLED.flag(&var),
            mfa_totp_verify: s::AUTH_MFA_TOTP_VERIFY_ENABLED.flag(&var),
        }
    }
}

/// A GoTrue error: `{"code": status, "error_code": ..., "msg": ...}`.
fn error(status: u16, error_code: &str, msg: &str) -> Response {
    json_response(
        status,
        json!({"code": status, "error_code": error_code, "msg": msg}),
    )
}

fn json_response(status: u16, v: Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: v.to_string().into_bytes(),
    }
}

fn db_error(e: SqlError) -> Response {
    error(
        500,
        "unexpected_failure",
        &format!("Database error: {} ({})", e.message, e.code),
    )
}

/// The user object as GoTrue returns it, built in SQL from `auth.users` row `u`.
const USER_JSON: &str = "json_build_object(
  'id', u.id, 'aud', u.aud, 'role', u.role, 'email', coalesce(u.email, ''),
  'email_confirmed_at', u.email_confirmed_at, 'phone', coalesce(u.phone, ''),
  'confirmed_at', u.confirmed_at, 'confirmation_sent_at', u.confirmation_sent_at,
  'last_sign_in_at', u.last_sign_in_at,
  'phone_confirmed_at', u.phone_confirmed_at, 'recovery_sent_at', u.recovery_sent_at,
  'email_change_sent_at', u.email_change_sent_at, 'new_phone', nullif(u.phone_change, ''),
  'phone_change_sent_at', u.phone_change_sent_at, 'reauthentication_sent_at', u.reauthentication_sent_at,
  'deleted_at', u.deleted_at,
  'app_metadata', coalesce(u.raw_app_meta_data, '{}'::jsonb),
  'user_metadata', coalesce(u.raw_user_meta_data, '{}'::jsonb),
  'identities', coalesce((SELECT json_agg(json_build_object(
      'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id, 'identity_data', i.identity_data,
      'provider', i.provider, 'last_sign_in_at', i.last_sign_in_at, 'created_at', i.created_at,
      'updated_at', i.updated_at, 'email', i.email) ORDER BY i.created_at)
    FROM auth.identities i WHERE i.user_id = u.id), '[]'::json),
  'factors', (SELECT json_agg((jsonb_build_object('id', f.id, 'created_at', f.created_at, 'updated_at', f.updated_at, 'status', f.status, 'friendly_name', f.friendly_name, 'factor_type', f.factor_type, 'phone', coalesce(f.phone, ''), 'last_challenged_at', f.last_challenged_at) - CASE WHEN coalesce(f.friendly_name, '') = '' THEN 'friendly_name' ELSE '' END) ORDER BY f.created_at) FROM auth.mfa_factors f WHERE f.user_id = u.id),
  'created_at', u.created_at, 'updated_at', u.updated_at,
  'new_email', nullif(u.email_change, ''), 'invited_at', u.invited_at,
  'banned_until', u.banned_until, 'is_anonymous', u.is_anonymous)::text";

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("random bytes");
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, Response> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| error(500, "unexpected_failure", "no randomness"))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|_| error(500, "unexpected_failure", "salt"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| error(500, "unexpected_failure", "could not hash the password"))
}

/// Verifies a password for an e-mail that has no account (or no password)
/// against a hash of the same cost, so that an unknown e-mail takes as long
/// to refuse as a wrong password (no account enumeration by timing).
///
/// The hash is a constant, not made on first use: argon2 takes 19 MiB, so
/// an instance that verified a password grows past the reuse limit and is
/// dropped, and a hash made per instance doubled the unknown e-mail's work
/// (measured: p50 150 ms against 83 ms for a wrong password).
fn verify_nothing(password: &str) {
    let _ = verify_password(password, DUMMY_HASH);
}

/// `hash_password("no such account")` with a fixed salt: the same
/// algorithm and cost as every user's hash (a test checks).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c3VwYWxpdGUtbm8tdXNlcg$I4nc4MfEglCVqbKKK1I+bH/RGAqtPCilhGZTWCunAfU";

/// Verifies argon2 (PHC) and bcrypt (`$2a$`/`$2b$`/`$2y$`) hashes.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// checkmail's `ValidateFormat` (GoTrue's): the local part of
/// `a-zA-Z0-9.!#$%&'*+/=?^_\`{|}~-`, the domain of labels of letters, digits
/// and inner hyphens (here at least two of them).
fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    local_ok && domain.contains('.') && domain.split('.').all(label_ok) && e.len() <= 255
}

fn check_password(p: &str) -> Result<(), Response> {
    if p.chars().count() < 6 {
        return Err(json_response(
            422,
            json!({"code": 422, "error_code": "weak_password", "msg": "Password should be at least 6 characters.", "weak_password": {"reasons": ["length"]}}),
        ));
    }
    Ok(())
}

fn body_json(body: &[u8]) -> Result<Map<String, Value>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            400,
            "bad_json",
            "Could not parse request body as JSON",
        )),
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// Sends an e-mail (the `mailer` import): `Err` says why it was not sent.
pub trait Mail {
    fn send(&self, to: &str, subject: &str, text: &str, html: &str) -> Result<(), String>;
}

pub struct Ctx<'a> {
    pub cfg: &'a AuthConfig,
    pub mail: &'a dyn Mail,
    pub verify: &'a Settings,
    pub sql: &'a dyn Sql,
    /// `iss` of issued tokens: `<scheme>://<host>/auth/v1`.
    pub issuer: String,
}

impl Ctx<'_> {
    fn one(
        &self,
        sql: &str,
        params: Vec<Option<String>>,
    ) -> Result<Vec<Vec<Option<String>>>, Response> {
        let mut sets = self
            .sql
            .run(vec![(sql.to_string(), params)])
            .map_err(db_error)?;
        Ok(sets.pop().unwrap_or_default())
    }

    fn user_json(&self, id: &str) -> Result<Option<Value>, Response> {
        let rows = self.one(
            &format!("SELECT {USER_JSON} FROM auth.users u WHERE u.id = $1::uuid"),
            vec![Some(id.into())],
        )?;
        Ok(rows
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|s| serde_json::from_str(s).ok()))
    }

    /// The header and key tokens are signed with: `jwt-keys`' signing key
    /// (its `alg`, its `kid` in the header) when a key set is set, else the
    /// HS256 `jwt-secret`.
    fn signer(&self) -> Result<(Header, EncodingKey), Response> {
        let set = self
            .verify
            .key_set()
            .map_err(|e| error(500, "unexpected_failure", &format!("{}: {}", e.message, e.details.map(|d| d.to_string()).unwrap_or_default())))?;
        if let Some(set) = set {
            let key = set.signer().ok_or_else(|| {
                error(500, "unexpected_failure", "no signing key detected (jwt-keys: one key needs \"sign\" in its key_ops)")
            })?;
            let enc = key
                .encoding()
                .map_err(|e| error(500, "unexpected_failure", &format!("signing key: {e}")))?;
            return Ok((key.header(), enc));
        }
        let s = self.verify.secret.as_deref().unwrap_or("");
        if s.trim_start().starts_with('{') || s.is_empty() {
            return Err(error(
                500,
                "unexpected_failure",
                "issuing tokens needs an HMAC jwt-secret or a jwt-keys signing key",
            ));
        }
        let key = if self.verify.secret_is_base64 {
            EncodingKey::from_base64_secret(s)
                .map_err(|_| error(500, "unexpected_failure", "jwt-secret is not base64"))?
        } else {
            EncodingKey::from_secret(s.as_bytes())
        };
        Ok((Header::default(), key))
    }

    /// `GET /.well-known/jwks.json`: the public keys of `jwt-keys`, as
    /// GoTrue's `WellKnownJwks` (no HMAC key, `key_ops: ["verify"]`).
    fn jwks(&self) -> Result<Response, Response> {
        let set = self
            .verify
            .key_set()
            .map_err(|e| error(500, "unexpected_failure", &e.message))?;
        let body = set.map(|s| s.published()).unwrap_or_else(|| json!({"keys": []}));
        let mut r = json_response(200, body);
        r.headers
            .push(("cache-control".into(), "public, max-age=600".into()));
        Ok(r)
    }

    /// The session object for `user` in session `session_id`.
    fn session(
        &self,
        user: Value,
        session_id: &str,
        refresh_token: &str,
        method: &str,
    ) -> Result<Response, Response> {
        let iat = now();
        let exp = iat + self.cfg.jwt_expiry;
        let (aal, amr) = self.aal_amr(session_id, method, iat)?;
        let claims = json!({
            "aud": user["aud"], "exp": exp, "iat": iat, "iss": self.issuer,
            "sub": user["id"], "email": user["email"], "phone": user["phone"],
            "app_metadata": user["app_metadata"], "user_metadata": user["user_metadata"],
            "role": user["role"], "aal": aal, "amr": amr,
            "session_id": session_id, "is_anonymous": user["is_anonymous"],
        });
        let (header, key) = self.signer()?;
        let access = encode(&header, &claims, &key)
            .map_err(|_| error(500, "unexpected_failure", "could not sign the token"))?;
        Ok(json_response(
            200,
            json!({
                "access_token": access, "token_type": "bearer", "expires_in": self.cfg.jwt_expiry,
                "expires_at": exp, "refresh_token": refresh_token, "user": user,
            }),
        ))
    }

    /// Opens a session for `user_id`: session row, refresh token, sign-in time.
    fn sign_in(&self, user_id: &str, method: &str) -> Result<Response, Response> {
        let refresh = random_token();
        let rows = self.one(
            &format!(
                "WITH s AS (INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal) VALUES (gen_random_uuid(), $1::uuid, now(), now(), 'aal1') RETURNING id),
                      a AS (INSERT INTO auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
                            SELECT gen_random_uuid(), s.id, now(), now(), $3 FROM s),
                      t AS (INSERT INTO auth.refresh_tokens (token, user_id, session_id, revoked, created_at, updated_at)
                            SELECT $2, $1, s.id, false, now(), now() FROM s RETURNING session_id),
                      u AS (UPDATE auth.users SET last_sign_in_at = now(), updated_at = now() WHERE id = $1::uuid RETURNING *)
                 SELECT (SELECT session_id::text FROM t), {USER_JSON} FROM u"
            ),
            vec![Some(user_id.into()), Some(token_hash(&refresh)), Some(method.into())],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| error(404, "user_not_found", "User not found"))?;
        let session_id = row[0].clone().unwrap_or_default();
        let user: Value = row[1]
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        self.session(user, &session_id, &refresh, method)
    }

    /// The verified claims of the request's access token.
    fn claims(&self, headers: &[(String, String)]) -> Result<Value, Response> {
        if verify::bearer(headers).is_none() {
            return Err(error(
                401,
                "no_authorization",
                "This endpoint requires a valid Bearer token",
            ));
        }
        let id = verify::authenticate(self.verify, headers).map_err(|e| {
            error(
                401,
                "bad_jwt",
                &format!(
                    "invalid JWT: unable to parse or verify signature, {}",
                    e.message
                ),
            )
        })?;
        serde_json::from_str(&id.claims_json).map_err(|_| error(401, "bad_jwt", "invalid JWT"))
    }

    /// The user and session of a signed-in request.
    fn current(&self, headers: &[(String, String)]) -> Result<(String, String), Response> {
        let claims = self.claims(headers)?;
        let sub = claims["sub"]
            .as_str()
            .ok_or_else(|| error(403, "bad_jwt", "invalid claim: missing sub claim"))?
            .to_string();
        let sid = claims["session_id"].as_str().unwrap_or("").to_string();
        let rows = self.one(
            "SELECT EXISTS (SELECT 1 FROM auth.sessions WHERE id::text = $1 AND user_id::text = $2)::text",
            vec![Some(sid.clone()), Some(sub.clone())],
        )?;
        if rows.first().and_then(|r| r[0].as_deref()) != Some("true") {
            return Err(error(
                403,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            ));
        }
        Ok((sub, sid))
    }

    fn require_admin(&self, headers: &[(String, String)]) -> Result<(), Response> {
        let claims = self.claims(headers)?;
        if claims["role"].as_str() != Some("service_role") {
            return Err(error(403, "not_admin", "User not allowed"));
        }
        Ok(())
    }

    fn signup(&self, query: &str, body: &[u8], headers: &[(String, String)]) -> Result<Response, Response> {
        if self.cfg.disable_signup {
            return Err(error(
                422,
                "signup_disabled",
                "Signups not allowed for this instance",
            ));
        }
        let b = body_json(body)?;
        let email = str_field(&b, "email").unwrap_or("").trim().to_lowercase();
        let password = str_field(&b, "password").unwrap_or("");
        let data = b
            .get("data")
            .filter(|d| d.is_object())
            .cloned()
            .unwrap_or(json!({}));
        let phone = str_field(&b, "phone").unwrap_or("");
        if email.is_empty() && phone.is_empty() {
            return self.anonymous_sign_in(&data, headers);
        }
        if !email.is_empty() && !phone.is_empty() {
            return Err(error(400, "validation_failed", "Only an email address or phone number should be provided on signup."));
        }
        self.rate_limit(
            "sign_in",
            self.cfg.rate_limit_sign_in,
            self.cfg.rate_limit_window_seconds,
            headers,
        )?;
        if email.is_empty() {
            // No SMS provider: GoTrue's answer with phone sign-ups off.
            return Err(error(400, "phone_provider_disabled", "Phone signups are disabled"));
        }
        if !valid_email(&email) {
            return Err(error(
                400,
                "validation_failed",
                "Unable to validate email address: invalid format",
            ));
        }
        check_password(password)?;
        if self.cfg.autoconfirm {
            // A sign-up that cannot sign in fails before its user is written.
            self.signer()?;
        }
        let challenge = pkce::challenge(&b)?;
        let redirect = self.referrer(query, headers);
        let id = match self.create_user(&email, Some(password), self.cfg.autoconfirm, &data, &json!({})) {
            Ok(id) => id,
            // GoTrue sends an unconfirmed user's confirmation again.
            Err(e) if e.status == 422 && !self.cfg.autoconfirm => {
                let rows = self.one(
                    "SELECT id::text FROM auth.users WHERE email = $1 AND email_confirmed_at IS NULL AND deleted_at IS NULL",
                    vec![Some(email.clone())],
                )?;
                let id = rows.first().and_then(|r| r[0].clone()).ok_or(e)?;
                let prefix = self.flow_state(&id, "email", "email/signup", challenge.as_ref())?;
                self.send_confirmation(&id, &email, &redirect, prefix)?;
                return Ok(json_response(200, self.user_json(&id)?.unwrap_or(Value::Null)));
            }
            Err(e) => return Err(e),
        };
        if self.cfg.autoconfirm {
            self.sign_in(&id, "password").inspect_err(|_| {
                let _ = self.one("DELETE FROM auth.users WHERE id = $1::uuid", vec![Some(id.clone())]);
            })
        } else {
            // The confirmation e-mail; a sign-up whose mail fails leaves no user.
            let sent = self
                .flow_state(&id, "email", "email/signup", challenge.as_ref())
                .and_then(|prefix| self.send_confirmation(&id, &email, &redirect, prefix));
            if let Err(e) = sent {
                self.one("DELETE FROM auth.users WHERE id = $1::uuid", vec![Some(id)])?;
                return Err(e);
            }
            let user = self.user_json(&id)?.unwrap_or(Value::Null);
            Ok(json_response(200, user))
        }
    }

    /// `POST /signup` without an e-mail or phone (supabase-js's
    /// `signInAnonymously()`): a new user with no identity, signed in, its
    /// tokens claiming `is_anonymous`, as GoTrue's.
    fn anonymous_sign_in(
        &self,
        data: &Value,
        headers: &[(String, String)],
    ) -> Result<Response, Response> {
        if !self.cfg.anonymous_sign_ins {
            return Err(error(
                422,
                "anonymous_provider_disabled",
                "Anonymous sign-ins are disabled",
            ));
        }
        self.rate_limit("anonymous", self.cfg.rate_limit_anonymous, 3600, headers)?;
        self.signer()?;
        let rows = self.one(
            "INSERT INTO auth.users (id, aud, role, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_anonymous)
             VALUES (gen_random_uuid(), 'authenticated', 'authenticated',
                     '{\"provider\": \"anonymous\", \"providers\": [\"anonymous\"]}'::jsonb, $1::jsonb, now(), now(), true)
             RETURNING id::text",
            vec![Some(data.to_string())],
        )?;
        let id = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .ok_or_else(|| error(500, "unexpected_failure", "the user was not created"))?;
        self.sign_in(&id, "anonymous").inspect_err(|_| {
            let _ = self.one("DELETE FROM auth.users WHERE id = $1::uuid", vec![Some(id.clone())]);
        })
    }

    /// A new e-mail user and its `email` identity; no password: none
    /// (invited, or signed up by magic link).
    fn create_user(
        &self,
        email: &str,
        password: Option<&str>,
        confirmed: bool,
        user_meta: &Value,
        app_meta: &Value,
    ) -> Result<String, Response> {
        let hash = match password {
            Some(p) => hash_password(p)?,
            None => String::new(),
        };
        let mut app = json!({"provider": "email", "providers": ["email"]});
        if let (Some(a), Some(extra)) = (app.as_object_mut(), app_meta.as_object()) {
            a.extend(extra.clone());
        }
        let res = self.sql.run(vec![(
            "WITH u AS (INSERT INTO auth.users (id, aud, role, email, encrypted_password, email_confirmed_at,
                                     raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_anonymous)
               VALUES (gen_random_uuid(), 'authenticated', 'authenticated', $1, $2,
                       CASE WHEN $3::boolean THEN now() END,
                       $4::jsonb, $5::jsonb, now(), now(), false)
               RETURNING id, email),
             i AS (INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
               SELECT u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', $3::boolean, 'phone_verified', false),
                      'email', now(), now(), now() FROM u)
             SELECT id::text FROM u"
                .into(),
            vec![Some(email.into()), Some(hash), Some(confirmed.to_string()), Some(app.to_string()), Some(user_meta.to_string())],
        )]);
        match res {
            Ok(mut sets) => Ok(sets
                .pop()
                .and_then(|r| r.into_iter().next())
                .and_then(|r| r[0].clone())
                .unwrap_or_default()),
            Err(e) if e.code == "23505" => {
                Err(error(422, "user_already_exists", "User already registered"))
            }
            Err(e) => Err(db_error(e)),
        }
    }

    /// Counts a request of kind `what` from this client (the peer address
    /// the server appended to `X-Forwarded-For`) in the current window of
    /// `window` seconds: 429 `over_request_rate_limit` past `limit` (0: no
    /// limit), as GoTrue answers.
    fn rate_limit(
        &self,
        what: &str,
        limit: u32,
        window: u32,
        headers: &[(String, String)],
    ) -> Result<(), Response> {
        if limit == 0 {
            return Ok(());
        }
        let client = headers
            .iter()
            .find(|(k, _)| k == "x-forwarded-for")
            .and_then(|(_, v)| v.rsplit(',').next())
            .map(str::trim)
            .unwrap_or("");
        let rows = self.one(
            "INSERT INTO auth.rate_limits AS r (key, window_start, hits) VALUES ($1, now(), 1)
             ON CONFLICT (key) DO UPDATE SET
               hits = CASE WHEN r.window_start < now() - make_interval(secs => $2::int) THEN 1 ELSE r.hits + 1 END,
               window_start = CASE WHEN r.window_start < now() - make_interval(secs => $2::int) THEN now() ELSE r.window_start END
             RETURNING hits::text",
            vec![Some(format!("{what}:{client}")), Some(window.to_string())],
        )?;
        let hits: u64 = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|h| h.parse().ok())
            .unwrap_or(0);
        if hits > u64::from(limit) {
            let mut r = error(429, "over_request_rate_limit", "Request rate limit reached");
            r.headers.push(("retry-after".into(), window.to_string()));
            return Err(r);
        }
        Ok(())
    }

    fn password_grant(&self, body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let email = str_field(&b, "email").unwrap_or("").trim().to_lowercase();
        let password = str_field(&b, "password").unwrap_or("");
        let rows = self.one(
            "SELECT id::text, encrypted_password, (email_confirmed_at IS NOT NULL)::text, coalesce(banned_until > now(), false)::text
             FROM auth.users WHERE email = $1 AND deleted_at IS NULL",
            vec![Some(email)],
        )?;
        let invalid = || error(400, "invalid_credentials", "Invalid login credentials");
        let hash = rows.first().and_then(|r| r[1].as_deref()).unwrap_or("");
        if hash.is_empty() {
            verify_nothing(password);
            return Err(invalid());
        }
        let row = &rows[0];
        if !verify_password(password, hash) {
            return Err(invalid());
        }
        if row[2].as_deref() != Some("true") {
            return Err(error(400, "email_not_confirmed", "Email not confirmed"));
        }
        if row[3].as_deref() == Some("true") {
            return Err(error(400, "user_banned", "User is banned"));
        }
        self.sign_in(row[0].as_deref().unwrap_or(""), "password")
    }

    fn refresh_grant(&self, body: &[u8]) -> Result<Response, Response> {
        let b = body_json(body)?;
        let token = str_field(&b, "refresh_token").unwrap_or("");
        let rows = self.one(
            "SELECT t.id::text, t.revoked::text, extract(epoch from now() - t.updated_at)::float8::text, t.session_id::text, t.user_id
             FROM auth.refresh_tokens t WHERE t.token = $1",
            vec![Some(token_hash(token))],
        )?;
        let row = rows.first().ok_or_else(|| {
            error(
                400,
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            )
        })?;
        let (id, revoked, age, session, user) = (
            row[0].clone().unwrap_or_default(),
            row[1].as_deref() == Some("true"),
            row[2]
                .as_deref()
                .and_then(|a| a.parse::<f64>().ok())
                .unwrap_or(f64::MAX),
            row[3].clone().unwrap_or_default(),
            row[4].clone().unwrap_or_default(),
        );
        if revoked && age > self.cfg.reuse_interval {
            // Reuse of a rotated token: someone else may hold it. End the session.
            self.one(
                "DELETE FROM auth.sessions WHERE id = $1::uuid",
                vec![Some(session)],
            )?;
            return Err(error(
                400,
                "refresh_token_already_used",
                "Invalid Refresh Token: Already Used",
            ));
        }
        let next = random_token();
        let mut sets = self
            .sql
            .run(vec![
                (
                    "UPDATE auth.refresh_tokens SET revoked = true, updated_at = now() WHERE id = $1::bigint AND NOT revoked".into(),
                    vec![Some(id.clone())],
                ),
                (
                    "INSERT INTO auth.refresh_tokens (token, user_id, session_id, parent, revoked, created_at, updated_at)
                     SELECT $1, $2, $3::uuid, $4, false, now(), now() WHERE EXISTS (SELECT 1 FROM auth.sessions WHERE id = $3::uuid)".into(),
                    vec![Some(token_hash(&next)), Some(user.clone()), Some(session.clone()), Some(id)],
                ),
                ("UPDATE auth.sessions SET updated_at = now() WHERE id = $1::uuid".into(), vec![Some(session.clone())]),
                (format!("SELECT {USER_JSON} FROM auth.users u WHERE u.id = $1::uuid"), vec![Some(user)]),
            ])
            .map_err(db_error)?;
        let user_rows = sets.pop().unwrap_or_default();
        let user: Value = user_rows
            .first()
            .and_then(|r| r[0].as_deref())
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| error(404, "user_not_found", "User not found"))?;
        self.session(user, &session, &next, "token_refresh")
    }

    fn get_user(&self, headers: &[(String, String)]) -> Result<Response, Response> {
        let (sub, _) = self.current(headers)?;
        let user = self.user_json(&sub)?.ok_or_else(|| {
            error(
                404,
                "user_not_found",
                "User from sub claim in JWT does not exist",
            )
        })?;
        Ok(json_response(200, user))
    }

    /// `PUT /user`: applies `email`, `password` and `data` to the user
    /// (the admin's update is `admin.rs`).
    fn update_user(&self, id: &str, b: &Map<String, Value>) -> Result<Response, Response> {
        let mut sets: Vec<String> = vec!["updated_at = now()".into()];
        let mut params: Vec<Option<String>> = vec![Some(id.into())];
        fn push(sets: &mut Vec<String>, params: &mut Vec<Option<String>>, expr: &str, v: String) {
            params.push(Some(v));
            sets.push(expr.replace('?', &format!("${}", params.len())));
        }
        if let Some(e) = str_field(b, "email") {
            let e = e.trim().to_lowercase();
            if !valid_email(&e) {
                return Err(error(
                    400,
                    "validation_failed",
                    "Unable to validate email address: invalid format",
                ));
            }
            push(&mut sets, &mut params, "email = ?", e);
            // Confirmed at once (autoconfirm: there is no mail to confirm it
            // by), an anonymous user giving an e-mail becomes a permanent
            // one, as GoTrue converts it once it has a confirmed identity
            // (supabase-js `updateUser({ email })`).
            if self.cfg.autoconfirm {
                sets.push("email_confirmed_at = coalesce(u.email_confirmed_at, now())".into());
                sets.push(
                    "raw_app_meta_data = CASE WHEN u.is_anonymous
                       THEN coalesce(u.raw_app_meta_data, '{}'::jsonb) || '{\"provider\": \"email\", \"providers\": [\"email\"]}'::jsonb
                       ELSE u.raw_app_meta_data END"
                        .into(),
                );
                sets.push("is_anonymous = false".into());
            }
        }
        if let Some(p) = str_field(b, "password") {
            check_password(p)?;
            push(
                &mut sets,
                &mut params,
                "encrypted_password = ?",
                hash_password(p)?,
            );
        }
        if let Some(m) = b.get("data").filter(|m| m.is_object()) {
            push(
                &mut sets,
                &mut params,
                "raw_user_meta_data = coalesce(raw_user_meta_data, '{}'::jsonb) || ?::jsonb",
                m.to_string(),
            );
        }
        let sql = format!(
            "UPDATE auth.users u SET {} WHERE u.id = $1::uuid RETURNING {USER_JSON}",
            sets.join(", ")
        );
        match self.sql.run(vec![(sql, params)]) {
            Ok(mut s) => {
                let rows = s.pop().unwrap_or_default();
                let user: Value = rows
                    .first()
                    .and_then(|r| r[0].as_deref())
                    .and_then(|s| serde_json::from_str(s).ok())
                    .ok_or_else(|| error(404, "user_not_found", "User not found"))?;
                Ok(json_response(200, user))
            }
            Err(e) if e.code == "23505" => Err(error(
                422,
                "email_exists",
                "A user with this email address has already been registered",
            )),
            Err(e) => Err(db_error(e)),
        }
    }

    fn logout(&self, headers: &[(String, String)], query: &str) -> Result<Response, Response> {
        let (sub, sid) = self.current(headers)?;
        let scope = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("scope="))
            .unwrap_or("global");
        let (sql, params) = match scope {
            "local" => (
                "DELETE FROM auth.sessions WHERE id = $1::uuid",
                vec![Some(sid)],
            ),
            "others" => (
                "DELETE FROM auth.sessions WHERE user_id = $1::uuid AND id <> $2::uuid",
                vec![Some(sub), Some(sid)],
            ),
            "global" => (
                "DELETE FROM auth.sessions WHERE user_id = $1::uuid",
                vec![Some(sub)],
            ),
            _ => return Err(error(400, "validation_failed", "Unsupported logout scope")),
        };
        self.one(sql, params)?;
        Ok(Response {
            status: 204,
            headers: vec![],
            body: vec![],
        })
    }

    /// Serves `method path` (relative to `/auth/v1`).
    pub fn handle(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Response {
        let path = path.trim_end_matches('/');
        let result = match (method, path) {
            ("GET", "/.well-known/jwks.json") => self.jwks(),
            ("GET", "/health") => Ok(json_response(
                200,
                json!({"version": env!("CARGO_PKG_VERSION"), "name": "GoTrue", "description": "supalite auth"}),
            )),
            ("GET", "/settings") => Ok(json_response(
                200,
                json!({
                    "external": {"email": true, "phone": false, "anonymous_users": self.cfg.anonymous_sign_ins},
                    "disable_signup": self.cfg.disable_signup,
                    "mailer_autoconfirm": self.cfg.autoconfirm,
                    "phone_autoconfirm": false, "sms_provider": "", "saml_enabled": false,
                }),
            )),
            ("POST", "/signup") => self.signup(query, body, headers),
            // --- e-mail flows (issue 26, email.rs) ---
            ("POST", "/otp") => self
                .rate_limit("otp", self.cfg.rate_limit_sign_in, self.cfg.rate_limit_window_seconds, headers)
                .and_then(|()| self.otp(query, headers, body)),
            ("GET", "/verify") => self.verify_get(query, headers),
            ("POST", "/verify") => self
                .rate_limit("verify", self.cfg.rate_limit_sign_in, self.cfg.rate_limit_window_seconds, headers)
                .and_then(|()| self.verify_post(body)),
            ("POST", "/recover") => self.recover(query, headers, body),
            ("POST", "/resend") => self.resend(query, headers, body),
            ("POST", "/invite") => self.invite(query, headers, body),
            ("POST", "/admin/generate_link") => self.generate_link(query, headers, body),
            // --- end e-mail flows ---
            ("POST", "/token") => match query
                .split('&')
                .find_map(|kv| kv.strip_prefix("grant_type="))
            {
                Some("password") => self
                    .rate_limit(
                        "sign_in",
                        self.cfg.rate_limit_sign_in,
                        self.cfg.rate_limit_window_seconds,
                        headers,
                    )
                    .and_then(|()| self.password_grant(body)),
                Some("pkce") => self
                    .rate_limit(
                        "token",
                        self.cfg.rate_limit_token,
                        self.cfg.rate_limit_window_seconds,
                        headers,
                    )
                    .and_then(|()| self.pkce_grant(body)),
                Some("refresh_token") => self
                    .rate_limit(
                        "token",
                        self.cfg.rate_limit_token,
                        self.cfg.rate_limit_window_seconds,
                        headers,
                    )
                    .and_then(|()| self.refresh_grant(body)),
                // --- sign-in methods not offered (providers.rs) ---
                Some("id_token") => providers::id_token_grant(body),
                Some("web3") => Err(providers::web3_grant()),
                _ => Err(error(400, "invalid_credentials", "unsupported_grant_type")),
            },
            ("GET", "/user") => self.get_user(headers),
            ("PUT", "/user") => self
                .current(headers)
                .and_then(|(sub, sid)| {
                    let mut b = body_json(body)?;
                    self.check_password_change(&sub, &sid, &b)?;
                    self.email_change_request(&sub, &mut b, query, headers)?;
                    self.update_user(&sub, &b)
                }),
            ("POST", "/logout") => self.logout(headers, query),
            // --- MFA (issue 26, mfa.rs) ---
            (m, p) if p == "/factors" || p.starts_with("/factors/") => {
                self.factors(m, &p["/factors".len()..], headers, body)
            }
            (m, p) if mfa::admin_path(p).is_some() => self.admin_factors(m, p, headers, body),
            // --- end MFA ---
            // --- admin API, reauthentication, refusals (issue 26: admin.rs, reauth.rs, providers.rs) ---
            ("GET", "/reauthenticate") => self.reauthenticate(headers),
            ("POST", "/magiclink") => self.magiclink(query, headers, body),
            ("GET", "/authorize") => Err(providers::unsupported_provider(query)),
            ("GET" | "POST", "/callback") => Err(providers::callback(query, body)),
            (m, p) if p.starts_with("/user/identities/") => {
                self.identities(m, &p["/user/identities".len()..], query, headers)
            }
            ("GET", "/admin/audit") => self.audit(query, headers),
            ("GET", "/admin/sso/providers") => self
                .require_admin(headers)
                .map(|()| json_response(200, json!({"items": []}))),
            (_, p) if p.starts_with("/admin/sso/providers/") => self
                .require_admin(headers)
                .and_then(|()| Err(error(404, "sso_provider_not_found", "SSO Identity Provider not found"))),
            (_, p) if providers::disabled_feature(p).is_some() => {
                // GoTrue's group middlewares come first: admin or signed-in.
                let admin = if p.starts_with("/admin/") {
                    self.require_admin(headers)
                } else if p.starts_with("/user/") {
                    self.current(headers).map(|_| ())
                } else {
                    Ok(())
                };
                admin.and_then(|()| Err(providers::disabled_feature(p).unwrap_or_else(|| error(404, "not_found", "Not found"))))
            }
            (m, p) if p == "/admin/users" || p.starts_with("/admin/users/") => {
                self.admin(m, &p["/admin/users".len()..], query, headers, body)
            }
            _ => Err(error(
                404,
                "not_found",
                &format!("{method} {path} is not supported"),
            )),
        };
        result.unwrap_or_else(|e| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        // The unknown e-mail's hash costs what a user's does.
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(&h), params(DUMMY_HASH));
        assert!(verify_password("no such account", DUMMY_HASH));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        // A bcrypt hash as exported from Supabase.
        let b = bcrypt::hash("hunter22", 4).unwrap();
        assert!(verify_password("hunter22", &b));
        assert!(!verify_password("hunter23", &b));
        assert!(!verify_password("x", "garbage"));
    }

    #[test]
    fn emails_and_tokens() {
        assert!(valid_email("a@b.co"));
        assert!(valid_email("first.last+tag@sub.example.co"));
        for bad in ["", "a", "a@b", "@b.co", "a b@c.de", "a@.de", "xx:;x@x.x", "a@b@c.de", "a@-b.de"] {
            assert!(!valid_email(bad), "{bad}");
        }
        let t = random_token();
        assert_eq!(t.len(), 48);
        assert_ne!(t, random_token());
        assert_eq!(token_hash(&t).len(), 64);
        assert!(check_password("12345").is_err());
    }
}
