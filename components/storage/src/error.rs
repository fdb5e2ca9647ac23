//! Supabase Storage's errors: a body `{statusCode, code, error, message}`
//! (`statusCode` a string) and, as Storage's error handler answers, HTTP 400
//! for most of them whatever their `statusCode` says (500 stays 500; a few
//! set their own status: 416 for a bad range, 403 for a role check, 413 for
//! a body over the JSON limit, 404 for an unknown route).

use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// The HTTP status of the answer.
    pub http: u16,
    /// `statusCode` in the body.
    pub status: u16,
    /// `code`: `NoSuchBucket`, `InvalidKey`, ...
    pub code: &'static str,
    /// `error`: the older, human field (the code when Storage has none).
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

/// The HTTP status Storage answers a `StorageBackendError` with: 500 for a
/// 500, else 400 (its `userStatusCode`).
fn user_status(status: u16) -> u16 {
    if status == 500 {
        500
    } else {
        400
    }
}

impl StorageError {
    /// An error with `error` = its code (Storage's default).
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> StorageError {
        StorageError {
            http: user_status(status),
            status,
            code,
            error: code.to_string(),
            message: message.into(),
        }
    }

    /// With an `error` text of its own.
    pub fn with_error(mut self, error: &str) -> StorageError {
        self.error = error.to_string();
        self
    }

    /// Answered with this HTTP status instead.
    pub fn with_http(mut self, http: u16) -> StorageError {
        self.http = http;
        self
    }

    pub fn body(&self) -> Vec<u8> {
        json!({
            "statusCode": self.status.to_string(),
            "code": self.code,
            "error": self.error,
            "message": self.message,
        })
        .to_string()
        .into_bytes()
    }

    // Storage's ERRORS, by its names.

    pub fn no_such_bucket() -> StorageError {
        StorageError::new(404, "NoSuchBucket", "Bucket not found").with_error("Bucket not found")
    }
    pub fn no_such_key() -> StorageError {
        StorageError::new(404, "NoSuchKey", "Object not found").with_error("not_found")
    }
    /// What the asset renderer answers when the bytes are missing.
    pub fn not_found_asset() -> StorageError {
        StorageError::new(404, "NoSuchKey", "The resource was not found").with_error("Not found")
    }
    pub fn invalid_key(key: &str) -> StorageError {
        StorageError::new(400, "InvalidKey", format!("Invalid key: {key}"))
    }
    pub fn invalid_bucket_name() -> StorageError {
        StorageError::new(400, "InvalidBucketName", "Bucket name invalid").with_error("Invalid Input")
    }
    pub fn access_denied(message: &str) -> StorageError {
        StorageError::new(403, "AccessDenied", message).with_error("Unauthorized")
    }
    pub fn invalid_jwt(message: &str) -> StorageError {
        StorageError::new(400, "InvalidJWT", message)
    }
    pub fn invalid_signature(message: &str) -> StorageError {
        StorageError::new(400, "InvalidSignature", message)
    }
    pub fn expired_signature() -> StorageError {
        StorageError::new(400, "ExpiredToken", "The provided token has expired.")
    }
    pub fn resource_exists() -> StorageError {
        StorageError::new(409, "ResourceAlreadyExists", "The resource already exists")
            .with_error("Duplicate")
    }
    pub fn key_exists() -> StorageError {
        StorageError::new(409, "KeyAlreadyExists", "The resource already exists")
            .with_error("Duplicate")
    }
    pub fn bucket_exists() -> StorageError {
        StorageError::new(409, "BucketAlreadyExists", "The resource already exists")
            .with_error("Duplicate")
    }
    pub fn bucket_not_empty() -> StorageError {
        StorageError::new(409, "ResourceNotEmpty", "The bucket you tried to delete is not empty")
    }
    pub fn entity_too_large(entity: &str) -> StorageError {
        StorageError::new(
            413,
            "EntityTooLarge",
            format!("The {entity} exceeded the maximum allowed size"),
        )
        .with_error("Payload too large")
    }
    pub fn invalid_mime_type(mime: &str) -> StorageError {
        StorageError::new(415, "InvalidMimeType", format!("mime type {mime} is not supported"))
            .with_error("invalid_mime_type")
    }
    pub fn invalid_range() -> StorageError {
        StorageError::new(416, "InvalidRange", "invalid range provided")
            .with_error("invalid_range")
            .with_http(416)
    }
    pub fn invalid_request(message: &str) -> StorageError {
        StorageError::new(400, "InvalidRequest", message)
    }
    pub fn invalid_parameter(name: &str) -> StorageError {
        StorageError::new(400, "InvalidParameter", format!("Invalid Parameter {name}"))
    }
    pub fn no_content() -> StorageError {
        StorageError::new(400, "InvalidRequest", "No content provided")
    }
    pub fn invalid_file_size_limit() -> StorageError {
        StorageError::new(
            400,
            "InvalidRequest",
            "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B",
        )
    }
    pub fn related_not_found() -> StorageError {
        StorageError::new(404, "InvalidRequest", "The related resource does not exist")
    }
    pub fn internal(message: &str) -> StorageError {
        StorageError::new(500, "InternalError", message)
    }
    /// A request the schema check refuses (fastify's validation errors:
    /// `statusCode` 400, HTTP 400).
    pub fn validation(message: impl Into<String>) -> StorageError {
        StorageError::new(400, "InvalidRequest", message).with_error("Bad Request")
    }
    /// A JSON body over the body limit (fastify's, answered with 413).
    pub fn body_too_large() -> StorageError {
        StorageError::new(413, "EntityTooLarge", "Request body is too large")
            .with_error("Payload Too Large")
            .with_http(413)
    }
    /// An unknown route, as Storage's not-found handler answers it.
    pub fn route_not_found(method: &str, url: &str) -> StorageError {
        StorageError::new(404, "InvalidRequest", format!("Route {method}:{url} not found"))
            .with_error("Not Found")
            .with_http(404)
    }

    /// A database error as Storage maps PostgreSQL's SQLSTATEs.
    pub fn from_db(code: &str, message: &str) -> StorageError {
        match code {
            "42501" => StorageError::access_denied(if message.contains("row-level security") {
                "new row violates row-level security policy"
            } else {
                message
            }),
            "23505" => StorageError::resource_exists(),
            "23503" => StorageError::related_not_found(),
            "55P03" => StorageError::new(423, "ResourceLocked", "The resource is locked"),
            "57014" => StorageError::new(
                544,
                "DatabaseTimeout",
                "The connection to the database timed out",
            )
            .with_http(544),
            "25006" => StorageError::new(
                503,
                "DatabaseReadOnly",
                "The database is currently in read-only mode. Please try again later.",
            ),
            "22P02" => StorageError::new(
                400,
                "InvalidParameter",
                if message.is_empty() {
                    "Invalid value format or type conversion failed"
                } else {
                    message
                },
            ),
            "42703" | "42P01" => StorageError::new(
                503,
                "DatabaseSchemaMismatch",
                "The database schema is out of sync. Please run migrations or contact support.",
            ),
            _ => StorageError::new(500, "DatabaseError", format!("database error, code: {code}")),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_answers_most_errors_with_400_and_says_the_real_status_in_the_body() {
        let e = StorageError::no_such_bucket();
        assert_eq!(e.http, 400);
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            body,
            json!({"statusCode": "404", "code": "NoSuchBucket", "error": "Bucket not found", "message": "Bucket not found"})
        );
        assert_eq!(StorageError::internal("x").http, 500);
        assert_eq!(StorageError::invalid_range().http, 416);
        let denied = StorageError::from_db("42501", "new row violates row-level security policy for table \"objects\"");
        assert_eq!((denied.code, denied.message.as_str(), denied.error.as_str()),
            ("AccessDenied", "new row violates row-level security policy", "Unauthorized"));
        assert_eq!(StorageError::from_db("23505", "dup").code, "ResourceAlreadyExists");
        assert_eq!(StorageError::from_db("XX000", "boom").http, 500);
    }
}
