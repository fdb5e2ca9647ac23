//! The auth e-mail flows (issue 26) end to end: supabase-js's auth client
//! against a server with `auth-autoconfirm = false`, the links and codes
//! read back from the built-in mail catcher (Mailpit's API), on PGlite and
//! PostgreSQL; the SMTP path through a real SMTP server (aiosmtpd); an
//! expired code; the mail catcher's page and API.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use supalite_tests::*;

const SITE: &str = "http://localhost:3000";

fn keys() -> (String, String) {
    let anon = token(json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 3600}));
    let service = token(json!({"role": "service_role", "iss": "supabase-demo", "exp": now() + 3600}));
    (anon, service)
}

fn serve(p: &Project, extra: &[(&str, &str)]) -> (Server, u16) {
    let catcher = free_port();
    let port = catcher.to_string();
    let mut env = vec![
        ("SUPALITE_AUTH_AUTOCONFIRM", "false"),
        ("SUPALITE_MAIL_CATCHER_PORT", port.as_str()),
        ("SUPALITE_AUTH_SITE_URL", SITE),
        ("SUPALITE_AUTH_ADDITIONAL_REDIRECT_URLS", "https://app.example.com/**"),
        ("SUPALITE_AUTH_RATE_LIMIT_EMAIL_SENT", "200"),
    ];
    env.extend_from_slice(extra);
    let s = p.serve_with(&[], &env).unwrap_or_else(|e| panic!("server did not start: {e}"));
    (s, catcher)
}

fn catcher_get(port: u16, path: &str) -> (u16, String) {
    match ureq::get(&format!("http://127.0.0.1:{port}{path}")).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[test]
fn email_flows_through_supabase_js() {
    on_each_db(|p| {
        let (s, catcher) = serve(&p, &[]);
        let (anon, service) = keys();
        let mailpit = format!("http://127.0.0.1:{catcher}");
        let report = run_node(
            "auth_email.test.mjs",
            &s,
            &[
                ("SUPALITE_ANON_KEY", &anon),
                ("SUPALITE_SERVICE_KEY", &service),
                ("SUPALITE_MAILPIT_URL", &mailpit),
                ("SUPALITE_SITE_URL", SITE),
            ],
        );
        assert!(report.contains("pass 9") && report.contains("fail 0"), "{report}");
        // The tokens are stored as GoTrue stores them.
        let service_auth = format!("Bearer {service}");
        let users = s.get("/auth/v1/admin/users?per_page=100", &[("authorization", &service_auth), ("apikey", &anon)]);
        assert_eq!(users.status, 200);
        assert!(users.json()["users"].as_array().unwrap().len() >= 6);
    });
}

#[test]
fn mail_catcher_page_and_api() {
    let p = Project::new();
    let (s, catcher) = serve(&p, &[]);
    let (anon, _) = keys();
    let r = s.request(
        "POST",
        "/auth/v1/otp",
        &[("apikey", &anon)],
        Some(&json!({"email": "catcher@example.com"}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({}));
    let (status, list) = catcher_get(catcher, "/api/v1/messages");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["total"], 1);
    let m = &list["messages"][0];
    assert_eq!(m["To"][0]["Address"], "catcher@example.com");
    assert_eq!(m["Subject"], "Confirm your email address");
    let id = m["ID"].as_str().unwrap();
    let (status, full) = catcher_get(catcher, &format!("/api/v1/message/{id}"));
    assert_eq!(status, 200);
    let full: Value = serde_json::from_str(&full).unwrap();
    assert!(full["HTML"].as_str().unwrap().contains("/auth/v1/verify?token="));
    let (status, page) = catcher_get(catcher, "/");
    assert_eq!(status, 200);
    assert!(page.contains("Confirm your email address") && page.contains("<a href=\"http"), "{page}");
    assert_eq!(catcher_get(catcher, "/api/v1/message/nope").0, 404);
    let del = ureq::delete(&format!("http://127.0.0.1:{catcher}/api/v1/messages")).call().unwrap();
    assert_eq!(del.status(), 200);
    let (_, list) = catcher_get(catcher, "/api/v1/messages");
    assert_eq!(serde_json::from_str::<Value>(&list).unwrap()["total"], 0);
}

#[test]
fn expired_code_is_refused() {
    let p = Project::new();
    let (s, _) = serve(&p, &[("SUPALITE_AUTH_MAILER_OTP_EXP", "1")]);
    let (anon, service) = keys();
    let auth = format!("Bearer {service}");
    let r = s.request(
        "POST",
        "/auth/v1/admin/generate_link",
        &[("apikey", &anon), ("authorization", &auth)],
        Some(&json!({"type": "signup", "email": "late@example.com", "password": "late-password"}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let hash = r.json()["hashed_token"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(2500));
    let v = s.request(
        "POST",
        "/auth/v1/verify",
        &[("apikey", &anon)],
        Some(&json!({"type": "signup", "token_hash": hash}).to_string()),
    );
    assert_eq!(v.status, 403, "{}", v.body);
    assert_eq!(v.json()["error_code"], "otp_expired");
    assert_eq!(v.json()["msg"], "Email link is invalid or has expired");
}

/// aiosmtpd (PyPI, tests/run.sh installs it) saving each message to a file.
struct SmtpServer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the test's SMTP server is secured.
#[derive(Clone, Copy, PartialEq)]
enum Secured {
    Plain,
    /// STARTTLS required, and `AUTH` (user `mailer`, password `s3cret`) only after it.
    StartTls,
    /// Implicit TLS (SMTPS), with the same `AUTH`.
    Implicit,
}

/// aiosmtpd on a free port, saving each message (with its envelope's
/// recipients and the login that sent it) as a file in `dir`.
fn smtp_server(secured: Secured) -> SmtpServer {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    test_certificates(dir.path());
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    let kwargs = match secured {
        Secured::Plain => "",
        Secured::StartTls => "tls_context=ctx, require_starttls=True, authenticator=auth, auth_require_tls=True, auth_required=True",
        Secured::Implicit => "ssl_context=ctx, authenticator=auth, auth_required=True, auth_require_tls=False",
    };
    let script = format!(
        r#"
import asyncio, os, ssl
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain({cert:?}, {key:?})
def auth(server, session, envelope, mechanism, data):
    ok = data.login == b"mailer" and data.password == b"s3cret"
    if ok: session.login = data.login.decode()
    return AuthResult(success=ok, handled=False)
class Save:
    async def handle_DATA(self, server, session, envelope):
        n = len(os.listdir({d:?}))
        login = getattr(session, "login", None) or "-"
        tls = "yes" if (session.ssl or server.transport.get_extra_info("ssl_object")) else "no"
        with open(os.path.join({d:?}, f"{{n}}.eml"), "wb") as f:
            f.write(("X-Rcpt: " + ",".join(envelope.rcpt_tos) + "\r\nX-Login: " + login + "\r\nX-Tls: " + tls + "\r\n").encode() + envelope.content)
        return "250 OK"
class TlsController(Controller):
    def _trigger_server(self):
        # the start-up probe, as a TLS client under implicit TLS
        if not {implicit}: return super()._trigger_server()
        import socket
        cctx = ssl.create_default_context()
        cctx.check_hostname = False
        cctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.hostname, self.port), 2.0) as raw:
            with cctx.wrap_socket(raw) as t:
                t.recv(1024)
c = TlsController(Save(), hostname="127.0.0.1", port={port}, {kwargs})
c.start()
print("ready", flush=True)
import time
while True: time.sleep(3600)
"#,
        d = mail.to_str().unwrap(),
        cert = dir.path().join("cert.pem").to_str().unwrap(),
        key = dir.path().join("key.pem").to_str().unwrap(),
        implicit = if secured == Secured::Implicit { "True" } else { "False" },
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "aiosmtpd did not start (pip install aiosmtpd==1.4.6)");
    SmtpServer { child, dir, port }
}

impl SmtpServer {
    fn ca(&self) -> String {
        self.dir.path().join("ca.pem").to_str().unwrap().to_string()
    }

    /// The messages received so far (waits up to 5 s for `n`).
    fn received(&self, n: usize) -> Vec<String> {
        let mail = self.dir.path().join("mail");
        let mut files = vec![];
        for _ in 0..50 {
            files = std::fs::read_dir(&mail).unwrap().map(|f| f.unwrap().path()).collect::<Vec<_>>();
            if files.len() >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }
}

fn signup(s: &Server, email: &str) -> Reply {
    let (anon, _) = keys();
    s.request(
        "POST",
        "/auth/v1/signup",
        &[("apikey", &anon)],
        Some(&json!({"email": email, "password": "smtp-password"}).to_string()),
    )
}

/// STARTTLS and implicit TLS with credentials: the message arrives over TLS
/// under the login; a certificate not signed by a trusted CA, wrong
/// credentials, and a server without STARTTLS when it is required are
/// refused with GoTrue's error (and leave no user behind).
#[test]
fn smtp_over_tls_with_credentials() {
    for secured in [Secured::StartTls, Secured::Implicit] {
        let smtp = smtp_server(secured);
        let p = Project::new();
        let port = smtp.port.to_string();
        let ca = smtp.ca();
        let mode = if secured == Secured::Implicit { "tls" } else { "auto" };
        let base = vec![
            ("SUPALITE_AUTH_SMTP_HOST", "127.0.0.1"),
            ("SUPALITE_AUTH_SMTP_PORT", port.as_str()),
            ("SUPALITE_AUTH_SMTP_USER", "mailer"),
            ("SUPALITE_AUTH_SMTP_TLS", mode),
            ("SUPALITE_AUTH_SMTP_ADMIN_EMAIL", "noreply@myapp.test"),
        ];
        let mut good = base.clone();
        good.extend([("SUPALITE_AUTH_SMTP_PASS", "s3cret"), ("SUPALITE_AUTH_SMTP_CA_FILE", ca.as_str())]);
        let (s, _) = serve(&p, &good);
        let r = signup(&s, "tls@example.com");
        assert_eq!(r.status, 200, "{mode}: {}", r.body);
        let got = smtp.received(1);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("X-Rcpt: tls@example.com\r\nX-Login: mailer\r\nX-Tls: yes\r\n"), "{}", got[0]);
        assert!(got[0].contains("Subject: Confirm your email address"), "{}", got[0]);
        drop(s);

        // The CA not trusted: the certificate is refused, nothing is sent.
        let mut untrusted = base.clone();
        untrusted.push(("SUPALITE_AUTH_SMTP_PASS", "s3cret"));
        let p2 = Project::new();
        let (s, _) = serve(&p2, &untrusted);
        let r = signup(&s, "tls2@example.com");
        assert_eq!(r.status, 500, "{}", r.body);
        assert!(r.json()["msg"].as_str().unwrap().starts_with("Error sending confirmation email"), "{}", r.body);
        drop(s);

        // Wrong password: refused by the server.
        let mut wrong = base.clone();
        wrong.extend([("SUPALITE_AUTH_SMTP_PASS", "nope"), ("SUPALITE_AUTH_SMTP_CA_FILE", ca.as_str())]);
        let p3 = Project::new();
        let (s, _) = serve(&p3, &wrong);
        assert_eq!(signup(&s, "tls3@example.com").status, 500);
        drop(s);
        assert_eq!(smtp.received(1).len(), 1, "only the first message arrived");
    }

    // STARTTLS required, the server offers none: refused before any mail goes.
    let plain = smtp_server(Secured::Plain);
    let port = plain.port.to_string();
    let p4 = Project::new();
    let (s, _) = serve(
        &p4,
        &[
            ("SUPALITE_AUTH_SMTP_HOST", "127.0.0.1"),
            ("SUPALITE_AUTH_SMTP_PORT", port.as_str()),
            ("SUPALITE_AUTH_SMTP_TLS", "starttls"),
        ],
    );
    assert_eq!(signup(&s, "tls4@example.com").status, 500);
    std::thread::sleep(Duration::from_millis(300));
    assert!(plain.received(0).is_empty());

    // A CA file without a certificate stops start-up, naming the setting.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "not a certificate").unwrap();
    let err = Project::new()
        .serve_with(
            &[],
            &[
                ("SUPALITE_AUTH_SMTP_HOST", "127.0.0.1"),
                ("SUPALITE_AUTH_SMTP_CA_FILE", bad.path().to_str().unwrap()),
            ],
        )
        .err()
        .expect("start-up must fail");
    assert!(err.contains("auth-smtp-ca-file"), "{err}");
}

#[test]
fn smtp_path_through_aiosmtpd() {
    let smtp = smtp_server(Secured::Plain);
    let p = Project::new();
    let port = smtp.port.to_string();
    let (s, catcher) = serve(
        &p,
        &[
            ("SUPALITE_AUTH_SMTP_HOST", "127.0.0.1"),
            ("SUPALITE_AUTH_SMTP_PORT", port.as_str()),
            ("SUPALITE_AUTH_SMTP_ADMIN_EMAIL", "noreply@myapp.test"),
            ("SUPALITE_AUTH_SMTP_SENDER_NAME", "My App"),
        ],
    );
    let (anon, _) = keys();
    let r = s.request(
        "POST",
        "/auth/v1/signup",
        &[("apikey", &anon)],
        Some(&json!({"email": "smtp@example.com", "password": "smtp-password"}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let files = smtp.received(1);
    assert_eq!(files.len(), 1);
    let raw = &files[0];
    assert!(raw.starts_with("X-Rcpt: smtp@example.com\r\nX-Login: -\r\nX-Tls: no\r\n"), "{raw}");
    assert!(raw.contains("From: \"My App\" <noreply@myapp.test>"), "{raw}");
    assert!(raw.contains("Subject: Confirm your email address"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    // Not in the catcher: it went by SMTP.
    let (_, list) = catcher_get(catcher, "/api/v1/messages");
    assert_eq!(serde_json::from_str::<Value>(&list).unwrap()["total"], 0);

    // SMTP down: the sign-up fails with GoTrue's error and leaves no user.
    drop(smtp);
    let r = s.request(
        "POST",
        "/auth/v1/signup",
        &[("apikey", &anon)],
        Some(&json!({"email": "smtp2@example.com", "password": "smtp-password"}).to_string()),
    );
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.json()["msg"].as_str().unwrap().starts_with("Error sending confirmation email"), "{}", r.body);
    let (_, service) = keys();
    let auth = format!("Bearer {service}");
    let users = s.get("/auth/v1/admin/users", &[("apikey", &anon), ("authorization", &auth)]);
    let emails: Vec<Value> = users.json()["users"].as_array().unwrap().iter().map(|u| u["email"].clone()).collect();
    assert!(!emails.contains(&json!("smtp2@example.com")), "{emails:?}");
}
