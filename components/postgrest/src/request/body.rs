//! Request bodies: form and CSV bodies as the JSON PostgREST makes of
//! them, and a write's payload checked (PGRST102) with its columns.

use super::Request;
use crate::error::ApiError;
use serde_json::Value;

/// `application/x-www-form-urlencoded` (one object; a repeated key gives an
/// array of its values for a function's arguments, its last value for a
/// table's row, as PostgREST) and `text/csv` (a header line, then one object
/// per line; an empty field is null) bodies as JSON text; `None` for any
/// other body. Past `max_elements` JSON values (`0` = no cap) it stops
/// with 413 before building more of them.
pub(crate) fn body_as_json(
    req: &Request,
    rpc: bool,
    max_elements: usize,
) -> Result<Option<Vec<u8>>, ApiError> {
    let mut values = 1usize;
    let mut count = |n: usize| {
        values = values.saturating_add(n);
        if max_elements > 0 && values > max_elements {
            Err(too_many_values(max_elements))
        } else {
            Ok(())
        }
    };
    let ctype = req.header("content-type").map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match ctype.as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let mut object = serde_json::Map::new();
            for (k, v) in form_urlencoded::parse(req.body) {
                count(1)?;
                let v = Value::String(v.into_owned());
                match object.get_mut(k.as_ref()) {
                    Some(last) if !rpc => *last = v,
                    Some(Value::Array(items)) => items.push(v),
                    Some(first) => *first = Value::Array(vec![first.take(), v]),
                    None => {
                        object.insert(k.into_owned(), v);
                    }
                }
            }
            Ok(Some(Value::Object(object).to_string().into_bytes()))
        }
        Some("text/csv") => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(req.body);
            let bad = |e: csv::Error| {
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { .. } => {
                        "All lines must have same number of fields"
                    }
                    _ => "Empty or invalid CSV",
                };
                ApiError::body(message)
            };
            let names: Vec<String> = reader
                .headers()
                .map_err(bad)?
                .iter()
                .map(String::from)
                .collect();
            let mut rows = Vec::new();
            for record in reader.records() {
                let record = record.map_err(bad)?;
                count(1 + names.len())?;
                let row: serde_json::Map<String, Value> = names
                    .iter()
                    .zip(record.iter())
                    .map(|(k, v)| {
                        // Empty and `NULL` fields are null, as PostgREST reads CSV.
                        let v = if v.is_empty() || v == "NULL" {
                            Value::Null
                        } else {
                            Value::String(v.into())
                        };
                        (k.clone(), v)
                    })
                    .collect();
                rows.push(Value::Object(row));
            }
            Ok(Some(Value::Array(rows).to_string().into_bytes()))
        }
        _ => Ok(None),
    }
}

/// Validates a write payload. Returns the target columns and the payload as
/// JSON text (an array for inserts, an object for updates).
pub(crate) fn payload_columns(
    body: &[u8],
    columns: Option<&[String]>,
    many: bool,
) -> Result<(Vec<String>, String), ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::body("Empty or invalid json"))?;
    let rows: Vec<&serde_json::Map<String, Value>> = match &value {
        Value::Object(o) => vec![o],
        Value::Array(items) if many => items
            .iter()
            .map(|v| {
                v.as_object()
                    .ok_or_else(|| ApiError::body("All object keys must match"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::body("Empty or invalid json")),
    };
    let cols: Vec<String> = match columns {
        Some(c) => c.to_vec(),
        None => {
            let first: Vec<String> = rows
                .first()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            for r in &rows {
                if r.len() != first.len() || !first.iter().all(|k| r.contains_key(k)) {
                    return Err(ApiError::body("All object keys must match"));
                }
            }
            first
        }
    };
    let payload = match value {
        Value::Object(_) if many => Value::Array(vec![value]),
        v => v,
    };
    Ok((cols, payload.to_string()))
}

/// Checks a JSON body's size in values and its nesting before anything
/// parses it: one pass over the bytes, nothing allocated. Values are
/// counted as `1 + commas + opening brackets` outside strings (an upper
/// bound on the scalars, arrays and objects a valid document holds; keys
/// are not counted apart from their values). More than `max_elements`
/// (`0` = no cap): 413 `PGRST413`; deeper than `max_depth`: 400 `PGRST102`.
/// An invalid document passes here and fails its parse later as before.
pub(crate) fn check_json_shape(
    body: &[u8],
    max_elements: usize,
    max_depth: usize,
) -> Result<(), ApiError> {
    let (mut in_string, mut escaped) = (false, false);
    let (mut depth, mut values) = (0usize, 1usize);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                values += 1;
                if depth > max_depth {
                    return Err(ApiError::body("Empty or invalid json").details(format!(
                        "the body nests arrays and objects more than {max_depth} deep; at most {max_depth} levels are allowed (max-body-depth)"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => values += 1,
            _ => continue,
        }
        if max_elements > 0 && values > max_elements {
            return Err(too_many_values(max_elements));
        }
    }
    Ok(())
}

/// 413 `PGRST413`: more values in the body than `max-body-elements`.
fn too_many_values(max_elements: usize) -> ApiError {
    ApiError::new(413, "PGRST413", "Payload Too Large")
        .details(format!(
            "the body holds more than {max_elements} JSON values; at most {max_elements} are allowed (max-body-elements)"
        ))
        .hint("Send the rows in several requests")
}

#[cfg(test)]
mod shape_tests {
    use super::check_json_shape;

    #[test]
    fn values_are_counted_outside_strings() {
        assert!(check_json_shape(br#"[1,2,3]"#, 4, 10).is_ok());
        let e = check_json_shape(br#"[1,2,3,4]"#, 4, 10).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (413, "PGRST413"));
        // Commas and brackets in strings (escaped quotes too) are text.
        assert!(check_json_shape(br#"{"a":"x,y,[z],\",,,"}"#, 3, 1).is_ok());
        assert!(check_json_shape(br#"[{"a":1,"b":2},{"a":3,"b":4}]"#, 7, 2).is_ok());
        assert!(check_json_shape(br#"[{"a":1,"b":2},{"a":3,"b":4}]"#, 6, 2).is_err());
        // 0: no cap on values.
        assert!(check_json_shape("[1,".repeat(1000).as_bytes(), 0, 2000).is_ok());
    }

    #[test]
    fn nesting_past_the_depth_is_a_400() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_json_shape(deep(100).as_bytes(), 0, 100).is_ok());
        let e = check_json_shape(deep(101).as_bytes(), 0, 100).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST102"));
        assert!(check_json_shape(br#""[[[[[[""#, 0, 1).is_ok());
    }
}
