//! TOTP factors as GoTrue makes them (pquerna/otp's defaults, which
//! `internal/api/mfa.go` uses): a 20-byte random secret, base32 without
//! padding; SHA-1, 6 digits, 30 s steps, a code of the step before or after
//! accepted too; the `otpauth://` URI of the key and its QR code as SVG.
//! The code itself is totp-rs's; the QR code qrcode's.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use totp_rs::{Algorithm, Secret, TOTP};

/// pquerna/otp's `SecretSize`.
const SECRET_BYTES: usize = 20;
const PERIOD: u64 = 30;
const DIGITS: usize = 6;
/// Steps before and after the current one also accepted (`Skew: 1`).
const SKEW: u8 = 1;

/// A new secret, base32 as GoTrue stores and returns it.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(Secret::Raw(bytes.to_vec()).to_encoded().to_string())
}

fn totp(secret: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, DIGITS, SKEW, PERIOD, bytes).ok()
}

/// Whether `code` is the secret's code at `unix` seconds (or one step
/// off). Surrounding white space is ignored, as pquerna/otp ignores it.
pub fn check(secret: &str, code: &str, unix: u64) -> bool {
    let code = code.trim();
    code.len() == DIGITS && totp(secret).is_some_and(|t| t.check(code, unix))
}

/// The code at `unix` seconds (tests).
pub fn code_at(secret: &str, unix: u64) -> Option<String> {
    totp(secret).map(|t| t.generate(unix))
}

/// Go's `url.URL` path escaping (`encodePath`): unreserved characters and
/// `$&+,/:;=@` stay; `segment` (`url.PathEscape`) escapes `/ ; ,` too.
fn escape(s: &str, segment: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || b"-_.~".contains(&b)
            || (b"$&+:=@".contains(&b))
            || (!segment && b"/;,".contains(&b));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The key's URI as pquerna/otp's `Key.URL()`: `otpauth://totp/` the
/// issuer `:` the account, the parameters sorted by name (pquerna's
/// `EncodeQuery` escapes values as path segments).
pub fn uri(issuer: &str, account: &str, secret: &str) -> String {
    format!(
        "otpauth://totp/{}?algorithm=SHA1&digits={DIGITS}&issuer={}&period={PERIOD}&secret={}",
        escape(&format!("{issuer}:{account}"), false),
        escape(issuer, true),
        escape(secret, true)
    )
}

/// The QR code of `text` as an SVG document (error correction H and three
/// pixels a module, as GoTrue's). Named colours: supabase-js puts it in a
/// `data:image/svg+xml;utf-8,` URI unescaped, where a `#` would end it.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::H).ok()?;
    Some(
        code.render::<svg::Color>()
            .module_dimensions(3, 3)
            .dark_color(svg::Color("black"))
            .light_color(svg::Color("white"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B: the 20-byte ASCII secret "12345678901234567890"
        // (base32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ), last 6 of 8 digits.
        let s = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        for (t, code) in [(59u64, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"), (2000000000, "279037")] {
            assert_eq!(code_at(s, t).unwrap(), code, "t={t}");
            assert!(check(s, code, t));
        }
    }

    #[test]
    fn skew_of_one_step() {
        let s = new_secret().unwrap();
        assert_eq!(s.len(), 32);
        assert!(s.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        let t = 1_800_000_015;
        let now = code_at(&s, t).unwrap();
        let before = code_at(&s, t - 30).unwrap();
        let after = code_at(&s, t + 30).unwrap();
        let far = code_at(&s, t + 60).unwrap();
        assert!(check(&s, &now, t) && check(&s, &before, t) && check(&s, &after, t));
        assert!(check(&s, &format!(" {now} "), t));
        if far != now && far != before && far != after {
            assert!(!check(&s, &far, t));
        }
        assert!(!check(&s, "", t));
        assert!(!check(&s, "12345", t));
        assert!(!check(&s, &format!("{now}0"), t));
        assert!(!check("not base32!", "123456", t));
        assert!(!check("", "123456", t));
        assert_ne!(new_secret().unwrap(), s);
    }

    #[test]
    fn uri_and_qr_code() {
        let u = uri("localhost:3000", "a.b+c@example.com", "JBSWY3DPEHPK3PXP");
        assert_eq!(
            u,
            "otpauth://totp/localhost:3000:a.b+c@example.com?algorithm=SHA1&digits=6&issuer=localhost:3000&period=30&secret=JBSWY3DPEHPK3PXP"
        );
        assert_eq!(
            uri("My App", "x@y.z", "S"),
            "otpauth://totp/My%20App:x@y.z?algorithm=SHA1&digits=6&issuer=My%20App&period=30&secret=S"
        );
        assert_eq!(escape("a/b;c", true), "a%2Fb%3Bc");
        let svg = qr_svg(&u).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains('#'), "{svg}");
    }
}
