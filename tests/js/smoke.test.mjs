// supabase-js against a running supalite: SUPALITE_URL, SUPALITE_ANON_KEY,
// SUPALITE_SERVICE_KEY are set by the Rust harness (tests/tests/supabase_js.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anon = process.env.SUPALITE_ANON_KEY;
const supabase = createClient(url, anon, { auth: { persistSession: false, autoRefreshToken: false } });

test('select with filters, order and range', async () => {
  const { data, error, status } = await supabase.from('todos').select('id, title').eq('done', false).order('id');
  assert.equal(error, null);
  assert.equal(status, 200);
  assert.deepEqual(data, [{ id: 1, title: 'write code' }, { id: 3, title: 'test it' }]);

  const page = await supabase.from('todos').select('title', { count: 'exact' }).order('id').range(0, 1);
  assert.equal(page.error, null);
  assert.equal(page.count, 3);
  assert.equal(page.status, 206);
  assert.deepEqual(page.data, [{ title: 'write code' }, { title: 'ship it' }]);
});

test('insert, update, delete with returned rows', async () => {
  const ins = await supabase.from('todos').insert({ title: 'from supabase-js' }).select().single();
  assert.equal(ins.error, null);
  assert.equal(ins.status, 201);
  assert.equal(ins.data.title, 'from supabase-js');
  assert.equal(ins.data.done, false);

  const upd = await supabase.from('todos').update({ done: true }).eq('id', ins.data.id).select('id, done');
  assert.equal(upd.error, null);
  assert.deepEqual(upd.data, [{ id: ins.data.id, done: true }]);

  const del = await supabase.from('todos').delete().eq('id', ins.data.id);
  assert.equal(del.error, null);
  assert.equal(del.status, 204);
  const gone = await supabase.from('todos').select('id').eq('id', ins.data.id);
  assert.deepEqual(gone.data, []);
});

test('bulk insert with different keys and or-filters', async () => {
  // supabase-js sends ?columns=title,done; a key missing from a row is NULL
  // (PostgREST's default): `done` is NOT NULL, so PostgreSQL refuses.
  const rows = await supabase.from('todos').insert([{ title: 'x' }, { title: 'y', done: true }]).select('title, done');
  assert.equal(rows.error.code, '23502');
  assert.equal(rows.status, 400);
  // defaultToNull: false sends Prefer: missing=default — the column default applies.
  const defaults = await supabase.from('todos').insert([{ title: 'd1' }, { title: 'd2', done: true }], { defaultToNull: false }).select('title, done');
  assert.equal(defaults.error, null, JSON.stringify(defaults.error));
  assert.deepEqual(defaults.data, [{ title: 'd1', done: false }, { title: 'd2', done: true }]);
  const ok = await supabase.from('todos').insert([{ title: 'x', done: false }, { title: 'y', done: true }]).select('title, done');
  assert.equal(ok.error, null, JSON.stringify(ok.error));
  assert.deepEqual(ok.data, [{ title: 'x', done: false }, { title: 'y', done: true }]);

  const or = await supabase.from('todos').select('title').or('title.eq.x,title.eq.y').order('title');
  assert.equal(or.error, null);
  assert.deepEqual(or.data, [{ title: 'x' }, { title: 'y' }]);
});

test('errors come back as PostgREST errors', async () => {
  const missing = await supabase.from('nope').select();
  assert.equal(missing.status, 404);
  assert.equal(missing.error.code, 'PGRST205'); // PostgREST 13: not in the schema cache
  const single = await supabase.from('todos').select().eq('id', -1).single();
  assert.equal(single.status, 406);
  assert.equal(single.error.code, 'PGRST116');
  const bad = await supabase.from('todos').select().eq('id', 'abc');
  assert.equal(bad.status, 400);
  assert.equal(bad.error.code, '22P02');
});
