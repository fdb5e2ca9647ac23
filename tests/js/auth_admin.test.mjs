// supabase-js's auth admin client, reauthentication, identities and the
// sign-in methods supalite does not offer, against supalite (issue 26), as
// GoTrue answers them. SUPALITE_URL, SUPALITE_ANON_KEY, SUPALITE_SERVICE_KEY
// and SUPALITE_MAILPIT_URL come from the Rust harness (tests/tests/auth_admin.rs),
// which starts a fresh server with auth-secure-password-change and
// auth-manual-linking on and a migration defining public.age_sessions().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anonKey = process.env.SUPALITE_ANON_KEY;
const serviceKey = process.env.SUPALITE_SERVICE_KEY;
const mailpit = process.env.SUPALITE_MAILPIT_URL;
const client = (key = anonKey) => createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });
const service = client(serviceKey);
const admin = service.auth.admin;
const suffix = Math.random().toString(36).slice(2);
const adminHeaders = { apikey: anonKey, authorization: `Bearer ${serviceKey}`, 'content-type': 'application/json' };
const raw = async (method, path, body, headers = adminHeaders) => {
  const r = await fetch(`${url}/auth/v1${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
};

/** The newest message to `to` with `subject` matching (waits a little). */
async function mailTo(to, subject) {
  for (let i = 0; i < 50; i++) {
    const list = await (await fetch(`${mailpit}/api/v1/messages`)).json();
    const m = list.messages.find((m) => m.To[0].Address === to && subject.test(m.Subject));
    if (m) return (await (await fetch(`${mailpit}/api/v1/message/${m.ID}`)).json());
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${to}`);
}

/** Signs in with a password on a fresh client. */
async function signedIn(email, password) {
  const c = client();
  const r = await c.auth.signInWithPassword({ email, password });
  assert.equal(r.error, null, JSON.stringify(r.error));
  return c;
}

// First: the list's counts are this server's only users.
test('listUsers: newest first, pages, nextPage/lastPage/total from Link and X-Total-Count', async () => {
  const made = [];
  for (let i = 0; i < 5; i++) {
    const { data, error } = await admin.createUser({ email: `list-${i}-${suffix}@example.com`, password: 'list-password', email_confirm: true });
    assert.equal(error, null, JSON.stringify(error));
    made.push(data.user.id);
    await new Promise((r) => setTimeout(r, 5));
  }
  const first = await admin.listUsers({ page: 1, perPage: 2 });
  assert.equal(first.error, null, JSON.stringify(first.error));
  assert.equal(first.data.aud, 'authenticated');
  assert.deepEqual(first.data.users.map((u) => u.id), [made[4], made[3]]);
  assert.equal(first.data.nextPage, 2);
  assert.equal(first.data.lastPage, 3);
  assert.equal(first.data.total, 5);
  const last = await admin.listUsers({ page: 3, perPage: 2 });
  assert.deepEqual(last.data.users.map((u) => u.id), [made[0]]);
  assert.equal(last.data.nextPage, null);
  assert.equal(last.data.lastPage, 3);
  // The default page size is GoTrue's 50.
  const all = await admin.listUsers();
  assert.equal(all.data.users.length, 5);
  assert.equal(all.data.total, 5);
  // The raw headers, as GoTrue writes them.
  const r = await raw('GET', '/admin/users?per_page=2&page=2');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-total-count'), '5');
  assert.equal(r.headers.get('link'), '</admin/users?page=3&per_page=2>; rel="next", </admin/users?page=3&per_page=2>; rel="last"');
  for (const [q, v] of [['page=-1', '-1'], ['per_page=abc', 'abc']]) {
    const bad = await raw('GET', `/admin/users?${q}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error_code, 'validation_failed');
    assert.equal(bad.body.msg, `Bad Pagination Parameters: strconv.ParseUint: parsing "${v}": invalid syntax`);
  }
  const viaJs = await admin.listUsers({ page: -1 });
  assert.equal(viaJs.error?.status, 400);
  assert.equal(viaJs.error?.code, 'validation_failed');
});

test('createUser: GoTrue validation, metadata, role, phone identity', async () => {
  const bad = await admin.createUser({ email: 'xx:;x@x.x', password: 'whatever-pw' });
  assert.equal(bad.error?.status, 400);
  assert.equal(bad.error?.code, 'validation_failed');
  assert.equal(bad.error?.message, 'Unable to validate email address: invalid format');
  const badPhone = await admin.createUser({ phone: '12ab', password: 'whatever-pw' });
  assert.equal(badPhone.error?.status, 400);
  assert.equal(badPhone.error?.message, 'Invalid phone number format (E.164 required)');
  const none = await admin.createUser({ password: 'whatever-pw' });
  assert.equal(none.error?.message, 'Cannot create a user without either an email or phone');
  const badId = await admin.createUser({ id: 'nope', email: `id-${suffix}@example.com` });
  assert.equal(badId.error?.message, 'ID must conform to the uuid v4 format');

  const email = `Create-${suffix}@Example.com`;
  const id = '7d6f2a3e-5a1b-4c4d-9e8f-0123456789ab';
  const { data, error } = await admin.createUser({
    id, email, phone: '+1 555 0100', password: 'create-password', email_confirm: true, phone_confirm: true,
    role: 'authenticated', user_metadata: { name: 'Ada' }, app_metadata: { plan: 'pro' },
  });
  assert.equal(error, null, JSON.stringify(error));
  const u = data.user;
  assert.equal(u.id, id);
  assert.equal(u.email, email.toLowerCase());
  assert.equal(u.phone, '15550100');
  assert.ok(u.email_confirmed_at && u.phone_confirmed_at && u.confirmed_at);
  assert.deepEqual(u.user_metadata, { name: 'Ada' });
  assert.deepEqual(u.app_metadata, { provider: 'email', providers: ['email', 'phone'], plan: 'pro' });
  assert.deepEqual(u.identities.map((i) => i.provider).sort(), ['email', 'phone']);
  const dup = await admin.createUser({ email: email.toLowerCase(), password: 'create-password' });
  assert.equal(dup.error?.status, 422);
  assert.equal(dup.error?.code, 'email_exists');
  assert.equal(dup.error?.message, 'A user with this email address has already been registered');
  const dupPhone = await admin.createUser({ phone: '15550100' });
  assert.equal(dupPhone.error?.code, 'phone_exists');
  const got = await admin.getUserById(id);
  assert.equal(got.data.user.email, email.toLowerCase());
  const missing = await admin.getUserById('00000000-0000-4000-8000-000000000000');
  assert.equal(missing.error?.status, 404);
  assert.equal(missing.error?.code, 'user_not_found');
  await signedIn(email.toLowerCase(), 'create-password');
});

test('updateUserById: metadata merge and removal, role, e-mail, password; ban_duration as Go durations', async () => {
  const email = `update-${suffix}@example.com`;
  const { data } = await admin.createUser({ email, password: 'update-password', email_confirm: true, app_metadata: { a: 1, b: 2 }, user_metadata: { x: 1 } });
  const id = data.user.id;
  const up = await admin.updateUserById(id, {
    app_metadata: { a: null, c: 3 }, user_metadata: { y: 2 }, role: 'service_role', email: `updated-${suffix}@example.com`, email_confirm: true,
    password: 'updated-password',
  });
  assert.equal(up.error, null, JSON.stringify(up.error));
  assert.deepEqual(up.data.user.app_metadata, { provider: 'email', providers: ['email'], b: 2, c: 3 });
  assert.deepEqual(up.data.user.user_metadata, { x: 1, y: 2 });
  assert.equal(up.data.user.role, 'service_role');
  assert.equal(up.data.user.email, `updated-${suffix}@example.com`);
  assert.equal(up.data.user.identities[0].identity_data.email, `updated-${suffix}@example.com`);
  await signedIn(`updated-${suffix}@example.com`, 'updated-password');
  await admin.updateUserById(id, { role: 'authenticated' });

  const badBan = await admin.updateUserById(id, { ban_duration: 'abc' });
  assert.equal(badBan.error?.status, 400);
  assert.equal(badBan.error?.code, 'validation_failed');
  assert.equal(badBan.error?.message, 'invalid format for ban duration: time: invalid duration "abc"');
  const badUnit = await admin.updateUserById(id, { ban_duration: '1d' });
  assert.equal(badUnit.error?.message, 'invalid format for ban duration: time: unknown unit "d" in duration "1d"');
  const ban = await admin.updateUserById(id, { ban_duration: '24h' });
  assert.equal(ban.error, null, JSON.stringify(ban.error));
  const until = Date.parse(ban.data.user.banned_until);
  assert.ok(Math.abs(until - (Date.now() + 24 * 3600e3)) < 60e3, ban.data.user.banned_until);
  const refused = await client().auth.signInWithPassword({ email: `updated-${suffix}@example.com`, password: 'updated-password' });
  assert.equal(refused.error?.status, 400);
  assert.equal(refused.error?.code, 'user_banned');
  assert.equal(refused.error?.message, 'User is banned');
  const lifted = await admin.updateUserById(id, { ban_duration: 'none' });
  assert.equal(lifted.data.user.banned_until, null);
  await signedIn(`updated-${suffix}@example.com`, 'updated-password');
});

test('deleteUser: soft (GoTrue obfuscation) and hard', async () => {
  const email = `soft-${suffix}@example.com`;
  const { data } = await admin.createUser({ email, password: 'soft-password', email_confirm: true, user_metadata: { n: 1 } });
  const id = data.user.id;
  const c = await signedIn(email, 'soft-password');
  const token = (await c.auth.getSession()).data.session.access_token;
  const del = await admin.deleteUser(id, true);
  assert.equal(del.error, null, JSON.stringify(del.error));
  const got = await admin.getUserById(id);
  assert.equal(got.error, null);
  const u = got.data.user;
  assert.ok(u.deleted_at);
  assert.notEqual(u.email, email);
  assert.match(u.email, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(u.user_metadata, {});
  assert.deepEqual(u.app_metadata, {});
  assert.equal(u.identities.length, 1);
  assert.deepEqual(u.identities[0].identity_data, {});
  assert.notEqual(u.identities[0].id, id);
  // Its sessions are gone; it cannot sign in; its address is free again.
  const me = await raw('GET', '/user', undefined, { apikey: anonKey, authorization: `Bearer ${token}` });
  assert.equal(me.status, 403);
  assert.equal(me.body.error_code, 'session_not_found');
  const refused = await client().auth.signInWithPassword({ email, password: 'soft-password' });
  assert.equal(refused.error?.code, 'invalid_credentials');
  const again = await admin.createUser({ email, password: 'soft-password', email_confirm: true });
  assert.equal(again.error, null, JSON.stringify(again.error));
  // Hard.
  const hard = await admin.deleteUser(again.data.user.id);
  assert.equal(hard.error, null);
  const gone = await admin.getUserById(again.data.user.id);
  assert.equal(gone.error?.status, 404);
  assert.equal(gone.error?.code, 'user_not_found');
  const twice = await admin.deleteUser(again.data.user.id);
  assert.equal(twice.error?.code, 'user_not_found');
});

test('reauthenticate: the e-mailed code is the nonce of a password change in an old session', async () => {
  const email = `reauth-${suffix}@example.com`;
  await admin.createUser({ email, password: 'reauth-password', email_confirm: true });
  const c = await signedIn(email, 'reauth-password');
  // A session signed in within 24 hours changes the password without one, as GoTrue's.
  const fresh = await c.auth.updateUser({ password: 'reauth-password-2' });
  assert.equal(fresh.error, null, JSON.stringify(fresh.error));
  const same = await c.auth.updateUser({ password: 'reauth-password-2' });
  assert.equal(same.error?.status, 422);
  assert.equal(same.error?.code, 'same_password');
  assert.equal(same.error?.message, 'New password should be different from the old password.');
  // Age the sessions past 24 hours.
  const aged = await service.rpc('age_sessions');
  assert.equal(aged.error, null, JSON.stringify(aged.error));
  const needed = await c.auth.updateUser({ password: 'reauth-password-3' });
  assert.equal(needed.error?.status, 400);
  assert.equal(needed.error?.code, 'reauthentication_needed');
  assert.equal(needed.error?.message, 'Password update requires reauthentication');
  const noCode = await c.auth.updateUser({ password: 'reauth-password-3', nonce: '123456' });
  assert.equal(noCode.error?.status, 422);
  assert.equal(noCode.error?.code, 'reauthentication_not_valid');

  const sent = await c.auth.reauthenticate();
  assert.equal(sent.error, null, JSON.stringify(sent.error));
  const mail = await mailTo(email, /is your verification code$/);
  const code = mail.Subject.match(/^(\d+) is your verification code$/)[1];
  assert.ok(mail.Text.includes(code));
  const soon = await c.auth.reauthenticate();
  assert.equal(soon.error?.status, 429);
  assert.equal(soon.error?.code, 'over_email_send_rate_limit');
  const wrong = await c.auth.updateUser({ password: 'reauth-password-3', nonce: code === '000000' ? '111111' : '000000' });
  assert.equal(wrong.error?.code, 'reauthentication_not_valid');
  assert.equal(wrong.error?.message, 'Nonce has expired or is invalid');
  const ok = await c.auth.updateUser({ password: 'reauth-password-3', nonce: code });
  assert.equal(ok.error, null, JSON.stringify(ok.error));
  await signedIn(email, 'reauth-password-3');
  // Used once.
  const reused = await c.auth.updateUser({ password: 'reauth-password-4', nonce: code });
  assert.equal(reused.error?.code, 'reauthentication_not_valid');
});

test('identities: getUserIdentities, unlinkIdentity keeps the last one, linkIdentity for an unconfigured provider', async () => {
  const email = `link-${suffix}@example.com`;
  await admin.createUser({ email, phone: '4915112345678', password: 'link-password', email_confirm: true, phone_confirm: true });
  const c = await signedIn(email, 'link-password');
  const ids = await c.auth.getUserIdentities();
  assert.equal(ids.error, null, JSON.stringify(ids.error));
  assert.deepEqual(ids.data.identities.map((i) => i.provider).sort(), ['email', 'phone']);
  const phone = ids.data.identities.find((i) => i.provider === 'phone');
  const un = await c.auth.unlinkIdentity(phone);
  assert.equal(un.error, null, JSON.stringify(un.error));
  const after = await c.auth.getUser();
  assert.equal(after.data.user.phone, '');
  assert.deepEqual(after.data.user.app_metadata.providers, ['email']);
  const left = await c.auth.getUserIdentities();
  assert.equal(left.data.identities.length, 1);
  const last = await c.auth.unlinkIdentity(left.data.identities[0]);
  assert.equal(last.error?.status, 422);
  assert.equal(last.error?.code, 'single_identity_not_deletable');
  assert.equal(last.error?.message, 'User must have at least 1 identity after unlinking');
  const link = await c.auth.linkIdentity({ provider: 'github', options: { skipBrowserRedirect: true } });
  assert.equal(link.error?.status, 400);
  assert.equal(link.error?.code, 'validation_failed');
  assert.equal(link.error?.message, 'Unsupported provider: provider is not enabled');
});

test('sign-in methods supalite does not offer answer as GoTrue', async () => {
  const c = client();
  const sso = await c.auth.signInWithSSO({ domain: 'example.com' });
  assert.equal(sso.error?.status, 404);
  assert.equal(sso.error?.code, 'saml_provider_disabled');
  assert.equal(sso.error?.message, 'SAML 2.0 is disabled');
  const idt = await c.auth.signInWithIdToken({ provider: 'google', token: 'not-a-token' });
  assert.equal(idt.error?.status, 400);
  assert.equal(idt.error?.code, 'provider_disabled');
  assert.equal(idt.error?.message, 'Provider (issuer "https://accounts.google.com") is not enabled');
  const oauth = await c.auth.signInWithOAuth({ provider: 'github', options: { skipBrowserRedirect: true } });
  assert.equal(oauth.error, null);
  const authorize = await fetch(oauth.data.url, { redirect: 'manual' });
  assert.equal(authorize.status, 400);
  assert.deepEqual(await authorize.json(), { code: 400, error_code: 'validation_failed', msg: 'Unsupported provider: provider is not enabled' });
  const unknown = await raw('GET', '/authorize?provider=nope', undefined, { apikey: anonKey });
  assert.equal(unknown.body.msg, 'Unsupported provider: Provider nope could not be found');
  const phoneUp = await c.auth.signUp({ phone: '+15550199', password: 'phone-password' });
  assert.equal(phoneUp.error?.status, 400);
  assert.equal(phoneUp.error?.code, 'phone_provider_disabled');
  assert.equal(phoneUp.error?.message, 'Phone signups are disabled');
  const phoneOtp = await c.auth.signInWithOtp({ phone: '+15550199' });
  assert.equal(phoneOtp.error?.code, 'phone_provider_disabled');
  assert.equal(phoneOtp.error?.message, 'Unsupported phone provider');
  const h = { apikey: anonKey, 'content-type': 'application/json' };
  const web3 = await raw('POST', '/token?grant_type=web3', { chain: 'solana', message: 'm', signature: 's' }, h);
  assert.deepEqual([web3.status, web3.body.error_code, web3.body.msg], [422, 'web3_provider_disabled', 'Web3 provider is disabled']);
  const pkce = await raw('POST', '/token?grant_type=pkce', { auth_code: 'unknown', code_verifier: 'v'.repeat(43) }, h);
  assert.deepEqual([pkce.status, pkce.body.error_code], [404, 'flow_state_not_found']);
  const grant = await raw('POST', '/token?grant_type=nope', {}, h);
  assert.deepEqual([grant.status, grant.body.error_code, grant.body.msg], [400, 'invalid_credentials', 'unsupported_grant_type']);
  const passkeys = await raw('POST', '/passkeys/authentication/options', {}, h);
  assert.deepEqual([passkeys.status, passkeys.body.error_code, passkeys.body.msg], [404, 'passkey_disabled', 'Passkeys are disabled']);
  const callback = await raw('GET', '/callback', undefined, h);
  assert.deepEqual([callback.status, callback.body.error_code], [400, 'bad_oauth_callback']);
  const magic = await raw('POST', '/magiclink', {}, h);
  assert.deepEqual([magic.status, magic.body.msg], [422, 'Password recovery requires an email']);
});
