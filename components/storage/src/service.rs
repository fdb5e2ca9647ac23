//! Supabase Storage's `/storage/v1` API over a [`Host`]: every route's
//! checks, SQL and blob operations, in the order Storage runs them, with
//! its answers and errors.
//!
//! Access is decided by PostgreSQL: reads and writes of `storage.buckets`
//! and `storage.objects` run under the caller's role and claims, so the
//! project's RLS policies apply; what Storage runs "as super user" (bucket
//! limits before an upload, public and signed reads, the row written after a
//! permitted upload) runs as `service_role`. An upload's permission is
//! tested first (its INSERT, rolled back) so that no bytes are stored for a
//! caller the policies refuse; then the bytes go to the blob store under a
//! new version, and only then does the row point at them.

use crate::error::{Result, StorageError};
use crate::host::*;
use crate::multipart;
use crate::names::*;
use crate::routes::{query_param, route, Access, Route};
use crate::time;
use serde_json::{json, Value};

/// Storage's limit on JSON request bodies (fastify's `bodyLimit`).
pub const MAX_JSON_BODY: usize = 1 << 20;
/// Storage's limit on custom metadata.
pub const MAX_USER_METADATA: usize = 1 << 20;
/// How long a signed upload URL lasts (Storage's `uploadSignedUrlExpirationTime`).
pub const SIGNED_UPLOAD_EXPIRY_S: u64 = 7200;
/// Objects one request may delete (Storage's `MAX_OBJECTS_PER_REQUEST`).
pub const MAX_OBJECTS_PER_REQUEST: usize = 1000;
/// The furthest a signed URL may expire: jose refuses `exp` past 2^53 ms.
const MAX_EXPIRY_S: u64 = 9_007_199_254_740;
/// Read size from a stream.
const CHUNK: u64 = 64 << 10;

pub struct Config {
    /// `storage-file-size-limit`: the largest object, whatever the bucket says.
    pub file_size_limit: u64,
    /// The signed URLs' key (see `signing::signing_key`).
    pub key: Option<Vec<u8>>,
    /// The role of a request without a (valid) token.
    pub anon_role: String,
    /// The role Storage's super-user operations run as.
    pub service_role: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: String,
    pub claims_json: String,
}

/// Who is calling, as the verifier found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A verified token.
    Token(Identity),
    /// No token at all.
    Anonymous(Identity),
    /// A token that failed verification: the verifier's message.
    Invalid(String),
}

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
}

pub struct Response<S> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body<S>,
}

/// The verifier's messages (PostgREST's) as jose words them, which Storage
/// passes on.
pub fn jose_message(verifier: &str) -> String {
    match verifier {
        "JWT expired" => "\"exp\" claim timestamp check failed".into(),
        "JWT not yet valid" => "\"nbf\" claim timestamp check failed".into(),
        "JWT cryptographic operation failed" => "signature verification failed".into(),
        "JWT could not be decoded" | "JWT is too large" | "JWT claims must be a JSON object" => {
            "Invalid Compact JWS".into()
        }
        // The verifier's (PostgREST's) word for a token that is not three
        // dot-separated parts.
        other if other.starts_with("Expected 3 parts in JWT") => "Invalid Compact JWS".into(),
        other => other.to_string(),
    }
}

pub fn handle<H: Host>(
    h: &mut H,
    cfg: &Config,
    req: Request,
    body: Body<H::Stream>,
    who: Caller,
) -> Response<H::Stream> {
    let mut cx = Cx {
        h,
        cfg,
        req: &req,
        who: &who,
    };
    let r = route(&req.method, &req.path);
    match cx.serve(r, body) {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

pub fn error_response<S>(e: &StorageError) -> Response<S> {
    let mut headers = vec![(
        "content-type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    if e.code == "NoSuchKey" && e.message == "The resource was not found" {
        headers.push(("cache-control".into(), "no-store".into()));
    }
    Response {
        status: e.http,
        headers,
        body: Body::Bytes(e.body()),
    }
}

fn json_response<S>(status: u16, v: &Value) -> Response<S> {
    Response {
        status,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: Body::Bytes(v.to_string().into_bytes()),
    }
}

fn message<S>(text: &str) -> Response<S> {
    json_response(200, &json!({ "message": text }))
}

/// JavaScript's `encodeURIComponent`.
fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `parseFileSizeToBytes`: `20MB`, `1.5GB`, `300kb`, `12B` (decimal units,
/// three significant digits, as JavaScript's `toPrecision(3)`).
pub fn parse_file_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let (number, unit) = ["gb", "mb", "kb", "b"]
        .iter()
        .find_map(|u| lower.strip_suffix(u).map(|n| (n, *u)))
        .ok_or_else(StorageError::invalid_file_size_limit)?;
    let valid = !number.is_empty()
        && number.split('.').count() <= 2
        && !number.starts_with('.')
        && !number.ends_with('.')
        && number.bytes().all(|b| b.is_ascii_digit() || b == '.' as u8);
    if !valid {
        return Err(StorageError::invalid_file_size_limit());
    }
    let value: f64 = number
        .parse()
        .map_err(|_| StorageError::invalid_file_size_limit())?;
    let value = to_precision_3(value);
    let factor = match unit {
        "gb" => 1e9,
        "mb" => 1e6,
        "kb" => 1e3,
        _ => 1.0,
    };
    Ok((value * factor).round() as u64)
}

fn to_precision_3(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let scale = 10f64.powi(3 - digits);
    (v * scale).round() / scale
}

/// Storage's `validateMimeType` of a bucket's allow-list entries.
fn check_allowed_mime_list(types: &[String]) -> Result<()> {
    for t in types {
        let ok = t.len() <= 1000 && (t.ends_with('*') || {
            let (main, rest) = t.split_once(';').map_or((t.as_str(), None), |(a, b)| (a, Some(b)));
            let valid_part = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b))
            };
            let main_ok = main
                .split_once('/')
                .is_some_and(|(a, b)| valid_part(a) && valid_part(b));
            let rest_ok = rest.is_none_or(|r| {
                r.trim_start()
                    .strip_prefix("charset=")
                    .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            });
            main_ok && rest_ok
        });
        if !ok {
            return Err(StorageError::invalid_mime_type(t));
        }
    }
    Ok(())
}

/// Storage's `validateMimeType` of an upload's type against a bucket's list.
pub fn mime_allowed(mime: &str, allowed: &[String]) -> Result<()> {
    let requested: Vec<&str> = mime.split('/').collect();
    if requested.len() < 2 {
        return Err(StorageError::invalid_mime_type(mime));
    }
    let (kind, ext) = (requested[0], requested[1]);
    for a in allowed {
        let mut parts = a.split('/');
        let (Some(at), Some(ae)) = (parts.next(), parts.next()) else {
            continue;
        };
        if at == kind && (ae == "*" || ae == ext) {
            return Ok(());
        }
    }
    Err(StorageError::invalid_mime_type(mime))
}

fn str_field(v: &Value, name: &str) -> Result<Option<String>> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(StorageError::validation(format!("body/{name} must be string"))),
    }
}

fn required_str(v: &Value, name: &str) -> Result<String> {
    str_field(v, name)?.ok_or_else(|| {
        StorageError::validation(format!("body must have required property '{name}'"))
    })
}

/// A JSON integer ≥ `min` (fastify's `integer`).
fn int_field(v: &Value, name: &str, min: i64) -> Result<Option<i64>> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= min as f64 && f < 9.0e15 => Ok(Some(f as i64)),
            Some(_) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => Err(StorageError::validation(
                format!("body/{name} must be >= {min}"),
            )),
            _ => Err(StorageError::validation(format!("body/{name} must be integer"))),
        },
    }
}

/// A bucket's `file_size_limit` as sent: unset, `null`, a number or `20MB`.
enum SizeLimit {
    Unset,
    Null,
    Bytes(u64),
}

/// A bucket's `allowed_mime_types` as sent.
enum MimeList {
    Unset,
    Null,
    List(Vec<String>),
}

struct Object {
    version: Option<String>,
    metadata: Value,
}

/// The metadata Storage keeps in `storage.objects.metadata`.
fn object_metadata(info: &BlobInfo, mimetype: &str, cache_control: &str) -> Value {
    json!({
        "eTag": info.etag,
        "size": info.size,
        "mimetype": mimetype,
        "cacheControl": cache_control,
        "lastModified": time::iso(info.modified_ms),
        "contentLength": info.size,
        "httpStatusCode": 200,
    })
}

fn blob_error(e: BlobError) -> StorageError {
    match e {
        BlobError::NotFound => StorageError::not_found_asset(),
        BlobError::InvalidKey(k) => StorageError::invalid_key(&k),
        BlobError::TooLarge => StorageError::entity_too_large("object"),
        BlobError::Closed => StorageError::no_content(),
        BlobError::Other(m) => StorageError::internal(&format!("the blob store failed: {m}")),
    }
}

/// `WITH t AS (<sql>) SELECT coalesce(json_agg(t), '[]')::text FROM t`.
fn json_rows(sql: &str) -> String {
    format!("WITH t AS ({sql}) SELECT coalesce(json_agg(t), '[]')::text FROM t")
}

/// One row as JSON (no row: no result row).
fn json_row(sql: &str) -> String {
    format!("WITH t AS ({sql}) SELECT row_to_json(t)::text FROM t")
}

const ALLOW_DELETE: &str = "SELECT set_config('storage.allow_delete_query', 'true', true)";

fn p(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

/// What an upload is: where, for whom, and how its permission is tested.
struct Upload<'a> {
    bucket: &'a str,
    name: &'a str,
    owner: Option<String>,
    upsert: bool,
    /// The session the permission test runs under (the caller's, or the
    /// service role's for a signed upload URL).
    test: Session,
}

/// Where an upload's bytes come from.
enum Source<S> {
    Raw(Body<S>),
    /// A multipart body: its reader, the file bytes it has parsed already,
    /// and the rest of the body.
    Multipart {
        reader: multipart::Reader,
        pending: Vec<Vec<u8>>,
        body: Body<S>,
    },
}

/// What a file upload declares about itself.
struct FileInfo<S> {
    mimetype: String,
    cache_control: String,
    user_metadata: Option<Value>,
    declared_length: Option<u64>,
    source: Source<S>,
}

struct Cx<'a, H: Host> {
    h: &'a mut H,
    cfg: &'a Config,
    req: &'a Request,
    who: &'a Caller,
}

impl<H: Host> Cx<'_, H> {
    fn header(&self, name: &str) -> Option<&str> {
        self.req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<String> {
        query_param(&self.req.query, name)
    }

    fn url(&self) -> String {
        if self.req.query.is_empty() {
            self.req.path.clone()
        } else {
            format!("{}?{}", self.req.path, self.req.query)
        }
    }

    fn request_settings(&self) -> Vec<(String, String)> {
        let headers: serde_json::Map<String, Value> = self
            .req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        vec![
            ("request.method".into(), self.req.method.clone()),
            ("request.path".into(), self.req.path.clone()),
            ("request.headers".into(), Value::Object(headers).to_string()),
        ]
    }

    /// The caller's session: its token's role and claims (the anonymous
    /// role without a valid one).
    fn caller(&self) -> Session {
        let (role, claims_json) = match self.who {
            Caller::Token(id) | Caller::Anonymous(id) => (id.role.clone(), id.claims_json.clone()),
            Caller::Invalid(_) => (
                self.cfg.anon_role.clone(),
                json!({ "role": self.cfg.anon_role }).to_string(),
            ),
        };
        Session {
            role,
            claims_json,
            rollback: false,
            settings: self.request_settings(),
        }
    }

    /// What Storage does "as super user".
    fn superuser(&self) -> Session {
        Session {
            role: self.cfg.service_role.clone(),
            claims_json: json!({ "role": self.cfg.service_role }).to_string(),
            rollback: false,
            settings: self.request_settings(),
        }
    }

    /// The routes that need a valid token (Storage's `registerJwtAuth`).
    fn require_token(&self) -> Result<&Identity> {
        match self.who {
            Caller::Token(id) => Ok(id),
            Caller::Anonymous(_) => Err(StorageError::access_denied("Invalid Compact JWS")),
            Caller::Invalid(m) => Err(StorageError::access_denied(&jose_message(m))),
        }
    }

    fn authenticated(&self) -> bool {
        matches!(self.who, Caller::Token(_))
    }

    /// The token's `sub` (Storage's `owner`).
    fn owner(&self) -> Option<String> {
        let Caller::Token(id) = self.who else {
            return None;
        };
        let claims: Value = serde_json::from_str(&id.claims_json).ok()?;
        claims.get("sub")?.as_str().map(str::to_string)
    }

    fn token_role(&self) -> Option<String> {
        let Caller::Token(id) = self.who else {
            return None;
        };
        Some(id.role.clone())
    }

    fn sql(&mut self, session: &Session, statements: Vec<Statement>) -> Result<Vec<ResultSet>> {
        self.h
            .transaction(session, statements)
            .map_err(|e| StorageError::from_db(&e.code, &e.message))
    }

    /// The JSON value a statement's first row, first column holds.
    fn sql_json(&mut self, session: &Session, sql: String, params: Vec<Option<String>>) -> Result<Option<Value>> {
        let sets = self.sql(session, vec![Statement::new(sql, params)])?;
        Ok(first_json(sets.last()))
    }

    // ----- bodies -----

    fn read_all(&mut self, body: Body<H::Stream>, limit: usize) -> Result<Vec<u8>> {
        match body {
            Body::Empty => Ok(Vec::new()),
            Body::Bytes(b) if b.len() > limit => Err(StorageError::body_too_large()),
            Body::Bytes(b) => Ok(b),
            Body::Stream(s) => {
                let mut out = Vec::new();
                while let Some(chunk) = self.h.read(&s, CHUNK).map_err(|_| StorageError::no_content())? {
                    out.extend_from_slice(&chunk);
                    if out.len() > limit {
                        return Err(StorageError::body_too_large());
                    }
                }
                Ok(out)
            }
        }
    }

    fn read_json(&mut self, body: Body<H::Stream>) -> Result<Value> {
        let bytes = self.read_all(body, MAX_JSON_BODY)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| {
            StorageError::validation(
                "Body is not valid JSON but content-type is set to 'application/json'",
            )
        })?;
        if !v.is_object() {
            return Err(StorageError::validation("body must be object"));
        }
        Ok(v)
    }

    // ----- dispatch -----

    fn serve(&mut self, r: Route, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        match r {
            Route::ListBuckets => self.list_buckets(),
            Route::GetBucket(id) => self.get_bucket(&id),
            Route::CreateBucket => self.create_bucket(body),
            Route::UpdateBucket(id) => self.update_bucket(&id, body),
            Route::DeleteBucket(id) => self.delete_bucket(&id),
            Route::EmptyBucket(id) => self.empty_bucket(&id),
            Route::Upload { bucket, name, put } => {
                self.require_token()?;
                check_bucket(&bucket)?;
                let upsert = put || self.header("x-upsert") == Some("true");
                let (id, key) = self.upload(
                    Upload {
                        bucket: &bucket,
                        name: &name,
                        owner: self.owner(),
                        upsert,
                        test: self.caller(),
                    },
                    body,
                )?;
                Ok(json_response(200, &json!({ "Id": id, "Key": key })))
            }
            Route::DeleteObject { bucket, name } => self.delete_object(&bucket, &name),
            Route::DeleteObjects { bucket } => self.delete_objects(&bucket, body),
            Route::Download { bucket, name, access } => self.read_object(&bucket, &name, access, Read::Asset),
            Route::Head { bucket, name, access } => self.read_object(&bucket, &name, access, Read::Head),
            Route::Info { bucket, name, access } => self.read_object(&bucket, &name, access, Read::Info),
            Route::SignedDownload { bucket, name } => self.signed_download(&bucket, &name),
            Route::Sign { bucket, name } => self.sign(&bucket, &name, body),
            Route::SignMany { bucket } => self.sign_many(&bucket, body),
            Route::SignUpload { bucket, name } => self.sign_upload(&bucket, &name),
            Route::SignedUpload { bucket, name } => self.signed_upload(&bucket, &name, body),
            Route::List { bucket } => self.list(&bucket, body),
            Route::ListV2 { bucket } => self.list_v2(&bucket, body),
            Route::Move => self.move_object(body),
            Route::Copy => self.copy_object(body),
            // Image transformations are off: Storage then registers no
            // `/render` routes, and its not-found handler answers.
            Route::Render | Route::NotFound => {
                Err(StorageError::route_not_found(&self.req.method, &self.url()))
            }
            Route::BadEncoding(s) => Err(StorageError::invalid_key(&s)),
        }
    }

    // ----- buckets -----

    fn list_buckets(&mut self) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let mut sql = String::from(
            "SELECT id, name, public, owner, created_at, updated_at, file_size_limit, allowed_mime_types, type FROM storage.buckets",
        );
        let mut params = Vec::new();
        if let Some(search) = self.query("search").filter(|s| !s.is_empty()) {
            let escaped = search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            params.push(p(format!("%{escaped}%")));
            sql.push_str(" WHERE name ILIKE $1");
        }
        if let Some(col) = self.query("sortColumn") {
            if !["id", "name", "created_at", "updated_at"].contains(&col.as_str()) {
                return Err(StorageError::validation(
                    "querystring/sortColumn must be equal to one of the allowed values",
                ));
            }
            let order = match self.query("sortOrder").as_deref() {
                None | Some("asc") => "ASC",
                Some("desc") => "DESC",
                Some(_) => {
                    return Err(StorageError::validation(
                        "querystring/sortOrder must be equal to one of the allowed values",
                    ))
                }
            };
            sql.push_str(&format!(" ORDER BY {} {order}", contract::sql::quote_ident(&col)));
        }
        for (name, clause) in [("limit", "LIMIT"), ("offset", "OFFSET")] {
            if let Some(v) = self.query(name) {
                let n: u64 = v.parse().map_err(|_| {
                    StorageError::validation(format!("querystring/{name} must be integer"))
                })?;
                params.push(p(n.to_string()));
                sql.push_str(&format!(" {clause} ${}::bigint", params.len()));
            }
        }
        let session = self.caller();
        let rows = self.sql_json(&session, json_rows(&sql), params)?.unwrap_or(json!([]));
        Ok(json_response(200, &rows))
    }

    fn get_bucket(&mut self, id: &str) -> Result<Response<H::Stream>> {
        self.require_token()?;
        check_bucket(id)?;
        let session = self.caller();
        let row = self.sql_json(
            &session,
            json_row("SELECT id, name, owner, public, created_at, updated_at, file_size_limit, allowed_mime_types FROM storage.buckets WHERE id = $1 LIMIT 1"),
            vec![p(id)],
        )?;
        row.map(|r| json_response(200, &r))
            .ok_or_else(StorageError::no_such_bucket)
    }

    fn size_limit(&self, v: &Value) -> Result<SizeLimit> {
        let bytes = match v.get("file_size_limit") {
            None => return Ok(SizeLimit::Unset),
            Some(Value::Null) => return Ok(SizeLimit::Null),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 => f as u64,
                _ => return Err(StorageError::invalid_file_size_limit()),
            },
            Some(Value::String(s)) => parse_file_size(s)?,
            Some(_) => {
                return Err(StorageError::validation(
                    "body/file_size_limit must be integer,string,null",
                ))
            }
        };
        if bytes > self.cfg.file_size_limit {
            return Err(StorageError::entity_too_large("object"));
        }
        Ok(SizeLimit::Bytes(bytes))
    }

    fn mime_list(v: &Value) -> Result<MimeList> {
        match v.get("allowed_mime_types") {
            None => Ok(MimeList::Unset),
            Some(Value::Null) => Ok(MimeList::Null),
            Some(Value::Array(items)) => {
                let mut list = Vec::new();
                for i in items {
                    match i {
                        Value::String(s) if s.is_empty() => {}
                        Value::String(s) => list.push(s.clone()),
                        _ => {
                            return Err(StorageError::validation(
                                "body/allowed_mime_types must be array of strings",
                            ))
                        }
                    }
                }
                check_allowed_mime_list(&list)?;
                Ok(MimeList::List(list))
            }
            Some(_) => Err(StorageError::validation("body/allowed_mime_types must be array")),
        }
    }

    fn create_bucket(&mut self, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let v = self.read_json(body)?;
        let name = required_str(&v, "name")?;
        let id = str_field(&v, "id")?.filter(|s| !s.is_empty()).unwrap_or_else(|| name.clone());
        if name.trim() != name {
            return Err(StorageError::invalid_bucket_name());
        }
        check_bucket(&name)?;
        check_bucket(&id)?;
        let public = match v.get("public") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(StorageError::validation("body/public must be boolean")),
        };
        match str_field(&v, "type")?.as_deref() {
            None | Some("STANDARD") => {}
            Some(_) => {
                return Err(StorageError::new(
                    409,
                    "FeatureNotEnabled",
                    "The feature Iceberg buckets are not enabled for this tenant is not enabled for this resource",
                ))
            }
        }
        let limit = match self.size_limit(&v)? {
            SizeLimit::Bytes(n) => Some(n.to_string()),
            SizeLimit::Unset | SizeLimit::Null => None,
        };
        let mimes = match Self::mime_list(&v)? {
            MimeList::List(l) => Some(Value::from(l).to_string()),
            MimeList::Unset | MimeList::Null => None,
        };
        let owner = self.owner();
        let session = self.caller();
        let insert = Statement::new(
            "INSERT INTO storage.buckets (id, name, owner, owner_id, public, allowed_mime_types, file_size_limit) \
             VALUES ($1, $2, $3::uuid, $4, $5::boolean, \
             CASE WHEN $6::jsonb IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text($6::jsonb)) END, $7::bigint)",
            vec![
                p(&id),
                p(&name),
                owner.clone().filter(|o| is_uuid(o)),
                owner,
                p(public.to_string()),
                mimes,
                limit,
            ],
        );
        match self.h.transaction(&session, vec![insert]) {
            Ok(_) => Ok(json_response(200, &json!({ "name": name }))),
            Err(e) if e.code == "23505" => Err(StorageError::bucket_exists()),
            Err(e) => Err(StorageError::from_db(&e.code, &e.message)),
        }
    }

    fn update_bucket(&mut self, id: &str, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        check_bucket(id)?;
        let v = self.read_json(body)?;
        let mut sets = Vec::new();
        let mut params = Vec::new();
        match v.get("public") {
            None => {}
            Some(Value::Bool(b)) => {
                params.push(p(b.to_string()));
                sets.push(format!("public = ${}::boolean", params.len()));
            }
            Some(Value::Null) => {}
            Some(_) => return Err(StorageError::validation("body/public must be boolean")),
        }
        match self.size_limit(&v)? {
            SizeLimit::Unset => {}
            SizeLimit::Null => sets.push("file_size_limit = NULL".into()),
            SizeLimit::Bytes(n) => {
                params.push(p(n.to_string()));
                sets.push(format!("file_size_limit = ${}::bigint", params.len()));
            }
        }
        match Self::mime_list(&v)? {
            MimeList::Unset => {}
            MimeList::Null => sets.push("allowed_mime_types = NULL".into()),
            MimeList::List(l) => {
                params.push(p(Value::from(l).to_string()));
                sets.push(format!(
                    "allowed_mime_types = ARRAY(SELECT jsonb_array_elements_text(${}::jsonb))",
                    params.len()
                ));
            }
        }
        if sets.is_empty() {
            return Err(StorageError::no_content());
        }
        params.push(p(id));
        let sql = format!(
            "UPDATE storage.buckets SET {} WHERE id = ${} RETURNING id",
            sets.join(", "),
            params.len()
        );
        let session = self.caller();
        let sets = self.sql(&session, vec![Statement::new(sql, params)])?;
        if sets.last().is_none_or(|s| s.rows.is_empty()) {
            return Err(StorageError::no_such_bucket());
        }
        Ok(message("Successfully updated"))
    }

    fn delete_bucket(&mut self, id: &str) -> Result<Response<H::Stream>> {
        self.require_token()?;
        check_bucket(id)?;
        let su = self.superuser();
        let state = self
            .sql_json(
                &su,
                json_row("SELECT EXISTS (SELECT 1 FROM storage.buckets WHERE id = $1) AS bucket, \
                          EXISTS (SELECT 1 FROM storage.objects WHERE bucket_id = $1) AS objects"),
                vec![p(id)],
            )?
            .unwrap_or(json!({}));
        if state["bucket"] != json!(true) {
            return Err(StorageError::no_such_bucket());
        }
        if state["objects"] == json!(true) {
            return Err(StorageError::bucket_not_empty());
        }
        let session = self.caller();
        let result = self.h.transaction(
            &session,
            vec![
                Statement::new(ALLOW_DELETE, vec![]),
                Statement::new("DELETE FROM storage.buckets WHERE id = $1 RETURNING id", vec![p(id)]),
            ],
        );
        match result {
            Ok(sets) if sets.last().is_some_and(|s| !s.rows.is_empty()) => {
                Ok(message("Successfully deleted"))
            }
            Ok(_) => Err(StorageError::no_such_bucket()),
            Err(e) if e.code == "23503" => Err(StorageError::bucket_not_empty()),
            Err(e) => Err(StorageError::from_db(&e.code, &e.message)),
        }
    }

    fn empty_bucket(&mut self, id: &str) -> Result<Response<H::Stream>> {
        self.require_token()?;
        if self.token_role().as_deref() != Some(self.cfg.service_role.as_str()) {
            return Err(StorageError::access_denied("Access denied: Invalid role").with_http(403));
        }
        check_bucket(id)?;
        let session = self.caller();
        let exists = self.sql_json(
            &session,
            json_row("SELECT id FROM storage.buckets WHERE id = $1"),
            vec![p(id)],
        )?;
        if exists.is_none() {
            return Err(StorageError::no_such_bucket());
        }
        loop {
            let sets = self.sql(
                &session,
                vec![
                    Statement::new(ALLOW_DELETE, vec![]),
                    Statement::new(
                        json_rows("DELETE FROM storage.objects WHERE id IN \
                                   (SELECT id FROM storage.objects WHERE bucket_id = $1 LIMIT 500) \
                                   RETURNING name, version"),
                        vec![p(id)],
                    ),
                ],
            )?;
            let rows = first_json(sets.last()).unwrap_or(json!([]));
            let rows = rows.as_array().cloned().unwrap_or_default();
            self.delete_blobs(id, &rows);
            if rows.len() < 500 {
                break;
            }
        }
        Ok(message(
            "Empty bucket has been queued. Completion may take up to an hour.",
        ))
    }

    /// Deletes the blobs of deleted rows (`{name, version}`); a failure is
    /// left behind as an orphan blob, never a missing one.
    fn delete_blobs(&mut self, bucket: &str, rows: &[Value]) {
        let keys: Vec<String> = rows
            .iter()
            .filter_map(|r| {
                let name = r.get("name")?.as_str()?;
                Some(blob_key_of(name, r.get("version").and_then(Value::as_str)))
            })
            .collect();
        for chunk in keys.chunks(500) {
            let _ = self.h.delete(bucket, chunk);
        }
    }

    // ----- objects: reads -----

    /// The bucket's `public` flag, as the super user sees it (`None`: no
    /// such bucket).
    fn bucket_public(&mut self, bucket: &str) -> Result<Option<bool>> {
        let su = self.superuser();
        let row = self.sql_json(
            &su,
            json_row("SELECT public FROM storage.buckets WHERE id = $1"),
            vec![p(bucket)],
        )?;
        Ok(row.map(|r| r["public"] == json!(true)))
    }

    fn find_object(&mut self, session: &Session, bucket: &str, name: &str, columns: &str) -> Result<Value> {
        check_key(name)?;
        self.sql_json(
            session,
            json_row(&format!(
                "SELECT {columns} FROM storage.objects WHERE bucket_id = $1 AND name = $2 LIMIT 1"
            )),
            vec![p(bucket), p(name)],
        )?
        .ok_or_else(StorageError::no_such_key)
    }

    fn read_object(&mut self, bucket: &str, name: &str, access: Access, kind: Read) -> Result<Response<H::Stream>> {
        check_bucket(bucket)?;
        if access == Access::Authenticated {
            self.require_token()?;
        }
        let public = match access {
            Access::Public => {
                // Storage looks the object up beside the bucket; either
                // missing is its answer.
                let public = self.bucket_public(bucket)?;
                if public != Some(true) {
                    check_key(name)?;
                    return Err(StorageError::no_such_bucket());
                }
                true
            }
            _ => {
                let public = self.bucket_public(bucket)?;
                if !self.authenticated() && public != Some(true) {
                    return Err(StorageError::no_such_bucket());
                }
                public.ok_or_else(StorageError::no_such_bucket)?
            }
        };
        let columns = "id, name, version, bucket_id, metadata, user_metadata, updated_at, created_at";
        let session = if public { self.superuser() } else { self.caller() };
        let row = self.find_object(&session, bucket, name, columns)?;
        match kind {
            Read::Info => Ok(info_response(&row)),
            Read::Head => Ok(head_response(&row)),
            Read::Asset => {
                let download = self.query("download");
                self.asset(bucket, &row, download, None)
            }
        }
    }

    /// An object's bytes with Storage's headers; 304 for a matching
    /// `If-None-Match` (or a `Last-Modified` not after `If-Modified-Since`),
    /// 206 for a `Range`.
    fn asset(&mut self, bucket: &str, row: &Value, download: Option<String>, expires: Option<String>) -> Result<Response<H::Stream>> {
        let obj = Object {
            version: row.get("version").and_then(Value::as_str).map(str::to_string),
            metadata: row.get("metadata").cloned().unwrap_or(Value::Null),
        };
        let name = row.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let md = &obj.metadata;
        let etag = md.get("eTag").and_then(Value::as_str).map(str::to_string);
        let mimetype = md
            .get("mimetype")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_string();
        let cache_control = md
            .get("cacheControl")
            .and_then(Value::as_str)
            .unwrap_or("no-cache")
            .to_string();
        let size = md.get("size").and_then(Value::as_u64);
        let modified = md
            .get("lastModified")
            .and_then(Value::as_str)
            .and_then(time::parse_timestamp);
        let key = blob_key_of(&name, obj.version.as_deref());
        let mut headers: Vec<(String, String)> = Vec::new();
        let validators = |headers: &mut Vec<(String, String)>| {
            if let Some(e) = &etag {
                headers.push(("etag".into(), e.clone()));
            }
            if let Some(m) = modified {
                headers.push(("last-modified".into(), time::http_date(m)));
            }
        };
        let not_modified = etag.is_some() && self.header("if-none-match") == etag.as_deref()
            || match (modified, self.header("if-modified-since").and_then(time::parse_http_date)) {
                (Some(m), Some(since)) => m / 1000 * 1000 <= since,
                _ => false,
            };
        if not_modified {
            validators(&mut headers);
            headers.push(("cache-control".into(), cache_control));
            return Ok(Response {
                status: 304,
                headers,
                body: Body::Empty,
            });
        }
        // The bytes, ranged when asked; without a size in the metadata the
        // whole object (a row written without Storage).
        let range = match (self.header("range"), size) {
            (Some(r), Some(size)) => Some(crate::range::parse(r, size)?),
            _ => None,
        };
        let stream = match range {
            Some(r) => self.h.get(bucket, &key, r.from, Some(r.to + 1)),
            None => self.h.get(bucket, &key, 0, None),
        }
        .map_err(blob_error)?;
        let status = if range.is_some() { 206 } else { 200 };
        headers.push(("accept-ranges".into(), "bytes".into()));
        let content_type = if mimetype.contains("text/html") {
            "text/plain".to_string()
        } else {
            mimetype
        };
        headers.push(("content-type".into(), content_type));
        validators(&mut headers);
        headers.push(("x-robots-tag".into(), "none".into()));
        match (range, size) {
            (Some(r), Some(size)) => {
                headers.push(("content-length".into(), r.len().to_string()));
                headers.push(("content-range".into(), format!("bytes {}-{}/{size}", r.from, r.to)));
            }
            (None, Some(size)) => headers.push(("content-length".into(), size.to_string())),
            _ => {}
        }
        match expires {
            Some(e) => headers.push(("expires".into(), e)),
            None => {
                let mut cc = vec![cache_control];
                if let Some(sent) = self.header("if-none-match") {
                    if Some(sent) != etag.as_deref() {
                        cc.push("stale-while-revalidate=30".into());
                    }
                }
                headers.push(("cache-control".into(), cc.join(", ")));
            }
        }
        if let Some(d) = download {
            let value = if d.is_empty() {
                "attachment;".to_string()
            } else {
                let enc = encode_uri_component(&d);
                format!("attachment; filename={enc}; filename*=UTF-8''{enc}")
            };
            headers.push(("content-disposition".into(), value));
        }
        if size.is_none() {
            // Without a length the body must still be framed: read it whole.
            let bytes = self.read_all(Body::Stream(stream), usize::MAX)?;
            headers.push(("content-length".into(), bytes.len().to_string()));
            return Ok(Response {
                status,
                headers,
                body: Body::Bytes(bytes),
            });
        }
        Ok(Response {
            status,
            headers,
            body: Body::Stream(stream),
        })
    }

    fn signing_key(&self) -> Result<&[u8]> {
        self.cfg
            .key
            .as_deref()
            .ok_or_else(|| StorageError::internal("signed URLs need an HS256 jwt-secret (or a symmetric key in its JWK set)"))
    }

    /// The claims of the `token` query parameter, checked against the
    /// object it must be bound to and the scope it must carry.
    fn signed_claims(&self, bucket: &str, name: &str, scope: &str) -> Result<Value> {
        let token = self
            .query("token")
            .ok_or_else(|| StorageError::validation("querystring must have required property 'token'"))?;
        let claims = crate::signing::check(
            self.signing_key()?,
            &token,
            &format!("{bucket}/{name}"),
            scope,
            self.h.now_ms(),
        )?;
        check_bucket(bucket)?;
        Ok(claims)
    }

    fn signed_download(&mut self, bucket: &str, name: &str) -> Result<Response<H::Stream>> {
        let claims = self.signed_claims(bucket, name, crate::signing::SCOPE_DOWNLOAD)?;
        let su = self.superuser();
        let row = self.find_object(&su, bucket, name, "id, name, version, metadata")?;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let download = self.query("download");
        self.asset(bucket, &row, download, Some(time::http_date(exp * 1000)))
    }

    fn expires_in(v: &Value, now_ms: u64) -> Result<u64> {
        let e = v
            .get("expiresIn")
            .ok_or_else(|| StorageError::validation("body must have required property 'expiresIn'"))?;
        let n = e
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| StorageError::invalid_parameter("expiresIn"))?
            .floor();
        let max = MAX_EXPIRY_S.saturating_sub(now_ms / 1000);
        if n < 1.0 || n > max as f64 {
            return Err(StorageError::invalid_parameter("expiresIn"));
        }
        Ok(n as u64)
    }

    fn sign(&mut self, bucket: &str, name: &str, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let v = self.read_json(body)?;
        let now = self.h.now_ms();
        let expires_in = Self::expires_in(&v, now)?;
        check_bucket(bucket)?;
        let session = self.caller();
        self.find_object(&session, bucket, name, "id")?;
        let key = self.signing_key()?;
        let url = format!("{bucket}/{name}");
        let token = crate::signing::sign(
            key,
            json!({ "url": url, "scope": crate::signing::SCOPE_DOWNLOAD }),
            now / 1000,
            expires_in,
        )?;
        Ok(json_response(
            200,
            &json!({ "signedURL": format!("/object/sign/{url}?token={token}") }),
        ))
    }

    fn sign_many(&mut self, bucket: &str, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let v = self.read_json(body)?;
        let now = self.h.now_ms();
        let expires_in = Self::expires_in(&v, now)?;
        let paths: Vec<String> = match v.get("paths") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| StorageError::validation("body/paths must be array of strings"))?,
            _ => return Err(StorageError::validation("body must have required property 'paths'")),
        };
        check_bucket(bucket)?;
        let session = self.caller();
        let mut found = std::collections::HashSet::new();
        for chunk in paths.chunks(MAX_OBJECTS_PER_REQUEST) {
            let rows = self
                .sql_json(
                    &session,
                    json_rows("SELECT name FROM storage.objects WHERE bucket_id = $1 \
                               AND name IN (SELECT jsonb_array_elements_text($2::jsonb))"),
                    vec![p(bucket), p(Value::from(chunk.to_vec()).to_string())],
                )?
                .unwrap_or(json!([]));
            for r in rows.as_array().into_iter().flatten() {
                if let Some(n) = r["name"].as_str() {
                    found.insert(n.to_string());
                }
            }
        }
        let key = self.signing_key()?.to_vec();
        let mut out = Vec::new();
        for path in paths {
            if found.contains(&path) {
                let url = format!("{bucket}/{path}");
                let token = crate::signing::sign(
                    &key,
                    json!({ "url": url, "scope": crate::signing::SCOPE_DOWNLOAD }),
                    now / 1000,
                    expires_in,
                )?;
                out.push(json!({ "error": null, "path": path, "signedURL": format!("/object/sign/{url}?token={token}") }));
            } else {
                out.push(json!({
                    "error": "Either the object does not exist or you do not have access to it",
                    "path": path,
                    "signedURL": null,
                }));
            }
        }
        Ok(json_response(200, &Value::Array(out)))
    }

    fn sign_upload(&mut self, bucket: &str, name: &str) -> Result<Response<H::Stream>> {
        self.require_token()?;
        check_bucket(bucket)?;
        let upsert = self.header("x-upsert") == Some("true");
        let owner = self.owner();
        let user_metadata = self.header("x-metadata").and_then(parse_user_metadata);
        let md = json!({
            "mimetype": self.header("content-type"),
            "contentLength": self.header("content-length").and_then(|l| l.trim().parse::<u64>().ok()),
        });
        let session = self.caller();
        self.test_permission(&session, bucket, name, owner.as_deref(), upsert, &md, user_metadata.as_ref())?;
        let key = self.signing_key()?;
        let url = format!("{bucket}/{name}");
        let token = crate::signing::sign(
            key,
            json!({ "owner": owner, "url": url, "upsert": upsert, "scope": crate::signing::SCOPE_UPLOAD }),
            self.h.now_ms() / 1000,
            SIGNED_UPLOAD_EXPIRY_S,
        )?;
        Ok(json_response(
            200,
            &json!({ "url": format!("/object/upload/sign/{url}?token={token}"), "token": token }),
        ))
    }

    fn signed_upload(&mut self, bucket: &str, name: &str, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        let claims = self.signed_claims(bucket, name, crate::signing::SCOPE_UPLOAD)?;
        let owner = claims.get("owner").and_then(Value::as_str).map(str::to_string);
        let upsert = claims.get("upsert").and_then(Value::as_bool).unwrap_or(false);
        let (_, key) = self.upload(
            Upload {
                bucket,
                name,
                owner,
                upsert,
                test: self.superuser(),
            },
            body,
        )?;
        Ok(json_response(200, &json!({ "Key": key })))
    }

    // ----- objects: writes -----

    /// Storage's `canUpload`: the row the upload would write, inserted (or
    /// upserted) and rolled back, so RLS says yes or no before any byte is
    /// stored.
    #[allow(clippy::too_many_arguments)]
    fn test_permission(
        &mut self,
        session: &Session,
        bucket: &str,
        name: &str,
        owner: Option<&str>,
        upsert: bool,
        metadata: &Value,
        user_metadata: Option<&Value>,
    ) -> Result<()> {
        let mut test = session.clone();
        test.rollback = true;
        let stmt = write_object_statement(bucket, name, owner, upsert, metadata, user_metadata, "1");
        match self.h.transaction(&test, vec![stmt]) {
            Ok(_) => Ok(()),
            Err(e) if e.code == "23505" => Err(StorageError::key_exists()),
            Err(e) => Err(StorageError::from_db(&e.code, &e.message)),
        }
    }

    /// Reads an upload's declarations: multipart fields up to the file, or
    /// the raw body's headers.
    fn file_info(&mut self, body: Body<H::Stream>, max: u64, allowed: &[String], name: &str) -> Result<FileInfo<H::Stream>> {
        let content_type = self.header("content-type").unwrap_or("").to_string();
        let declared_length = self
            .header("content-length")
            .and_then(|l| l.trim().parse::<u64>().ok());
        let check_mime = |mime: &str| -> Result<()> {
            if !allowed.is_empty() && !is_empty_folder(name) {
                mime_allowed(mime, allowed)?;
            }
            Ok(())
        };
        if content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
            let boundary = multipart::boundary(&content_type).ok_or_else(StorageError::no_content)?;
            let mut reader = multipart::Reader::new(&boundary);
            let mut fields: Vec<(String, String)> = Vec::new();
            let mut pending = Vec::new();
            let mut file_type = None;
            let mut body = body;
            let mut events = Vec::new();
            let mut started = false;
            // Until the file part starts.
            loop {
                let chunk = match &mut body {
                    Body::Empty => None,
                    Body::Bytes(b) => Some(std::mem::take(b)).filter(|b| !b.is_empty()),
                    Body::Stream(s) => self.h.read(s, CHUNK).map_err(|_| StorageError::no_content())?,
                };
                let result = match &chunk {
                    Some(c) => reader.feed(c, &mut events),
                    None => reader.finish(&mut events),
                };
                result.map_err(|e| match e {
                    multipart::Error::TooLarge => StorageError::entity_too_large("user_metadata"),
                    multipart::Error::Malformed(_) => StorageError::no_content(),
                })?;
                for e in events.drain(..) {
                    match e {
                        multipart::Event::Field { name, value } => fields.push((name, value)),
                        multipart::Event::File { content_type, .. } => {
                            started = true;
                            file_type = content_type;
                        }
                        multipart::Event::Data(d) => pending.push(d),
                        multipart::Event::FileEnd => {}
                    }
                }
                if started || chunk.is_none() {
                    break;
                }
            }
            if !started {
                return Err(StorageError::no_content());
            }
            let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            let mimetype = field("contentType")
                .filter(|s| !s.is_empty())
                .or(file_type)
                .unwrap_or_else(|| "text/plain".into());
            let cache_control = match field("cacheControl").filter(|s| !s.is_empty()) {
                Some(t) => format!("max-age={t}"),
                None => "no-cache".into(),
            };
            let user_metadata = match field("metadata").or_else(|| field("userMetadata")) {
                Some(m) if m.len() > MAX_USER_METADATA => {
                    return Err(StorageError::entity_too_large("user_metadata"))
                }
                Some(m) => serde_json::from_str(&m).ok(),
                None => None,
            };
            check_mime(&mimetype)?;
            Ok(FileInfo {
                mimetype,
                cache_control,
                user_metadata,
                declared_length,
                source: Source::Multipart {
                    reader,
                    pending,
                    body,
                },
            })
        } else {
            let mimetype = if content_type.is_empty() {
                "application/octet-stream".to_string()
            } else {
                content_type
            };
            check_mime(&mimetype)?;
            let cache_control = self.header("cache-control").unwrap_or("no-cache").to_string();
            let user_metadata = self.header("x-metadata").and_then(parse_user_metadata);
            let length = match &body {
                Body::Bytes(b) => Some(b.len() as u64),
                _ => declared_length,
            };
            if length.is_some_and(|l| l > max) {
                return Err(StorageError::entity_too_large("object"));
            }
            Ok(FileInfo {
                mimetype,
                cache_control,
                user_metadata,
                declared_length,
                source: Source::Raw(body),
            })
        }
    }

    /// Streams the file into `writer`.
    fn pump(&mut self, writer: &H::Writer, source: Source<H::Stream>) -> std::result::Result<(), BlobError> {
        match source {
            Source::Raw(Body::Empty) => Ok(()),
            Source::Raw(Body::Bytes(b)) => {
                for c in b.chunks(CHUNK as usize) {
                    self.h.write(writer, c)?;
                }
                Ok(())
            }
            Source::Raw(Body::Stream(s)) => self.h.write_from(writer, &s).map(|_| ()),
            Source::Multipart {
                mut reader,
                pending,
                mut body,
            } => {
                for d in pending {
                    self.h.write(writer, &d)?;
                }
                let mut events = Vec::new();
                while !reader.done() {
                    let chunk = match &mut body {
                        Body::Empty => None,
                        Body::Bytes(b) => Some(std::mem::take(b)).filter(|b| !b.is_empty()),
                        Body::Stream(s) => self.h.read(s, CHUNK).map_err(|_| BlobError::Closed)?,
                    };
                    let r = match &chunk {
                        Some(c) => reader.feed(c, &mut events),
                        None => reader.finish(&mut events),
                    };
                    r.map_err(|_| BlobError::Closed)?;
                    for e in events.drain(..) {
                        if let multipart::Event::Data(d) = e {
                            self.h.write(writer, &d)?;
                        }
                    }
                    if chunk.is_none() {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// Storage's upload: bucket limits, the permission test, the bytes under
    /// a new version, then the row; the previous version's bytes go once
    /// the row points at the new ones. Answers (id, `bucket/name`).
    fn upload(&mut self, u: Upload<'_>, body: Body<H::Stream>) -> Result<(String, String)> {
        let su = self.superuser();
        let bucket_row = self
            .sql_json(
                &su,
                json_row("SELECT id, file_size_limit, allowed_mime_types FROM storage.buckets WHERE id = $1"),
                vec![p(u.bucket)],
            )?
            .ok_or_else(StorageError::no_such_bucket)?;
        let max = if is_empty_folder(u.name) {
            0
        } else {
            match bucket_row.get("file_size_limit").and_then(Value::as_u64) {
                Some(l) => l.min(self.cfg.file_size_limit),
                None => self.cfg.file_size_limit,
            }
        };
        let allowed: Vec<String> = bucket_row
            .get("allowed_mime_types")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let file = self.file_info(body, max, &allowed, u.name)?;
        check_key(u.name)?;
        let test_md = json!({ "mimetype": file.mimetype, "contentLength": file.declared_length });
        self.test_permission(
            &u.test,
            u.bucket,
            u.name,
            u.owner.as_deref(),
            u.upsert,
            &test_md,
            file.user_metadata.as_ref(),
        )?;
        let version = uuid(self.h.random());
        let key = blob_key(u.name, &version);
        let writer = self.h.create(u.bucket, &key, max).map_err(blob_error)?;
        let written = self.pump(&writer, file.source);
        if let Err(e) = written {
            drop(writer);
            return Err(blob_error(e));
        }
        let info = self.h.finish(writer).map_err(blob_error)?;
        let metadata = object_metadata(&info, &file.mimetype, &file.cache_control);
        let complete = self.complete(&su, &u, &metadata, file.user_metadata.as_ref(), &version);
        match complete {
            Ok((id, previous)) => {
                if let Some(prev) = previous.filter(|p| *p != version) {
                    let _ = self.h.delete(u.bucket, &[blob_key(u.name, &prev)]);
                }
                Ok((id, format!("{}/{}", u.bucket, u.name)))
            }
            Err(e) => {
                let _ = self.h.delete(u.bucket, &[key]);
                Err(e)
            }
        }
    }

    /// The row of an upload, as the super user: (id, the version it replaced).
    fn complete(
        &mut self,
        su: &Session,
        u: &Upload<'_>,
        metadata: &Value,
        user_metadata: Option<&Value>,
        version: &str,
    ) -> Result<(String, Option<String>)> {
        let previous = Statement::new(
            "SELECT version FROM storage.objects WHERE bucket_id = $1 AND name = $2 FOR UPDATE",
            vec![p(u.bucket), p(u.name)],
        );
        let mut write = write_object_statement(u.bucket, u.name, u.owner.as_deref(), u.upsert, metadata, user_metadata, version);
        write.sql = json_row(&format!("{} RETURNING id", write.sql));
        match self.h.transaction(su, vec![previous, write]) {
            Ok(sets) => {
                let prev = sets
                    .first()
                    .and_then(|s| s.rows.first())
                    .and_then(|r| r.first().cloned().flatten());
                let id = first_json(sets.last())
                    .and_then(|v| v["id"].as_str().map(str::to_string))
                    .unwrap_or_default();
                Ok((id, prev))
            }
            Err(e) if e.code == "23505" => Err(StorageError::key_exists()),
            Err(e) => Err(StorageError::from_db(&e.code, &e.message)),
        }
    }

    fn delete_object(&mut self, bucket: &str, name: &str) -> Result<Response<H::Stream>> {
        self.require_token()?;
        check_bucket(bucket)?;
        check_key(name)?;
        let session = self.caller();
        let sets = self.sql(
            &session,
            vec![
                Statement::new(ALLOW_DELETE, vec![]),
                Statement::new(
                    json_rows("DELETE FROM storage.objects WHERE bucket_id = $1 AND name = $2 RETURNING name, version"),
                    vec![p(bucket), p(name)],
                ),
            ],
        )?;
        let rows = first_json(sets.last())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        if rows.is_empty() {
            // Storage looks the object up as the super user first.
            let su = self.superuser();
            self.find_object(&su, bucket, name, "id")?;
            return Err(StorageError::access_denied("Access denied"));
        }
        self.delete_blobs(bucket, &rows);
        Ok(message("Successfully deleted"))
    }

    fn delete_objects(&mut self, bucket: &str, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let v = self.read_json(body)?;
        let prefixes: Vec<String> = match v.get("prefixes") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Some(s.clone()),
                    // storage-js sends `{path, versionId}` for versioned
                    // objects: this store keeps one version.
                    Value::Object(o) => o.get("path").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or_else(|| StorageError::validation("body/prefixes must be array of strings"))?,
            Some(Value::Array(_)) => {
                return Err(StorageError::validation("body/prefixes must NOT have fewer than 1 items"))
            }
            _ => return Err(StorageError::validation("body must have required property 'prefixes'")),
        };
        if prefixes.len() > MAX_OBJECTS_PER_REQUEST {
            return Err(StorageError::invalid_request(&format!(
                "Bulk object requests are limited to {MAX_OBJECTS_PER_REQUEST} objects per request."
            )));
        }
        check_bucket(bucket)?;
        let session = self.caller();
        let mut deleted = Vec::new();
        for chunk in prefixes.chunks(500) {
            let sets = self.sql(
                &session,
                vec![
                    Statement::new(ALLOW_DELETE, vec![]),
                    Statement::new(
                        json_rows("DELETE FROM storage.objects WHERE bucket_id = $1 \
                                   AND name IN (SELECT jsonb_array_elements_text($2::jsonb)) RETURNING *"),
                        vec![p(bucket), p(Value::from(chunk.to_vec()).to_string())],
                    ),
                ],
            )?;
            let rows = first_json(sets.last())
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            self.delete_blobs(bucket, &rows);
            deleted.extend(rows);
        }
        Ok(json_response(200, &Value::Array(deleted)))
    }

    fn move_or_copy_body(v: &Value) -> Result<(String, String, String, String)> {
        let bucket = required_str(v, "bucketId")?;
        let source = required_str(v, "sourceKey")?;
        let destination = required_str(v, "destinationKey")?;
        let dest_bucket = str_field(v, "destinationBucket")?
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| bucket.clone());
        check_bucket(&bucket)?;
        check_bucket(&dest_bucket)?;
        check_key(&destination)?;
        Ok((bucket, source, dest_bucket, destination))
    }

    fn move_object(&mut self, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let v = self.read_json(body)?;
        let (bucket, source, dest_bucket, destination) = Self::move_or_copy_body(&v)?;
        check_key(&source)?;
        let owner = self.owner();
        let new_version = uuid(self.h.random());
        // The caller may read the source and rewrite it as the destination.
        let mut test = self.caller();
        test.rollback = true;
        let check = self.h.transaction(
            &test,
            vec![
                Statement::new(
                    json_row("SELECT id FROM storage.objects WHERE bucket_id = $1 AND name = $2"),
                    vec![p(&bucket), p(&source)],
                ),
                move_statement(&bucket, &source, &dest_bucket, &destination, &new_version, owner.as_deref(), None, None),
            ],
        );
        match check {
            Ok(sets) => {
                if first_json(sets.first()).is_none() {
                    return Err(StorageError::no_such_key());
                }
                if sets.last().is_none_or(|s| s.rows.is_empty()) {
                    return Err(StorageError::no_such_key());
                }
            }
            Err(e) => return Err(StorageError::from_db(&e.code, &e.message)),
        }
        let su = self.superuser();
        let src = self.find_object(&su, &bucket, &source, "id, name, version, metadata, user_metadata")?;
        if bucket == dest_bucket && source == destination {
            return Ok(json_response(
                200,
                &json!({ "message": "Successfully moved", "Id": src["id"], "Key": src["name"] }),
            ));
        }
        let old_version = src.get("version").and_then(Value::as_str).map(str::to_string);
        let from_key = blob_key_of(&source, old_version.as_deref());
        let to_key = blob_key(&destination, &new_version);
        let info = self
            .h
            .copy((&bucket, &from_key), (&dest_bucket, &to_key))
            .map_err(blob_error)?;
        let mut metadata = src.get("metadata").cloned().unwrap_or(json!({}));
        if let Some(m) = metadata.as_object_mut() {
            m.insert("eTag".into(), json!(info.etag));
            m.insert("lastModified".into(), json!(time::iso(info.modified_ms)));
            m.insert("size".into(), json!(info.size));
            m.insert("contentLength".into(), json!(info.size));
        }
        let user_metadata = src.get("user_metadata").cloned().filter(|v| !v.is_null());
        let stmt = move_statement(
            &bucket,
            &source,
            &dest_bucket,
            &destination,
            &new_version,
            owner.as_deref(),
            Some(&metadata),
            user_metadata.as_ref(),
        );
        match self.h.transaction(&su, vec![stmt]) {
            Ok(sets) => {
                let row = first_json(sets.last());
                if row.is_none() {
                    let _ = self.h.delete(&dest_bucket, &[to_key]);
                    return Err(StorageError::no_such_key());
                }
                let _ = self.h.delete(&bucket, &[from_key]);
                let row = row.unwrap_or_default();
                Ok(json_response(
                    200,
                    &json!({ "message": "Successfully moved", "Id": row["id"], "Key": row["name"] }),
                ))
            }
            Err(e) => {
                let _ = self.h.delete(&dest_bucket, &[to_key]);
                Err(if e.code == "23505" {
                    StorageError::resource_exists()
                } else {
                    StorageError::from_db(&e.code, &e.message)
                })
            }
        }
    }

    fn copy_object(&mut self, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let v = self.read_json(body)?;
        let (bucket, source, dest_bucket, destination) = Self::move_or_copy_body(&v)?;
        let copy_metadata = match v.get("copyMetadata") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(StorageError::validation("body/copyMetadata must be boolean")),
        };
        let upsert = self.header("x-upsert") == Some("true");
        let owner = self.owner();
        let session = self.caller();
        let src = self.find_object(&session, &bucket, &source, "bucket_id, name, metadata, user_metadata, version")?;
        let mut metadata = src.get("metadata").cloned().filter(Value::is_object).unwrap_or(json!({}));
        if !copy_metadata {
            if let (Some(m), Some(given)) = (metadata.as_object_mut(), v.get("metadata")) {
                if let Some(cc) = given.get("cacheControl").and_then(Value::as_str) {
                    m.insert("cacheControl".into(), json!(cc));
                }
                if let Some(mt) = given.get("mimetype").and_then(Value::as_str) {
                    m.insert("mimetype".into(), json!(mt));
                }
            }
        }
        let user_metadata = if copy_metadata {
            src.get("user_metadata").cloned().filter(|v| !v.is_null())
        } else {
            self.header("x-metadata").and_then(parse_user_metadata)
        };
        self.test_permission(&session, &dest_bucket, &destination, owner.as_deref(), upsert, &metadata, user_metadata.as_ref())?;
        let new_version = uuid(self.h.random());
        let from_key = blob_key_of(&source, src.get("version").and_then(Value::as_str));
        let to_key = blob_key(&destination, &new_version);
        let info = self
            .h
            .copy((&bucket, &from_key), (&dest_bucket, &to_key))
            .map_err(blob_error)?;
        if let Some(m) = metadata.as_object_mut() {
            m.insert("eTag".into(), json!(info.etag));
            m.insert("lastModified".into(), json!(time::iso(info.modified_ms)));
        }
        let su = self.superuser();
        let previous = Statement::new(
            "SELECT version FROM storage.objects WHERE bucket_id = $1 AND name = $2 FOR UPDATE",
            vec![p(&dest_bucket), p(&destination)],
        );
        let mut write = write_object_statement(
            &dest_bucket,
            &destination,
            owner.as_deref(),
            upsert,
            &metadata,
            user_metadata.as_ref(),
            &new_version,
        );
        write.sql = json_row(&format!("{} RETURNING *", write.sql));
        match self.h.transaction(&su, vec![previous, write]) {
            Ok(sets) => {
                if let Some(prev) = sets
                    .first()
                    .and_then(|s| s.rows.first())
                    .and_then(|r| r.first().cloned().flatten())
                {
                    let _ = self.h.delete(&dest_bucket, &[blob_key(&destination, &prev)]);
                }
                let row = first_json(sets.last()).unwrap_or(json!({}));
                let mut out = json!({
                    "Id": row["id"],
                    "Key": format!("{dest_bucket}/{destination}"),
                });
                if let (Some(o), Some(r)) = (out.as_object_mut(), row.as_object()) {
                    for (k, v) in r {
                        o.insert(k.clone(), v.clone());
                    }
                }
                Ok(json_response(200, &out))
            }
            Err(e) => {
                let _ = self.h.delete(&dest_bucket, &[to_key]);
                Err(if e.code == "23505" {
                    StorageError::key_exists()
                } else {
                    StorageError::from_db(&e.code, &e.message)
                })
            }
        }
    }

    // ----- listing -----

    fn list(&mut self, bucket: &str, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        self.require_token()?;
        let v = self.read_json(body)?;
        let mut prefix = required_str(&v, "prefix")?;
        let limit = int_field(&v, "limit", 1)?;
        let offset = int_field(&v, "offset", 0)?;
        let search = str_field(&v, "search")?.unwrap_or_default();
        let (column, order) = match v.get("sortBy") {
            None | Some(Value::Null) => ("name".to_string(), "asc".to_string()),
            Some(Value::Object(s)) => {
                let column = match s.get("column").and_then(Value::as_str) {
                    Some(c) if ["name", "updated_at", "created_at", "last_accessed_at"].contains(&c) => c.to_string(),
                    Some(_) => {
                        return Err(StorageError::validation(
                            "body/sortBy/column must be equal to one of the allowed values",
                        ))
                    }
                    None => return Err(StorageError::validation("body/sortBy must have required property 'column'")),
                };
                let order = match s.get("order").and_then(Value::as_str) {
                    None => "asc".to_string(),
                    Some(o) if o == "asc" || o == "desc" => o.to_string(),
                    Some(_) => {
                        return Err(StorageError::validation(
                            "body/sortBy/order must be equal to one of the allowed values",
                        ))
                    }
                };
                (column, order)
            }
            Some(_) => return Err(StorageError::validation("body/sortBy must be object")),
        };
        check_bucket(bucket)?;
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let levels = format!("{prefix}{search}").split('/').count();
        let session = self.caller();
        let rows = self
            .sql_json(
                &session,
                json_rows("SELECT * FROM storage.search($1, $2, $3::int, $4::int, $5::int, $6, $7, $8)"),
                vec![
                    p(&prefix),
                    p(bucket),
                    p(limit.unwrap_or(100).min(i32::MAX as i64).to_string()),
                    p(levels.to_string()),
                    p(offset.unwrap_or(0).min(i32::MAX as i64).to_string()),
                    p(search),
                    p(column),
                    p(order),
                ],
            )?
            .unwrap_or(json!([]));
        Ok(json_response(200, &rows))
    }

    /// `list-v2`: keys after a cursor, by name, with `/` folders collapsed
    /// when `with_delimiter` (names are full keys, folders end with `/`).
    fn list_v2(&mut self, bucket: &str, body: Body<H::Stream>) -> Result<Response<H::Stream>> {
        use base64::Engine;
        self.require_token()?;
        let v = self.read_json(body)?;
        let prefix = str_field(&v, "prefix")?.unwrap_or_default();
        let limit = int_field(&v, "limit", 1)?.unwrap_or(1000).min(1000);
        let delimiter = v.get("with_delimiter").and_then(Value::as_bool).unwrap_or(false);
        let after = match str_field(&v, "cursor")? {
            Some(c) => {
                let text = base64::engine::general_purpose::STANDARD
                    .decode(c.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| StorageError::invalid_parameter("cursor"))?;
                text.lines()
                    .find_map(|l| l.strip_prefix("l:").map(str::to_string))
                    .unwrap_or_default()
            }
            None => String::new(),
        };
        check_bucket(bucket)?;
        let session = self.caller();
        let rows = self
            .sql_json(
                &session,
                json_rows(
                    "WITH o AS ( \
                       SELECT id, name, bucket_id, metadata, updated_at, created_at, last_accessed_at, version, \
                              CASE WHEN $3::boolean AND strpos(substr(name, length($2) + 1), '/') > 0 \
                                   THEN $2 || split_part(substr(name, length($2) + 1), '/', 1) || '/' END AS folder \
                       FROM storage.objects WHERE bucket_id = $1 AND left(name, length($2)) = $2 \
                     ), e AS ( \
                       SELECT DISTINCT folder AS key, NULL::uuid AS id, NULL::jsonb AS metadata, \
                              NULL::timestamptz AS updated_at, NULL::timestamptz AS created_at, \
                              NULL::timestamptz AS last_accessed_at, NULL::text AS version, true AS is_folder \
                       FROM o WHERE folder IS NOT NULL \
                       UNION ALL \
                       SELECT name, id, metadata, updated_at, created_at, last_accessed_at, version, false \
                       FROM o WHERE folder IS NULL \
                     ) \
                     SELECT * FROM e WHERE key COLLATE \"C\" > $4 ORDER BY key COLLATE \"C\" LIMIT $5::bigint",
                ),
                vec![
                    p(bucket),
                    p(&prefix),
                    p(delimiter.to_string()),
                    p(&after),
                    p((limit + 1).to_string()),
                ],
            )?
            .unwrap_or(json!([]));
        let mut rows = rows.as_array().cloned().unwrap_or_default();
        let has_next = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let mut folders = Vec::new();
        let mut objects = Vec::new();
        for r in &rows {
            let key = r["key"].as_str().unwrap_or_default().to_string();
            if r["is_folder"] == json!(true) {
                folders.push(json!({ "name": key, "key": key }));
            } else {
                objects.push(json!({
                    "id": r["id"], "name": key, "key": key, "metadata": r["metadata"],
                    "updated_at": r["updated_at"], "created_at": r["created_at"],
                    "last_accessed_at": r["last_accessed_at"], "version": r["version"],
                }));
            }
        }
        let mut out = json!({ "hasNext": has_next, "folders": folders, "objects": objects });
        if has_next {
            if let Some(last) = rows.last().and_then(|r| r["key"].as_str()) {
                out["nextCursor"] = json!(base64::engine::general_purpose::STANDARD.encode(format!("l:{last}")));
                out["nextCursorKey"] = json!(last);
            }
        }
        Ok(json_response(200, &out))
    }
}

#[derive(Clone, Copy)]
enum Read {
    Asset,
    Head,
    Info,
}

/// The blob key of a row: `name/version`, or `name` for a row without one.
fn blob_key_of(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) if !v.is_empty() => blob_key(name, v),
        _ => name.to_string(),
    }
}

/// The first row, first column of a result as JSON.
fn first_json(set: Option<&ResultSet>) -> Option<Value> {
    let text = set?.rows.first()?.first()?.as_ref()?;
    serde_json::from_str(text).ok()
}

/// `x-metadata`: base64 of a JSON object (Storage's `parseUserMetadata`).
fn parse_user_metadata(b64: &str) -> Option<Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// An object's row: INSERT, or (upsert) INSERT … ON CONFLICT DO UPDATE.
fn write_object_statement(
    bucket: &str,
    name: &str,
    owner: Option<&str>,
    upsert: bool,
    metadata: &Value,
    user_metadata: Option<&Value>,
    version: &str,
) -> Statement {
    let mut sql = String::from(
        "INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version) \
         VALUES ($1, $2, $3::uuid, $4, $5::jsonb, $6::jsonb, $7)",
    );
    if upsert {
        sql.push_str(
            " ON CONFLICT (name, bucket_id) DO UPDATE SET metadata = EXCLUDED.metadata, \
             user_metadata = EXCLUDED.user_metadata, version = EXCLUDED.version, \
             owner = EXCLUDED.owner, owner_id = EXCLUDED.owner_id",
        );
    }
    Statement::new(
        sql,
        vec![
            p(bucket),
            p(name),
            owner.filter(|o| is_uuid(o)).map(str::to_string),
            owner.map(str::to_string),
            p(metadata.to_string()),
            user_metadata.map(Value::to_string),
            p(version),
        ],
    )
}

/// A move's UPDATE of the source row (`metadata` as copied, else kept).
#[allow(clippy::too_many_arguments)]
fn move_statement(
    bucket: &str,
    source: &str,
    dest_bucket: &str,
    destination: &str,
    version: &str,
    owner: Option<&str>,
    metadata: Option<&Value>,
    user_metadata: Option<&Value>,
) -> Statement {
    let (md_sql, mut params) = match metadata {
        Some(m) => (
            ", metadata = $7::jsonb, user_metadata = $8::jsonb",
            vec![p(m.to_string()), user_metadata.map(Value::to_string)],
        ),
        None => ("", vec![]),
    };
    let mut all = vec![
        p(bucket),
        p(source),
        p(dest_bucket),
        p(destination),
        p(version),
        owner.map(str::to_string),
    ];
    all.append(&mut params);
    Statement::new(
        json_row(&format!(
            "UPDATE storage.objects SET bucket_id = $3, name = $4, version = $5, \
             owner = CASE WHEN $6::text ~* '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$' \
                          THEN ($6::text)::uuid END, \
             owner_id = $6::text{md_sql} \
             WHERE bucket_id = $1 AND name = $2 RETURNING id, name"
        )),
        all,
    )
}

fn info_response<S>(row: &Value) -> Response<S> {
    let md = row.get("metadata").cloned().unwrap_or(Value::Null);
    let body = json!({
        "id": row["id"],
        "name": row["name"],
        "version": row["version"],
        "bucket_id": row["bucket_id"],
        "size": md.get("size").cloned().unwrap_or(Value::Null),
        "content_type": md.get("mimetype").cloned().unwrap_or(Value::Null),
        "cache_control": md.get("cacheControl").cloned().unwrap_or(Value::Null),
        "etag": md.get("eTag").cloned().unwrap_or(Value::Null),
        "metadata": row.get("user_metadata").cloned().unwrap_or(Value::Null),
        "last_modified": row["updated_at"],
        "created_at": row["created_at"],
    });
    let mut resp = json_response(200, &body);
    meta_headers(&mut resp.headers, &md);
    resp
}

fn meta_headers(headers: &mut Vec<(String, String)>, md: &Value) {
    if let Some(e) = md.get("eTag").and_then(Value::as_str) {
        headers.push(("etag".into(), e.to_string()));
    }
    if let Some(m) = md.get("lastModified").and_then(Value::as_str).and_then(time::parse_timestamp) {
        headers.push(("last-modified".into(), time::http_date(m)));
    }
    if let Some(cc) = md.get("cacheControl").and_then(Value::as_str) {
        headers.push(("cache-control".into(), cc.to_string()));
    }
}

fn head_response<S>(row: &Value) -> Response<S> {
    let md = row.get("metadata").cloned().unwrap_or(Value::Null);
    let mut headers = vec![
        ("accept-ranges".to_string(), "bytes".to_string()),
        (
            "content-type".into(),
            md.get("mimetype")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_string(),
        ),
        ("x-robots-tag".into(), "none".into()),
    ];
    meta_headers(&mut headers, &md);
    if let Some(len) = md.get("contentLength").and_then(Value::as_u64) {
        headers.push(("content-length".into(), len.to_string()));
    }
    Response {
        status: 200,
        headers,
        body: Body::Empty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sizes_as_storage_parses_them() {
        assert_eq!(parse_file_size("20MB").unwrap(), 20_000_000);
        assert_eq!(parse_file_size("1.5gb").unwrap(), 1_500_000_000);
        assert_eq!(parse_file_size("300KB").unwrap(), 300_000);
        assert_eq!(parse_file_size("12B").unwrap(), 12);
        // `toPrecision(3)`: three significant digits.
        assert_eq!(parse_file_size("1234B").unwrap(), 1230);
        for bad in ["", "MB", "12", "1.MB", ".5MB", "1.2.3MB", "-1MB", "12 TB"] {
            assert!(parse_file_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mime_types() {
        let allowed = vec!["image/*".to_string(), "text/plain".to_string()];
        assert!(mime_allowed("image/png", &allowed).is_ok());
        assert!(mime_allowed("text/plain", &allowed).is_ok());
        let e = mime_allowed("application/pdf", &allowed).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("InvalidMimeType", "mime type application/pdf is not supported"));
        assert!(mime_allowed("nonsense", &allowed).is_err());
        assert!(check_allowed_mime_list(&["image/png".into(), "text/plain;charset=utf-8".into(), "*".into()]).is_ok());
        assert!(check_allowed_mime_list(&["image png".into()]).is_err());
    }

    #[test]
    fn verifier_messages_in_joses_words() {
        assert_eq!(jose_message("JWT expired"), "\"exp\" claim timestamp check failed");
        assert_eq!(jose_message("JWT cryptographic operation failed"), "signature verification failed");
        assert_eq!(jose_message("JWT could not be decoded"), "Invalid Compact JWS");
        assert_eq!(jose_message("Expected 3 parts in JWT; got 1"), "Invalid Compact JWS");
        assert_eq!(encode_uri_component("a b/ü.png"), "a%20b%2F%C3%BC.png");
    }
}
