// supabase-js's storage client (storage-js, unchanged) against a running
// supalite's /storage/v1. SUPALITE_URL, SUPALITE_ANON_KEY, SUPALITE_SERVICE_KEY
// come from the Rust harness (tests/tests/storage.rs), which starts the server
// on a project whose migration creates the `avatars` (public) and `private`
// buckets by inserting into storage.buckets, and the policies from Supabase's
// storage docs (public read of avatars, per-user folders in `private`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPALITE_URL;
const anonKey = process.env.SUPALITE_ANON_KEY;
const serviceKey = process.env.SUPALITE_SERVICE_KEY;
const client = (key = anonKey) =>
  createClient(url, key, { auth: { persistSession: false, autoRefreshToken: false } });

const service = client(serviceKey);
const anon = client();
const alice = client();
const bob = client();
const suffix = Math.random().toString(36).slice(2);
let aliceId, bobId;

const text = async (blob) => Buffer.from(await blob.arrayBuffer()).toString();

test('sign up two users', async () => {
  const a = await alice.auth.signUp({ email: `alice-${suffix}@example.com`, password: 'alice-password' });
  assert.equal(a.error, null, JSON.stringify(a.error));
  aliceId = a.data.user.id;
  const b = await bob.auth.signUp({ email: `bob-${suffix}@example.com`, password: 'bob-password' });
  assert.equal(b.error, null, JSON.stringify(b.error));
  bobId = b.data.user.id;
});

test('buckets: list, get, create, update, empty, delete', async () => {
  // The migration's buckets are there.
  const listed = await service.storage.listBuckets();
  assert.equal(listed.error, null, JSON.stringify(listed.error));
  const names = listed.data.map((b) => b.name).sort();
  assert.ok(names.includes('avatars') && names.includes('private'), JSON.stringify(names));
  assert.equal(listed.data.find((b) => b.name === 'avatars').public, true);

  const created = await service.storage.createBucket('docs', {
    public: false,
    fileSizeLimit: 1024 * 1024,
    allowedMimeTypes: ['text/plain', 'image/png'],
  });
  assert.equal(created.error, null, JSON.stringify(created.error));
  assert.deepEqual(created.data, { name: 'docs' });

  const dup = await service.storage.createBucket('docs');
  assert.equal(dup.error?.message, 'The resource already exists');
  assert.equal(dup.error?.statusCode, '409');

  const got = await service.storage.getBucket('docs');
  assert.equal(got.error, null, JSON.stringify(got.error));
  assert.equal(got.data.id, 'docs');
  assert.equal(got.data.public, false);
  assert.equal(got.data.file_size_limit, 1024 * 1024);
  assert.deepEqual(got.data.allowed_mime_types, ['text/plain', 'image/png']);

  const missing = await service.storage.getBucket('nope');
  assert.equal(missing.error?.message, 'Bucket not found');
  assert.equal(missing.error?.statusCode, '404');

  const updated = await service.storage.updateBucket('docs', { public: true, fileSizeLimit: 16, allowedMimeTypes: ['text/plain'] });
  assert.equal(updated.error, null, JSON.stringify(updated.error));
  assert.equal(updated.data.message, 'Successfully updated');
  const after = await service.storage.getBucket('docs');
  assert.equal(after.data.public, true);
  assert.equal(after.data.file_size_limit, 16);

  // The bucket's limits: size and MIME type.
  const ok = await service.storage.from('docs').upload('small.txt', 'hello', { contentType: 'text/plain' });
  assert.equal(ok.error, null, JSON.stringify(ok.error));
  const big = await service.storage.from('docs').upload('big.txt', 'x'.repeat(17), { contentType: 'text/plain' });
  assert.equal(big.error?.message, 'The object exceeded the maximum allowed size');
  assert.equal(big.error?.statusCode, '413');
  const html = await service.storage.from('docs').upload('page.html', '<p>', { contentType: 'text/html' });
  assert.equal(html.error?.message, 'mime type text/html is not supported');
  assert.equal(html.error?.statusCode, '415');

  // Not empty: refused, as Supabase does.
  const notEmpty = await service.storage.deleteBucket('docs');
  assert.equal(notEmpty.error?.message, 'The bucket you tried to delete is not empty');
  assert.equal(notEmpty.error?.statusCode, '409');
  const emptied = await service.storage.emptyBucket('docs');
  assert.equal(emptied.error, null, JSON.stringify(emptied.error));
  // Storage's current answer (it queues the work; here it is done at once).
  assert.equal(emptied.data.message, 'Empty bucket has been queued. Completion may take up to an hour.');
  assert.deepEqual((await service.storage.from('docs').list()).data, []);
  const deleted = await service.storage.deleteBucket('docs');
  assert.equal(deleted.error, null, JSON.stringify(deleted.error));
  assert.equal(deleted.data.message, 'Successfully deleted');
  assert.equal((await service.storage.getBucket('docs')).error?.message, 'Bucket not found');

  // Users may not create buckets (no policy on storage.buckets lets them).
  const byUser = await alice.storage.createBucket(`mine-${suffix}`);
  assert.equal(byUser.error?.message, 'new row violates row-level security policy');
});

test('objects: raw and multipart uploads, download, info, exists, list under RLS', async () => {
  const mine = alice.storage.from('private');
  const raw = await mine.upload(`${aliceId}/notes/raw.txt`, 'raw body', {
    contentType: 'text/plain',
    cacheControl: '60',
    metadata: { kind: 'note' },
  });
  assert.equal(raw.error, null, JSON.stringify(raw.error));
  assert.equal(raw.data.path, `${aliceId}/notes/raw.txt`);
  assert.equal(raw.data.fullPath, `private/${aliceId}/notes/raw.txt`);
  assert.ok(raw.data.id);

  // A Blob goes as a multipart form (storage-js's FormData path).
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
  const multi = await mine.upload(`${aliceId}/pic.png`, new Blob([png], { type: 'image/png' }));
  assert.equal(multi.error, null, JSON.stringify(multi.error));

  const down = await mine.download(`${aliceId}/notes/raw.txt`);
  assert.equal(down.error, null, JSON.stringify(down.error));
  assert.equal(await text(down.data), 'raw body');
  assert.equal(down.data.type, 'text/plain');
  const pic = await mine.download(`${aliceId}/pic.png`);
  assert.deepEqual(new Uint8Array(await pic.data.arrayBuffer()), png);
  assert.equal(pic.data.type, 'image/png');

  // Again without upsert: refused; with it: replaced.
  const again = await mine.upload(`${aliceId}/notes/raw.txt`, 'other');
  assert.equal(again.error?.message, 'The resource already exists');
  assert.equal(again.error?.statusCode, '409');
  const upsert = await mine.upload(`${aliceId}/notes/raw.txt`, 'replaced', { upsert: true, contentType: 'text/plain' });
  assert.equal(upsert.error, null, JSON.stringify(upsert.error));
  assert.equal(await text((await mine.download(`${aliceId}/notes/raw.txt`)).data), 'replaced');
  const upd = await mine.update(`${aliceId}/notes/raw.txt`, 'updated', { contentType: 'text/plain' });
  assert.equal(upd.error, null, JSON.stringify(upd.error));
  assert.equal(await text((await mine.download(`${aliceId}/notes/raw.txt`)).data), 'updated');

  const info = await mine.info(`${aliceId}/notes/raw.txt`);
  assert.equal(info.error, null, JSON.stringify(info.error));
  assert.equal(info.data.size, 'updated'.length);
  assert.equal(info.data.contentType, 'text/plain');
  assert.equal(info.data.bucketId, 'private');
  assert.equal((await mine.exists(`${aliceId}/notes/raw.txt`)).data, true);
  assert.equal((await mine.exists(`${aliceId}/nothing.txt`)).data, false);

  const listed = await mine.list(aliceId, { sortBy: { column: 'name', order: 'asc' } });
  assert.equal(listed.error, null, JSON.stringify(listed.error));
  assert.deepEqual(listed.data.map((e) => e.name), ['notes', 'pic.png']);
  assert.equal(listed.data[0].id, null, 'a folder');
  assert.equal(listed.data[1].metadata.size, png.length);
  const searched = await mine.list(`${aliceId}/notes`, { search: 'RAW' });
  assert.deepEqual(searched.data.map((e) => e.name), ['raw.txt']);

  // Bob: never sees, reads or writes Alice's objects.
  const theirs = bob.storage.from('private');
  const peek = await theirs.download(`${aliceId}/notes/raw.txt`);
  assert.ok(peek.error, 'bob downloaded alice\'s object');
  assert.equal(peek.data, null);
  assert.equal((await theirs.exists(`${aliceId}/notes/raw.txt`)).data, false);
  assert.deepEqual((await theirs.list(aliceId)).data, []);
  assert.ok((await theirs.info(`${aliceId}/notes/raw.txt`)).error);
  const forged = await theirs.upload(`${aliceId}/forged.txt`, 'forged');
  assert.equal(forged.error?.message, 'new row violates row-level security policy');
  assert.equal(forged.error?.statusCode, '403');
  const own = await theirs.upload(`${bobId}/b.txt`, 'bob', { contentType: 'text/plain' });
  assert.equal(own.error, null, JSON.stringify(own.error));
  // Bob's delete of Alice's object removes nothing.
  const removed = await theirs.remove([`${aliceId}/notes/raw.txt`]);
  assert.deepEqual(removed.data, []);
  assert.equal(await text((await mine.download(`${aliceId}/notes/raw.txt`)).data), 'updated');

  // No token: private objects stay private.
  assert.ok((await anon.storage.from('private').download(`${aliceId}/notes/raw.txt`)).error);
  // The service role bypasses RLS.
  const svc = await service.storage.from('private').download(`${aliceId}/notes/raw.txt`);
  assert.equal(await text(svc.data), 'updated');
});

test('move, copy, remove', async () => {
  const mine = alice.storage.from('private');
  await mine.upload(`${aliceId}/a.txt`, 'move me', { contentType: 'text/plain' });
  const moved = await mine.move(`${aliceId}/a.txt`, `${aliceId}/moved/b.txt`);
  assert.equal(moved.error, null, JSON.stringify(moved.error));
  assert.equal(moved.data.message, 'Successfully moved');
  assert.ok((await mine.download(`${aliceId}/a.txt`)).error, 'the old name is gone');
  assert.equal(await text((await mine.download(`${aliceId}/moved/b.txt`)).data), 'move me');

  const copied = await mine.copy(`${aliceId}/moved/b.txt`, `${aliceId}/copy.txt`);
  assert.equal(copied.error, null, JSON.stringify(copied.error));
  // Storage answers the copy's key with its bucket (`Key`), storage-js passes it on.
  assert.equal(copied.data.path, `private/${aliceId}/copy.txt`);
  assert.equal(await text((await mine.download(`${aliceId}/copy.txt`)).data), 'move me');
  assert.equal(await text((await mine.download(`${aliceId}/moved/b.txt`)).data), 'move me');

  // Across buckets (the service role, into the public bucket).
  const across = await service.storage.from('private').copy(`${aliceId}/copy.txt`, `copied-${suffix}.txt`, { destinationBucket: 'avatars' });
  assert.equal(across.error, null, JSON.stringify(across.error));
  assert.equal(await text((await anon.storage.from('avatars').download(`copied-${suffix}.txt`)).data), 'move me');

  // Bob may not move Alice's objects out of her folder.
  const stolen = await bob.storage.from('private').move(`${aliceId}/copy.txt`, `${bobId}/stolen.txt`);
  assert.ok(stolen.error, 'bob moved alice\'s object');

  const removed = await mine.remove([`${aliceId}/copy.txt`, `${aliceId}/moved/b.txt`, `${aliceId}/never-was.txt`]);
  assert.equal(removed.error, null, JSON.stringify(removed.error));
  assert.deepEqual(removed.data.map((o) => o.name).sort(), [`${aliceId}/copy.txt`, `${aliceId}/moved/b.txt`]);
  assert.ok((await mine.download(`${aliceId}/copy.txt`)).error);
});

test('public bucket: getPublicUrl and downloads without a token', async () => {
  const avatars = anon.storage.from('avatars');
  const up = await avatars.upload(`face-${suffix}.png`, new Uint8Array([1, 2, 3, 4]), { contentType: 'image/png' });
  assert.equal(up.error, null, JSON.stringify(up.error));
  const { data } = avatars.getPublicUrl(`face-${suffix}.png`);
  assert.equal(data.publicUrl, `${url}/storage/v1/object/public/avatars/face-${suffix}.png`);
  const res = await fetch(data.publicUrl);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array([1, 2, 3, 4]));
  const named = await fetch(avatars.getPublicUrl(`face-${suffix}.png`, { download: 'me.png' }).data.publicUrl);
  assert.match(named.headers.get('content-disposition') ?? '', /attachment; filename="?me\.png"?/);
  // The private bucket has no public URL.
  const priv = await fetch(anon.storage.from('private').getPublicUrl(`${aliceId}/pic.png`).data.publicUrl);
  assert.equal(priv.status, 400);
  const body = await priv.json();
  // As Supabase: a bucket that is not public is not found on the public route.
  assert.equal(body.message, 'Bucket not found');
  assert.equal(body.statusCode, '404');
});

test('signed download and upload URLs', async () => {
  const mine = alice.storage.from('private');
  const signed = await mine.createSignedUrl(`${aliceId}/pic.png`, 60);
  assert.equal(signed.error, null, JSON.stringify(signed.error));
  assert.match(signed.data.signedUrl, /\/storage\/v1\/object\/sign\/private\/.+\?token=/);
  const res = await fetch(signed.data.signedUrl);
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 11);
  // Bound to its object: the token on another path is refused.
  const token = new URL(signed.data.signedUrl).searchParams.get('token');
  const other = await fetch(`${url}/storage/v1/object/sign/private/${aliceId}/notes/raw.txt?token=${token}`);
  assert.equal(other.status, 400);
  assert.equal((await other.json()).error, 'InvalidSignature');
  const forged = await fetch(`${url}/storage/v1/object/sign/private/${aliceId}/pic.png?token=${token.slice(0, -2)}xx`);
  assert.equal(forged.status, 400);

  const many = await mine.createSignedUrls([`${aliceId}/pic.png`, `${aliceId}/notes/raw.txt`, `${aliceId}/missing`], 60);
  assert.equal(many.error, null, JSON.stringify(many.error));
  assert.equal(many.data.length, 3);
  assert.ok(many.data[0].signedUrl && many.data[1].signedUrl);
  assert.equal(many.data[2].error, 'Either the object does not exist or you do not have access to it');
  assert.equal(await (await fetch(many.data[1].signedUrl)).text(), 'updated');
  // Bob cannot sign Alice's object.
  assert.ok((await bob.storage.from('private').createSignedUrl(`${aliceId}/pic.png`, 60)).error);

  // A signed upload URL: Alice signs, anyone holding the token uploads once.
  const up = await mine.createSignedUploadUrl(`${aliceId}/via-signed.txt`);
  assert.equal(up.error, null, JSON.stringify(up.error));
  assert.ok(up.data.token);
  const put = await anon.storage.from('private').uploadToSignedUrl(`${aliceId}/via-signed.txt`, up.data.token, 'signed upload', { contentType: 'text/plain' });
  assert.equal(put.error, null, JSON.stringify(put.error));
  assert.equal(put.data.path, `${aliceId}/via-signed.txt`);
  assert.equal(await text((await mine.download(`${aliceId}/via-signed.txt`)).data), 'signed upload');
  // Bob cannot sign an upload into Alice's folder.
  assert.ok((await bob.storage.from('private').createSignedUploadUrl(`${aliceId}/x.txt`)).error);
});

test('errors in Storage\'s shape', async () => {
  const noToken = await fetch(`${url}/storage/v1/bucket`);
  assert.equal(noToken.status, 400);
  const body = await noToken.json();
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'].filter((k) => k in body).sort());
  assert.equal(typeof body.statusCode, 'string');
  const bad = await fetch(`${url}/storage/v1/bucket`, { headers: { authorization: 'Bearer not-a-jwt', apikey: anonKey } });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).message, 'Invalid Compact JWS');
  const traversal = await alice.storage.from('private').upload(`${aliceId}/../../etc/passwd`, 'x');
  assert.ok(traversal.error, 'a traversal name was accepted');
  const nobucket = await service.storage.from('no-such-bucket').upload('a.txt', 'x');
  assert.equal(nobucket.error?.message, 'Bucket not found');
});

test('a 10 MB object up and down', async () => {
  const size = 10 * 1024 * 1024;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) bytes[i] = i % 251;
  const store = service.storage.from('private');
  let t = performance.now();
  const up = await store.upload(`big-${suffix}.bin`, bytes, { contentType: 'application/octet-stream' });
  const upMs = performance.now() - t;
  assert.equal(up.error, null, JSON.stringify(up.error));
  t = performance.now();
  const down = await store.download(`big-${suffix}.bin`);
  const got = new Uint8Array(await down.data.arrayBuffer());
  const downMs = performance.now() - t;
  assert.equal(got.length, size);
  assert.ok(Buffer.from(got).equals(Buffer.from(bytes)), 'the bytes came back');
  console.log(`THROUGHPUT upload_ms=${upMs.toFixed(1)} download_ms=${downMs.toFixed(1)} bytes=${size}`);
});
