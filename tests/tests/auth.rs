//! Token verification attack matrix, end to end through the real server.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use supalite_tests::*;


fn status_and_code(s: &Server, token: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let r = s.get("/rest/v1/items", &[("authorization", &auth)]);
    let code = if r.status == 200 {
        json!(null)
    } else {
        r.json()["code"].clone()
    };
    if r.status == 401 {
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\""));
    }
    (r.status, code)
}

#[test]
fn hmac_attack_matrix() {
    let p = Project::new();
    p.migration(
        "20240101000000_items.sql",
        "create table items (id int primary key); insert into items values (1);",
    );
    p.config("jwt-aud = \"supalite-tests\"\n");
    let s = p.serve();
    let ok = |extra: Value| {
        let mut c = json!({"role": "authenticated", "aud": "supalite-tests", "exp": now() + 600});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        token(c)
    };
    assert_eq!(status_and_code(&s, &ok(json!({}))), (200, json!(null)));
    // As PostgREST: an array naming the audience, or no `aud` at all, passes.
    let listed = ok(json!({"aud": ["other", "supalite-tests"]}));
    assert_eq!(status_and_code(&s, &listed), (200, json!(null)));
    let mut no_aud = json!({"role": "authenticated", "exp": now() + 600});
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(status_and_code(&s, &token(no_aud)), (200, json!(null)));
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", ok(json!({"exp": now() - 600})), "PGRST303"),
        ("not yet valid", ok(json!({"nbf": now() + 600})), "PGRST303"),
        ("issued in the future", ok(json!({"iat": now() + 600})), "PGRST303"),
        ("wrong audience", ok(json!({"aud": "someone-else"})), "PGRST303"),
        ("numeric audience", ok(json!({"aud": 1})), "PGRST303"),
        ("object audience", ok(json!({"aud": {"name": "supalite-tests"}})), "PGRST303"),
        ("non-numeric iat", ok(json!({"iat": "yesterday"})), "PGRST303"),
        ("non-numeric exp", ok(json!({"exp": "tomorrow"})), "PGRST303"),
        ("forged service_role, wrong secret", token_with("not-the-secret-not-the-secret-not-the-secret", json!({"role": "service_role", "aud": "supalite-tests"})), "PGRST301"),
        ("role not allowed (postgres)", ok(json!({"role": "postgres"})), "PGRST301"),
        ("alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiYXVkIjoic3VwYWxpdGUtdGVzdHMifQ.".into(), "PGRST301"),
        ("truncated", ok(json!({})).rsplit_once('.').unwrap().0.to_string(), "PGRST301"),
        ("garbled signature", format!("{}x", ok(json!({})).trim_end_matches(|c: char| c != '.'))  , "PGRST301"),
        ("oversized", ok(json!({"pad": "x".repeat(20_000)})), "PGRST301"),
    ];
    let r = s.get("/rest/v1/items", &[("authorization", "Bearer ")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["message"],
        "Empty JWT is sent in Authorization header"
    );
    for (what, t, code) in cases {
        let (status, got) = status_and_code(&s, &t);
        assert_eq!((status, got), (401, json!(code)), "{what}");
    }
}

#[test]
fn jwks_keys_and_key_confusion() {
    let p = Project::new();
    p.migration(
        "20240101000000_items.sql",
        "create table items (id int primary key); insert into items values (1);",
    );
    let s = p
        .serve_with(
            &[],
            &[("SUPALITE_JWT_SECRET", &format!("{{\"keys\":[{EC_JWK}]}}"))],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("test-key".into());
    let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap();
    let good = encode(
        &h,
        &json!({"role": "authenticated", "exp": now() + 600}),
        &key,
    )
    .unwrap();
    assert_eq!(status_and_code(&s, &good), (200, json!(null)));
    // Unknown kid.
    h.kid = Some("other".into());
    let other = encode(&h, &json!({"role": "authenticated"}), &key).unwrap();
    assert_eq!(status_and_code(&s, &other).0, 401);
    // HS256 "signed" with the public key material: key confusion must fail.
    for secret in [
        EC_JWK.as_bytes(),
        b"5MbIY1jph5umddZ92-bciuc_k6kU0fs3mQXFaz4uNew".as_slice(),
    ] {
        let confused = encode(
            &Header::default(),
            &json!({"role": "service_role"}),
            &EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(status_and_code(&s, &confused).0, 401);
    }
}

fn post(s: &Server, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
    s.request("POST", path, headers, Some(&body.to_string()))
}

#[test]
fn email_confirmation_service_role_and_keys() {
    on_each_db(|p| {
        p.migration(
            "20240101000000_notes.sql",
            "create table notes (id serial primary key, user_id uuid default auth.uid(), body text);
             alter table notes enable row level security;
             create policy own on notes for all to authenticated using (auth.uid() = user_id) with check (auth.uid() = user_id);",
        );
        p.config("auth-autoconfirm = false\n");
        // `supalite keys` prints keys signed with the configured secret.
        let out = p.run(&["keys"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let service = text
            .lines()
            .find_map(|l| l.strip_prefix("service_role key: "))
            .expect("service key printed")
            .to_string();
        let anon = text
            .lines()
            .find_map(|l| l.strip_prefix("anon key: "))
            .expect("anon key printed")
            .to_string();

        let s = p.serve();
        let h = [("apikey", anon.as_str())];
        let r = post(
            &s,
            "/auth/v1/signup",
            &h,
            json!({"email": "dana@example.com", "password": "dana-password"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.json().get("access_token").is_none(),
            "no session before confirmation"
        );
        assert!(r.json()["confirmation_sent_at"].is_string());
        let id = r.json()["id"].as_str().unwrap().to_string();
        let creds = json!({"email": "dana@example.com", "password": "dana-password"});
        let r = post(&s, "/auth/v1/token?grant_type=password", &h, creds.clone());
        assert_eq!(
            (r.status, r.json()["error_code"].clone()),
            (400, json!("email_not_confirmed"))
        );

        // Only the service role may confirm, through the admin API.
        let r = s.request(
            "PUT",
            &format!("/auth/v1/admin/users/{id}"),
            &h,
            Some(r#"{"email_confirm": true}"#),
        );
        assert_eq!(
            (r.status, r.json()["error_code"].clone()),
            (403, json!("not_admin"))
        );
        let admin = format!("Bearer {service}");
        let ah = [("apikey", anon.as_str()), ("authorization", admin.as_str())];
        let r = s.request(
            "PUT",
            &format!("/auth/v1/admin/users/{id}"),
            &ah,
            Some(r#"{"email_confirm": true}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.json()["email_confirmed_at"].is_string());

        let r = post(&s, "/auth/v1/token?grant_type=password", &h, creds);
        assert_eq!(r.status, 200, "{}", r.body);
        let access = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
        let claims: Value = {
            let payload = r.json()["access_token"]
                .as_str()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap()
                .to_string();
            use base64::Engine;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        for claim in [
            "sub",
            "aud",
            "role",
            "email",
            "session_id",
            "aal",
            "amr",
            "app_metadata",
            "user_metadata",
            "is_anonymous",
            "exp",
            "iat",
            "iss",
        ] {
            assert!(
                claims.get(claim).is_some(),
                "access token lacks {claim}: {claims}"
            );
        }
        let uh = [
            ("apikey", anon.as_str()),
            ("authorization", access.as_str()),
        ];
        assert_eq!(
            s.request("POST", "/rest/v1/notes", &uh, Some(r#"{"body": "dana's"}"#))
                .status,
            201
        );
        // service_role bypasses RLS, as in Supabase; anon sees nothing.
        assert_eq!(
            s.get("/rest/v1/notes?select=body", &ah).json(),
            json!([{"body": "dana's"}])
        );
        assert_eq!(s.get("/rest/v1/notes?select=body", &h).json(), json!([]));
    });
}

#[test]
fn token_grants_are_rate_limited_per_client() {
    on_each_db(|p| {
        // Sign-ups and password sign-ins share one limit (GoTrue's
        // sign_in_sign_ups); refresh grants have their own.
        p.config(
            "auth-rate-limit-sign-in-sign-ups = 4\nauth-rate-limit-token = 1\nauth-rate-limit-window = 60\n",
        );
        let s = p.serve();
        let key = token(json!({"role": "anon", "exp": now() + 3600}));
        let h = [("apikey", key.as_str())];
        let r = post(
            &s,
            "/auth/v1/signup",
            &h,
            json!({"email": "rl@example.com", "password": "secret-123"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let login = |password: &str| {
            post(
                &s,
                "/auth/v1/token?grant_type=password",
                &h,
                json!({"email": "rl@example.com", "password": password}),
            )
        };
        // Unknown e-mail and wrong password: the same answer.
        let unknown = post(
            &s,
            "/auth/v1/token?grant_type=password",
            &h,
            json!({"email": "nobody@example.com", "password": "secret-123"}),
        );
        assert_eq!(
            (unknown.status, unknown.json()["error_code"].clone()),
            (400, json!("invalid_credentials"))
        );
        let wrong = login("wrong-one");
        assert_eq!(
            (wrong.status, wrong.json()["error_code"].clone()),
            (400, json!("invalid_credentials"))
        );
        let session = login("secret-123");
        assert_eq!(session.status, 200, "{}", session.body);
        // The fifth sign-up or sign-in in the window is refused, even with
        // the right password, and so is another sign-up.
        let r = login("secret-123");
        assert_eq!(r.status, 429, "{}", r.body);
        assert_eq!(r.json()["error_code"], "over_request_rate_limit");
        assert_eq!(r.header("retry-after"), Some("60"));
        let r = post(
            &s,
            "/auth/v1/signup",
            &h,
            json!({"email": "rl2@example.com", "password": "secret-123"}),
        );
        assert_eq!(r.status, 429, "{}", r.body);
        // Refresh grants count on their own: one, then refused.
        let refresh = session.json()["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
        let grant = || {
            post(
                &s,
                "/auth/v1/token?grant_type=refresh_token",
                &h,
                json!({ "refresh_token": refresh }),
            )
        };
        assert_eq!(grant().status, 200);
        assert_eq!(grant().status, 429);
        // The data API is not affected.
        assert_eq!(s.get("/rest/v1/", &h).status, 200);
    });
}

/// `supabase.auth.signInAnonymously()` posts `/signup` without an e-mail:
/// refused while anonymous sign-ins are off (Supabase's default), else a
/// signed-in user whose token says `is_anonymous`, which RLS can tell apart;
/// limited per client and hour.
#[test]
fn anonymous_sign_ins() {
    let p = Project::new();
    p.migration(
        "20240101000000_notes.sql",
        "create table notes (id bigint generated by default as identity primary key,
                             user_id uuid not null default auth.uid(), body text);
         alter table notes enable row level security;
         create policy own on notes for all to authenticated
           using (auth.uid() = user_id) with check (auth.uid() = user_id);
         create policy members_only on notes as restrictive for insert to authenticated
           with check (not coalesce((auth.jwt()->>'is_anonymous')::boolean, false) or body <> 'members');
         grant select, insert on notes to authenticated;",
    );
    let s = p.serve();
    let key = token(json!({"role": "anon", "exp": now() + 3600}));
    let h = [("apikey", key.as_str())];
    let r = post(
        &s,
        "/auth/v1/signup",
        &h,
        json!({"data": {"theme": "dark"}}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error_code"], "anonymous_provider_disabled");
    drop(s);

    p.config("auth-anonymous-sign-ins = true\nauth-rate-limit-anonymous-users = 2\n");
    let s = p.serve();
    let settings = s.get("/auth/v1/settings", &h).json();
    assert_eq!(settings["external"]["anonymous_users"], json!(true));
    let r = post(
        &s,
        "/auth/v1/signup",
        &h,
        json!({"data": {"theme": "dark"}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let session = r.json();
    let user = &session["user"];
    assert_eq!(user["is_anonymous"], json!(true), "{user}");
    assert_eq!(user["role"], json!("authenticated"));
    assert_eq!(user["app_metadata"]["provider"], json!("anonymous"));
    assert_eq!(user["user_metadata"]["theme"], json!("dark"));
    let access = session["access_token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {access}");
    let ah = [("apikey", key.as_str()), ("authorization", bearer.as_str())];
    // The user is who the token says, and RLS sees it is anonymous.
    let me = s.get("/auth/v1/user", &ah);
    assert_eq!(me.json()["id"], user["id"], "{}", me.body);
    let write = |body: &str| {
        s.request(
            "POST",
            "/rest/v1/notes",
            &[
                ("apikey", key.as_str()),
                ("authorization", bearer.as_str()),
                ("prefer", "return=representation"),
            ],
            Some(&json!({ "body": body }).to_string()),
        )
    };
    let mine = write("guest note");
    assert_eq!(mine.status, 201, "{}", mine.body);
    assert_eq!(mine.json()[0]["user_id"], user["id"]);
    assert_eq!(write("members").status, 403);
    assert_eq!(
        s.get("/rest/v1/notes?select=body", &ah).json(),
        json!([{"body": "guest note"}])
    );
    // The refresh token works as any other's.
    let refreshed = post(
        &s,
        "/auth/v1/token?grant_type=refresh_token",
        &h,
        json!({ "refresh_token": session["refresh_token"] }),
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.json()["user"]["is_anonymous"], json!(true));
    // Giving an e-mail and a password makes it a permanent user (autoconfirm
    // is on): same id, its notes kept, and a password sign-in works.
    let converted = s.request(
        "PUT",
        "/auth/v1/user",
        &ah,
        Some(&json!({"email": "Guest@Example.com", "password": "guest-password"}).to_string()),
    );
    assert_eq!(converted.status, 200, "{}", converted.body);
    let c = converted.json();
    assert_eq!(
        (
            &c["id"],
            &c["email"],
            &c["is_anonymous"],
            &c["app_metadata"]["provider"]
        ),
        (
            &user["id"],
            &json!("guest@example.com"),
            &json!(false),
            &json!("email")
        ),
        "{c}"
    );
    let signed_in = post(
        &s,
        "/auth/v1/token?grant_type=password",
        &h,
        json!({"email": "guest@example.com", "password": "guest-password"}),
    );
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let permanent = format!(
        "Bearer {}",
        signed_in.json()["access_token"].as_str().unwrap()
    );
    let ph = [
        ("apikey", key.as_str()),
        ("authorization", permanent.as_str()),
    ];
    assert_eq!(
        s.get("/rest/v1/notes?select=body", &ph).json(),
        json!([{"body": "guest note"}])
    );
    // Two per client and hour here: the third is refused.
    assert_eq!(post(&s, "/auth/v1/signup", &h, json!({})).status, 200);
    let r = post(&s, "/auth/v1/signup", &h, json!({}));
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("3600"));
}

/// No account enumeration by timing: an unknown e-mail is refused after the
/// same work as a wrong password for a known one (one argon2 verification;
/// it used to hash a dummy password first in every fresh instance, and an
/// instance that hashed is dropped — argon2 takes 19 MiB —, so the unknown
/// e-mail's median was 150 ms against 83 ms). Interleaved tries, medians
/// within 20 % of each other.
#[test]
fn an_unknown_email_takes_as_long_as_a_wrong_password() {
    on_each_db(|p| {
        p.config("auth-rate-limit-sign-in-sign-ups = 0\n");
        let s = p.serve();
        let key = token(json!({"role": "anon", "exp": now() + 3600}));
        let h = [("apikey", key.as_str())];
        let r = post(
            &s,
            "/auth/v1/signup",
            &h,
            json!({"email": "known@example.com", "password": "right-password"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let mut timed = |email: &str| {
            let started = std::time::Instant::now();
            let r = post(
                &s,
                "/auth/v1/token?grant_type=password",
                &h,
                json!({"email": email, "password": "wrong-password"}),
            );
            assert_eq!(
                (r.status, r.json()["error_code"].clone()),
                (400, json!("invalid_credentials"))
            );
            started.elapsed().as_secs_f64() * 1000.0
        };
        let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
        for i in 0..30 {
            // Alternate which goes first, so that neither always follows the other.
            if i % 2 == 0 {
                unknown.push(timed("nobody@example.com"));
                wrong.push(timed("known@example.com"));
            } else {
                wrong.push(timed("known@example.com"));
                unknown.push(timed("nobody@example.com"));
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let (u, w) = (median(&mut unknown), median(&mut wrong));
        eprintln!("login medians: unknown e-mail {u:.1} ms, wrong password {w:.1} ms");
        assert!(
            (u / w - 1.0).abs() <= 0.2,
            "unknown e-mail {u:.1} ms vs wrong password {w:.1} ms (more than 20 % apart)"
        );
    });
}
