//! Request bodies: form and CSV bodies as the JSON PostgREST makes of
//! them, and a write's payload checked (PGRST102) with its columns.

use super::Request;
use crate::error::ApiError;
use serde_json::Value;

/// `application/x-www-form-urlencoded` (one object; a repeated key gives an
/// array of its values for a function's arguments, its last value for a
/// table's row, as PostgREST) and `text/csv` (a header line, then one object
/// per line; an empty field is null) bodies as JSON text; `None` for any
/// other body.
pub(crate) fn body_as_json(req: &Request, rpc: bool) -> Result<Option<Vec<u8>>, ApiError> {
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
