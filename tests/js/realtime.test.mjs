// realtime-js (through supabase-js, unchanged) against a running supalite's
// /realtime/v1. SUPALITE_URL, SUPALITE_ANON_KEY, SUPALITE_SERVICE_KEY come
// from the Rust harness (tests/tests/realtime.rs), whose migration creates
// rt_items (no RLS) and rt_notes (RLS: each user selects their own rows),
// both added to the supabase_realtime publication.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anonKey = process.env.SUPALITE_ANON_KEY;
const serviceKey = process.env.SUPALITE_SERVICE_KEY;
const clients = [];
const client = (key = anonKey, realtime = {}) => {
  const c = createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime,
  });
  clients.push(c);
  return c;
};
after(async () => {
  for (const c of clients) await c.removeAllChannels();
});

import { createHmac } from 'node:crypto';
const b64url = (s) => Buffer.from(s).toString('base64url');
/// An HS256 token signed with the server's secret (SUPALITE_JWT_SECRET).
function hs256(claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' + b64url(JSON.stringify(claims));
  return head + '.' + createHmac('sha256', process.env.SUPALITE_JWT_SECRET).update(head).digest('base64url');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const wsUrl = url.replace(/^http/, 'ws') + '/realtime/v1/websocket';

/// How a join ends: SUBSCRIBED, or the first CHANNEL_ERROR / TIMED_OUT
/// (with its error).
function joined(channel) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('join neither refused nor accepted')), 10000);
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED' || status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
        clearTimeout(timer);
        resolve({ status, err });
      }
    });
  });
}

async function subscribe(channel) {
  const { status, err } = await joined(channel);
  if (status !== 'SUBSCRIBED') throw err ?? new Error(status);
  return channel;
}

/// Waits until `pred()` holds (or fails after `ms`).
async function until(pred, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/// A raw socket with realtime's 2.0.0 array frames.
function raw(query) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}?${query}`);
    const got = [];
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => got.push(typeof e.data === 'string' ? JSON.parse(e.data) : e.data);
    ws.onopen = () => resolve({ ws, got });
    ws.onerror = () => reject(new Error('connection refused'));
  });
}

test('connects with the anon key; a bad key is refused', async () => {
  const c = client();
  const ch = await subscribe(c.channel('hello'));
  assert.equal(ch.state, 'joined');
  await assert.rejects(raw('apikey=not-a-jwt&vsn=2.0.0'), /refused/);
  const { ws, got } = await raw(`apikey=${anonKey}&vsn=2.0.0`);
  ws.send(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}]));
  await until(() => got.length === 1, 3000, 'heartbeat reply');
  assert.deepEqual(got[0], [null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  ws.close();
});

test('broadcast between two clients with self and ack (vsn 2.0.0)', async () => {
  const a = client();
  const b = client();
  const seenA = [];
  const seenB = [];
  const chA = a
    .channel('room-1', { config: { broadcast: { self: true, ack: true } } })
    .on('broadcast', { event: 'msg' }, (p) => seenA.push(p));
  const chB = b.channel('room-1').on('broadcast', { event: 'msg' }, (p) => seenB.push(p));
  await subscribe(chA);
  await subscribe(chB);
  assert.equal(await chA.send({ type: 'broadcast', event: 'msg', payload: { text: 'hi from a' } }), 'ok');
  await until(() => seenA.length === 1 && seenB.length === 1, 5000, 'both to see the broadcast');
  assert.deepEqual(seenB[0].payload, { text: 'hi from a' });
  assert.equal(seenB[0].event, 'msg');
  assert.deepEqual(seenA[0].payload, { text: 'hi from a' });
  // Without `self`, b does not hear its own broadcast; a hears it.
  assert.equal(await chB.send({ type: 'broadcast', event: 'msg', payload: { n: 2 } }), 'ok');
  await until(() => seenA.length === 2, 5000, 'a to see b');
  await sleep(200);
  assert.equal(seenB.length, 1);
});

test('presence: sync, join, leave when a client goes away', async () => {
  const a = client();
  const b = client();
  const joins = [];
  const leaves = [];
  const chA = a
    .channel('lobby', { config: { presence: { key: 'alice' } } })
    .on('presence', { event: 'join' }, ({ key }) => joins.push(key))
    .on('presence', { event: 'leave' }, ({ key }) => leaves.push(key));
  await subscribe(chA);
  assert.equal(await chA.track({ online_at: 1 }), 'ok');
  const chB = b.channel('lobby', { config: { presence: { key: 'bob' } } }).on('presence', { event: 'sync' }, () => {});
  await subscribe(chB);
  // b's first state already has alice.
  await until(() => Object.keys(chB.presenceState()).includes('alice'), 5000, 'b to sync alice');
  assert.equal(await chB.track({ online_at: 2 }), 'ok');
  await until(() => joins.includes('bob'), 5000, 'a to see bob join');
  const state = chA.presenceState();
  assert.deepEqual(Object.keys(state).sort(), ['alice', 'bob']);
  assert.equal(state.bob[0].online_at, 2);
  // b's socket goes away: its presence leaves.
  b.realtime.disconnect();
  await until(() => leaves.includes('bob'), 5000, 'a to see bob leave');
  assert.deepEqual(Object.keys(chA.presenceState()), ['alice']);
  assert.equal(await chA.untrack(), 'ok');
  await until(() => leaves.includes('alice'), 5000, 'alice to leave');
});

test('postgres_changes: INSERT with a filter, UPDATE and DELETE', async () => {
  const service = client(serviceKey);
  const c = client();
  const inserts = [];
  const all = [];
  const system = [];
  const ch = c
    .channel('items')
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'rt_items', filter: 'list=eq.groceries' }, (p) => inserts.push(p))
    .on('postgres_changes', { event: '*', schema: 'public', table: 'rt_items' }, (p) => all.push(p))
    .on('system', {}, (p) => system.push(p));
  await subscribe(ch);
  await until(() => system.length > 0, 5000, 'the system message');
  assert.equal(system[0].message, 'Subscribed to PostgreSQL');
  assert.equal(system[0].status, 'ok');
  assert.equal(system[0].extension, 'postgres_changes');

  let r = await service.from('rt_items').insert([{ list: 'chores', title: 'sweep' }, { list: 'groceries', title: 'milk' }]).select();
  assert.equal(r.error, null, JSON.stringify(r.error));
  await until(() => inserts.length === 1 && all.length === 2, 5000, 'the inserts');
  assert.equal(inserts[0].eventType, 'INSERT');
  assert.equal(inserts[0].schema, 'public');
  assert.equal(inserts[0].table, 'rt_items');
  assert.equal(inserts[0].new.title, 'milk');
  assert.match(inserts[0].commit_timestamp, /^\d{4}-\d\d-\d\dT/);
  assert.equal(inserts[0].errors, null);
  const milk = r.data.find((x) => x.title === 'milk');
  r = await service.from('rt_items').update({ title: 'oat milk' }).eq('id', milk.id);
  assert.equal(r.error, null, JSON.stringify(r.error));
  r = await service.from('rt_items').delete().eq('id', milk.id);
  assert.equal(r.error, null, JSON.stringify(r.error));
  await until(() => all.length === 4, 5000, 'the update and delete');
  assert.equal(all[2].eventType, 'UPDATE');
  assert.equal(all[2].new.title, 'oat milk');
  assert.equal(all[2].old.id, milk.id);
  assert.equal(all[3].eventType, 'DELETE');
  assert.equal(all[3].old.id, milk.id);
  assert.equal(inserts.length, 1);
});

test('postgres_changes under RLS: each user receives only their rows', async () => {
  const suffix = Math.random().toString(36).slice(2);
  const alice = client();
  const bob = client();
  const anon = client();
  const got = { alice: [], bob: [], anon: [] };
  for (const [name, c] of [['alice', alice], ['bob', bob]]) {
    const s = await c.auth.signUp({ email: `${name}-${suffix}@example.com`, password: `${name}-password` });
    assert.equal(s.error, null, JSON.stringify(s.error));
    c.realtime.setAuth(s.data.session.access_token);
  }
  for (const [name, c] of [['alice', alice], ['bob', bob], ['anon', anon]]) {
    await subscribe(
      c.channel(`notes-${name}`).on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes' }, (p) => got[name].push(p)),
    );
  }
  let r = await alice.from('rt_notes').insert({ body: 'alice 1' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  r = await bob.from('rt_notes').insert({ body: 'bob 1' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  r = await alice.from('rt_notes').insert({ body: 'alice 2' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  await until(() => got.alice.length === 2 && got.bob.length === 1, 5000, 'each user their rows');
  await sleep(300);
  assert.deepEqual(got.alice.map((p) => p.new.body), ['alice 1', 'alice 2']);
  assert.deepEqual(got.bob.map((p) => p.new.body), ['bob 1']);
  // anon may not select rt_notes: told so, never given a row.
  assert.ok(got.anon.every((p) => Object.keys(p.new).length === 0 && p.errors?.length), JSON.stringify(got.anon));
});

test('a malformed frame is answered; the socket and server stay up', async () => {
  const { ws, got } = await raw(`apikey=${anonKey}&vsn=2.0.0`);
  ws.send('this is not json');
  ws.send(new Uint8Array([9, 9, 9]));
  ws.send(JSON.stringify({ not: 'an array' }));
  await until(() => got.length === 3, 3000, 'three error replies');
  for (const m of got) {
    assert.equal(m[3], 'phx_reply');
    assert.equal(m[4].status, 'error');
    assert.match(m[4].response.reason, /malformed/);
  }
  ws.send(JSON.stringify([null, '9', 'realtime:nowhere', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }]));
  ws.send(JSON.stringify([null, '10', 'phoenix', 'heartbeat', {}]));
  await until(() => got.length === 5, 3000, 'the unmatched topic and heartbeat replies');
  assert.equal(got[3][4].response.reason, 'unmatched topic');
  assert.deepEqual(got[4][4], { status: 'ok', response: {} });
  ws.close();
  // The server still serves.
  const c = client();
  await subscribe(c.channel('after-garbage'));
});

test('vsn 1.0.0 and 2.0.0 clients on one channel', async () => {
  const v1 = client(anonKey, { vsn: '1.0.0' });
  const v2 = client(anonKey, { vsn: '2.0.0' });
  assert.equal(v1.realtime.vsn, '1.0.0');
  const got1 = [];
  const got2 = [];
  const ch1 = v1.channel('mixed', { config: { broadcast: { ack: true } } }).on('broadcast', { event: 'e' }, (p) => got1.push(p));
  const ch2 = v2.channel('mixed', { config: { broadcast: { ack: true } } }).on('broadcast', { event: 'e' }, (p) => got2.push(p));
  await subscribe(ch1);
  await subscribe(ch2);
  assert.equal(await ch1.send({ type: 'broadcast', event: 'e', payload: { from: 'v1' } }), 'ok');
  assert.equal(await ch2.send({ type: 'broadcast', event: 'e', payload: { from: 'v2' } }), 'ok');
  await until(() => got1.length === 1 && got2.length === 1, 5000, 'cross-serializer broadcasts');
  assert.deepEqual(got1[0].payload, { from: 'v2' });
  assert.deepEqual(got2[0].payload, { from: 'v1' });
});

// realtime-js sends its first join right behind the upgrade request: those
// frames (masked, so any byte) must reach the socket as sent. Once, 1 socket
// in ~5 was cut (the HTTP layer rewrote `"`/`<`/`>` bytes it took for a
// request line); 24 sockets of both serializers catch that at once.
test('sockets joining right after they open all subscribe', async () => {
  const cs = Array.from({ length: 24 }, (_, i) => client(anonKey, { vsn: i % 2 ? '1.0.0' : '2.0.0' }));
  const chans = await Promise.all(cs.map((c, i) => subscribe(c.channel(`burst-${i % 3}`, { config: { broadcast: { ack: true } } }))));
  assert.equal(chans.filter((ch) => ch.state === 'joined').length, 24);
  const statuses = await Promise.all(chans.map((ch, i) => ch.send({ type: 'broadcast', event: 'n', payload: { i, text: '"<>"' } })));
  assert.deepEqual([...new Set(statuses)], ['ok']);
});

/// A signed-up user's client, its realtime socket acting as that user.
async function user(name) {
  const c = client();
  const email = `${name}-${Math.random().toString(36).slice(2)}@example.com`;
  const s = await c.auth.signUp({ email, password: `${name}-password` });
  assert.equal(s.error, null, JSON.stringify(s.error));
  await c.realtime.setAuth(s.data.session.access_token);
  return { c, id: s.data.user.id };
}

/// A join that fails: the reason realtime answers.
async function refused(channel) {
  const { status, err } = await joined(channel);
  assert.equal(status, 'CHANNEL_ERROR', 'joined, but should have been refused');
  return String(err?.message ?? err);
}

test('private channels: authorized by RLS policies on realtime.messages with realtime.topic()', async () => {
  const alice = await user('alice');
  const bob = await user('bob');
  const room = `room:${alice.id}`;
  const got = { alice: [], bob: [], pub: [] };
  const chA = alice.c.channel(room, { config: { private: true, broadcast: { ack: true } } })
    .on('broadcast', { event: 'say' }, (p) => got.alice.push(p.payload));
  const chB = bob.c.channel(room, { config: { private: true, broadcast: { ack: true } } })
    .on('broadcast', { event: 'say' }, (p) => got.bob.push(p.payload));
  // A public channel of the same name is another channel.
  const pub = client().channel(room).on('broadcast', { event: 'say' }, (p) => got.pub.push(p.payload));
  await subscribe(chA);
  await subscribe(chB);
  await subscribe(pub);
  // Anonymous callers may not listen (no policy for anon).
  const reason = await refused(client().channel(room, { config: { private: true } }));
  assert.match(reason, new RegExp(`Unauthorized: You do not have permissions to read from this Channel topic: ${room}`));

  // The owner may send; bob hears it, the public channel does not.
  assert.equal(await chA.send({ type: 'broadcast', event: 'say', payload: { from: 'alice' } }), 'ok');
  await until(() => got.bob.length === 1, 5000, 'bob to hear alice');
  assert.deepEqual(got.bob[0], { from: 'alice' });
  // Bob may listen but not send here: his broadcast is dropped (no ack).
  assert.equal(await chB.send({ type: 'broadcast', event: 'say', payload: { from: 'bob' } }), 'timed out');
  await sleep(200);
  assert.equal(got.alice.length, 0);
  assert.equal(got.pub.length, 0);

  // REST: httpSend on the private channel as the owner (202), as bob (403).
  assert.deepEqual(await chA.httpSend('say', { via: 'rest' }), { success: true });
  await until(() => got.bob.length === 2, 5000, 'bob to hear the REST broadcast');
  assert.deepEqual(got.bob[1], { via: 'rest' });
  await assert.rejects(chB.httpSend('say', { via: 'bob' }), /Unauthorized/);

  // From SQL: a trigger calling realtime.broadcast_changes (private by default).
  const service = client(serviceKey);
  const seen = [];
  chA.on('broadcast', { event: 'INSERT' }, (p) => seen.push(p));
  const r = await service.from('rt_posts').insert({ room: alice.id, body: 'hello from sql' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  await until(() => seen.length === 1, 5000, 'the broadcast from the trigger');
  assert.equal(seen[0].payload.record.body, 'hello from sql');
  assert.equal(seen[0].payload.operation, 'INSERT');
  assert.equal(seen[0].payload.table, 'rt_posts');
  assert.match(seen[0].meta?.id ?? '', /^[0-9a-f-]{36}$/);
  await sleep(200);
  assert.equal(got.pub.length, 0, 'the public channel hears no private broadcast');
});

test('REST broadcast: send() before joining falls back to /api/broadcast; bad batches answer 422', async () => {
  const listener = client();
  const heard = [];
  await subscribe(listener.channel('news').on('broadcast', { event: 'flash' }, (p) => heard.push(p.payload)));
  const sender = client();
  const origWarn = console.warn;
  console.warn = () => {};
  try {
    assert.equal(await sender.channel('news').send({ type: 'broadcast', event: 'flash', payload: { n: 1 } }), 'ok');
  } finally {
    console.warn = origWarn;
  }
  await until(() => heard.length === 1, 5000, 'the REST broadcast');
  assert.deepEqual(heard[0], { n: 1 });
  const post = (body, key = anonKey) =>
    fetch(`${url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { apikey: key, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  let res = await post({ messages: [{ topic: 'news', event: 'flash' }] });
  assert.equal(res.status, 422);
  assert.deepEqual(await res.json(), { errors: { messages: [{ payload: ["can't be blank"] }] } });
  res = await post({});
  assert.equal(res.status, 422);
  res = await post({ messages: [{ topic: 'news', event: 'flash', payload: { n: 2 } }] }, 'not-a-key');
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { message: 'Unauthorized' });
  res = await post({ messages: [{ topic: 'news', event: 'flash', payload: { n: 3 } }] });
  assert.equal(res.status, 202);
  await until(() => heard.length === 2, 5000, 'the batch broadcast');
  assert.deepEqual(heard[1], { n: 3 });
});

test('broadcast from SQL: realtime.send to a public topic', async () => {
  const listener = client();
  const heard = [];
  await subscribe(listener.channel('sql-news').on('broadcast', { event: 'bulletin' }, (p) => heard.push(p.payload)));
  // realtime.send through a function the service role calls.
  const service = client(serviceKey);
  const r = await service.rpc('rt_send', { topic: 'sql-news', body: 'from sql' });
  assert.equal(r.error, null, JSON.stringify(r.error));
  await until(() => heard.length === 1, 5000, 'the realtime.send broadcast');
  assert.deepEqual(heard[0], { body: 'from sql' });
});

test('a channel ends when its token expires, with a system message', async () => {
  // A token that expires in 3 s, signed with the server's secret.
  const c = client();
  await c.realtime.setAuth(hs256({ role: 'anon', iss: 'supabase-demo', exp: Math.floor(Date.now() / 1000) + 3 }));
  const system = [];
  const ch = c.channel('expiring').on('system', {}, (p) => system.push(p));
  await subscribe(ch);
  await until(() => system.some((p) => p.status === 'error'), 8000, 'the expiry message');
  const m = system.find((p) => p.status === 'error');
  assert.match(m.message, /^Token has expired \d+ seconds ago$/);
  assert.equal(m.extension, 'system');
  assert.equal(m.channel, 'expiring');
});

test('private channels: presence events are withheld from members who may not read presence', async () => {
  const alice = await user('alice');
  const bob = await user('bob');
  // On alice's room both may read presence: bob sees alice's presence.
  const room = `room:${alice.id}`;
  const bobInRoom = [];
  const chA = alice.c.channel(room, { config: { private: true } }).on('presence', { event: 'sync' }, () => {});
  const chB = bob.c.channel(room, { config: { private: true } })
    .on('presence', { event: 'join' }, ({ key }) => bobInRoom.push(key));
  await subscribe(chA);
  await subscribe(chB);
  assert.equal(await chA.track({ who: 'alice' }), 'ok');
  await until(() => bobInRoom.length === 1, 5000, 'bob to see alice in her room');
  // On a stage the policies allow broadcast reads but no presence reads.
  const stage = `stage:${Math.random().toString(36).slice(2)}`;
  const heard = [];
  const aliceOnStage = { sync: 0, join: 0 };
  const sA = alice.c.channel(stage, { config: { private: true } })
    .on('broadcast', { event: 'line' }, (p) => heard.push(p.payload))
    .on('presence', { event: 'sync' }, () => aliceOnStage.sync++)
    .on('presence', { event: 'join' }, () => aliceOnStage.join++);
  const sB = bob.c.channel(stage, { config: { private: true, broadcast: { ack: true } } })
    .on('presence', { event: 'sync' }, () => {});
  await subscribe(sA);
  await subscribe(sB);
  assert.equal(await sB.track({ who: 'bob' }), 'ok');
  assert.equal(await sB.send({ type: 'broadcast', event: 'line', payload: { n: 1 } }), 'ok');
  await until(() => heard.length === 1, 5000, 'alice to hear bob on the stage');
  await sleep(300);
  assert.deepEqual(aliceOnStage, { sync: 0, join: 0 }, 'no presence_state or presence_diff on the stage');
  assert.deepEqual(Object.keys(sA.presenceState()), []);
});

test('private channels: a new token that loses the read policy ends the channel', async () => {
  const alice = await user('alice');
  const room = `room:${alice.id}`;
  const system = [];
  const ch = alice.c.channel(room, { config: { private: true } }).on('system', {}, (p) => system.push(p));
  await subscribe(ch);
  // The same socket now acts as anon, which no policy lets listen.
  await alice.c.realtime.setAuth(hs256({ role: 'anon', iss: 'supabase-demo', exp: Math.floor(Date.now() / 1000) + 600 }));
  await until(() => system.some((p) => p.status === 'error'), 5000, 'the revocation message');
  const m = system.find((p) => p.status === 'error');
  assert.equal(m.message, `You no longer have permission to read from this Channel topic: ${room}`);
  assert.equal(m.extension, 'system');
});
