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

/// Parsec's position after reading `before`: lines from 1, columns from 1,
/// a tab to the next multiple of 8 (plus one).
fn parsec_position(before: &str) -> (usize, usize) {
    before.chars().fold((1, 1), |(line, col), c| match c {
        '\n' => (line + 1, 1),
        '\t' => (line, col + 8 - (col - 1) % 8),
        _ => (line, col + 1),
    })
}

/// A string (`quote` '"') or a character (`quote` '\'') as Haskell's `show`
/// writes it, which PostgREST's parse errors carry: `\"`, `\\`, control
/// characters by their ASCII names, the rest beyond ASCII as decimal codes.
pub fn haskell_show(s: &str, quote: char) -> String {
    const NAMES: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "a", "b", "t", "n", "v", "f", "r", "SO",
        "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
        "FS", "GS", "RS", "US",
    ];
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 32 => {
                out.push('\\');
                out.push_str(NAMES[c as usize]);
                // `\SO` then `H` would read as `\SOH`.
                if c == '\u{e}' && chars.peek() == Some(&'H') {
                    out.push_str("\\&");
                }
            }
            '\u{7f}' => out.push_str("\\DEL"),
            c if (c as u32) > 127 => {
                out.push_str(&format!("\\{}", c as u32));
                // A digit right after a numeric escape would extend it.
                if chars.peek().is_some_and(|n| n.is_ascii_digit()) {
                    out.push_str("\\&");
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

impl ApiError {
    /// PGRST108: a filter, order or limit names a resource the select
    /// does not embed.
    pub fn not_embedded(rel: &str) -> Self {
        ApiError::new(
            400,
            "PGRST108",
            format!("'{rel}' is not an embedded resource in this request"),
        )
        .hint(format!(
            "Verify that '{rel}' is included in the 'select' query parameter."
        ))
    }

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

    /// PGRST100 as PostgREST's Parsec parsers word it: the message is the
    /// parse's source name as Haskell shows it and the position of the
    /// error in `input` (`"failed to parse order (x)" (line 1, column 3)`);
    /// `at` is a byte offset into `input`.
    pub fn parse_at(name: &str, input: &str, at: usize, details: impl Into<String>) -> Self {
        let (line, column) = parsec_position(&input[..at.min(input.len())]);
        ApiError::parse(
            format!("{} (line {line}, column {column})", haskell_show(name, '"')),
            details,
        )
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
        if code == "PGRST" {
            return raised(message, detail);
        }
        // Checks the statement itself makes (see `plan`) fail a cast of
        // 'PGRST1xx:<n>' to bigint, which carries the row count.
        if code == "22P02" {
            let marked = |marker: &str| {
                message
                    .split(&format!("\"{marker}:"))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
            };
            // handling=strict, max-affected.
            if let Some(n) = marked("PGRST124") {
                return ApiError::new(
                    400,
                    "PGRST124",
                    "Query result exceeds max-affected preference constraint",
                )
                .details(format!("The query affects {n} rows"));
            }
            // handling=strict, a time zone the database does not know.
            if let Some(tz) = marked("PGRST122") {
                return ApiError::new(
                    400,
                    "PGRST122",
                    "Invalid preferences given with handling=strict",
                )
                .details(format!("Invalid preferences: timezone={tz}"));
            }
            // A write or a function's rows asked for as one object.
            if let Some(n) = marked("PGRST116") {
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

/// `RAISE SQLSTATE 'PGRST' USING MESSAGE = '{"code", "message", "details",
/// "hint"}', DETAIL = '{"status", "headers", "status_text"}'`: the response
/// the function asked for, or PGRST121 when either is not that shape.
fn raised(message: &str, detail: Option<&str>) -> ApiError {
    use serde_json::Value;
    let parse_error = |details: String, hint: &str| {
        ApiError::new(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        )
        .details(details)
        .hint(hint)
    };
    const MESSAGE_HINT: &str = "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.";
    const DETAIL_HINT: &str = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    let text = |v: Option<&Value>| -> Result<Option<String>, ()> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(()),
        }
    };
    let body = serde_json::from_str::<Value>(message).ok().and_then(|m| {
        let code = m.get("code")?.as_str()?.to_string();
        let msg = m.get("message")?.as_str()?.to_string();
        let details = text(m.get("details")).ok()?;
        let hint = text(m.get("hint")).ok()?;
        Some((code, msg, details, hint))
    });
    let Some((code, msg, details, hint)) = body else {
        return parse_error(
            format!("Invalid JSON value for MESSAGE: '{message}'"),
            MESSAGE_HINT,
        );
    };
    let Some(detail) = detail else {
        return parse_error(
            "DETAIL is missing in the RAISE statement".into(),
            DETAIL_HINT,
        );
    };
    let response = serde_json::from_str::<Value>(detail).ok().and_then(|d| {
        let status = u16::try_from(d.get("status")?.as_u64()?).ok()?;
        let headers: Vec<(String, String)> = d
            .get("headers")?
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_string())))
            .collect::<Option<_>>()?;
        (100..600).contains(&status).then_some((status, headers))
    });
    let Some((status, headers)) = response else {
        return parse_error(
            format!("Invalid JSON value for DETAIL: '{detail}'"),
            DETAIL_HINT,
        );
    };
    ApiError {
        status,
        code,
        message: msg,
        details: details.map(Value::String),
        hint,
        headers,
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
    use super::{haskell_show, parsec_position};

    #[test]
    fn shown_as_haskell_shows_strings_and_chars() {
        assert_eq!(haskell_show("a\"b\\c", '"'), r#""a\"b\\c""#);
        assert_eq!(haskell_show("é1", '"'), r#""\233\&1""#);
        assert_eq!(haskell_show("\u{1}\n\u{7f}", '"'), r#""\SOH\n\DEL""#);
        assert_eq!(haskell_show("\u{e}H", '"'), r#""\SO\&H""#);
        assert_eq!(haskell_show("'", '\''), r#"'\''"#);
        assert_eq!(haskell_show("\"", '\''), r#"'"'"#);
        assert_eq!(parsec_position("ab"), (1, 3));
        assert_eq!(parsec_position("a\t"), (1, 9));
        assert_eq!(parsec_position("a\nb"), (2, 2));
    }

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
    fn raise_sqlstate_pgrst() {
        let e = ApiError::from_db(
            "PGRST",
            r#"{"code":"123","message":"ABC","details":"DEF"}"#,
            Some(r#"{"status":418,"headers":{"X-Tea":"green"}}"#),
            None,
            false,
        );
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (418, "123", "ABC")
        );
        assert_eq!(e.headers, vec![("x-tea".to_string(), "green".to_string())]);
        let bad = ApiError::from_db(
            "PGRST",
            "INVALID",
            Some(r#"{"status":418,"headers":{}}"#),
            None,
            false,
        );
        assert_eq!((bad.status, bad.code.as_str()), (500, "PGRST121"));
        assert_eq!(
            bad.details.unwrap(),
            "Invalid JSON value for MESSAGE: 'INVALID'"
        );
        // DETAIL needs both status and headers, as PostgREST.
        let no_headers = ApiError::from_db(
            "PGRST",
            r#"{"code":"1","message":"m"}"#,
            Some(r#"{"status":418}"#),
            None,
            false,
        );
        assert_eq!(no_headers.code, "PGRST121");
        let missing =
            ApiError::from_db("PGRST", r#"{"code":"1","message":"m"}"#, None, None, false);
        assert_eq!(
            missing.details.unwrap(),
            "DETAIL is missing in the RAISE statement"
        );
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
