//! PostgREST's error format (`{code, details, hint, message}`) and its
//! SQLSTATE -> HTTP status mapping.

use serde_json::json;

/// An error answered to the client, in PostgREST's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// A string, or structured JSON (PGRST201 lists the candidates).
    pub details: Option<serde_json::Value>,
    pub hint: Option<String>,
    /// Extra response headers (e.g. `WWW-Authenticate` for 401).
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: None,
            hint: None,
            headers: Vec::new(),
        }
    }

    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(serde_json::Value::String(details.into()));
        self
    }

    pub fn details_json(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// PGRST100: the query string could not be parsed.
    pub fn parse(message: impl Into<String>, details: impl Into<String>) -> Self {
        ApiError::new(400, "PGRST100", message).details(details)
    }

    /// PGRST102: the request body is not what the operation needs.
    pub fn body(message: impl Into<String>) -> Self {
        ApiError::new(400, "PGRST102", message)
    }

    /// The JSON body, keys in PostgREST's order.
    pub fn to_json(&self) -> Vec<u8> {
        json!({
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        })
        .to_string()
        .into_bytes()
    }

    /// Maps a PostgreSQL error to PostgREST's response. `anonymous` tells
    /// whether the request ran without a token (42501 is then 401, not 403).
    pub fn from_db(
        code: &str,
        message: &str,
        detail: Option<&str>,
        hint: Option<&str>,
        anonymous: bool,
    ) -> Self {
        // handling=strict, max-affected: see `plan` (a failed cast carries the count).
        if code == "22P02" {
            if let Some(n) = message
                .split("\"PGRST124:")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                return ApiError::new(
                    400,
                    "PGRST124",
                    "Query result exceeds max-affected preference constraint",
                )
                .details(format!("The query affects {n} rows"));
            }
        }
        if code == "22P02" {
            if let Some(n) = message
                .split("\"PGRST116:")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                return ApiError::new(
                    406,
                    "PGRST116",
                    "Cannot coerce the result to a single JSON object",
                )
                .details(format!("The result contains {n} rows"));
            }
        }
        let status = sqlstate_status(code, message, anonymous);
        let mut err = ApiError {
            status,
            code: code.to_string(),
            message: message.to_string(),
            details: detail.map(|d| serde_json::Value::String(d.to_string())),
            hint: hint.map(str::to_string),
            headers: Vec::new(),
        };
        if status == 401 {
            err.headers
                .push(("www-authenticate".into(), "Bearer".into()));
        }
        if status == 503 {
            // The database is unavailable for a moment (restarting, shutting
            // down, out of connections): the request may be retried.
            err.headers.push(("retry-after".into(), "1".into()));
        }
        err
    }
}

/// PostgREST's SQLSTATE -> HTTP status table (src/PostgREST/Error.hs).
pub fn sqlstate_status(code: &str, message: &str, anonymous: bool) -> u16 {
    let b = code.as_bytes();
    let prefix = |p: &str| code.starts_with(p);
    match code {
        "23503" | "23505" => return 409,
        "25006" => return 405,
        "21000" => {
            return if message.ends_with("requires a WHERE clause") {
                400
            } else {
                500
            };
        }
        "53400" => return 500,
        "57P01" => return 503,
        "P0001" => return 400,
        "42883" => return 404,
        "42P01" => return 404,
        "42P17" => return 500,
        "42501" => return if anonymous { 401 } else { 403 },
        _ => {}
    }
    if prefix("08") || prefix("53") {
        return 503;
    }
    if prefix("0L") || prefix("0P") || prefix("28") {
        return 403;
    }
    if prefix("PT") && b.len() == 5 {
        return code[2..]
            .parse::<u16>()
            .ok()
            .filter(|s| (100..600).contains(s))
            .unwrap_or(500);
    }
    for p in [
        "09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "P0", "XX",
    ] {
        if prefix(p) {
            return 500;
        }
    }
    400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping() {
        assert_eq!(sqlstate_status("23505", "", false), 409);
        assert_eq!(sqlstate_status("42501", "", true), 401);
        assert_eq!(sqlstate_status("42501", "", false), 403);
        assert_eq!(sqlstate_status("42P01", "", false), 404);
        assert_eq!(sqlstate_status("P0001", "", false), 400);
        assert_eq!(sqlstate_status("PT418", "", false), 418);
        assert_eq!(sqlstate_status("XX000", "", false), 500);
        assert_eq!(sqlstate_status("22P02", "", false), 400);
        assert_eq!(sqlstate_status("08006", "", false), 503);
    }

    #[test]
    fn body_shape() {
        let e = ApiError::parse("failed to parse filter (eqx.1)", "unknown operator");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["code"], "PGRST100");
        assert_eq!(v["hint"], serde_json::Value::Null);
        assert_eq!(v["details"], "unknown operator");
    }
}
