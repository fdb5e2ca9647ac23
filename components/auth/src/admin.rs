//! GoTrue's admin user API (`internal/api/admin.go`): `/admin/users` list
//! (newest first, `page`/`per_page`, the `Link` and `X-Total-Count`
//! headers), create, get, update and delete (hard, or soft:
//! `should_soft_delete`, GoTrue's obfuscation), with GoTrue's validation of
//! e-mail, phone (E.164), `ban_duration` (Go duration strings) and `id`.

use super::*;
use super::email::validate_email;
use crate::links;

/// GoTrue's `defaultPerPage`.
const DEFAULT_PER_PAGE: u64 = 50;

/// What `/admin/users` parses a request body into (`AdminUserParams`).
#[derive(Debug, Default)]
struct Params {
    id: Option<String>,
    role: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    password_hash: Option<String>,
    email_confirm: bool,
    phone_confirm: bool,
    user_metadata: Option<Value>,
    app_metadata: Option<Value>,
    /// Seconds; 0 lifts a ban.
    ban: Option<f64>,
}

/// Go's `strconv.Quote` for the ASCII a query or duration holds.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Go's `time.ParseDuration`, in seconds: `[-+]` then one or more
/// `<decimal><unit>` with units ns, us, µs, ms, s, m, h; `"0"` alone is 0.
/// The error is Go's message.
pub fn parse_go_duration(text: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(text));
    let mut s = text;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0.0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0.0f64;
    while !s.is_empty() {
        let digits = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let number = &s[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        s = &s[digits..];
        let unit_len = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(text))),
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(u),
                    go_quote(text)
                ))
            }
        };
        total += value * scale;
    }
    if total > 9_223_372_036.854_775 {
        return Err(invalid());
    }
    Ok(if neg { -total } else { total })
}

/// GoTrue's `validatePhone`: "+" and spaces removed, then E.164 digits.
pub fn validate_phone(phone: &str) -> Result<String, Response> {
    let p = phone.strip_prefix('+').unwrap_or(phone).replace(' ', "");
    let ok = (2..=15).contains(&p.len())
        && p.chars().all(|c| c.is_ascii_digit())
        && !p.starts_with('0');
    if ok {
        Ok(p)
    } else {
        Err(error(400, "validation_failed", "Invalid phone number format (E.164 required)"))
    }
}

/// GoTrue's `paginate`: `page` (1) and `per_page` (50) as Go's
/// `strconv.ParseUint` reads them.
pub fn pagination(query: &str) -> Result<(u64, u64), Response> {
    let read = |key: &str, default: u64| -> Result<u64, Response> {
        match links::param(query, key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => {
                let digits = v.bytes().all(|b| b.is_ascii_digit());
                v.parse::<u64>().map_err(|_| {
                    let why = if digits { "value out of range" } else { "invalid syntax" };
                    error(
                        400,
                        "validation_failed",
                        &format!("Bad Pagination Parameters: strconv.ParseUint: parsing {}: {why}", go_quote(&v)),
                    )
                })
            }
        }
    };
    // pop's paginator: a page below 1 is the first, a size below 1 is 20.
    let page = read("page", 1)?.max(1);
    let per_page = match read("per_page", DEFAULT_PER_PAGE)? {
        0 => 20,
        n => n,
    };
    Ok((page, per_page))
}

/// GoTrue's `addPaginationHeaders`: `Link` (next while there is one, and
/// last) on the request's own path and sorted query, and `X-Total-Count`.
pub fn pagination_headers(path: &str, query: &str, page: u64, per_page: u64, total: u64) -> Vec<(String, String)> {
    let pages = total.div_ceil(per_page);
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (links::unescape(k), links::unescape(v))
        })
        .filter(|(k, _)| k != "page")
        .collect();
    let link = |p: u64, pairs: &mut Vec<(String, String)>| {
        let mut all = pairs.clone();
        all.push(("page".into(), p.to_string()));
        // url.Values.Encode: sorted by key.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let q: Vec<String> = all
            .iter()
            .map(|(k, v)| format!("{}={}", links::escape(k), links::escape(v)))
            .collect();
        format!("<{path}?{}>", q.join("&"))
    };
    let mut header = String::new();
    if pages > page {
        header.push_str(&format!("{}; rel=\"next\", ", link(page + 1, &mut pairs)));
    }
    header.push_str(&format!("{}; rel=\"last\"", link(pages, &mut pairs)));
    vec![
        ("link".into(), header),
        ("x-total-count".into(), total.to_string()),
    ]
}

/// A JSON object field, or an error naming it (GoTrue's JSON decoding).
fn object_field(b: &Map<String, Value>, k: &str) -> Result<Option<Value>, Response> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(_) => Err(error(400, "bad_json", "Could not parse request body as JSON")),
    }
}

fn params(b: &Map<String, Value>) -> Result<Params, Response> {
    let text = |k: &str| str_field(b, k).filter(|v| !v.is_empty()).map(str::to_string);
    let ban = match text("ban_duration") {
        None => None,
        Some(d) if d == "none" => Some(0.0),
        Some(d) => Some(parse_go_duration(&d).map_err(|e| {
            error(400, "validation_failed", &format!("invalid format for ban duration: {e}"))
        })?),
    };
    Ok(Params {
        id: text("id"),
        role: text("role"),
        email: text("email"),
        phone: text("phone"),
        password: str_field(b, "password").map(str::to_string),
        password_hash: text("password_hash"),
        email_confirm: b.get("email_confirm").and_then(Value::as_bool).unwrap_or(false),
        phone_confirm: b.get("phone_confirm").and_then(Value::as_bool).unwrap_or(false),
        user_metadata: object_field(b, "user_metadata")?,
        app_metadata: object_field(b, "app_metadata")?,
        ban,
    })
}

/// SQL merging `$n` (a JSON object) into `col` as GoTrue's
/// `UpdateUserMetaData`: a `null` value removes its key.
fn merge_sql(col: &str, n: usize) -> String {
    format!(
        "(coalesce({col}, '{{}}'::jsonb) || ${n}::jsonb) - ARRAY(SELECT key FROM jsonb_each(${n}::jsonb) WHERE value = 'null'::jsonb)"
    )
}

/// The `UPDATE`'s SET list and its parameters (`$1` is the user id).
#[derive(Default)]
struct Sets {
    sets: Vec<String>,
    params: Vec<Option<String>>,
}

impl Sets {
    fn new(id: &str) -> Sets {
        Sets {
            sets: vec!["updated_at = now()".into()],
            params: vec![Some(id.into())],
        }
    }
    /// Adds `expr` with `?` standing for a new parameter `v`.
    fn push(&mut self, expr: &str, v: String) {
        self.params.push(Some(v));
        self.sets.push(expr.replace('?', &format!("${}", self.params.len())));
    }
    fn next(&self) -> usize {
        self.params.len() + 1
    }
}

impl Ctx<'_> {
    /// `/admin/users[/{id}]`.
    pub(super) fn admin(
        &self,
        method: &str,
        rest: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response, Response> {
        self.require_admin(headers)?;
        let id = rest.trim_matches('/');
        match (method, id) {
            ("GET", "") => self.admin_list(query),
            ("POST", "") => self.admin_create(&body_json(body)?),
            (_, id) if id.contains('/') || id.is_empty() => Err(error(404, "not_found", "Not found")),
            (_, id) if !is_uuid(id) => Err(error(404, "validation_failed", "user_id must be an UUID")),
            ("GET", id) => self
                .user_json(id)?
                .map(|u| json_response(200, u))
                .ok_or_else(|| error(404, "user_not_found", "User not found")),
            ("PUT", id) => {
                self.exists(id)?;
                self.admin_update(id, &body_json(body)?)
            }
            ("DELETE", id) => {
                self.exists(id)?;
                let soft = body_json(body)?
                    .get("should_soft_delete")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.admin_delete(id, soft)
            }
            _ => Err(error(405, "method_not_allowed", "Method not allowed")),
        }
    }

    fn exists(&self, id: &str) -> Result<(), Response> {
        let rows = self.one("SELECT 1 FROM auth.users WHERE id = $1::uuid", vec![Some(id.into())])?;
        if rows.is_empty() {
            return Err(error(404, "user_not_found", "User not found"));
        }
        Ok(())
    }

    /// `GET /admin/users`: newest first (GoTrue's default sort), the
    /// `filter` matched against the e-mail and `full_name` as GoTrue does.
    fn admin_list(&self, query: &str) -> Result<Response, Response> {
        let (page, per_page) = pagination(query)?;
        let filter = links::param(query, "filter")
            .filter(|f| !f.is_empty())
            .map(|f| format!("%{f}%"));
        let offset = (page - 1).saturating_mul(per_page);
        let rows = self.one(
            &format!(
                "WITH f AS (SELECT * FROM auth.users u WHERE u.aud = 'authenticated'
                   AND ($3::text IS NULL OR u.email LIKE $3 OR u.raw_user_meta_data->>'full_name' ILIKE $3))
                 SELECT (SELECT count(*) FROM f)::text,
                        coalesce((SELECT json_agg(x.j ORDER BY x.created_at DESC, x.id DESC) FROM
                          (SELECT {USER_JSON}::json AS j, u.created_at, u.id FROM f u
                           ORDER BY u.created_at DESC, u.id DESC LIMIT $1::bigint OFFSET $2::bigint) x), '[]')::text"
            ),
            vec![
                Some(per_page.min(i64::MAX as u64).to_string()),
                Some(offset.min(i64::MAX as u64).to_string()),
                filter,
            ],
        )?;
        let row = rows.first();
        let total: u64 = row.and_then(|r| r[0].as_deref()).and_then(|t| t.parse().ok()).unwrap_or(0);
        let users: Value = row
            .and_then(|r| r[1].as_deref())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(json!([]));
        let mut r = json_response(200, json!({"users": users, "aud": "authenticated"}));
        r.headers
            .extend(pagination_headers("/admin/users", query, page, per_page, total));
        Ok(r)
    }

    /// `POST /admin/users` (`auth.admin.createUser`).
    fn admin_create(&self, b: &Map<String, Value>) -> Result<Response, Response> {
        let p = params(b)?;
        if p.email.is_none() && p.phone.is_none() {
            return Err(error(400, "validation_failed", "Cannot create a user without either an email or phone"));
        }
        let mut providers = vec![];
        let email = match &p.email {
            Some(e) => {
                let e = validate_email(e)?;
                let dup = self.one(
                    "SELECT 1 FROM auth.users WHERE email = $1 AND NOT is_sso_user AND aud = 'authenticated'",
                    vec![Some(e.clone())],
                )?;
                if !dup.is_empty() {
                    return Err(error(422, "email_exists", "A user with this email address has already been registered"));
                }
                providers.push("email");
                Some(e)
            }
            None => None,
        };
        let phone = match &p.phone {
            Some(ph) => {
                let ph = validate_phone(ph)?;
                let dup = self.one(
                    "SELECT 1 FROM auth.users WHERE phone = $1 AND aud = 'authenticated'",
                    vec![Some(ph.clone())],
                )?;
                if !dup.is_empty() {
                    return Err(error(422, "phone_exists", "Phone number already registered by another user"));
                }
                providers.push("phone");
                Some(ph)
            }
            None => None,
        };
        if p.password.is_some() && p.password_hash.is_some() {
            return Err(error(400, "validation_failed", "Only a password or a password hash should be provided"));
        }
        let hash = match (&p.password, &p.password_hash) {
            (_, Some(h)) => {
                if !(h.starts_with("$2") || h.starts_with("$argon2")) {
                    return Err(error(400, "validation_failed", "Invalid password hash format"));
                }
                h.clone()
            }
            (Some(pw), None) if !pw.is_empty() => {
                check_password(pw)?;
                hash_password(pw)?
            }
            _ => hash_password(&random_token())?,
        };
        let id = match &p.id {
            None => None,
            Some(id) if !is_uuid(id) => {
                return Err(error(400, "validation_failed", "ID must conform to the uuid v4 format"))
            }
            Some(id) if id.chars().all(|c| c == '0' || c == '-') => {
                return Err(error(400, "validation_failed", "ID cannot be a nil uuid"))
            }
            Some(id) => Some(id.to_lowercase()),
        };
        let mut app = json!({"provider": providers[0], "providers": providers});
        let app_patch = p.app_metadata.clone().unwrap_or(json!({}));
        if let (Some(a), Some(extra)) = (app.as_object_mut(), app_patch.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    a.remove(k);
                } else {
                    a.insert(k.clone(), v.clone());
                }
            }
        }
        let ban = p.ban.filter(|s| *s != 0.0);
        let res = self.sql.run(vec![(
            format!(
                "WITH u AS (INSERT INTO auth.users (instance_id, id, aud, role, email, phone, encrypted_password,
                     email_confirmed_at, phone_confirmed_at, raw_app_meta_data, raw_user_meta_data, banned_until,
                     confirmation_token, recovery_token, email_change_token_new, email_change,
                     created_at, updated_at, is_anonymous)
                   VALUES ('00000000-0000-0000-0000-000000000000', coalesce($1::uuid, gen_random_uuid()), 'authenticated',
                     coalesce($2, 'authenticated'), $3, $4, $5,
                     CASE WHEN $6::boolean THEN now() END, CASE WHEN $7::boolean THEN now() END,
                     $8::jsonb, $9::jsonb, now() + make_interval(secs => $10::float8),
                     '', '', '', '', now(), now(), false)
                   RETURNING *),
                 ie AS (INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
                   SELECT u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', false, 'phone_verified', false),
                          'email', now(), now(), now() FROM u WHERE u.email IS NOT NULL RETURNING 1),
                 ip AS (INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
                   SELECT u.id::text, u.id, jsonb_build_object('sub', u.id::text, 'phone', u.phone, 'email_verified', false, 'phone_verified', false),
                          'phone', now(), now(), now() FROM u WHERE u.phone IS NOT NULL RETURNING 1)
                 SELECT u.id::text, (SELECT count(*) FROM ie) + (SELECT count(*) FROM ip) FROM u"
            ),
            vec![
                id,
                p.role.clone(),
                email,
                phone,
                Some(hash),
                Some(p.email_confirm.to_string()),
                Some(p.phone_confirm.to_string()),
                Some(app.to_string()),
                Some(p.user_metadata.clone().unwrap_or(json!({})).to_string()),
                ban.map(|s| s.to_string()),
            ],
        )]);
        let new_id = match res {
            Ok(mut sets) => sets
                .pop()
                .and_then(|r| r.into_iter().next())
                .and_then(|r| r[0].clone())
                .unwrap_or_default(),
            Err(e) if e.code == "23505" => {
                return Err(error(422, "email_exists", "A user with this email address has already been registered"))
            }
            Err(e) => return Err(db_error(e)),
        };
        Ok(json_response(200, self.user_json(&new_id)?.unwrap_or(Value::Null)))
    }

    /// `PUT /admin/users/{id}` (`auth.admin.updateUserById`), one
    /// transaction as GoTrue's.
    fn admin_update(&self, id: &str, b: &Map<String, Value>) -> Result<Response, Response> {
        let p = params(b)?;
        let email = p.email.as_deref().map(validate_email).transpose()?;
        let phone = p.phone.as_deref().map(validate_phone).transpose()?;
        let mut s = Sets::new(id);
        if let Some(pw) = &p.password {
            check_password(pw)?;
            s.push("encrypted_password = ?", hash_password(pw)?);
        }
        if let Some(r) = &p.role {
            s.push("role = ?", r.clone());
        }
        if p.email_confirm {
            s.sets.push("email_confirmed_at = coalesce(u.email_confirmed_at, now())".into());
        }
        if p.phone_confirm {
            s.sets.push("phone_confirmed_at = coalesce(u.phone_confirmed_at, now())".into());
        }
        if let Some(e) = &email {
            s.push("email = ?", e.clone());
            if p.email_confirm {
                s.sets.push("is_anonymous = false".into());
            }
        }
        if let Some(ph) = &phone {
            s.push("phone = ?", ph.clone());
            if p.phone_confirm {
                s.sets.push("is_anonymous = false".into());
            }
        }
        if let Some(m) = &p.app_metadata {
            let n = s.next();
            s.push(&format!("raw_app_meta_data = {}", merge_sql("u.raw_app_meta_data", n)).replace(&format!("${n}"), "?"), m.to_string());
        }
        if let Some(m) = &p.user_metadata {
            let n = s.next();
            s.push(&format!("raw_user_meta_data = {}", merge_sql("u.raw_user_meta_data", n)).replace(&format!("${n}"), "?"), m.to_string());
        }
        match p.ban {
            Some(secs) if secs == 0.0 => s.sets.push("banned_until = NULL".into()),
            Some(secs) => s.push("banned_until = now() + make_interval(secs => ?::float8)", secs.to_string()),
            None => {}
        }
        let mut stmts = vec![(
            format!("UPDATE auth.users u SET {} WHERE u.id = $1::uuid", s.sets.join(", ")),
            s.params,
        )];
        // The e-mail and phone identities follow (created when missing).
        for (provider, value, verified) in [
            ("email", &email, p.email_confirm),
            ("phone", &phone, p.phone_confirm),
        ] {
            if let Some(v) = value {
                stmts.push((
                    "INSERT INTO auth.identities AS i (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
                     VALUES ($1::text, $1::text::uuid, jsonb_build_object('sub', $1::text, $2::text, $3::text, $4::text || '_verified', $5::boolean),
                             $2::text, now(), now(), now())
                     ON CONFLICT (provider_id, provider) DO UPDATE SET
                       identity_data = i.identity_data || jsonb_build_object($2::text, $3::text, $4::text || '_verified', $5::boolean), updated_at = now()"
                        .into(),
                    vec![
                        Some(id.into()),
                        Some(provider.into()),
                        Some(v.clone()),
                        Some(provider.into()),
                        Some(verified.to_string()),
                    ],
                ));
            }
        }
        stmts.push((format!("SELECT {USER_JSON} FROM auth.users u WHERE u.id = $1::uuid"), vec![Some(id.into())]));
        match self.sql.run(stmts) {
            Ok(mut sets) => {
                let user = sets
                    .pop()
                    .and_then(|rows| rows.into_iter().next())
                    .and_then(|r| r[0].clone())
                    .and_then(|s| serde_json::from_str::<Value>(&s).ok())
                    .ok_or_else(|| error(404, "user_not_found", "User not found"))?;
                Ok(json_response(200, user))
            }
            Err(e) if e.code == "23505" => Err(error(
                422,
                "email_exists",
                "A user with this email address has already been registered",
            )),
            Err(e) => Err(error(500, "unexpected_failure", &format!("Error updating user: {}", e.message))),
        }
    }

    /// `DELETE /admin/users/{id}`: hard, or soft as GoTrue's
    /// `SoftDeleteUser` + `SoftDeleteUserIdentities` (e-mail and phone
    /// replaced by the base64url SHA-256 of id and value, password and
    /// codes cleared, metadata emptied, identities' data emptied and their
    /// provider ids obfuscated, sessions ended).
    fn admin_delete(&self, id: &str, soft: bool) -> Result<Response, Response> {
        let uid = vec![Some(id.to_string())];
        let stmts = if soft {
            let obfuscate = |value: &str| {
                format!("translate(rtrim(encode(sha256(convert_to(u.id::text || {value}, 'UTF8')), 'base64'), '='), '+/', '-_')")
            };
            vec![
                (
                    format!(
                        "UPDATE auth.users u SET email = {}, phone = left({}, 15), email_change = {}, phone_change = left({}, 15),
                           encrypted_password = NULL, confirmation_token = '', recovery_token = '',
                           email_change_token_current = '', email_change_token_new = '', phone_change_token = '',
                           raw_user_meta_data = '{{}}'::jsonb, raw_app_meta_data = '{{}}'::jsonb,
                           deleted_at = now(), updated_at = now()
                         WHERE u.id = $1::uuid AND u.deleted_at IS NULL",
                        obfuscate("coalesce(u.email, '')"),
                        obfuscate("coalesce(u.phone, '')"),
                        obfuscate("coalesce(u.email_change, '')"),
                        obfuscate("coalesce(u.phone_change, '')"),
                    ),
                    uid.clone(),
                ),
                (
                    "UPDATE auth.identities i SET identity_data = '{}'::jsonb,
                       provider_id = translate(rtrim(encode(sha256(convert_to(i.user_id::text || i.provider || ':' || i.provider_id, 'UTF8')), 'base64'), '='), '+/', '-_'),
                       updated_at = now()
                     WHERE i.user_id = $1::uuid AND i.identity_data <> '{}'::jsonb"
                        .into(),
                    uid.clone(),
                ),
                ("DELETE FROM auth.one_time_tokens WHERE user_id = $1::uuid".into(), uid.clone()),
                ("DELETE FROM auth.sessions WHERE user_id = $1::uuid".into(), uid),
            ]
        } else {
            vec![("DELETE FROM auth.users WHERE id = $1::uuid".into(), uid)]
        };
        self.sql.run(stmts).map_err(|e| {
            error(500, "unexpected_failure", &format!("Database error deleting user: {}", e.message))
        })?;
        Ok(json_response(200, json!({})))
    }
}

/// A UUID in its text form (GoTrue's `uuid.FromString` also takes braces
/// and no hyphens; the hyphenated form is what clients send).
pub fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("24h"), Ok(86400.0));
        assert_eq!(parse_go_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_go_duration("1.5s"), Ok(1.5));
        assert_eq!(parse_go_duration("100ms"), Ok(0.1));
        assert_eq!(parse_go_duration("0"), Ok(0.0));
        assert_eq!(parse_go_duration("-2m"), Ok(-120.0));
        assert_eq!(parse_go_duration("876000h"), Ok(876000.0 * 3600.0));
        assert_eq!(parse_go_duration("abc").unwrap_err(), "time: invalid duration \"abc\"");
        assert_eq!(parse_go_duration("1").unwrap_err(), "time: missing unit in duration \"1\"");
        assert_eq!(parse_go_duration("1d").unwrap_err(), "time: unknown unit \"d\" in duration \"1d\"");
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("h").is_err());
    }

    #[test]
    fn phones() {
        assert_eq!(validate_phone("+1 555 0100").unwrap(), "15550100");
        assert_eq!(validate_phone("4915112345678").unwrap(), "4915112345678");
        for bad in ["", "+", "0123", "12a4", "1234567890123456", "1"] {
            assert_eq!(validate_phone(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn pages_and_links() {
        assert_eq!(pagination("").unwrap(), (1, 50));
        assert_eq!(pagination("page=2&per_page=10").unwrap(), (2, 10));
        assert_eq!(pagination("page=0&per_page=0").unwrap(), (1, 20));
        let e = pagination("page=-1").unwrap_err();
        assert_eq!(e.status, 400);
        let v: Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(v["error_code"], "validation_failed");
        assert_eq!(v["msg"], "Bad Pagination Parameters: strconv.ParseUint: parsing \"-1\": invalid syntax");
        assert!(pagination("per_page=abc").is_err());
        let h = pagination_headers("/admin/users", "per_page=2&page=1", 1, 2, 5);
        assert_eq!(
            h[0].1,
            "</admin/users?page=2&per_page=2>; rel=\"next\", </admin/users?page=3&per_page=2>; rel=\"last\""
        );
        assert_eq!(h[1], ("x-total-count".into(), "5".into()));
        let h = pagination_headers("/admin/users", "", 1, 50, 0);
        assert_eq!(h[0].1, "</admin/users?page=0>; rel=\"last\"");
        assert!(is_uuid("00000000-0000-0000-0000-00000000000a"));
        assert!(!is_uuid("x"));
    }
}
