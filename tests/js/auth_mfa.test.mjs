// supabase-js's auth.mfa against supalite's TOTP factors (issue 26). The
// codes are computed here (RFC 6238 with node:crypto), not by the server.
// SUPALITE_URL, SUPALITE_ANON_KEY, SUPALITE_SERVICE_KEY and SUPALITE_SITE_URL
// come from the Rust harness, which applies a migration with a table
// `mfa_secrets` readable only with an aal2 token (the documented Supabase
// MFA policy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anonKey = process.env.SUPALITE_ANON_KEY;
const serviceKey = process.env.SUPALITE_SERVICE_KEY;
const siteHost = new URL(process.env.SUPALITE_SITE_URL).host;
const client = (key = anonKey) => createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });
const admin = client(serviceKey).auth.admin;
const suffix = Math.random().toString(36).slice(2);
const password = 'mfa-password-1';

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '')) {
    const i = alphabet.indexOf(c);
    assert.ok(i >= 0, `not base32: ${s}`);
    value = ((value << 5) | i) & 0x1fff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238: HMAC-SHA1 of the 30 s step, dynamically truncated, 6 digits. */
function totp(secret, t = Date.now() / 1000) {
  const step = Buffer.alloc(8);
  step.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const h = createHmac('sha1', base32(secret)).update(step).digest();
  const o = h[19] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** A code that is none of the codes around now. */
function wrongCode(secret) {
  const now = Date.now() / 1000;
  const near = [-60, -30, 0, 30, 60].map((d) => totp(secret, now + d));
  return ['000000', '111111', '222222'].find((c) => !near.includes(c));
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

async function signedIn(email) {
  const c = client();
  const r = await c.auth.signInWithPassword({ email, password });
  assert.equal(r.error, null, JSON.stringify(r.error));
  return c;
}

async function newUser(name) {
  const email = `${name}-${suffix}@example.com`;
  const c = client();
  const up = await c.auth.signUp({ email, password });
  assert.equal(up.error, null, JSON.stringify(up.error));
  return { email, c, id: up.data.user.id };
}

test('the RFC 6238 test vector (the test computes codes itself)', () => {
  // Appendix B, SHA-1, T = 59: 94287082, of which 6 digits.
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59), '287082');
  assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 1111111109), '081804');
});

// One user through the whole flow; later tests use it.
const alice = {};

test('enroll, challenge, verify: the session becomes aal2 and stays aal2 on refresh', async () => {
  Object.assign(alice, await newUser('alice'));
  const { c, email } = alice;
  const sid = claims((await c.auth.getSession()).data.session.access_token).session_id;
  const before = await c.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.equal(before.error, null);
  assert.deepEqual([before.data.currentLevel, before.data.nextLevel], ['aal1', 'aal1']);
  assert.equal(before.data.currentAuthenticationMethods[0].method, 'password');

  const en = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'phone app' });
  assert.equal(en.error, null, JSON.stringify(en.error));
  assert.equal(en.data.type, 'totp');
  assert.equal(en.data.friendly_name, 'phone app');
  const { secret, uri, qr_code } = en.data.totp;
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.equal(
    uri,
    `otpauth://totp/${siteHost}:${email}?algorithm=SHA1&digits=6&issuer=${siteHost}&period=30&secret=${secret}`,
  );
  assert.ok(qr_code.startsWith('data:image/svg+xml;utf-8,<?xml'), qr_code.slice(0, 60));
  assert.ok(qr_code.endsWith('</svg>') && !qr_code.includes('#'));
  alice.factorId = en.data.id;
  alice.secret = secret;

  // Unverified: listed in `all`, not among the usable TOTP factors.
  let list = await c.auth.mfa.listFactors();
  assert.equal(list.error, null);
  assert.equal(list.data.all.length, 1);
  assert.equal(list.data.all[0].status, 'unverified');
  assert.equal(list.data.all[0].factor_type, 'totp');
  assert.equal(list.data.totp.length, 0);

  const ch = await c.auth.mfa.challenge({ factorId: alice.factorId });
  assert.equal(ch.error, null, JSON.stringify(ch.error));
  assert.equal(ch.data.type, 'totp');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(ch.data.expires_at - (now + 300)) <= 5, `${ch.data.expires_at} vs ${now}`);

  const wrong = await c.auth.mfa.verify({ factorId: alice.factorId, challengeId: ch.data.id, code: wrongCode(secret) });
  assert.equal(wrong.data, null);
  assert.equal(wrong.error.status, 422);
  assert.equal(wrong.error.code, 'mfa_verification_failed');
  assert.equal(wrong.error.message, 'Invalid TOTP code entered');

  const empty = await c.auth.mfa.verify({ factorId: alice.factorId, challengeId: ch.data.id, code: '' });
  assert.equal(empty.error.status, 400);
  assert.equal(empty.error.message, 'Code needs to be non-empty');

  const ok = await c.auth.mfa.verify({ factorId: alice.factorId, challengeId: ch.data.id, code: totp(secret) });
  assert.equal(ok.error, null, JSON.stringify(ok.error));
  const token = claims(ok.data.access_token);
  assert.equal(token.aal, 'aal2');
  assert.deepEqual(token.amr.map((a) => a.method), ['totp', 'password']);
  assert.ok(token.amr.every((a) => Number.isInteger(a.timestamp) && Math.abs(a.timestamp - now) < 60));
  assert.equal(token.session_id, sid);
  assert.equal(ok.data.user.factors.length, 1);
  assert.equal(ok.data.user.factors[0].status, 'verified');

  // A verified challenge is not verified again.
  const again = await c.auth.mfa.verify({ factorId: alice.factorId, challengeId: ch.data.id, code: totp(secret) });
  assert.equal(again.error?.code, 'mfa_ip_address_mismatch');

  const aal = await c.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.deepEqual([aal.data.currentLevel, aal.data.nextLevel], ['aal2', 'aal2']);
  assert.equal(aal.data.currentAuthenticationMethods[0].method, 'totp');

  list = await c.auth.mfa.listFactors();
  assert.equal(list.data.totp.length, 1);
  assert.equal(list.data.totp[0].id, alice.factorId);
  assert.equal(list.data.totp[0].friendly_name, 'phone app');

  const user = await c.auth.getUser();
  assert.equal(user.data.user.factors.length, 1);

  const refreshed = await c.auth.refreshSession();
  assert.equal(refreshed.error, null, JSON.stringify(refreshed.error));
  const r = claims(refreshed.data.session.access_token);
  assert.equal(r.aal, 'aal2');
  assert.deepEqual(r.amr.map((a) => a.method), ['totp', 'password']);
  alice.aal2 = c;
});

test('an RLS policy on auth.jwt()->>aal lets only aal2 tokens read', async () => {
  const aal1 = await signedIn(alice.email);
  const level = await aal1.auth.mfa.getAuthenticatorAssuranceLevel();
  assert.deepEqual([level.data.currentLevel, level.data.nextLevel], ['aal1', 'aal2']);
  const refused = await aal1.from('mfa_secrets').select('body');
  assert.equal(refused.error, null, JSON.stringify(refused.error));
  assert.deepEqual(refused.data, []);
  const ins = await aal1.from('mfa_secrets').insert({ body: 'no' });
  assert.equal(ins.error?.code, '42501');

  const allowed = await alice.aal2.from('mfa_secrets').select('body');
  assert.equal(allowed.error, null, JSON.stringify(allowed.error));
  assert.deepEqual(allowed.data, [{ body: 'only with aal2' }]);

  // challengeAndVerify raises the new session too.
  const cv = await aal1.auth.mfa.challengeAndVerify({ factorId: alice.factorId, code: totp(alice.secret) });
  assert.equal(cv.error, null, JSON.stringify(cv.error));
  assert.equal(claims(cv.data.access_token).aal, 'aal2');
  const now = await aal1.from('mfa_secrets').select('body');
  assert.deepEqual(now.data, [{ body: 'only with aal2' }]);
});

test("another user's factor or challenge is not found", async () => {
  const bob = await newUser('bob');
  const ch = await bob.c.auth.mfa.challenge({ factorId: alice.factorId });
  assert.equal(ch.error.status, 404);
  assert.equal(ch.error.code, 'mfa_factor_not_found');
  assert.equal(ch.error.message, 'Factor not found');
  const un = await bob.c.auth.mfa.unenroll({ factorId: alice.factorId });
  assert.equal(un.error?.code, 'mfa_factor_not_found');

  // Bob's own factor with a challenge of Alice's.
  const en = await bob.c.auth.mfa.enroll({ factorType: 'totp' });
  assert.equal(en.error, null, JSON.stringify(en.error));
  assert.equal(en.data.friendly_name, '');
  const aliceChallenge = await alice.aal2.auth.mfa.challenge({ factorId: alice.factorId });
  assert.equal(aliceChallenge.error, null);
  const v = await bob.c.auth.mfa.verify({ factorId: en.data.id, challengeId: aliceChallenge.data.id, code: totp(en.data.totp.secret) });
  assert.equal(v.error.status, 422);
  assert.equal(v.error.code, 'mfa_factor_not_found');
  assert.equal(v.error.message, 'MFA factor with the provided challenge ID not found');

  const bad = await bob.c.auth.mfa.challenge({ factorId: 'not-a-uuid' });
  assert.equal(bad.error.status, 404);
  assert.equal(bad.error.message, 'factor_id must be an UUID');

  // Without a session.
  const anon = await client().auth.mfa.enroll({ factorType: 'totp' });
  assert.ok(anon.error);
});

test('enrolment rules: names, types, unverified factors, aal2 to change a verified setup', async () => {
  const carol = await newUser('carol');
  const c = carol.c;
  const phone = await c.auth.mfa.enroll({ factorType: 'phone', phone: '+15555550100' });
  assert.equal(phone.error.status, 422);
  assert.equal(phone.error.code, 'mfa_phone_enroll_disabled');
  assert.equal(phone.error.message, 'MFA enroll is disabled for Phone');
  const wa = await c.auth.mfa.enroll({ factorType: 'webauthn' });
  assert.equal(wa.error?.code, 'mfa_webauthn_enroll_disabled');
  assert.equal(wa.error?.message, 'MFA enroll is disabled for WebAuthn');
  const other = await c.auth.mfa.enroll({ factorType: 'sms' });
  assert.equal(other.error.status, 400);
  assert.equal(other.error.message, 'factor_type needs to be totp, phone, or webauthn');

  const a = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'one', issuer: 'My App' });
  assert.equal(a.error, null);
  assert.ok(a.data.totp.uri.startsWith(`otpauth://totp/My%20App:${carol.email}?`), a.data.totp.uri);
  const dup = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'one' });
  assert.equal(dup.error.status, 422);
  assert.equal(dup.error.code, 'mfa_factor_name_conflict');
  assert.equal(dup.error.message, 'A factor with the friendly name "one" for this user already exists');
  const b = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'two' });
  assert.equal(b.error, null);
  assert.equal((await c.auth.mfa.listFactors()).data.all.length, 2);

  // An unverified factor goes at aal1.
  const gone = await c.auth.mfa.unenroll({ factorId: b.data.id });
  assert.equal(gone.error, null, JSON.stringify(gone.error));
  assert.equal(gone.data.id, b.data.id);
  const third = await c.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'three' });
  assert.equal(third.error, null);

  // Verifying one removes the other unverified TOTP factors.
  const cv = await c.auth.mfa.challengeAndVerify({ factorId: a.data.id, code: totp(a.data.totp.secret) });
  assert.equal(cv.error, null, JSON.stringify(cv.error));
  const list = await c.auth.mfa.listFactors();
  assert.deepEqual(list.data.all.map((f) => f.id), [a.data.id]);

  // At aal1 (a new sign-in) a verified factor can be neither added to nor removed.
  const aal1 = await signedIn(carol.email);
  const add = await aal1.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'four' });
  assert.equal(add.error.status, 403);
  assert.equal(add.error.code, 'insufficient_aal');
  assert.equal(add.error.message, 'AAL2 required to enroll a new factor');
  const rm = await aal1.auth.mfa.unenroll({ factorId: a.data.id });
  assert.equal(rm.error.status, 422);
  assert.equal(rm.error.code, 'insufficient_aal');
  assert.equal(rm.error.message, 'AAL2 required to unenroll verified factor');

  // At aal2 it can; the session goes back to aal1 on its next token.
  const up = await aal1.auth.mfa.challengeAndVerify({ factorId: a.data.id, code: totp(a.data.totp.secret) });
  assert.equal(up.error, null, JSON.stringify(up.error));
  const ok = await aal1.auth.mfa.unenroll({ factorId: a.data.id });
  assert.equal(ok.error, null, JSON.stringify(ok.error));
  const r = await aal1.auth.refreshSession();
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(claims(r.data.session.access_token).aal, 'aal1');
  assert.deepEqual(claims(r.data.session.access_token).amr.map((a) => a.method), ['password']);
  assert.equal((await aal1.auth.mfa.listFactors()).data.all.length, 0);
});

test('admin lists, renames and deletes a user\'s factors', async () => {
  const list = await admin.mfa.listFactors({ userId: alice.id });
  assert.equal(list.error, null, JSON.stringify(list.error));
  assert.deepEqual(list.data.factors.map((f) => f.id), [alice.factorId]);
  assert.equal(list.data.factors[0].status, 'verified');
  assert.equal(list.data.factors[0].secret, undefined);

  const put = await fetch(`${url}/auth/v1/admin/users/${alice.id}/factors/${alice.factorId}`, {
    method: 'PUT',
    headers: { apikey: anonKey, authorization: `Bearer ${serviceKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ friendly_name: 'renamed' }),
  });
  assert.equal(put.status, 200);
  assert.equal((await put.json()).friendly_name, 'renamed');

  const notAdmin = await alice.aal2.auth.admin.mfa.listFactors({ userId: alice.id });
  assert.equal(notAdmin.error?.status, 403);

  const missing = await admin.mfa.deleteFactor({ userId: alice.id, id: '00000000-0000-0000-0000-000000000000' });
  assert.equal(missing.error?.status, 404);
  assert.equal(missing.error?.code, 'mfa_factor_not_found');

  const del = await admin.mfa.deleteFactor({ userId: alice.id, id: alice.factorId });
  assert.equal(del.error, null, JSON.stringify(del.error));
  // auth-js wraps the deleted factor (GoTrue's body) once more: `{ data: factor, error: null }`.
  assert.equal(del.data.data.id, alice.factorId);
  assert.deepEqual((await admin.mfa.listFactors({ userId: alice.id })).data.factors, []);
  // Alice's aal2 session is aal1 again.
  const r = await alice.aal2.auth.refreshSession();
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(claims(r.data.session.access_token).aal, 'aal1');
});

// Last: it uses up this client's verify budget for the minute.
test('verify attempts are rate limited (15 a minute, as GoTrue)', async () => {
  const dave = await newUser('dave');
  const en = await dave.c.auth.mfa.enroll({ factorType: 'totp' });
  const ch = await dave.c.auth.mfa.challenge({ factorId: en.data.id });
  assert.equal(ch.error, null);
  let limited = null;
  for (let i = 0; i < 20 && !limited; i++) {
    const v = await dave.c.auth.mfa.verify({ factorId: en.data.id, challengeId: ch.data.id, code: wrongCode(en.data.totp.secret) });
    if (v.error?.status === 429) limited = v.error;
    else assert.equal(v.error?.code, 'mfa_verification_failed');
  }
  assert.ok(limited, 'no 429 in 20 attempts');
  assert.equal(limited.code, 'over_request_rate_limit');
  // Even the right code is refused now.
  const right = await dave.c.auth.mfa.verify({ factorId: en.data.id, challengeId: ch.data.id, code: totp(en.data.totp.secret) });
  assert.equal(right.error?.status, 429);
});
