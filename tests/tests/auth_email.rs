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
        assert!(report.contains("pass 7") && report.contains("fail 0"), "{report}");
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

fn smtp_server() -> SmtpServer {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = format!(
        r#"
import asyncio, os
from aiosmtpd.controller import Controller
class Save:
    async def handle_DATA(self, server, session, envelope):
        n = len(os.listdir({d:?}))
        with open(os.path.join({d:?}, f"{{n}}.eml"), "wb") as f:
            f.write(("X-Rcpt: " + ",".join(envelope.rcpt_tos) + "\r\n").encode() + envelope.content)
        return "250 OK"
c = Controller(Save(), hostname="127.0.0.1", port={port})
c.start()
print("ready", flush=True)
import time
while True: time.sleep(3600)
"#,
        d = dir.path().to_str().unwrap()
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

#[test]
fn smtp_path_through_aiosmtpd() {
    let smtp = smtp_server();
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
    let mut files = vec![];
    for _ in 0..50 {
        files = std::fs::read_dir(smtp.dir.path()).unwrap().collect::<Vec<_>>();
        if !files.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(raw.starts_with("X-Rcpt: smtp@example.com\r\n"), "{raw}");
    assert!(raw.contains("From: My App <noreply@myapp.test>"), "{raw}");
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
