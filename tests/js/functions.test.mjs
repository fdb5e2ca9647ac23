// Edge functions through supabase-js's functions client, unchanged
// (tests/tests/functions.rs serves the test function as `hello` and
// `open`, the latter without verify_jwt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, FunctionsHttpError } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anon = process.env.SUPALITE_ANON_KEY;
const supabase = createClient(url, anon, { auth: { persistSession: false } });

test('invoke with a JSON body: POST, the function sees it', async () => {
  const { data, error } = await supabase.functions.invoke('hello', { body: { name: 'Functions' } });
  assert.equal(error, null);
  assert.equal(data.method, 'POST');
  assert.equal(data.path, '/hello');
  assert.deepEqual(JSON.parse(data.body), { name: 'Functions' });
  assert.equal(data.content_type, 'application/json');
});

test('invoke a sub-path with a method and a query', async () => {
  const { data, error } = await supabase.functions.invoke('hello/items/7?sort=asc', { method: 'GET' });
  assert.equal(error, null);
  assert.equal(data.method, 'GET');
  assert.equal(data.path, '/hello/items/7');
  assert.equal(data.query, 'sort=asc');
});

test('binary bodies both ways', async () => {
  const bytes = new Uint8Array(4096).map((_, i) => (i * 7) % 256);
  const { data, error } = await supabase.functions.invoke('hello/binary', { body: new Blob([bytes]) });
  assert.equal(error, null);
  const back = new Uint8Array(await data.arrayBuffer());
  assert.deepEqual(back, bytes);
});

test('text bodies, custom headers', async () => {
  const { data, error } = await supabase.functions.invoke('open', {
    body: 'plain words',
    headers: { 'x-custom': 'yes' },
  });
  assert.equal(error, null);
  assert.equal(data.body, 'plain words');
  assert.match(data.content_type, /^text\/plain/);
});

test('a limit or a bad token is a FunctionsHttpError with the runtime\'s body', async () => {
  const looped = await supabase.functions.invoke('hello/loop');
  assert.ok(looped.error instanceof FunctionsHttpError);
  assert.equal(looped.error.context.status, 546);
  assert.equal((await looped.error.context.json()).code, 'WORKER_LIMIT');
  const bad = createClient(url, 'not-a-jwt', { auth: { persistSession: false } });
  const denied = await bad.functions.invoke('hello');
  assert.ok(denied.error instanceof FunctionsHttpError);
  assert.equal(denied.error.context.status, 401);
  assert.deepEqual(await denied.error.context.json(), { msg: 'Invalid JWT' });
});

test('an unknown function is a 404', async () => {
  const { error } = await supabase.functions.invoke('nope');
  assert.ok(error instanceof FunctionsHttpError);
  assert.equal(error.context.status, 404);
  assert.equal(await error.context.text(), 'Function not found');
});
