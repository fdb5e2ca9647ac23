// The settings table (components/contract/src/settings.rs), as the JS hosts
// read it: build/settings.mjs is written by scripts/build.mjs from
// `supalite settings --json`, so every key, variable, default and rule here
// is the Rust host's.
import { SETTINGS, ROLES } from '../build/settings.mjs';

export { SETTINGS, ROLES };

/** The row of the environment variable `env`. */
export function setting(env) {
  const s = SETTINGS.find((x) => x.env === env);
  if (!s) throw new Error(`${env} is not a supalite setting`);
  return s;
}

const BOOL = { true: true, 1: true, yes: true, on: true, false: false, 0: false, no: false, off: false };

/** Why `text` is not a valid value of `s` (the Rust rule's words), or null. */
export function problem(s, text) {
  const t = text.trim();
  const kind = typeof s.kind === 'string' ? s.kind : 'choice';
  const ok = {
    flag: () => t.toLowerCase() in BOOL,
    number: () => /^\d+$/.test(t),
    url: () => /^https?:\/\/\S+$/.test(t),
    choice: () => s.kind.choice.includes(t),
    'jwt-secret': () => t.startsWith('{') || [...text].length >= 32,
  }[kind];
  if (!ok || ok()) return null;
  const expected = {
    flag: 'true or false',
    number: 'a number',
    url: 'an http:// or https:// URL',
    choice: () => `one of ${s.kind.choice.join(', ')}`,
    'jwt-secret': 'at least 32 characters (as PostgREST requires), or a JWK',
  }[kind];
  const shown = s.secret ? '' : ` \`${text}\``;
  return `invalid ${s.key} (${s.env})${shown} (expected ${typeof expected === 'function' ? expected() : expected})`;
}

/**
 * The value of the setting `env` from `lookup` (the environment), checked by
 * its rule (an invalid value throws, as the Rust host refuses to start),
 * else its default (`undefined` when it has none).
 */
export function value(env, lookup = (k) => process.env[k]) {
  const s = setting(env);
  const text = lookup(env);
  if (text === undefined || text.trim() === '') return s.default ?? undefined;
  const why = problem(s, text);
  if (why) throw new Error(why);
  return text;
}

/** A number setting as a number (`undefined` when unset without a default). */
export function number(env, lookup) {
  const v = value(env, lookup);
  return v === undefined ? undefined : Number(v);
}

/** A comma-separated list setting. */
export function list(env, lookup) {
  return (value(env, lookup) ?? '').split(',').map((x) => x.trim()).filter(Boolean);
}

/** The anonymous role: `SUPALITE_DB_ANON_ROLE`, else the older `SUPALITE_ANON_ROLE`. */
export function anonRole(lookup = (k) => process.env[k]) {
  const own = lookup('SUPALITE_DB_ANON_ROLE')?.trim();
  return own || lookup('SUPALITE_ANON_ROLE')?.trim() || setting('SUPALITE_DB_ANON_ROLE').default;
}

/** The roles a token may carry: `jwt-allowed-roles`, else the anonymous role, authenticated, service_role. */
export function allowedRoles(lookup = (k) => process.env[k]) {
  const set = list('SUPALITE_JWT_ALLOWED_ROLES', lookup);
  return set.length ? set : [anonRole(lookup), 'authenticated', 'service_role'];
}

/**
 * Every component setting with a value (set or default) from `lookup`, as
 * the Rust host hands them to the composed pipeline, plus the variables of
 * a role's own prefix (`SUPALITE_REWRITER_…`) found in `all`.
 */
export function componentEnv(lookup = (k) => process.env[k], all = process.env) {
  const env = {};
  for (const s of SETTINGS) {
    if (s.roles.length === 0 || s.env === 'SUPALITE_DB_URI') continue;
    const v = value(s.env, lookup);
    if (v !== undefined) env[s.env] = v;
  }
  env.SUPALITE_DB_ANON_ROLE = anonRole(lookup);
  env.SUPALITE_JWT_ALLOWED_ROLES = allowedRoles(lookup).join(',');
  const prefixes = ROLES.map((r) => `SUPALITE_${r.toUpperCase().replaceAll('-', '_')}_`);
  for (const [k, v] of Object.entries(all)) {
    if (!SETTINGS.some((s) => s.env === k) && prefixes.some((p) => k.startsWith(p))) env[k] = v;
  }
  return env;
}

/** A lookup over a plain object of settings (the browser host's options). */
export const from = (object) => (k) => object[k];
