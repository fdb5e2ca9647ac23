// The example: supabase-js, unchanged, on the pipeline and PostgreSQL running
// in a worker of this page (createWorkerHost; createBrowserHost runs them on
// the page's own thread).
import { createWorkerHost } from '../src/browser.mjs';

const MIGRATIONS = ['20240101000000_notes.sql'];
const $ = (id) => document.getElementById(id);
const show = (error) => { $('error').textContent = error ? error.message || String(error) : ''; };

async function start() {
  const migrations = await Promise.all(MIGRATIONS.map(async (name) => ({
    name, sql: await (await fetch(new URL(`./migrations/${name}`, import.meta.url))).text(),
  })));
  const host = await createWorkerHost({ dataDir: 'idb://supalite-example', migrations, requestDeadlineMs: 10_000 });
  const supabase = window.supabase.createClient(host.url, host.anonKey, { global: { fetch: host.fetch } });
  $('status').textContent = `Ready: PostgreSQL runs in this tab (in a worker), data in IndexedDB (${host.applied} migration(s) applied now).`;

  async function refresh() {
    const { data: { session } } = await supabase.auth.getSession();
    $('who').textContent = session ? `Signed in as ${session.user.email}` : 'Not signed in.';
    const { data, error } = await supabase.from('notes').select('id, body').order('id');
    if (error) return show(error);
    $('list').replaceChildren(...data.map((note) => {
      const li = document.createElement('li');
      li.textContent = `${note.body} `;
      const del = document.createElement('button');
      del.textContent = 'delete';
      del.onclick = async () => { show((await supabase.from('notes').delete().eq('id', note.id)).error); refresh(); };
      li.append(del);
      return li;
    }));
  }
  const credentials = () => ({ email: $('email').value, password: $('password').value });
  $('sign-up').onclick = async () => { show((await supabase.auth.signUp(credentials())).error); refresh(); };
  $('sign-in').onclick = async () => { show((await supabase.auth.signInWithPassword(credentials())).error); refresh(); };
  $('sign-out').onclick = async () => { show((await supabase.auth.signOut()).error); refresh(); };
  $('add').onsubmit = async (event) => {
    event.preventDefault();
    show((await supabase.from('notes').insert({ body: $('body').value })).error);
    $('body').value = '';
    refresh();
  };
  await refresh();
  return { host, supabase, refresh };
}

// For scripts driving the page (the browser test): resolves once it serves.
window.example = start().catch((e) => {
  $('status').textContent = `Failed to start: ${e.message}`;
  $('status').className = 'error';
  throw e;
});
