// supabase-js auth + RLS against a running supalite (GoTrue-compatible /auth/v1).
// SUPALITE_URL, SUPALITE_ANON_KEY, SUPALITE_SERVICE_KEY come from the Rust harness,
// which starts the server with a refresh-token reuse interval of 0 s and
// anonymous sign-ins on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anonKey = process.env.SUPALITE_ANON_KEY;
const serviceKey = process.env.SUPALITE_SERVICE_KEY;
const client = (key = anonKey) => createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });

const alice = client();
const bob = client();
const suffix = Math.random().toString(36).slice(2);

test('sign up, sign in, and owner-only rows under RLS', async () => {
  const a = await alice.auth.signUp({ email: `alice-${suffix}@example.com`, password: 'alice-password', options: { data: { name: 'Alice' } } });
  assert.equal(a.error, null, JSON.stringify(a.error));
  assert.ok(a.data.session?.access_token);
  assert.equal(a.data.user.user_metadata.name, 'Alice');
  const again = await client().auth.signUp({ email: `alice-${suffix}@example.com`, password: 'whatever123' });
  assert.equal(again.error?.code, 'user_already_exists');

  const b = await bob.auth.signUp({ email: `bob-${suffix}@example.com`, password: 'bob-password' });
  assert.equal(b.error, null);
  const signedIn = await bob.auth.signInWithPassword({ email: `bob-${suffix}@example.com`, password: 'bob-password' });
  assert.equal(signedIn.error, null);
  const wrong = await client().auth.signInWithPassword({ email: `bob-${suffix}@example.com`, password: 'nope-nope' });
  assert.equal(wrong.error?.code, 'invalid_credentials');

  assert.equal((await alice.from('notes').insert({ body: 'alice 1' })).error, null);
  assert.equal((await alice.from('notes').insert({ body: 'alice 2' })).error, null);
  assert.equal((await bob.from('notes').insert({ body: 'bob 1' })).error, null);

  const mine = await alice.from('notes').select('body').order('body');
  assert.deepEqual(mine.data, [{ body: 'alice 1' }, { body: 'alice 2' }]);
  const bobs = await bob.from('notes').select('body');
  assert.deepEqual(bobs.data, [{ body: 'bob 1' }]);
  const anon = await client().from('notes').select('body');
  assert.deepEqual(anon.data, []);
  // Bob cannot write a row owned by Alice.
  const forged = await bob.from('notes').insert({ body: 'forged', user_id: a.data.user.id });
  assert.equal(forged.error?.code, '42501');
});

test('getUser, updateUser', async () => {
  const { data, error } = await alice.auth.getUser();
  assert.equal(error, null);
  assert.equal(data.user.email, `alice-${suffix}@example.com`);
  const upd = await alice.auth.updateUser({ data: { plan: 'pro' } });
  assert.equal(upd.error, null);
  assert.equal(upd.data.user.user_metadata.plan, 'pro');
  assert.equal(upd.data.user.user_metadata.name, 'Alice');
});

test('refresh rotates; reusing a rotated token revokes the session', async () => {
  const before = (await alice.auth.getSession()).data.session;
  const r1 = await alice.auth.refreshSession();
  assert.equal(r1.error, null, JSON.stringify(r1.error));
  assert.notEqual(r1.data.session.refresh_token, before.refresh_token);
  // The old token again (reuse interval 0 s in this test): the session is revoked.
  const reuse = await client().auth.refreshSession({ refresh_token: before.refresh_token });
  assert.equal(reuse.error?.code, 'refresh_token_already_used');
  const afterRevoke = await client().auth.refreshSession({ refresh_token: r1.data.session.refresh_token });
  assert.ok(afterRevoke.error, 'the whole session is gone');
});

test('sign-out invalidates the refresh token', async () => {
  const session = (await bob.auth.getSession()).data.session;
  assert.equal((await bob.auth.signOut()).error, null);
  const r = await client().auth.refreshSession({ refresh_token: session.refresh_token });
  assert.ok(r.error);
  const u = await client().auth.getUser(session.access_token);
  assert.ok(u.error, 'the session of the access token is gone');
});

test('admin endpoints need the service_role key', async () => {
  const denied = await client().auth.admin.listUsers();
  assert.ok(denied.error);
  assert.equal(denied.error.status, 403);
  const admin = client(serviceKey);
  const list = await admin.auth.admin.listUsers();
  assert.equal(list.error, null);
  assert.ok(list.data.users.length >= 2);
  const created = await admin.auth.admin.createUser({ email: `carol-${suffix}@example.com`, password: 'carol-password', email_confirm: true });
  assert.equal(created.error, null, JSON.stringify(created.error));
  const got = await admin.auth.admin.getUserById(created.data.user.id);
  assert.equal(got.data.user.email, `carol-${suffix}@example.com`);
  const del = await admin.auth.admin.deleteUser(created.data.user.id);
  assert.equal(del.error, null);
  const gone = await admin.auth.admin.getUserById(created.data.user.id);
  assert.equal(gone.error?.status, 404);
});

test('anonymous sign-in: a user of its own, told apart by is_anonymous', async () => {
  const guest = client();
  const { data, error } = await guest.auth.signInAnonymously({ options: { data: { theme: 'dark' } } });
  assert.equal(error, null, JSON.stringify(error));
  assert.equal(data.user.is_anonymous, true);
  assert.equal(data.user.user_metadata.theme, 'dark');
  assert.ok(data.session?.access_token);
  assert.equal((await guest.from('notes').insert({ body: 'guest note' })).error, null);
  const mine = await guest.from('notes').select('body');
  assert.deepEqual(mine.data, [{ body: 'guest note' }]);
  const { data: claims } = await guest.auth.getUser();
  assert.equal(claims.user.id, data.user.id);
});
