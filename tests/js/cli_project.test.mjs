// supabase-js against `supalite serve` run in a Supabase CLI project
// (supabase/config.toml, migrations, seed.sql) with no flags; only the new
// API keys (the CLI's local publishable and secret keys) are used.
// From the Rust harness (tests/tests/cli_project.rs): SUPALITE_URL,
// PUBLISHABLE_KEY, SECRET_KEY, PHASE (`seeded`: the config as written;
// `reset`: after `supalite db reset`, with supalite.toml `db-max-rows = 7`
// and SUPABASE_AUTH_ENABLE_SIGNUP=false), MAX_ROWS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const publishable = process.env.PUBLISHABLE_KEY;
const secret = process.env.SECRET_KEY;
const phase = process.env.PHASE;
const maxRows = Number(process.env.MAX_ROWS);
const clients = [];
const client = (key) => {
  const c = createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });
  clients.push(c);
  return c;
};
after(async () => {
  for (const c of clients) await c.removeAllChannels();
});

test('the seed is there, capped by [api] max_rows (or supalite.toml)', async () => {
  const { data, error, count } = await client(publishable)
    .from('todos')
    .select('title', { count: 'exact' })
    .order('id');
  assert.equal(error, null);
  assert.equal(count, 12, 'twelve todos seeded');
  assert.equal(data.length, maxRows);
  assert.equal(data[0].title, 'todo 1');
  const other = await client(publishable).from('todos').select('title').eq('title', 'not seeded');
  assert.deepEqual(other.data, []);
});

test('a seeded user signs in with the password given to crypt()', async () => {
  const c = client(publishable);
  const { data, error } = await c.auth.signInWithPassword({
    email: 'seeded@example.com',
    password: 'seeded-password',
  });
  assert.equal(error, null);
  assert.equal(data.user.email, 'seeded@example.com');
  assert.equal(data.user.id, 'a1b2c3d4-0000-4000-8000-000000000001');
  const wrong = await client(publishable).auth.signInWithPassword({
    email: 'seeded@example.com',
    password: 'not-the-password',
  });
  assert.equal(wrong.error?.code, 'invalid_credentials');
  // Signed in, the user reads their own profile row (RLS).
  const me = await c.from('profiles').select('username');
  assert.deepEqual(me.data, [{ username: 'seeded' }]);
});

test('the secret key is the service role; the publishable key the anon role', async () => {
  const admin = client(secret);
  const buckets = await admin.storage.listBuckets();
  assert.equal(buckets.error, null);
  const ids = buckets.data.map((b) => b.id).sort();
  assert.deepEqual(ids, ['avatars', 'seeded-bucket']);
  const avatars = buckets.data.find((b) => b.id === 'avatars');
  assert.equal(avatars.public, true);
  assert.equal(avatars.file_size_limit, 1048576);
  const hidden = await admin.from('secrets').select('note');
  assert.deepEqual(hidden.data, [{ note: 'only the service role' }]);
  const anon = await client(publishable).from('secrets').select('note');
  assert.deepEqual(anon.data, []);
  const users = await admin.auth.admin.listUsers();
  assert.equal(users.error, null);
  assert.ok(users.data.users.some((u) => u.email === 'seeded@example.com'));
});

test('the secret key from a browser is refused', async () => {
  const r = await fetch(`${url}/rest/v1/todos?select=id`, {
    headers: { apikey: secret, 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120' },
  });
  assert.equal(r.status, 401);
  assert.deepEqual(await r.json(), { message: 'Forbidden use of secret API key in browser' });
  const ok = await fetch(`${url}/rest/v1/todos?select=id&limit=1`, {
    headers: { apikey: publishable, 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120' },
  });
  assert.equal(ok.status, 200);
  const bad = await fetch(`${url}/rest/v1/todos?select=id`, {
    headers: { apikey: 'sb_publishable_not-the-key', Authorization: 'Bearer sb_publishable_not-the-key' },
  });
  assert.equal(bad.status, 401);
});

test('realtime takes the publishable key', async () => {
  const c = client(publishable);
  const status = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no answer'), 10000);
    c.channel('room-1').subscribe((s) => {
      if (s !== 'CLOSED') {
        clearTimeout(timer);
        resolve(s);
      }
    });
  });
  assert.equal(status, 'SUBSCRIBED');
});

if (phase === 'seeded') {
  test('[auth] sign-ups and anonymous sign-ins as config.toml says', async () => {
    const anon = await client(publishable).auth.signInAnonymously();
    assert.equal(anon.error, null);
    assert.equal(anon.data.user.is_anonymous, true);
    const up = await client(publishable).auth.signUp({ email: 'new@example.com', password: 'password-1' });
    assert.equal(up.error, null);
    assert.ok(up.data.session, 'enable_confirmations = false: signed in at sign-up');
  });

  test('changes made before the reset', async () => {
    const admin = client(secret);
    let r = await admin.from('todos').delete().eq('title', 'todo 1');
    assert.equal(r.error, null);
    r = await admin.from('todos').insert({ title: 'not seeded' });
    assert.equal(r.error, null);
    const del = await admin.auth.admin.deleteUser('a1b2c3d4-0000-4000-8000-000000000001');
    assert.equal(del.error, null);
  });
} else {
  test('SUPABASE_AUTH_ENABLE_SIGNUP=false overrides config.toml', async () => {
    const up = await client(publishable).auth.signUp({ email: 'new@example.com', password: 'password-1' });
    assert.equal(up.error?.code, 'signup_disabled');
  });
}
