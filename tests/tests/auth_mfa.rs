//! Auth MFA (issue 26) end to end: supabase-js's `auth.mfa` (TOTP factors,
//! codes computed by the test) against a real server, on PGlite and
//! PostgreSQL, with an RLS policy on the token's `aal`; the MFA settings.

use serde_json::{json, Value};
use supalite_tests::*;

const SITE: &str = "http://localhost:3000";

/// The documented Supabase MFA pattern: a permissive policy for the rows,
/// a restrictive one that needs `aal2`.
const SECRETS: &str = "create table mfa_secrets (id serial primary key, body text);
alter table mfa_secrets enable row level security;
create policy \"anyone signed in\" on mfa_secrets for all to authenticated using (true) with check (true);
create policy \"only aal2\" on mfa_secrets as restrictive to authenticated
  using ((select auth.jwt()->>'aal') = 'aal2') with check ((select auth.jwt()->>'aal') = 'aal2');
grant select, insert on mfa_secrets to authenticated;
grant usage on sequence mfa_secrets_id_seq to authenticated;
insert into mfa_secrets (body) values ('only with aal2');";

fn keys() -> (String, String) {
    let anon = token(json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 3600}));
    let service = token(json!({"role": "service_role", "iss": "supabase-demo", "exp": now() + 3600}));
    (anon, service)
}

#[test]
fn mfa_through_supabase_js() {
    on_each_db(|p| {
        p.migration("20240101000000_mfa_secrets.sql", SECRETS);
        let s = p
            .serve_with(&[], &[("SUPALITE_AUTH_SITE_URL", SITE)])
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        let (anon, service) = keys();
        let report = run_node(
            "auth_mfa.test.mjs",
            &s,
            &[
                ("SUPALITE_ANON_KEY", &anon),
                ("SUPALITE_SERVICE_KEY", &service),
                ("SUPALITE_SITE_URL", SITE),
            ],
        );
        assert!(report.contains("pass 7") && report.contains("fail 0"), "{report}");
    });
}

fn sign_up(s: &Server, anon: &str, email: &str) -> String {
    let r = s.request(
        "POST",
        "/auth/v1/signup",
        &[("apikey", anon)],
        Some(&json!({"email": email, "password": "mfa-password-1"}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_string()
}

#[test]
fn settings_switch_enrolment_off_and_bound_factors() {
    let p = Project::new();
    let s = p
        .serve_with(
            &[],
            &[
                ("SUPALITE_AUTH_MFA_TOTP_VERIFY_ENABLED", "false"),
                ("SUPALITE_AUTH_MFA_MAX_ENROLLED_FACTORS", "2"),
            ],
        )
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    let (anon, _) = keys();
    let access = sign_up(&s, &anon, "limits@example.com");
    let auth = format!("Bearer {access}");
    let h = [("apikey", anon.as_str()), ("authorization", auth.as_str())];
    let enroll = |name: &str| {
        s.request(
            "POST",
            "/auth/v1/factors",
            &h,
            Some(&json!({"factor_type": "totp", "friendly_name": name}).to_string()),
        )
    };
    let first = enroll("a");
    assert_eq!(first.status, 200, "{}", first.body);
    // GoTrue returns the SVG itself (supabase-js makes the data URI).
    assert!(first.json()["totp"]["qr_code"].as_str().unwrap().starts_with("<?xml"));
    // The default issuer is the site URL's host (default http://127.0.0.1:3000).
    assert!(first.json()["totp"]["uri"].as_str().unwrap().starts_with("otpauth://totp/127.0.0.1:3000:limits@example.com?"));
    assert_eq!(enroll("b").status, 200);
    let third = enroll("c");
    assert_eq!(third.status, 422, "{}", third.body);
    assert_eq!(third.json()["error_code"], "too_many_enrolled_mfa_factors");
    assert_eq!(third.json()["msg"], "Maximum number of verified factors reached, unenroll to continue");
    let id = first.json()["id"].as_str().unwrap().to_string();
    let ch = s.request("POST", &format!("/auth/v1/factors/{id}/challenge"), &h, Some("{}"));
    assert_eq!(ch.status, 422, "{}", ch.body);
    assert_eq!(
        ch.json(),
        json!({"code": 422, "error_code": "mfa_totp_verify_disabled", "msg": "MFA verification is disabled for TOTP"})
    );
    // Bad bodies get GoTrue's errors, not a trap.
    let bad = s.request("POST", "/auth/v1/factors", &h, Some("[1"));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error_code"], "bad_json");
    let bad = s.request(
        "POST",
        &format!("/auth/v1/factors/{id}/verify"),
        &h,
        Some(&json!({"challenge_id": "nope", "code": "123456"}).to_string()),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["error_code"], "bad_json");
    // The same data directory with enrolment off.
    drop(s);
    let s2 = p
        .serve_with(&[], &[("SUPALITE_AUTH_MFA_TOTP_ENROLL_ENABLED", "false")])
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    let r = s2.request(
        "POST",
        "/auth/v1/factors",
        &h,
        Some(&json!({"factor_type": "totp"}).to_string()),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let v: Value = r.json();
    assert_eq!(v["error_code"], "mfa_totp_enroll_disabled");
    assert_eq!(v["msg"], "MFA enroll is disabled for TOTP");
}
