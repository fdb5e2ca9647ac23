//! Storage's route table (`/bucket…`, `/object…`), paths relative to
//! `/storage/v1` as its HTTP server matches them: a static segment before a
//! parameter (`/object/public/…` is the public route, not a bucket named
//! `public`), `*` the rest of the path, every parameter percent-decoded.

use crate::names::percent_decode;

/// How a read may be authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `/object/authenticated/…`: a valid token is required.
    Authenticated,
    /// `/object/{bucket}/…`: a token if sent, else public buckets only.
    Optional,
    /// `/object/public/…`: public buckets, no token looked at.
    Public,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    ListBuckets,
    GetBucket(String),
    CreateBucket,
    UpdateBucket(String),
    DeleteBucket(String),
    EmptyBucket(String),
    /// POST (`upsert` from `x-upsert`) or PUT (always upsert).
    Upload { bucket: String, name: String, put: bool },
    DeleteObject { bucket: String, name: String },
    DeleteObjects { bucket: String },
    Download { bucket: String, name: String, access: Access },
    Head { bucket: String, name: String, access: Access },
    Info { bucket: String, name: String, access: Access },
    SignedDownload { bucket: String, name: String },
    Sign { bucket: String, name: String },
    SignMany { bucket: String },
    SignUpload { bucket: String, name: String },
    SignedUpload { bucket: String, name: String },
    List { bucket: String },
    ListV2 { bucket: String },
    Move,
    Copy,
    /// `/render/image/…`: image transformations, which are off.
    Render,
    NotFound,
    /// A parameter that does not decode (broken `%` escape, not UTF-8).
    BadEncoding(String),
}

fn decode(s: &str) -> Result<String, Route> {
    percent_decode(s).ok_or_else(|| Route::BadEncoding(s.to_string()))
}

/// `bucket/rest…` → (bucket, rest), both decoded; the rest may be empty.
fn bucket_and_name(rest: &str) -> Result<(String, String), Route> {
    let (b, n) = rest.split_once('/').ok_or(Route::NotFound)?;
    Ok((decode(b)?, decode(n)?))
}

/// A single `{bucket}` segment.
fn only_bucket(rest: &str) -> Result<String, Route> {
    if rest.is_empty() || rest.contains('/') {
        return Err(Route::NotFound);
    }
    decode(rest)
}

pub fn route(method: &str, path: &str) -> Route {
    match resolve(method, path) {
        Ok(r) => r,
        Err(r) => r,
    }
}

fn resolve(method: &str, path: &str) -> Result<Route, Route> {
    use Route::*;
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.starts_with("render/") {
        return Ok(Render);
    }
    if path == "bucket" || path == "bucket/" {
        return match method {
            "GET" => Ok(ListBuckets),
            "POST" => Ok(CreateBucket),
            _ => Ok(NotFound),
        };
    }
    if let Some(rest) = path.strip_prefix("bucket/") {
        if let Some(id) = rest.strip_suffix("/empty") {
            return match method {
                "POST" => Ok(EmptyBucket(only_bucket(id)?)),
                _ => Ok(NotFound),
            };
        }
        let id = only_bucket(rest)?;
        return match method {
            "GET" => Ok(GetBucket(id)),
            "PUT" => Ok(UpdateBucket(id)),
            "DELETE" => Ok(DeleteBucket(id)),
            _ => Ok(NotFound),
        };
    }
    let Some(rest) = path.strip_prefix("object/") else {
        return Ok(NotFound);
    };
    let named = |f: fn(String, String) -> Route, r: &str| -> Result<Route, Route> {
        let (b, n) = bucket_and_name(r)?;
        Ok(f(b, n))
    };
    let access = |a: Access, r: &str, head: bool| -> Result<Route, Route> {
        let (bucket, name) = bucket_and_name(r)?;
        Ok(if head {
            Head { bucket, name, access: a }
        } else {
            Download { bucket, name, access: a }
        })
    };
    match method {
        "GET" | "HEAD" => {
            let head = method == "HEAD";
            if let Some(r) = rest.strip_prefix("authenticated/") {
                return access(Access::Authenticated, r, head);
            }
            if let Some(r) = rest.strip_prefix("public/") {
                return access(Access::Public, r, head);
            }
            if !head {
                if let Some(r) = rest.strip_prefix("sign/") {
                    return named(|bucket, name| SignedDownload { bucket, name }, r);
                }
                if let Some(r) = rest.strip_prefix("info/") {
                    let (a, r) = if let Some(r) = r.strip_prefix("authenticated/") {
                        (Access::Authenticated, r)
                    } else if let Some(r) = r.strip_prefix("public/") {
                        (Access::Public, r)
                    } else {
                        (Access::Optional, r)
                    };
                    let (bucket, name) = bucket_and_name(r)?;
                    return Ok(Info { bucket, name, access: a });
                }
            }
            access(Access::Optional, rest, head)
        }
        "POST" => {
            if let Some(r) = rest.strip_prefix("list/") {
                return Ok(List { bucket: only_bucket(r)? });
            }
            if let Some(r) = rest.strip_prefix("list-v2/") {
                return Ok(ListV2 { bucket: only_bucket(r)? });
            }
            if rest == "move" {
                return Ok(Move);
            }
            if rest == "copy" {
                return Ok(Copy);
            }
            if let Some(r) = rest.strip_prefix("upload/sign/") {
                return named(|bucket, name| SignUpload { bucket, name }, r);
            }
            if let Some(r) = rest.strip_prefix("sign/") {
                if !r.contains('/') {
                    return Ok(SignMany { bucket: only_bucket(r)? });
                }
                return named(|bucket, name| Sign { bucket, name }, r);
            }
            named(|bucket, name| Upload { bucket, name, put: false }, rest)
        }
        "PUT" => {
            if let Some(r) = rest.strip_prefix("upload/sign/") {
                return named(|bucket, name| SignedUpload { bucket, name }, r);
            }
            named(|bucket, name| Upload { bucket, name, put: true }, rest)
        }
        "DELETE" => {
            if !rest.contains('/') {
                return Ok(DeleteObjects { bucket: only_bucket(rest)? });
            }
            named(|bucket, name| DeleteObject { bucket, name }, rest)
        }
        _ => Ok(NotFound),
    }
}

/// The value of `name` in a query string (form-decoded: `+` is a space),
/// `Some("")` when present without a value.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(&k.replace('+', " "))?;
        (k == name).then(|| percent_decode(&v.replace('+', " ")).unwrap_or_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Route::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn routes_as_storage_matches_them() {
        assert_eq!(route("GET", "/bucket"), ListBuckets);
        assert_eq!(route("GET", "/bucket/avatars"), GetBucket(s("avatars")));
        assert_eq!(route("POST", "/bucket/avatars/empty"), EmptyBucket(s("avatars")));
        assert_eq!(route("DELETE", "/bucket/my%20bucket"), DeleteBucket(s("my bucket")));
        assert_eq!(
            route("POST", "/object/avatars/folder/a%20b.png"),
            Upload { bucket: s("avatars"), name: s("folder/a b.png"), put: false }
        );
        assert_eq!(
            route("GET", "/object/public/avatars/a.png"),
            Download { bucket: s("avatars"), name: s("a.png"), access: Access::Public }
        );
        assert_eq!(
            route("GET", "/object/avatars/a.png"),
            Download { bucket: s("avatars"), name: s("a.png"), access: Access::Optional }
        );
        assert_eq!(
            route("GET", "/object/info/public/avatars/a.png"),
            Info { bucket: s("avatars"), name: s("a.png"), access: Access::Public }
        );
        assert_eq!(
            route("HEAD", "/object/authenticated/avatars/a.png"),
            Head { bucket: s("avatars"), name: s("a.png"), access: Access::Authenticated }
        );
        assert_eq!(route("POST", "/object/sign/avatars"), SignMany { bucket: s("avatars") });
        assert_eq!(route("POST", "/object/sign/avatars/a"), Sign { bucket: s("avatars"), name: s("a") });
        assert_eq!(route("PUT", "/object/upload/sign/b/k"), SignedUpload { bucket: s("b"), name: s("k") });
        assert_eq!(route("DELETE", "/object/b"), DeleteObjects { bucket: s("b") });
        assert_eq!(route("DELETE", "/object/b/x/y"), DeleteObject { bucket: s("b"), name: s("x/y") });
        assert_eq!(route("POST", "/object/list/b"), List { bucket: s("b") });
        assert_eq!(route("POST", "/object/move"), Move);
        assert_eq!(route("GET", "/render/image/public/b/x.png"), Render);
        assert_eq!(route("GET", "/nothing"), NotFound);
        assert_eq!(route("PATCH", "/object/b/x"), NotFound);
        assert_eq!(route("GET", "/object/b%zz/x"), BadEncoding(s("b%zz")));
        // The dots arrive decoded, for the key check to refuse.
        assert_eq!(
            route("GET", "/object/b/%2e%2e/%2e%2e/etc/passwd"),
            Download { bucket: s("b"), name: s("../../etc/passwd"), access: Access::Optional }
        );
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("token=abc&download=", "download").as_deref(), Some(""));
        assert_eq!(query_param("token=a%2Bb", "token").as_deref(), Some("a+b"));
        assert_eq!(query_param("download=my+file.png", "download").as_deref(), Some("my file.png"));
        assert_eq!(query_param("x=1", "token"), None);
    }
}
