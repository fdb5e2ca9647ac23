// Two supalite processes on one PostgreSQL (tests/tests/realtime.rs):
// SUPALITE_URL is instance A, SUPALITE_URL_B instance B. What a client does
// through one reaches subscribers on the other (postgres_changes, client
// broadcast, httpSend, realtime.send), each exactly once; and a change whose
// transaction commits after a later one still arrives (SUPALITE_DB_URI, psql).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createClient } from '@supabase/supabase-js';

const urlA = process.env.SUPALITE_URL;
const urlB = process.env.SUPALITE_URL_B;
const anonKey = process.env.SUPALITE_ANON_KEY;
const serviceKey = process.env.SUPALITE_SERVICE_KEY;
const clients = [];
const client = (url, key = anonKey) => {
  const c = createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });
  clients.push(c);
  return c;
};
after(async () => {
  for (const c of clients) await c.removeAllChannels();
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function subscribe(channel) {
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('join timed out')), 10000);
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') {
        clearTimeout(timer);
        resolve();
      } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
        clearTimeout(timer);
        reject(err ?? new Error(status));
      }
    });
  });
  return channel;
}

async function until(pred, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('a row written through B reaches a subscriber on A and one on B, once each', async () => {
  const got = { A: [], B: [] };
  for (const [name, url] of [['A', urlA], ['B', urlB]]) {
    await subscribe(
      client(url)
        .channel(`items-${name}`)
        .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_items', filter: 'list=eq.cluster' }, (p) =>
          got[name].push(p.new.title),
        ),
    );
  }
  const { error } = await client(urlB).from('rt_items').insert([{ list: 'cluster', title: 'one' }, { list: 'cluster', title: 'two' }]);
  assert.equal(error, null);
  await until(() => got.A.length >= 2 && got.B.length >= 2, 5000, 'both changes on both instances');
  await sleep(500);
  assert.deepEqual(got.A.sort(), ['one', 'two']);
  assert.deepEqual(got.B.sort(), ['one', 'two']);
});

test('a client broadcast on B reaches a member on A (and B\'s own members once)', async () => {
  const onA = [];
  const onB = [];
  await subscribe(client(urlA).channel('lobby').on('broadcast', { event: 'hi' }, (m) => onA.push(m.payload)));
  await subscribe(client(urlB).channel('lobby').on('broadcast', { event: 'hi' }, (m) => onB.push(m.payload)));
  const sender = await subscribe(client(urlB).channel('lobby', { config: { broadcast: { ack: true } } }));
  assert.equal(await sender.send({ type: 'broadcast', event: 'hi', payload: { n: 1 } }), 'ok');
  await until(() => onA.length === 1 && onB.length === 1, 5000, 'the broadcast on both instances');
  await sleep(500);
  assert.deepEqual(onA, [{ n: 1 }]);
  assert.deepEqual(onB, [{ n: 1 }], 'not delivered twice where it was sent');
});

test('httpSend through A and realtime.send through B reach members on the other', async () => {
  const onB = [];
  const onA = [];
  await subscribe(client(urlB).channel('news').on('broadcast', { event: 'flash' }, (m) => onB.push(m.payload)));
  await subscribe(client(urlA).channel('bulletins').on('broadcast', { event: 'bulletin' }, (m) => onA.push(m.payload)));
  const r = await client(urlA, serviceKey).channel('news').httpSend('flash', { via: 'A' });
  assert.equal(r.success, true, JSON.stringify(r));
  const { error } = await client(urlB, serviceKey).rpc('rt_send', { topic: 'bulletins', body: 'from B' });
  assert.equal(error, null);
  await until(() => onB.length === 1 && onA.length === 1, 5000, 'both messages');
  await sleep(500);
  assert.deepEqual(onB, [{ via: 'A' }]);
  assert.deepEqual(onA, [{ body: 'from B' }]);
});

/// Runs SQL through psql on the test's database.
function psql(sql) {
  return new Promise((resolve, reject) => {
    const p = spawn('psql', [process.env.SUPALITE_DB_URI, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql]);
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(err))));
  });
}

test('a change committed after a later transaction\'s is delivered, once', async () => {
  const got = [];
  await subscribe(
    client(urlA)
      .channel('late')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_items', filter: 'list=eq.late' }, (p) =>
        got.push(p.new.title),
      ),
  );
  // The first transaction takes the smaller queue id and commits 1.5 s
  // after the second, well past a few polls.
  const slow = psql("begin; insert into rt_items (list, title) values ('late', 'first'); select pg_sleep(1.5); commit;");
  await sleep(400);
  await psql("insert into rt_items (list, title) values ('late', 'second')");
  await until(() => got.includes('second'), 5000, 'the second change');
  assert.deepEqual(got, ['second'], 'the first is not committed yet');
  await slow;
  await until(() => got.length === 2, 5000, 'the first change after its commit');
  await sleep(500);
  assert.deepEqual(got, ['second', 'first']);
});
