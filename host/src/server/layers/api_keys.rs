//! Supabase's publishable and secret API keys (`sb_publishable_…`,
//! `sb_secret_…`): swapped for the legacy JWTs they stand for (the anon and
//! the service_role key) before anything reads the request, as the Supabase
//! CLI's Kong gateway does — in `apikey`, in `Authorization: Bearer`, and
//! in the `apikey` query parameter (realtime's websocket URL). Every route
//! sees the JWT: `/rest/v1`, `/auth/v1`, `/storage/v1`, `/functions/v1` and
//! `/realtime/v1`. A secret key sent by a browser (`User-Agent` with
//! `Mozilla/`) is refused with 401, as the platform refuses it.

use crate::keys::ApiKeys;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// The answer to a secret key from a browser.
pub const BROWSER_REFUSED: &str = r#"{"message":"Forbidden use of secret API key in browser"}"#;

/// The secret key came from a browser.
#[derive(Debug, PartialEq, Eq)]
pub struct SecretInBrowser;

/// Swaps the new keys in `req` for their JWTs.
pub fn substitute<B>(keys: &ApiKeys, req: &mut http::Request<B>) -> Result<(), SecretInBrowser> {
    let browser = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.contains("Mozilla/"));
    let mut secret = false;
    let headers = req.headers_mut();
    for name in ["apikey", "x-api-key"] {
        let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(jwt) = keys.jwt_for(v.trim()) {
            secret |= keys.is_secret(v.trim());
            if let Ok(jwt) = http::HeaderValue::from_str(jwt) {
                headers.insert(name, jwt);
            }
        }
    }
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    if let Some(token) = bearer {
        if let Some(jwt) = keys.jwt_for(&token) {
            secret |= keys.is_secret(&token);
            if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {jwt}")) {
                headers.insert(http::header::AUTHORIZATION, v);
            }
        }
    }
    if let Some(query) = req.uri().query() {
        let mut changed = false;
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("apikey", v)) => {
                    let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                    match keys.jwt_for(&decoded) {
                        Some(jwt) => {
                            secret |= keys.is_secret(&decoded);
                            changed = true;
                            format!("apikey={jwt}")
                        }
                        None => pair.to_string(),
                    }
                }
                _ => pair.to_string(),
            })
            .collect();
        if changed {
            let mut parts = req.uri().clone().into_parts();
            let path = req.uri().path().to_string();
            if let Ok(pq) = format!("{path}?{}", pairs.join("&")).parse() {
                parts.path_and_query = Some(pq);
                if let Ok(uri) = http::Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
        }
    }
    if secret && browser {
        return Err(SecretInBrowser);
    }
    Ok(())
}

/// 401 `{"message":"Forbidden use of secret API key in browser"}`, readable
/// by the page (CORS).
pub fn refusal() -> super::super::edge::Response {
    let body = Full::new(Bytes::from_static(BROWSER_REFUSED.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() = hyper::StatusCode::UNAUTHORIZED;
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        http::HeaderValue::from_static("*"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    fn keys() -> ApiKeys {
        ApiKeys::new("sb_publishable_x", "sb_secret_y", SECRET, false)
    }

    #[test]
    fn new_keys_become_their_jwts() {
        let (anon, service) = crate::keys::api_keys(SECRET, false).unwrap();
        let mut req = http::Request::builder()
            .uri("/realtime/v1/websocket?apikey=sb_publishable_x&vsn=1.0.0")
            .header("apikey", "sb_publishable_x")
            .header("authorization", "Bearer sb_secret_y")
            .body(())
            .unwrap();
        substitute(&keys(), &mut req).unwrap();
        assert_eq!(req.headers()["apikey"], anon.as_str());
        assert_eq!(
            req.headers()["authorization"],
            format!("Bearer {service}").as_str()
        );
        assert_eq!(
            req.uri().to_string(),
            format!("/realtime/v1/websocket?apikey={anon}&vsn=1.0.0")
        );
        // Anything else is left alone.
        let mut req = http::Request::builder()
            .uri("/rest/v1/t?apikey=other")
            .header("apikey", "eyJ.legacy")
            .body(())
            .unwrap();
        substitute(&keys(), &mut req).unwrap();
        assert_eq!(req.headers()["apikey"], "eyJ.legacy");
        assert_eq!(req.uri().to_string(), "/rest/v1/t?apikey=other");
    }

    #[test]
    fn the_secret_key_from_a_browser_is_refused() {
        let mut req = http::Request::builder()
            .header("apikey", "sb_secret_y")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
            .body(())
            .unwrap();
        assert_eq!(substitute(&keys(), &mut req), Err(SecretInBrowser));
        let mut req = http::Request::builder()
            .header("apikey", "sb_publishable_x")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
            .body(())
            .unwrap();
        assert_eq!(substitute(&keys(), &mut req), Ok(()));
    }
}
