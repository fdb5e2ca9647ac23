// Asymmetric signing keys (`jwt-keys`) through the real supabase-js:
// tokens issued by sign-up carry the signing key's `kid` and `alg`, verify
// against the public key `/auth/v1/.well-known/jwks.json` publishes, auth-js
// `getClaims()` verifies them locally from that JWKS, and PostgREST's side
// (RLS) reads their claims. SUPALITE_URL, SUPALITE_ANON_KEY (HS256),
// SUPALITE_EXPECT_ALG and SUPALITE_EXPECT_KID come from the Rust harness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anonKey = process.env.SUPALITE_ANON_KEY;
const alg = process.env.SUPALITE_EXPECT_ALG;
const kid = process.env.SUPALITE_EXPECT_KID;
const client = () => createClient(url, anonKey, { auth: { persistSession: false, autoRefreshToken: false } });
const part = (t, i) => JSON.parse(Buffer.from(t.split('.')[i], 'base64url').toString());
const PRIVATE = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

test('tokens are signed by the signing key and verify against the JWKS', async () => {
  const res = await fetch(`${url}/auth/v1/.well-known/jwks.json`);
  assert.equal(res.status, 200);
  const jwks = await res.json();
  assert.ok(jwks.keys.length >= 1, JSON.stringify(jwks));
  for (const k of jwks.keys) {
    for (const m of PRIVATE) assert.equal(k[m], undefined, `published key ${k.kid} has ${m}`);
    assert.deepEqual(k.key_ops, ['verify']);
    assert.equal(k.use, 'sig');
    assert.ok(k.kid && k.alg && k.kty);
  }

  const sb = client();
  const email = `keys-${Math.random().toString(36).slice(2)}@example.com`;
  const up = await sb.auth.signUp({ email, password: 'a-good-password' });
  assert.equal(up.error, null, JSON.stringify(up.error));
  const token = up.data.session.access_token;
  const header = part(token, 0);
  assert.equal(header.alg, alg);
  assert.equal(header.kid, kid);

  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, 'the signing key is published');
  const [h, p, s] = token.split('.');
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = alg === 'RS256'
    ? crypto.verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))
    : crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  assert.ok(ok, 'the signature verifies with the published key');

  // auth-js verifies an asymmetric token locally with the JWKS.
  const claims = await sb.auth.getClaims();
  assert.equal(claims.error, null, JSON.stringify(claims.error));
  assert.equal(claims.data.claims.sub, up.data.user.id);
  assert.equal(claims.data.header?.kid ?? kid, kid);

  // Password and refresh grants sign the same way.
  const signedIn = await client().auth.signInWithPassword({ email, password: 'a-good-password' });
  assert.equal(signedIn.error, null);
  assert.equal(part(signedIn.data.session.access_token, 0).kid, kid);
  const refreshed = await sb.auth.refreshSession();
  assert.equal(refreshed.error, null, JSON.stringify(refreshed.error));
  assert.equal(part(refreshed.data.session.access_token, 0).kid, kid);

  // The data API takes the token; RLS sees its claims (auth.uid()).
  assert.equal((await sb.from('notes').insert({ body: 'signed by a key' })).error, null);
  const mine = await sb.from('notes').select('body, user_id');
  assert.equal(mine.error, null, JSON.stringify(mine.error));
  assert.deepEqual(mine.data, [{ body: 'signed by a key', user_id: up.data.user.id }]);

  const user = await sb.auth.getUser();
  assert.equal(user.error, null);
  assert.equal(user.data.user.email, email);
});
