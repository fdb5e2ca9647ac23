//! Plain helpers of the e-mail flows: one-time codes and their hashes (as
//! GoTrue's `crypto.GenerateOtp` / `GenerateTokenHash`), query strings, and
//! which `redirect_to` URLs are allowed (GoTrue's `IsRedirectURLValid`).

use sha2::{Digest, Sha224};

/// `digits` random decimal digits.
pub fn otp(digits: usize) -> String {
    let mut out = String::with_capacity(digits);
    while out.len() < digits {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).expect("random bytes");
        // 250 = 25 * 10: no bias.
        for x in b.iter().filter(|x| **x < 250) {
            if out.len() < digits {
                out.push(char::from(b'0' + x % 10));
            }
        }
    }
    out
}

/// GoTrue's token hash: hex SHA-224 of the address and the code.
pub fn token_hash(email: &str, otp: &str) -> String {
    hex::encode(Sha224::digest(format!("{email}{otp}").as_bytes()))
}

/// Go's `url.QueryEscape`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-decoding (`+` is a space, as in a form).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| char::from(c).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The (decoded) value of `key` in a query string.
pub fn param(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .map(unescape)
}

/// `application/x-www-form-urlencoded` of pairs, keys sorted (Go's
/// `url.Values.Encode`).
pub fn form(pairs: &[(&str, String)]) -> String {
    let mut p: Vec<&(&str, String)> = pairs.iter().collect();
    p.sort_by(|a, b| a.0.cmp(b.0));
    p.iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// GoTrue's `encodeRedirectURL`: escaped only when it holds `&`, `=` or `#`.
/// `url` with each of `pairs` set in its query (replacing a parameter of
/// that name), its fragment kept (Go's `u.Query().Set` + `u.String()`).
pub fn with_query(url: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return url.to_string();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (path, query) = base.split_once('?').unwrap_or((base, ""));
    let mut kept: Vec<String> = query
        .split('&')
        .filter(|kv| {
            let name = unescape(kv.split('=').next().unwrap_or(""));
            !kv.is_empty() && !pairs.iter().any(|(k, _)| *k == name)
        })
        .map(str::to_string)
        .collect();
    kept.extend(pairs.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))));
    let mut out = format!("{path}?{}", kept.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

pub fn redirect_param(url: &str) -> String {
    if url.contains(['&', '=', '#']) {
        escape(url)
    } else {
        url.to_string()
    }
}

/// The parts of an absolute URL the redirect check compares.
#[derive(Debug, PartialEq)]
struct Parts<'a> {
    scheme: String,
    host: &'a str,
    port: &'a str,
}

fn parts(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':').unwrap_or(""))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, p),
            Some(_) => return None,
            None => (hostport, ""),
        }
    };
    Some(Parts {
        scheme: scheme.to_ascii_lowercase(),
        host,
        port,
    })
}

fn is_localhost(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "::1"
}

fn loopback(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// gobwas/glob with `.` and `/` as separators (GoTrue's `URI_ALLOW_LIST`):
/// `**` any text, `*` any text without a separator, `?` one character
/// that is not one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let sep = |c: char| c == '.' || c == '/';
    // m[j]: pattern[..i] matches text[..j].
    let mut m = vec![false; t.len() + 1];
    m[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; t.len() + 1];
        if p[i] == '*' && p.get(i + 1) == Some(&'*') {
            let mut any = false;
            for j in 0..=t.len() {
                any |= m[j];
                next[j] = any;
            }
            i += 2;
        } else if p[i] == '*' {
            for j in 0..=t.len() {
                next[j] = m[j] || (j > 0 && next[j - 1] && !sep(t[j - 1]));
            }
            i += 1;
        } else {
            for j in 1..=t.len() {
                next[j] = m[j - 1]
                    && if p[i] == '?' {
                        !sep(t[j - 1])
                    } else {
                        p[i] == t[j - 1]
                    };
            }
            i += 1;
        }
        m = next;
    }
    m[t.len()]
}

/// GoTrue's `IsRedirectURLValid`: the site URL's scheme, host and port (any
/// port on localhost), a loopback IP, or a match of an allow-list glob.
pub fn redirect_allowed(site_url: &str, allow: &[String], url: &str) -> bool {
    if url.is_empty() || url.len() > 2048 {
        return false;
    }
    let (Some(base), Some(r)) = (parts(site_url), parts(url)) else {
        return false;
    };
    if base.host == r.host && base.scheme == r.scheme && (base.port == r.port || is_localhost(r.host)) {
        return true;
    }
    if r.host.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    if r.host.parse::<std::net::IpAddr>().is_ok() {
        return loopback(r.host);
    }
    let http = r.scheme == "http" || r.scheme == "https";
    let regular = !r.host.is_empty()
        && r.host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !r.host.starts_with(['.', '-'])
        && !r.host.ends_with(['.', '-']);
    if http && !regular {
        return false;
    }
    let against = url.split('#').next().unwrap_or(url);
    allow.iter().any(|p| glob(p, against))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs() {
        let code = |u: &str| with_query(u, &[("code", "c 2".to_string())]);
        assert_eq!(code("http://localhost:3000"), "http://localhost:3000?code=c+2");
        assert_eq!(code("https://a.example/cb?next=%2Fa&code=old#x"), "https://a.example/cb?next=%2Fa&code=c+2#x");
        assert_eq!(with_query("http://h/p?a=1", &[]), "http://h/p?a=1");
    }

    #[test]
    fn codes_and_hashes() {
        let o = otp(6);
        assert_eq!(o.len(), 6);
        assert!(o.chars().all(|c| c.is_ascii_digit()));
        // GoTrue: fmt.Sprintf("%x", sha256.Sum224([]byte(email+otp))).
        assert_eq!(
            token_hash("a@b.co", "123456"),
            hex::encode(Sha224::digest(b"a@b.co123456"))
        );
        assert_eq!(token_hash("a@b.co", "1").len(), 56);
    }

    #[test]
    fn query_strings() {
        assert_eq!(escape("http://x/y?a=1 b"), "http%3A%2F%2Fx%2Fy%3Fa%3D1+b");
        assert_eq!(unescape("http%3A%2F%2Fx%2Fy%3Fa%3D1+b"), "http://x/y?a=1 b");
        assert_eq!(unescape("100%"), "100%");
        assert_eq!(unescape("%zz%4"), "%zz%4");
        assert_eq!(param("a=1&redirect_to=http%3A%2F%2Fx", "redirect_to").as_deref(), Some("http://x"));
        assert_eq!(param("redirect_tox=1", "redirect_to"), None);
        assert_eq!(form(&[("type", "signup".into()), ("access_token", "a b".into())]), "access_token=a+b&type=signup");
        assert_eq!(redirect_param("http://x/y"), "http://x/y");
        assert_eq!(redirect_param("http://x/?a=b"), "http%3A%2F%2Fx%2F%3Fa%3Db");
    }

    #[test]
    fn redirects() {
        let site = "http://127.0.0.1:3000";
        let allow = vec!["https://app.example.com/**".to_string(), "http://*.preview.dev".to_string()];
        assert!(redirect_allowed(site, &allow, "http://127.0.0.1:3000/welcome"));
        // Loopback addresses are always allowed, as GoTrue's.
        assert!(redirect_allowed(site, &allow, "http://127.0.0.1:9999/x"));
        assert!(redirect_allowed(site, &allow, "https://app.example.com/a/b?c=d"));
        assert!(redirect_allowed(site, &allow, "http://pr1.preview.dev"));
        assert!(!redirect_allowed(site, &allow, "http://a.b.preview.dev"));
        assert!(!redirect_allowed(site, &allow, "https://evil.example.org/"));
        assert!(!redirect_allowed(site, &allow, "https://app.example.com.evil.org/"));
        assert!(!redirect_allowed(site, &allow, "http://10.0.0.1/"));
        assert!(!redirect_allowed(site, &allow, "not a url"));
        assert!(!redirect_allowed(site, &allow, ""));
        assert!(glob("a**", "abc/d.e"));
        assert!(!glob("a*", "ab/c"));
        assert!(glob("a?c", "abc"));
    }
}
