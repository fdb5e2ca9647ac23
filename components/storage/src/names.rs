//! Bucket names and object keys: percent-decoding of the URL's segments and
//! Storage's validity rules (`isValidKey`, `isValidBucketName`), plus what no
//! blob store may be handed: `.` and `..` segments (Storage's file backend
//! refuses them too), NUL, backslashes and over-long names.

use crate::error::{Result, StorageError};

/// Storage's key characters: S3's safe ones and a few that need care.
fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/!.*'() &$=@;:+,?-".contains(c)
}

/// The longest object name (S3's key limit is 1024 bytes).
pub const MAX_KEY_BYTES: usize = 1024;

/// Decodes `%XX` escapes (UTF-8); `None` when an escape is broken or the
/// bytes are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let h = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Storage's `isValidKey`, and no segment a path could climb with.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key.chars().all(key_char)
        && !key.split('/').any(|s| s == "." || s == "..")
}

/// Storage's `mustBeValidKey`.
pub fn check_key(key: &str) -> Result<()> {
    if is_valid_key(key) {
        Ok(())
    } else {
        Err(StorageError::invalid_key(key))
    }
}

/// Storage's `isValidBucketName`: 1 to 100 characters of the key set, no
/// `/`; and not `.` or `..` (a bucket is a directory of the file store).
pub fn is_valid_bucket_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 101
        && name.chars().all(|c| c != '/' && key_char(c))
        && name != "."
        && name != ".."
}

pub fn check_bucket(name: &str) -> Result<()> {
    if is_valid_bucket_name(name) {
        Ok(())
    } else {
        Err(StorageError::invalid_bucket_name())
    }
}

/// Storage's placeholder for an empty folder (uploads of it may be empty only).
pub fn is_empty_folder(name: &str) -> bool {
    name.ends_with(".emptyFolderPlaceholder")
}

/// The blob store key of one version of an object: `name/version`, as
/// Storage lays out its backends.
pub fn blob_key(name: &str, version: &str) -> String {
    format!("{name}/{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_leave_the_bucket_are_invalid() {
        for bad in [
            "",
            "../etc/passwd",
            "a/../../b",
            "./a",
            "a/.",
            "..",
            "a\0b",
            "a\\b",
            "/abs%",
            "a%2e",
            "ünïcode",
            "a\nb",
            "<script>",
        ] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
        assert!(!is_valid_key(&"a".repeat(1025)));
        for good in [
            "a.png",
            "folder/sub/cat.png",
            "user-1/avatar (1).png",
            "a..b",
            ".hidden",
            "x/.emptyFolderPlaceholder",
            "/leading",
            "q?x=1&y=$",
        ] {
            assert!(is_valid_key(good), "{good:?}");
        }
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%2e%2e/x").as_deref(), Some("../x"));
        assert!(!is_valid_key(&percent_decode("%2e%2e/x").unwrap()));
        assert_eq!(percent_decode("%252e").as_deref(), Some("%2e"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%e"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
    }

    #[test]
    fn bucket_names() {
        for good in ["avatars", "my bucket", "a.b_c-d", "x!*'()"] {
            assert!(is_valid_bucket_name(good), "{good}");
        }
        for bad in ["", "a/b", "..", ".", "ä", &"b".repeat(101), "a\0"] {
            assert!(!is_valid_bucket_name(bad), "{bad:?}");
        }
    }
}
