// Drives host/js's browser example in headless Chromium (Debian's, through
// playwright-core): a user signs up and adds a note through the page, a
// second user and an anonymous visitor see only their own rows (RLS), and
// the data is still there after a reload and after a browser restart
// (IndexedDB). Prints what the page showed as one JSON line; the Rust test
// (tests/tests/browser.rs) judges it.
//   CHROMIUM=/usr/bin/chromium PROFILE=<dir> SCREENSHOT=<png> node browser.mjs
import { launch as browser, startExample } from './chromium.mjs';

const example = await startExample();
const { url } = example;
const launch = () => browser(process.env.PROFILE);

const seen = { errors: [] };
const open = async (context) => {
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => seen.errors.push(e.message));
  await page.goto(url);
  return page;
};
// Waits for the example to serve; answers how many migrations it applied now.
const started = (page) => page.evaluate(async () => (await window.example).host.applied);
const listed = (page) => page.locator('#list li').allTextContents()
  .then((items) => items.map((t) => t.replace(/\s*delete$/, '')));

let context = await launch();
try {
  let page = await open(context);
  let t0 = Date.now();
  seen.applied_first = await started(page);
  seen.start_ms = Date.now() - t0;

  // Alice, through the page's own form.
  await page.fill('#email', 'alice@example.com');
  await page.fill('#password', 'alice-password');
  await page.click('#sign-up');
  await page.locator('#who').filter({ hasText: 'alice@example.com' }).waitFor();
  await page.fill('#body', 'buy milk');
  await page.click('#add button');
  await page.locator('#list li').first().waitFor();
  seen.alice_list = await listed(page);

  // Bob and an anonymous visitor, through supabase-js in the same page.
  Object.assign(seen, await page.evaluate(async () => {
    const { supabase, refresh } = await window.example;
    const bodies = async () => {
      const { data, error } = await supabase.from('notes').select('body').order('id');
      return error ? { error: error.code } : data.map((n) => n.body);
    };
    await supabase.auth.signOut();
    const anon_sees = await bodies();
    const anonInsert = await supabase.from('notes').insert({ body: 'spam' });
    const bobUp = await supabase.auth.signUp({ email: 'bob@example.com', password: 'bob-password' });
    const bob_sees = await bodies();
    const bobInsert = await supabase.from('notes').insert({ body: "bob's note" });
    const bob_after_insert = await bodies();
    // Bob may not write a row in Alice's name.
    const forged = await supabase.from('notes').insert({ body: 'forged', user_id: '00000000-0000-0000-0000-000000000000' });
    await supabase.auth.signOut();
    const aliceIn = await supabase.auth.signInWithPassword({ email: 'alice@example.com', password: 'alice-password' });
    await refresh();
    return {
      anon_sees,
      anon_insert: { status: anonInsert.status, code: anonInsert.error?.code },
      bob_signup_error: bobUp.error?.message ?? null,
      bob_sees,
      bob_insert_status: bobInsert.status,
      bob_after_insert,
      forged: { status: forged.status, code: forged.error?.code },
      alice_signin_error: aliceIn.error?.message ?? null,
    };
  }));

  // A reload: the same database from IndexedDB, Alice's session from localStorage.
  await page.reload();
  seen.applied_after_reload = await started(page);
  await page.locator('#list li').first().waitFor();
  seen.who_after_reload = await page.textContent('#who');
  seen.alice_list_after_reload = await listed(page);
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });

  // A statement that never ends, through a worker host of its own: the
  // request answers 504 at its deadline, the page keeps running meanwhile,
  // and the worker, started again on its IndexedDB, serves the next one.
  Object.assign(seen, await page.evaluate(async () => {
    const { createWorkerHost } = await import('/src/browser.mjs');
    const host = await createWorkerHost({
      dataDir: 'idb://supalite-deadline-test',
      requestDeadlineMs: 1500,
      migrations: [{
        name: '20240101000000_spin.sql',
        sql: `create table kept (id int primary key);
              insert into kept values (1);
              create function spin() returns int language plpgsql as $$
              declare i bigint := 0; begin loop i := i + 1; end loop; end $$;`,
      }],
    });
    const headers = { apikey: host.anonKey };
    // The page's own timers while the worker spins.
    let gap = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    }, 20);
    const t0 = performance.now();
    const spun = await host.fetch(`${host.url}/rest/v1/rpc/spin`, { headers });
    const spin_ms = performance.now() - t0;
    clearInterval(ticker);
    const spin = { status: spun.status, code: (await spun.json()).code };
    const kept = await host.fetch(`${host.url}/rest/v1/kept?select=id`, { headers });
    const after = { status: kept.status, body: await kept.json() };
    host.close();
    return { spin, spin_ms, page_timer_gap_ms: gap, after_spin: after };
  }));

  // A new browser on the same profile.
  await context.close();
  context = await launch();
  page = await open(context);
  t0 = Date.now();
  seen.applied_after_restart = await started(page);
  seen.restart_ms = Date.now() - t0;
  await page.locator('#list li').first().waitFor();
  seen.alice_list_after_restart = await listed(page);
  seen.status_line = await page.textContent('#status');
} catch (e) {
  seen.failure = e.stack || String(e);
} finally {
  await context.close().catch(() => {});
  example.stop();
}
console.log(JSON.stringify(seen));
