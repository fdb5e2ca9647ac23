// supabase-js's auth client against supalite's e-mail flows (issue 26): the
// links and codes are read back from the built-in mail catcher's Mailpit API.
// SUPALITE_URL, SUPALITE_ANON_KEY, SUPALITE_SERVICE_KEY, SUPALITE_MAILPIT_URL
// and SUPALITE_SITE_URL come from the Rust harness, which starts the server
// with auth-autoconfirm = false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anonKey = process.env.SUPALITE_ANON_KEY;
const serviceKey = process.env.SUPALITE_SERVICE_KEY;
const mailpit = process.env.SUPALITE_MAILPIT_URL;
const siteUrl = process.env.SUPALITE_SITE_URL;
const client = (key = anonKey) => createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });
/** A client in the PKCE flow (as @supabase/ssr's), keeping its code verifier in memory. */
const pkceClient = () => {
  const m = new Map();
  const storage = { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
  return createClient(url, anonKey, { auth: { flowType: 'pkce', storage, persistSession: true, autoRefreshToken: false, detectSessionInUrl: false } });
};
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
const admin = client(serviceKey).auth.admin;
const suffix = Math.random().toString(36).slice(2);

/** The newest message to `to` (waits a little for it). */
async function mailTo(to, subject) {
  for (let i = 0; i < 50; i++) {
    const list = await (await fetch(`${mailpit}/api/v1/messages`)).json();
    const m = list.messages.find((m) => m.To[0].Address === to && (!subject || m.Subject === subject));
    if (m) {
      assert.ok(m.ID && m.Created && typeof m.Snippet === 'string');
      const full = await (await fetch(`${mailpit}/api/v1/message/${m.ID}`)).json();
      const link = full.Text.match(/https?:\/\/\S+\/verify\?\S+/)?.[0];
      const code = full.Text.match(/enter the code: (\d+)/)?.[1];
      return { ...full, link, code };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${to}`);
}

const countTo = async (to) =>
  (await (await fetch(`${mailpit}/api/v1/messages`)).json()).messages.filter((m) => m.To[0].Address === to).length;

/** Follows an e-mail link as a browser would: the 303's Location. */
async function follow(link) {
  const r = await fetch(link, { redirect: 'manual' });
  assert.equal(r.status, 303);
  const loc = new URL(r.headers.get('location'));
  return { loc, fragment: new URLSearchParams(loc.hash.slice(1)) };
}

test('sign-up needs the confirmation e-mail; the code from it signs in', async () => {
  const email = `confirm-${suffix}@example.com`;
  const c = client();
  const up = await c.auth.signUp({ email, password: 'confirm-password' });
  assert.equal(up.error, null, JSON.stringify(up.error));
  assert.equal(up.data.session, null);
  assert.equal(up.data.user.email_confirmed_at, null);
  assert.equal(up.data.user.identities.length, 1);
  assert.equal(up.data.user.identities[0].provider, 'email');
  const refused = await c.auth.signInWithPassword({ email, password: 'confirm-password' });
  assert.equal(refused.error?.code, 'email_not_confirmed');
  assert.equal(refused.error?.message, 'Email not confirmed');

  const mail = await mailTo(email, 'Confirm your email address');
  assert.match(mail.HTML, /Confirm email address/);
  assert.equal(mail.From.Address, 'admin@email.com');
  // A resend within the minute is refused, as GoTrue's.
  const resend = await c.auth.resend({ type: 'signup', email });
  assert.equal(resend.error?.status, 429);
  assert.equal(resend.error?.code, 'over_email_send_rate_limit');
  assert.match(resend.error?.message, /^For security purposes, you can only request this after \d+ seconds\.$/);

  const wrong = await c.auth.verifyOtp({ email, token: '000000' === mail.code ? '111111' : '000000', type: 'email' });
  assert.equal(wrong.error?.code, 'otp_expired');
  assert.equal(wrong.error?.message, 'Token has expired or is invalid');
  const v = await c.auth.verifyOtp({ email, token: mail.code, type: 'email' });
  assert.equal(v.error, null, JSON.stringify(v.error));
  assert.ok(v.data.session.access_token);
  assert.ok(v.data.user.email_confirmed_at);
  assert.equal(v.data.user.identities[0].identity_data.email_verified, true);
  // Used once: the same code again is refused.
  const again = await c.auth.verifyOtp({ email, token: mail.code, type: 'email' });
  assert.equal(again.error?.code, 'otp_expired');
  const ok = await c.auth.signInWithPassword({ email, password: 'confirm-password' });
  assert.equal(ok.error, null);
});

test('magic link: the link signs in by redirect, a second click is refused', async () => {
  const email = `magic-${suffix}@example.com`;
  // create_user false: no account, no e-mail.
  const none = await client().auth.signInWithOtp({ email, options: { shouldCreateUser: false } });
  assert.equal(none.error?.code, 'otp_disabled');
  assert.equal(await countTo(email), 0);
  // A new address signs up first (a confirmation e-mail); confirm it by link.
  const first = await client().auth.signInWithOtp({ email, options: { emailRedirectTo: `${siteUrl}/welcome` } });
  assert.equal(first.error, null, JSON.stringify(first.error));
  const confirm = await mailTo(email, 'Confirm your email address');
  const { loc, fragment } = await follow(confirm.link);
  assert.equal(loc.origin + loc.pathname, `${siteUrl}/welcome`);
  assert.equal(fragment.get('type'), 'signup');
  assert.ok(fragment.get('access_token'));
  const who = await client().auth.getUser(fragment.get('access_token'));
  assert.equal(who.data.user.email, email);

  // Now confirmed: a magic link.
  const second = await client().auth.signInWithOtp({ email });
  assert.equal(second.error, null, JSON.stringify(second.error));
  const magic = await mailTo(email, 'Your sign-in link');
  const signedIn = await follow(magic.link);
  assert.equal(signedIn.fragment.get('type'), 'magiclink');
  assert.ok(signedIn.fragment.get('refresh_token'));
  const reused = await follow(magic.link);
  assert.equal(reused.fragment.get('error_code'), 'otp_expired');
  assert.equal(reused.fragment.get('error'), 'access_denied');
  assert.equal(reused.fragment.get('error_description'), 'Email link is invalid or has expired');
});

test('a redirect outside the allow list is ignored (the site URL instead)', async () => {
  const email = `redirect-${suffix}@example.com`;
  const r = await client().auth.signInWithOtp({ email, options: { emailRedirectTo: 'https://evil.example.org/steal' } });
  assert.equal(r.error, null);
  const mail = await mailTo(email);
  const redirect = new URL(mail.link).searchParams.get('redirect_to');
  assert.equal(redirect, siteUrl);
  const allowed = await admin.generateLink({ type: 'magiclink', email, options: { redirectTo: 'https://app.example.com/cb' } });
  assert.equal(allowed.error, null, JSON.stringify(allowed.error));
  assert.equal(allowed.data.properties.redirect_to, 'https://app.example.com/cb');
});

test('password recovery: the recovery code signs in and the password changes', async () => {
  const email = `recover-${suffix}@example.com`;
  const created = await admin.createUser({ email, password: 'old-password', email_confirm: true });
  assert.equal(created.error, null);
  // An unknown address answers the same (no account enumeration).
  assert.equal((await client().auth.resetPasswordForEmail(`nobody-${suffix}@example.com`)).error, null);
  const c = client();
  assert.equal((await c.auth.resetPasswordForEmail(email)).error, null);
  const mail = await mailTo(email, 'Reset your password');
  const v = await c.auth.verifyOtp({ email, token: mail.code, type: 'recovery' });
  assert.equal(v.error, null, JSON.stringify(v.error));
  assert.equal((await c.auth.updateUser({ password: 'new-password' })).error, null);
  assert.equal((await client().auth.signInWithPassword({ email, password: 'new-password' })).error, null);
});

test('invite and generate_link through the admin API', async () => {
  const email = `invite-${suffix}@example.com`;
  const inv = await admin.inviteUserByEmail(email, { data: { team: 'blue' } });
  assert.equal(inv.error, null, JSON.stringify(inv.error));
  assert.ok(inv.data.user.invited_at);
  const mail = await mailTo(email, "You've been invited");
  const { fragment } = await follow(mail.link);
  assert.equal(fragment.get('type'), 'invite');
  const again = await admin.inviteUserByEmail(email);
  assert.equal(again.error?.code, 'email_exists');

  const gl = await admin.generateLink({ type: 'signup', email: `gen-${suffix}@example.com`, password: 'gen-password' });
  assert.equal(gl.error, null, JSON.stringify(gl.error));
  assert.equal(gl.data.properties.verification_type, 'signup');
  assert.match(gl.data.properties.email_otp, /^\d{6}$/);
  assert.match(gl.data.properties.action_link, /\/auth\/v1\/verify\?token=[0-9a-f]{56}&type=signup/);
  const v = await client().auth.verifyOtp({ token_hash: gl.data.properties.hashed_token, type: 'signup' });
  assert.equal(v.error, null, JSON.stringify(v.error));
  assert.equal(v.data.user.email, `gen-${suffix}@example.com`);
  const missing = await admin.generateLink({ type: 'recovery', email: `nobody2-${suffix}@example.com` });
  assert.equal(missing.error?.code, 'user_not_found');
});

test('e-mail change needs both addresses to confirm', async () => {
  const email = `change-${suffix}@example.com`;
  const next = `changed-${suffix}@example.com`;
  await admin.createUser({ email, password: 'change-password', email_confirm: true });
  const c = client();
  assert.equal((await c.auth.signInWithPassword({ email, password: 'change-password' })).error, null);
  const up = await c.auth.updateUser({ email: next });
  assert.equal(up.error, null, JSON.stringify(up.error));
  assert.equal(up.data.user.email, email);
  assert.equal(up.data.user.new_email, next);
  const toNew = await mailTo(next, 'Confirm your new email address');
  const toOld = await mailTo(email, 'Confirm your new email address');
  const one = await follow(toNew.link);
  assert.equal(one.fragment.get('message'), 'Confirmation link accepted. Please proceed to confirm link sent to the other email');
  const two = await follow(toOld.link);
  assert.ok(two.fragment.get('access_token'), two.loc.href);
  const who = await client().auth.getUser(two.fragment.get('access_token'));
  assert.equal(who.data.user.email, next);
});

test('bad input: a malformed address, a bad verify', async () => {
  const bad = await client().auth.signInWithOtp({ email: 'xx:;x@x.x' });
  assert.equal(bad.error?.status, 400);
  assert.equal(bad.error?.code, 'validation_failed');
  assert.equal(bad.error?.message, 'Unable to validate email address: invalid format');
  const created = await admin.createUser({ email: 'xx:;x@x.x', password: 'whatever123' });
  assert.equal(created.error?.code, 'validation_failed');
  const hash = await client().auth.verifyOtp({ token_hash: 'f'.repeat(56), type: 'magiclink' });
  assert.equal(hash.error?.code, 'otp_expired');
  assert.equal(hash.error?.message, 'Email link is invalid or has expired');
  const phone = await client().auth.signInWithOtp({ phone: '+15555550100' });
  assert.equal(phone.error?.code, 'phone_provider_disabled');
});

test('PKCE: a magic link ends in ?code=, exchanged once for the session with the verifier', async () => {
  const email = `pkce-${suffix}@example.com`;
  assert.equal((await admin.createUser({ email, password: 'pkce-password', email_confirm: true })).error, null);
  const c = pkceClient();
  const sent = await c.auth.signInWithOtp({ email, options: { emailRedirectTo: 'https://app.example.com/cb?next=%2Fhome' } });
  assert.equal(sent.error, null, JSON.stringify(sent.error));
  const mail = await mailTo(email, 'Your sign-in link');
  assert.match(new URL(mail.link).searchParams.get('token'), /^pkce_[0-9a-f]{56}$/);
  const { loc, fragment } = await follow(mail.link);
  assert.equal(loc.origin + loc.pathname, 'https://app.example.com/cb');
  assert.equal(loc.searchParams.get('next'), '/home');
  assert.equal(fragment.get('access_token'), null, 'no session in the fragment');
  const code = loc.searchParams.get('code');
  assert.match(code, /^[0-9a-f-]{36}$/);

  // Without the verifier that made the challenge: refused.
  const stolen = await fetch(`${url}/auth/v1/token?grant_type=pkce`, {
    method: 'POST', headers: { apikey: anonKey, 'content-type': 'application/json' },
    body: JSON.stringify({ auth_code: code, code_verifier: 'x'.repeat(56) }),
  });
  assert.equal(stolen.status, 400);
  assert.equal((await stolen.json()).error_code, 'bad_code_verifier');

  const ex = await c.auth.exchangeCodeForSession(code);
  assert.equal(ex.error, null, JSON.stringify(ex.error));
  assert.equal(ex.data.user.email, email);
  assert.equal(claims(ex.data.session.access_token).amr[0].method, 'magiclink');
  assert.equal((await c.auth.getUser()).data.user.email, email);
  // Once: the same code again is not found.
  const again = await fetch(`${url}/auth/v1/token?grant_type=pkce`, {
    method: 'POST', headers: { apikey: anonKey, 'content-type': 'application/json' },
    body: JSON.stringify({ auth_code: code, code_verifier: 'x'.repeat(56) }),
  });
  assert.equal(again.status, 404);
  assert.deepEqual(await again.json(), { code: 404, error_code: 'flow_state_not_found', msg: 'invalid flow state, no valid flow state found' });
  // The link itself is spent too: its redirect carries the error in the query as well.
  const reused = await follow(mail.link);
  assert.equal(reused.loc.searchParams.get('error_code'), 'otp_expired');
  assert.equal(reused.fragment.get('error_code'), 'otp_expired');
});

test('PKCE: sign-up confirmation and password recovery through exchangeCodeForSession', async () => {
  const email = `pkce-up-${suffix}@example.com`;
  const c = pkceClient();
  const up = await c.auth.signUp({ email, password: 'pkce-password', options: { emailRedirectTo: 'https://app.example.com/confirmed' } });
  assert.equal(up.error, null, JSON.stringify(up.error));
  assert.equal(up.data.session, null);
  const confirm = await mailTo(email, 'Confirm your email address');
  const { loc } = await follow(confirm.link);
  assert.equal(loc.pathname, '/confirmed');
  const ex = await c.auth.exchangeCodeForSession(loc.searchParams.get('code'));
  assert.equal(ex.error, null, JSON.stringify(ex.error));
  assert.ok(ex.data.user.email_confirmed_at);
  assert.equal(claims(ex.data.session.access_token).amr[0].method, 'email/signup');

  const r = pkceClient();
  const events = [];
  r.auth.onAuthStateChange((e) => events.push(e));
  assert.equal((await r.auth.resetPasswordForEmail(email, { redirectTo: 'https://app.example.com/reset' })).error, null);
  const mail = await mailTo(email, 'Reset your password');
  const back = await follow(mail.link);
  const rex = await r.auth.exchangeCodeForSession(back.loc.searchParams.get('code'));
  assert.equal(rex.error, null, JSON.stringify(rex.error));
  assert.ok(events.includes('PASSWORD_RECOVERY'), JSON.stringify(events));
  assert.equal((await r.auth.updateUser({ password: 'pkce-new-password' })).error, null);
  assert.equal((await client().auth.signInWithPassword({ email, password: 'pkce-new-password' })).error, null);

  // A malformed challenge is refused before anything is sent.
  const bad = await fetch(`${url}/auth/v1/otp`, {
    method: 'POST', headers: { apikey: anonKey, 'content-type': 'application/json' },
    body: JSON.stringify({ email, code_challenge: 'short', code_challenge_method: 's256' }),
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).msg, 'code challenge has to be between 43 and 128 characters');
});
