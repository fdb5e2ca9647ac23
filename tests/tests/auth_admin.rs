//! The auth admin API, reauthentication, identities and the sign-in
//! methods supalite does not offer (issue 26), end to end: supabase-js's
//! auth client against a real server on PGlite and PostgreSQL
//! (tests/js/auth_admin.test.mjs), the reauthentication code read back from
//! the mail catcher; the defaults (manual linking off), an expiring nonce,
//! a sign-up that cannot sign in leaving no user, and a seed written for
//! Supabase (GoTrue's columns and tables) accepted and signed in with.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::Duration;
use supalite_tests::*;

fn keys() -> (String, String) {
    let anon = token(json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 3600}));
    let service = token(json!({"role": "service_role", "iss": "supabase-demo", "exp": now() + 3600}));
    (anon, service)
}

/// A test-only way to make sessions older than GoTrue's 24 hours.
const AGE_SESSIONS_SQL: &str = "
create function public.age_sessions() returns void language sql security definer set search_path = '' as $$
  update auth.sessions set created_at = now() - interval '25 hours'
$$;
revoke execute on function public.age_sessions() from public, anon, authenticated;
grant execute on function public.age_sessions() to service_role;
";

fn serve(p: &Project, extra: &[(&str, &str)]) -> (Server, u16) {
    p.migration("20240101000000_age_sessions.sql", AGE_SESSIONS_SQL);
    let catcher = free_port();
    let port = catcher.to_string();
    let mut env = vec![
        ("SUPALITE_AUTH_AUTOCONFIRM", "true"),
        ("SUPALITE_MAIL_CATCHER_PORT", port.as_str()),
        ("SUPALITE_AUTH_SECURE_PASSWORD_CHANGE", "true"),
        ("SUPALITE_AUTH_MANUAL_LINKING", "true"),
        ("SUPALITE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS", "0"),
    ];
    env.extend_from_slice(extra);
    let s = p.serve_with(&[], &env).unwrap_or_else(|e| panic!("server did not start: {e}"));
    (s, catcher)
}

#[test]
fn admin_api_through_supabase_js() {
    on_each_db(|p| {
        let (s, catcher) = serve(&p, &[]);
        let (anon, service) = keys();
        let mailpit = format!("http://127.0.0.1:{catcher}");
        let report = run_node(
            "auth_admin.test.mjs",
            &s,
            &[
                ("SUPALITE_ANON_KEY", &anon),
                ("SUPALITE_SERVICE_KEY", &service),
                ("SUPALITE_MAILPIT_URL", &mailpit),
            ],
        );
        assert!(report.contains("pass 7") && report.contains("fail 0"), "{report}");
    });
}

fn sign_in(s: &Server, anon: &str, email: &str, password: &str) -> Value {
    let r = s.request(
        "POST",
        "/auth/v1/token?grant_type=password",
        &[("apikey", anon)],
        Some(&json!({"email": email, "password": password}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn create(s: &Server, anon: &str, service: &str, body: Value) -> Value {
    let auth = format!("Bearer {service}");
    let r = s.request("POST", "/auth/v1/admin/users", &[("apikey", anon), ("authorization", &auth)], Some(&body.to_string()));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn defaults_refuse_as_gotrue() {
    let p = Project::new();
    let s = p.serve();
    let (anon, service) = keys();
    let admin_auth = format!("Bearer {service}");
    let u = create(&s, &anon, &service, json!({"email": "d@example.com", "password": "d-password", "email_confirm": true}));
    let session = sign_in(&s, &anon, "d@example.com", "d-password");
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());
    let user = [("apikey", anon.as_str()), ("authorization", bearer.as_str())];
    // Manual linking is off by default, as GoTrue's.
    let identity = u["identities"][0]["identity_id"].as_str().unwrap();
    let r = s.request("DELETE", &format!("/auth/v1/user/identities/{identity}"), &user, None);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json(), json!({"code": 404, "error_code": "manual_linking_disabled", "msg": "Manual linking is disabled"}));
    // No reauthentication needed without auth-secure-password-change, even in an old session.
    let r = s.request("PUT", "/auth/v1/user", &user, Some(&json!({"password": "d-password-2"}).to_string()));
    assert_eq!(r.status, 200, "{}", r.body);
    // Admin routes: a user id that is no UUID, the audit log, SSO providers.
    let admin = [("apikey", anon.as_str()), ("authorization", admin_auth.as_str())];
    let r = s.get("/auth/v1/admin/users/nope", &admin);
    assert_eq!((r.status, r.json()["error_code"].clone()), (404, json!("validation_failed")));
    assert_eq!(r.json()["msg"], "user_id must be an UUID");
    let r = s.get("/auth/v1/admin/audit", &admin);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([]));
    assert_eq!(r.header("x-total-count"), Some("0"));
    let r = s.get("/auth/v1/admin/sso/providers", &admin);
    assert_eq!(r.json(), json!({"items": []}));
    let r = s.get("/auth/v1/admin/users", &user);
    assert_eq!((r.status, r.json()["error_code"].clone()), (403, json!("not_admin")));
    let r = s.request("POST", "/auth/v1/sso/saml/acs", &[("apikey", &anon)], Some("{}"));
    assert_eq!((r.status, r.json()["msg"].clone()), (404, json!("SAML 2.0 is disabled")));
    let r = s.request("POST", "/auth/v1/token?grant_type=id_token", &[("apikey", &anon)], Some("{}"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"error": "invalid request", "error_description": "id_token required"}));
    let r = s.get("/auth/v1/callback?state=00000000-0000-4000-8000-000000000000", &[("apikey", &anon)]);
    assert_eq!((r.status, r.json()["msg"].clone()), (400, json!("OAuth state not found or expired")));
    let r = s.request(
        "POST",
        "/auth/v1/signup",
        &[("apikey", &anon)],
        Some(&json!({"email": "both@example.com", "phone": "15550100", "password": "both-password"}).to_string()),
    );
    assert_eq!(r.json()["msg"], "Only an email address or phone number should be provided on signup.");
}

#[test]
fn reauthentication_code_expires() {
    let p = Project::new();
    let (s, catcher) = serve(&p, &[("SUPALITE_AUTH_MAILER_OTP_EXP", "1")]);
    let (anon, service) = keys();
    create(&s, &anon, &service, json!({"email": "late@example.com", "password": "late-password", "email_confirm": true}));
    let session = sign_in(&s, &anon, "late@example.com", "late-password");
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());
    let user = [("apikey", anon.as_str()), ("authorization", bearer.as_str())];
    let service_auth = format!("Bearer {service}");
    let r = s.request("POST", "/rest/v1/rpc/age_sessions", &[("apikey", &anon), ("authorization", &service_auth)], Some("{}"));
    assert!(r.status < 300, "{}", r.body);
    let r = s.get("/auth/v1/reauthenticate", &user);
    assert_eq!((r.status, r.json()), (200, json!({})), "{}", r.body);
    let list = ureq::get(&format!("http://127.0.0.1:{catcher}/api/v1/messages")).call().unwrap().into_string().unwrap();
    let list: Value = serde_json::from_str(&list).unwrap();
    let subject = list["messages"][0]["Subject"].as_str().unwrap().to_string();
    let code = subject.split(' ').next().unwrap().to_string();
    assert!(subject.ends_with(" is your verification code") && code.len() == 6, "{subject}");
    std::thread::sleep(Duration::from_millis(2500));
    let r = s.request("PUT", "/auth/v1/user", &user, Some(&json!({"password": "late-password-2", "nonce": code}).to_string()));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error_code"], "reauthentication_not_valid");
    assert_eq!(r.json()["msg"], "Nonce has expired or is invalid");
}


/// A server that verifies tokens with a public key only cannot sign a new
/// user's session: the sign-up fails and leaves no user behind.
#[test]
fn failed_sign_up_leaves_no_user() {
    let p = Project::new();
    let jwks = format!("{{\"keys\":[{EC_JWK}]}}");
    let s = p
        .serve_with(&[], &[("SUPALITE_JWT_SECRET", &jwks), ("SUPALITE_AUTH_ANONYMOUS_SIGN_INS", "true")])
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap();
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("test-key".into());
    let sign = |role: &str| encode(&h, &json!({"role": role, "exp": now() + 600}), &key).unwrap();
    let (anon, service) = (sign("anon"), sign("service_role"));
    for body in [json!({"email": "nokey@example.com", "password": "nokey-password"}), json!({})] {
        let r = s.request("POST", "/auth/v1/signup", &[("apikey", &anon)], Some(&body.to_string()));
        assert_eq!(r.status, 500, "{}", r.body);
        assert_eq!(r.json()["error_code"], "unexpected_failure");
    }
    let auth = format!("Bearer {service}");
    let users = s.get("/auth/v1/admin/users", &[("apikey", &anon), ("authorization", &auth)]);
    assert_eq!(users.status, 200, "{}", users.body);
    assert_eq!(users.json()["users"], json!([]));
    assert_eq!(users.header("x-total-count"), Some("0"));
}

/// Supabase's documented seed for auth users (pgcrypto's `crypt`, the
/// token columns as empty strings, an e-mail identity), plus the rows a
/// dump's restore writes into GoTrue's other tables.
const SEED: &str = r#"
INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  recovery_sent_at, last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
  confirmation_token, email_change, email_change_token_new, recovery_token, is_super_admin, is_sso_user)
VALUES ('00000000-0000-0000-0000-000000000000', '5899f99d-a449-4bfa-8769-19c097aaf1f5', 'authenticated',
  'authenticated', 'seeded@example.com', crypt('seeded-password', gen_salt('bf')), now(), now(), now(),
  '{"provider":"email","providers":["email"]}', '{"name":"Seeded"}', now(), now(), '', '', '', '', false, false);
INSERT INTO auth.identities (id, user_id, provider_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
VALUES (gen_random_uuid(), '5899f99d-a449-4bfa-8769-19c097aaf1f5', '5899f99d-a449-4bfa-8769-19c097aaf1f5',
  format('{"sub":"%s","email":"%s"}', '5899f99d-a449-4bfa-8769-19c097aaf1f5', 'seeded@example.com')::jsonb,
  'email', now(), now(), now());
INSERT INTO auth.instances (id, uuid, raw_base_config, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-000000000000', NULL, '{}', now(), now());
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, factor_id, aal, not_after, refreshed_at, user_agent, ip, tag)
VALUES ('0b3a4f0e-5d6c-4b2a-9e1f-0a1b2c3d4e5f', '5899f99d-a449-4bfa-8769-19c097aaf1f5', now(), now(), NULL, 'aal1', NULL,
  now()::timestamp, 'Mozilla/5.0', '203.0.113.7', 'seed');
INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
VALUES ('00000000-0000-0000-0000-000000000000', 'seeded-refresh-token-hash', '5899f99d-a449-4bfa-8769-19c097aaf1f5',
  false, now(), now(), NULL, '0b3a4f0e-5d6c-4b2a-9e1f-0a1b2c3d4e5f');
INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
VALUES ('00000000-0000-0000-0000-000000000000', 'a1b2c3d4-0000-4000-8000-000000000001',
  '{"action":"login","actor_id":"5899f99d-a449-4bfa-8769-19c097aaf1f5"}', now(), '203.0.113.7');
INSERT INTO auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge, provider_type,
  provider_access_token, provider_refresh_token, created_at, updated_at, authentication_method, auth_code_issued_at)
VALUES (gen_random_uuid(), '5899f99d-a449-4bfa-8769-19c097aaf1f5', 'code', 's256', 'challenge', 'email', '', '',
  now(), now(), 'email/signup', NULL);
INSERT INTO auth.sso_providers (id, resource_id, created_at, updated_at, disabled)
VALUES ('c0ffee00-0000-4000-8000-000000000001', 'acme', now(), now(), false);
INSERT INTO auth.sso_domains (id, sso_provider_id, domain, created_at, updated_at)
VALUES (gen_random_uuid(), 'c0ffee00-0000-4000-8000-000000000001', 'acme.example', now(), now());
INSERT INTO auth.schema_migrations (version) VALUES ('20250731150234');
"#;

#[test]
fn supabase_seed_is_accepted_and_signs_in() {
    on_each_db(|p| {
        std::fs::write(p.path().join("supabase/config.toml"), "project_id = \"seeded\"\n").unwrap();
        std::fs::write(p.path().join("supabase/seed.sql"), SEED).unwrap();
        let s = p.serve();
        let (anon, service) = keys();
        let session = sign_in(&s, &anon, "seeded@example.com", "seeded-password");
        assert_eq!(session["user"]["id"], "5899f99d-a449-4bfa-8769-19c097aaf1f5");
        assert_eq!(session["user"]["user_metadata"], json!({"name": "Seeded"}));
        assert_eq!(session["user"]["identities"][0]["provider"], "email");
        let auth = format!("Bearer {service}");
        let admin = [("apikey", anon.as_str()), ("authorization", auth.as_str())];
        let r = s.get("/auth/v1/admin/audit", &admin);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()[0]["payload"]["action"], "login");
        assert_eq!(r.json()[0]["ip_address"], "203.0.113.7");
        let r = s.get("/auth/v1/admin/users", &admin);
        assert_eq!(r.header("x-total-count"), Some("1"));
    });
}
