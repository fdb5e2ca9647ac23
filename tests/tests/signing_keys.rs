//! Asymmetric signing keys (`jwt-keys`, the Supabase CLI's
//! `signing_keys.json` / GoTrue's `GOTRUE_JWT_KEYS`): the auth API signs with
//! the one key whose `key_ops` has `sign`, every listed key verifies by
//! `kid`, HS256 with `jwt-secret` still works, the JWKS is public-only.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use std::process::Command;
use supalite_tests::*;

/// Key pairs made by node's crypto (as `openssl genpkey` would): each as a
/// private JWK and a PEM.
fn generate(kind: &str) -> (Value, String) {
    let script = match kind {
        "rsa" => "const {privateKey}=require('crypto').generateKeyPairSync('rsa',{modulusLength:2048});console.log(JSON.stringify({jwk:privateKey.export({format:'jwk'}),pem:privateKey.export({type:'pkcs1',format:'pem'})}))",
        _ => "const {privateKey}=require('crypto').generateKeyPairSync('ec',{namedCurve:'P-256'});console.log(JSON.stringify({jwk:privateKey.export({format:'jwk'}),pem:privateKey.export({type:'pkcs8',format:'pem'})}))",
    };
    let out = Command::new("node").args(["-e", script]).output().expect("node");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["jwk"].clone(), v["pem"].as_str().unwrap().to_string())
}

fn with(mut jwk: Value, kid: &str, alg: &str, ops: &[&str]) -> Value {
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg);
    jwk["key_ops"] = json!(ops);
    jwk["ext"] = json!(true);
    jwk
}

fn sign(alg: jsonwebtoken::Algorithm, kid: &str, pem: &str, claims: Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_string());
    let key = match alg {
        jsonwebtoken::Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
    };
    encode(&h, &claims, &key).unwrap()
}

fn check_set(p: Project, rsa: bool) {
    use jsonwebtoken::Algorithm::*;
    p.migration("001_notes.sql", NOTES_SQL);
    let (alg, alg_name) = if rsa { (RS256, "RS256") } else { (ES256, "ES256") };
    let kind = if rsa { "rsa" } else { "ec" };
    let (k1, pem1) = generate(kind);
    let (k2, pem2) = generate(kind);
    let (_, stranger) = generate(kind);
    // The CLI's format: an array of private JWKs; a retired key verifies only.
    let set = json!([
        with(k1, "key-current", alg_name, &["sign", "verify"]),
        with(k2, "key-retired", alg_name, &["verify"]),
    ])
    .to_string();
    // RS256 as a file path (as `signing_keys_path`), ES256 as the value.
    let value = if rsa {
        std::fs::write(p.path().join("signing_keys.json"), &set).unwrap();
        "signing_keys.json".to_string()
    } else {
        set.clone()
    };
    let server = p
        .serve_with(&[], &[("SUPALITE_JWT_KEYS", &value)])
        .unwrap_or_else(|e| panic!("server did not start: {e}"));

    // The JWKS: both public keys, no private member.
    let jwks = server.get("/auth/v1/.well-known/jwks.json", &[]);
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    let keys = jwks.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "{}", jwks.body);
    for k in &keys {
        for m in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(m).is_none(), "published {m}: {k}");
        }
        assert_eq!(k["key_ops"], json!(["verify"]));
        assert_eq!(k["use"], "sig");
        assert_eq!(k["alg"], alg_name);
    }

    // supabase-js: sign-up, header, JWKS verification, getClaims(), RLS.
    let anon = token(json!({"role": "anon", "exp": now() + 3600}));
    let report = run_node(
        "signing_keys.test.mjs",
        &server,
        &[
            ("SUPALITE_ANON_KEY", &anon),
            ("SUPALITE_EXPECT_ALG", alg_name),
            ("SUPALITE_EXPECT_KID", "key-current"),
        ],
    );
    assert!(report.contains("pass 1") && report.contains("fail 0"), "{report}");

    let claims = |role: &str| json!({"role": role, "iss": "supabase-demo", "exp": now() + 3600});
    let bearer = |t: &str| format!("Bearer {t}");
    // A service_role key signed by the signing key, and by the retired one.
    for (kid, pem) in [("key-current", &pem1), ("key-retired", &pem2)] {
        let service = sign(alg, kid, pem, claims("service_role"));
        let users = server.get(
            "/auth/v1/admin/users",
            &[("apikey", &service), ("authorization", &bearer(&service))],
        );
        assert_eq!(users.status, 200, "{kid}: {}", users.body);
        assert!(users.json()["users"].as_array().unwrap().len() >= 1, "{}", users.body);
        // service_role passes RLS: every note.
        let notes = server.get(
            "/rest/v1/notes?select=body",
            &[("apikey", &anon), ("authorization", &bearer(&service))],
        );
        assert_eq!(notes.status, 200, "{kid}: {}", notes.body);
        assert_eq!(notes.json(), json!([{"body": "signed by a key"}]));
    }
    // An authenticated token signed in the test: RLS reads its claims.
    let auth_tok = sign(
        alg,
        "key-retired",
        &pem2,
        json!({"role": "authenticated", "sub": "00000000-0000-0000-0000-000000000001", "exp": now() + 3600}),
    );
    let none = server.get(
        "/rest/v1/notes?select=body",
        &[("apikey", &anon), ("authorization", &bearer(&auth_tok))],
    );
    assert_eq!(none.status, 200, "{}", none.body);
    assert_eq!(none.json(), json!([]));

    // Unknown kid, and a listed kid with a stranger's signature: 401.
    for (kid, pem) in [("key-unknown", &stranger), ("key-current", &stranger)] {
        let t = sign(alg, kid, pem, claims("service_role"));
        let r = server.get(
            "/rest/v1/notes?select=body",
            &[("apikey", &anon), ("authorization", &bearer(&t))],
        );
        assert_eq!(r.status, 401, "{kid}: {}", r.body);
        let r = server.get(
            "/auth/v1/admin/users",
            &[("apikey", &t), ("authorization", &bearer(&t))],
        );
        assert_eq!(r.status, 401, "{kid}: {}", r.body);
    }

    // HS256 with jwt-secret still works next to the key set.
    let hs = token(claims("service_role"));
    let users = server.get(
        "/auth/v1/admin/users",
        &[("apikey", &hs), ("authorization", &bearer(&hs))],
    );
    assert_eq!(users.status, 200, "{}", users.body);
    let notes = server.get(
        "/rest/v1/notes?select=body",
        &[("apikey", &hs), ("authorization", &bearer(&hs))],
    );
    assert_eq!(notes.status, 200, "{}", notes.body);
}

#[test]
fn rs256_key_set_signs_verifies_and_publishes() {
    on_each_db(|p| check_set(p, true));
}

#[test]
fn es256_key_set_signs_verifies_and_publishes() {
    on_each_db(|p| check_set(p, false));
}

#[test]
fn two_signing_keys_are_refused_at_start() {
    let p = Project::new();
    let (k1, _) = generate("ec");
    let (k2, _) = generate("ec");
    let set = json!([with(k1, "a", "ES256", &["sign"]), with(k2, "b", "ES256", &["sign"])]);
    let err = match p.serve_with(&[], &[("SUPALITE_JWT_KEYS", &set.to_string())]) {
        Ok(_) => panic!("a set with two signing keys was accepted"),
        Err(e) => e,
    };
    assert!(err.contains("multiple signing keys detected"), "{err}");
}
