DO $bootstrap$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT %s', r, CASE WHEN r = 'service_role' THEN 'BYPASSRLS' ELSE '' END);
        -- Supabase's own role timeouts (anon 3 s, authenticated 8 s), set
        -- only on a role created here: ALTER ROLE … SET changes them.
        IF r IN ('anon', 'authenticated') THEN
          EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', r,
                         CASE r WHEN 'anon' THEN '3s' ELSE '8s' END);
        END IF;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
    IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
      EXECUTE format('GRANT %I TO %I', r, current_user);
    END IF;
  END LOOP;

  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth;
  END IF;
  IF to_regprocedure('auth.uid()') IS NULL THEN
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
  END IF;
  IF to_regprocedure('auth.role()') IS NULL THEN
    CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $f$;
  END IF;
  IF to_regprocedure('auth.jwt()') IS NULL THEN
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
  END IF;
  IF NOT has_schema_privilege('anon', 'auth', 'USAGE') THEN
    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt() TO anon, authenticated, service_role;
  END IF;

  IF NOT has_schema_privilege('anon', 'public', 'USAGE') THEN
    GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
                 WHERE n.nspname = 'public' AND d.defaclrole = current_user::text::regrole) THEN
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'supabase_migrations') THEN
    CREATE SCHEMA supabase_migrations;
  END IF;
  CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
    version text PRIMARY KEY,
    name text,
    statements text[],
    inserted_at timestamptz NOT NULL DEFAULT now()
  );
END
$bootstrap$;

-- GoTrue's tables (the columns supalite uses, named as in Supabase).
CREATE TABLE IF NOT EXISTS auth.users (
  instance_id uuid,
  id uuid PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text UNIQUE DEFAULT NULL,
  phone_confirmed_at timestamptz,
  confirmed_at timestamptz GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED,
  banned_until timestamptz,
  deleted_at timestamptz,
  is_sso_user boolean NOT NULL DEFAULT false,
  is_anonymous boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_partial_key ON auth.users (email) WHERE is_sso_user = false;
CREATE TABLE IF NOT EXISTS auth.sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
  created_at timestamptz,
  updated_at timestamptz,
  aal text DEFAULT 'aal1',
  not_after timestamptz
);
CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
  id bigserial PRIMARY KEY,
  token varchar(255) UNIQUE,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255),
  session_id uuid REFERENCES auth.sessions(id) ON DELETE CASCADE
);
-- Requests per client and endpoint in the current window (/auth/v1 rate limits).
CREATE UNLOGGED TABLE IF NOT EXISTS auth.rate_limits (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);

-- --- auth e-mail (issue 26): GoTrue's columns for e-mail change,
-- reauthentication and phone change, its one-time tokens and identities.
-- (Skipped on a table this user does not own: a Supabase dump has them.)
DO $auth_email$
BEGIN
ALTER TABLE auth.users
  ADD COLUMN IF NOT EXISTS email_change_token_new varchar(255),
  ADD COLUMN IF NOT EXISTS email_change varchar(255),
  ADD COLUMN IF NOT EXISTS email_change_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS email_change_token_current varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS email_change_confirm_status smallint DEFAULT 0,
  ADD COLUMN IF NOT EXISTS phone_change text DEFAULT '',
  ADD COLUMN IF NOT EXISTS phone_change_token varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS phone_change_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS reauthentication_token varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS reauthentication_sent_at timestamptz;
EXCEPTION WHEN insufficient_privilege THEN NULL;
END
$auth_email$;
CREATE TABLE IF NOT EXISTS auth.identities (
  provider_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
  identity_data jsonb NOT NULL,
  provider text NOT NULL,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text GENERATED ALWAYS AS (lower(identity_data->>'email')) STORED,
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  UNIQUE (provider_id, provider)
);
CREATE INDEX IF NOT EXISTS identities_user_id_idx ON auth.identities (user_id);
-- GoTrue's token_type is an enum; text with the same values here.
CREATE TABLE IF NOT EXISTS auth.one_time_tokens (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
  token_type text NOT NULL CHECK (token_type IN ('confirmation_token', 'reauthentication_token', 'recovery_token',
                                                 'email_change_token_new', 'email_change_token_current', 'phone_change_token')),
  token_hash text NOT NULL CHECK (char_length(token_hash) > 0),
  relates_to text NOT NULL,
  created_at timestamp without time zone NOT NULL DEFAULT now(),
  updated_at timestamp without time zone NOT NULL DEFAULT now(),
  UNIQUE (user_id, token_type)
);
CREATE INDEX IF NOT EXISTS one_time_tokens_token_hash_idx ON auth.one_time_tokens (token_hash);
-- --- end auth e-mail ---
-- PKCE (GoTrue's auth.flow_state and its code_challenge_method enum): a
-- flow's code challenge and the auth code its e-mail link ends in.
DO $auth_flow_state$
BEGIN
  CREATE TYPE auth.code_challenge_method AS ENUM ('s256', 'plain');
EXCEPTION WHEN duplicate_object THEN NULL;
END
$auth_flow_state$;
CREATE TABLE IF NOT EXISTS auth.flow_state (
  id uuid PRIMARY KEY,
  user_id uuid NULL,
  auth_code text NULL,
  code_challenge_method auth.code_challenge_method NULL,
  code_challenge text NULL,
  provider_type text NOT NULL,
  provider_access_token text NULL,
  provider_refresh_token text NULL,
  created_at timestamptz NULL,
  updated_at timestamptz NULL,
  authentication_method text NOT NULL,
  auth_code_issued_at timestamptz NULL,
  invite_token text NULL,
  referrer text NULL,
  oauth_client_state_id uuid NULL,
  linking_target_id uuid NULL,
  email_optional boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS idx_auth_code ON auth.flow_state (auth_code);
CREATE INDEX IF NOT EXISTS idx_user_id_auth_method ON auth.flow_state (user_id, authentication_method);
CREATE INDEX IF NOT EXISTS flow_state_created_at_idx ON auth.flow_state (created_at DESC);

-- Supabase Storage's schema (`/storage/v1`; supabase/storage's tenant
-- migrations, the tables, columns, functions and grants its API, storage-js
-- and the documented RLS policies use). Created once, when the schema does
-- not exist: a database that already has one (a Supabase dump) is left as
-- it is. Access is RLS on these tables under the caller's role; the
-- service_role bypasses it.
DO $storage$
BEGIN
  -- Looked up in the catalog, not with to_regclass: a connecting user
  -- without USAGE on an existing storage schema (an authenticator role)
  -- would get "permission denied for schema storage".
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'storage' AND c.relname = 'objects') THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'storage') THEN
    CREATE SCHEMA storage;
  END IF;
  GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
  ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON TABLES TO anon, authenticated, service_role;
  ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
  ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;

  IF to_regtype('storage.buckettype') IS NULL THEN
    CREATE TYPE storage.buckettype AS ENUM ('STANDARD', 'ANALYTICS', 'VECTOR');
  END IF;

  CREATE TABLE IF NOT EXISTS storage.buckets (
    id text NOT NULL PRIMARY KEY,
    name text NOT NULL,
    owner uuid,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    public boolean DEFAULT false,
    avif_autodetection boolean DEFAULT false,
    file_size_limit bigint,
    allowed_mime_types text[],
    owner_id text,
    type storage.buckettype NOT NULL DEFAULT 'STANDARD'
  );
  CREATE UNIQUE INDEX IF NOT EXISTS bname ON storage.buckets USING btree (name);
  COMMENT ON COLUMN storage.buckets.owner IS 'Field is deprecated, use owner_id instead';

  CREATE TABLE storage.objects (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    bucket_id text CONSTRAINT "objects_bucketId_fkey" REFERENCES storage.buckets (id),
    name text,
    owner uuid,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    last_accessed_at timestamptz DEFAULT now(),
    metadata jsonb,
    path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
    version text,
    owner_id text,
    user_metadata jsonb
  );
  CREATE UNIQUE INDEX bucketid_objname ON storage.objects USING btree (bucket_id, name);
  CREATE INDEX name_prefix_search ON storage.objects USING btree (name text_pattern_ops);
  COMMENT ON COLUMN storage.objects.owner IS 'Field is deprecated, use owner_id instead';

  ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
  ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
  GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;

  CREATE FUNCTION storage.foldername(name text) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $f$
  DECLARE _parts text[];
  BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    RETURN _parts[1 : array_length(_parts, 1) - 1];
  END
  $f$;
  CREATE FUNCTION storage.filename(name text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
  DECLARE _parts text[];
  BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    RETURN _parts[array_length(_parts, 1)];
  END
  $f$;
  CREATE FUNCTION storage.extension(name text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
  DECLARE _parts text[]; _filename text;
  BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    SELECT _parts[array_length(_parts, 1)] INTO _filename;
    RETURN reverse(split_part(reverse(_filename), '.', 1));
  END
  $f$;
  CREATE FUNCTION storage.get_size_by_bucket() RETURNS TABLE (size bigint, bucket_id text)
  LANGUAGE plpgsql STABLE AS $f$
  BEGIN
    RETURN QUERY SELECT sum((metadata->>'size')::bigint)::bigint AS size, obj.bucket_id
      FROM storage.objects AS obj GROUP BY obj.bucket_id;
  END
  $f$;

  -- The listing `POST /object/list/{bucket}` runs (storage-js `list`): the
  -- entries one level below `prefix` whose names start with `prefix ||
  -- search` (case-insensitively), folders (id null) and files, names
  -- relative to `prefix`; by name (folders and files together), or folders
  -- first and files by `sortcolumn`. `levels` is kept for the signature.
  -- SECURITY INVOKER: RLS on storage.objects decides what is listed.
  CREATE FUNCTION storage.search(prefix text, bucketname text, limits int DEFAULT 100,
      levels int DEFAULT 1, offsets int DEFAULT 0, search text DEFAULT '',
      sortcolumn text DEFAULT 'name', sortorder text DEFAULT 'asc')
  RETURNS TABLE (name text, id uuid, updated_at timestamptz, created_at timestamptz,
                 last_accessed_at timestamptz, metadata jsonb)
  LANGUAGE plpgsql STABLE SECURITY INVOKER AS $f$
  DECLARE
    v_col text := CASE lower(coalesce(sortcolumn, 'name'))
      WHEN 'updated_at' THEN 'updated_at' WHEN 'created_at' THEN 'created_at'
      WHEN 'last_accessed_at' THEN 'last_accessed_at' ELSE 'name' END;
    v_dir text := CASE WHEN lower(coalesce(sortorder, 'asc')) = 'desc' THEN 'DESC' ELSE 'ASC' END;
    v_order text;
  BEGIN
    IF v_col = 'name' THEN
      v_order := format('lower(e.name) COLLATE "C" %s, e.name COLLATE "C" %s, e.folder DESC', v_dir, v_dir);
    ELSE
      v_order := format('e.folder DESC, CASE WHEN e.folder THEN e.name END COLLATE "C" %s, e.%I %s, e.name COLLATE "C"',
                        v_dir, v_col, v_dir);
    END IF;
    RETURN QUERY EXECUTE format($q$
      WITH matched AS (
        SELECT o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
               substr(o.name, $3 + 1) AS rest
        FROM storage.objects o
        WHERE o.bucket_id = $1 AND left(lower(o.name), length($2)) = $2
      ), e AS (
        SELECT DISTINCT split_part(m.rest, '/', 1) AS name, NULL::uuid AS id,
               NULL::timestamptz AS updated_at, NULL::timestamptz AS created_at,
               NULL::timestamptz AS last_accessed_at, NULL::jsonb AS metadata, true AS folder
        FROM matched m WHERE strpos(m.rest, '/') > 0
        UNION ALL
        SELECT m.rest, m.id, m.updated_at, m.created_at, m.last_accessed_at, m.metadata, false
        FROM matched m WHERE strpos(m.rest, '/') = 0
      )
      SELECT e.name, e.id, e.updated_at, e.created_at, e.last_accessed_at, e.metadata
      FROM e ORDER BY %s LIMIT $4 OFFSET $5
    $q$, v_order)
    USING bucketname, lower(coalesce(prefix, '') || coalesce(search, '')),
          length(coalesce(prefix, '')), least(coalesce(limits, 100), 1500), coalesce(offsets, 0);
  END
  $f$;

  CREATE FUNCTION storage.update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    NEW.updated_at = now();
    RETURN NEW;
  END
  $f$;
  CREATE TRIGGER update_objects_updated_at BEFORE UPDATE ON storage.objects
    FOR EACH ROW EXECUTE FUNCTION storage.update_updated_at_column();

  -- As Supabase (0055): deleting rows directly is refused; the storage API
  -- deletes the blobs with them (it sets storage.allow_delete_query).
  CREATE FUNCTION storage.protect_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    IF coalesce(current_setting('storage.allow_delete_query', true), 'false') != 'true' THEN
      RAISE EXCEPTION 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
        USING HINT = 'This prevents accidental data loss from orphaned objects.', ERRCODE = '42501';
    END IF;
    RETURN NULL;
  END
  $f$;
  CREATE TRIGGER protect_buckets_delete BEFORE DELETE ON storage.buckets
    FOR EACH STATEMENT EXECUTE FUNCTION storage.protect_delete();
  CREATE TRIGGER protect_objects_delete BEFORE DELETE ON storage.objects
    FOR EACH STATEMENT EXECUTE FUNCTION storage.protect_delete();
EXCEPTION WHEN duplicate_table OR duplicate_object OR duplicate_function OR unique_violation THEN
  -- Another supalite bootstrapped the same database at the same moment.
  NULL;
END
$storage$;

-- Realtime (`/realtime/v1`, host/src/realtime): Supabase's publication
-- (`alter publication supabase_realtime add table t` enables a table), and
-- the capture that works on PGlite too (no logical replication): a row
-- trigger, kept in step with the publication by the host, writes each
-- change into realtime.supalite_changes, which the host reads after commit
-- (see the realtime_cursor block below). The same on PostgreSQL.
DO $realtime$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    CREATE PUBLICATION supabase_realtime;
  END IF;
  -- Catalog look-ups, not to_regclass (see the storage block): a connecting
  -- user without USAGE on the realtime schema finds everything in place.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'realtime' AND c.relname = 'supalite_changes') THEN
    CREATE SCHEMA IF NOT EXISTS realtime;
    GRANT USAGE ON SCHEMA realtime TO anon, authenticated, service_role;
    CREATE TABLE realtime.supalite_changes (
      id bigserial PRIMARY KEY,
      schema_name text NOT NULL,
      table_name text NOT NULL,
      op text NOT NULL,
      record jsonb,
      old_record jsonb,
      commit_timestamp text NOT NULL
    );
    REVOKE ALL ON realtime.supalite_changes FROM PUBLIC;
    CREATE FUNCTION realtime.supalite_capture() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $f$
    BEGIN
      INSERT INTO realtime.supalite_changes (schema_name, table_name, op, record, old_record, commit_timestamp)
      VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP,
        CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
        CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
        to_char(statement_timestamp() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
      RETURN NULL;
    END
    $f$;
    REVOKE ALL ON FUNCTION realtime.supalite_capture() FROM PUBLIC;
  END IF;
EXCEPTION WHEN duplicate_table OR duplicate_object OR duplicate_function OR duplicate_schema OR unique_violation THEN
  NULL;
END
$realtime$;

-- Realtime's messages, as Supabase's (`realtime.messages`, `realtime.topic()`,
-- `realtime.send()`, `realtime.broadcast_changes()`): RLS policies on the
-- table authorize private channels (the host checks them under each
-- caller's role and claims with `realtime.topic()` set, host/src/realtime/
-- authz.rs), and a row inserted with an event (by `realtime.send`) is
-- broadcast to its topic's channels after commit through the same queue as
-- table changes. Not partitioned (PGlite); rows are kept, as Supabase keeps
-- them for a while (delete old ones as you see fit).
DO $realtime_messages$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'realtime' AND p.proname = 'supalite_capture_message') THEN
    RETURN;
  END IF;
  CREATE TABLE IF NOT EXISTS realtime.messages (
    topic text NOT NULL,
    extension text NOT NULL,
    payload jsonb,
    event text,
    private boolean DEFAULT false,
    updated_at timestamp without time zone NOT NULL DEFAULT now(),
    inserted_at timestamp without time zone NOT NULL DEFAULT now(),
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY
  );
  ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
  GRANT SELECT, INSERT, UPDATE ON realtime.messages TO anon, authenticated, service_role;
  CREATE OR REPLACE FUNCTION realtime.topic() RETURNS text
    LANGUAGE sql STABLE AS $f$ select nullif(current_setting('realtime.topic', true), '')::text $f$;
  CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
    RETURNS void LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO realtime.messages (payload, event, topic, private, extension)
    VALUES (payload, event, topic, private, 'broadcast');
  END
  $f$;
  CREATE OR REPLACE FUNCTION realtime.broadcast_changes(topic_name text, event_name text, operation text,
      table_name text, table_schema text, new record, old record, level text DEFAULT 'ROW')
    RETURNS void LANGUAGE plpgsql AS $f$
  DECLARE
    row_data jsonb := '{}'::jsonb;
  BEGIN
    IF level = 'STATEMENT' THEN
      RAISE EXCEPTION 'function can only be triggered for each row, not for each statement';
    END IF;
    IF operation = 'INSERT' OR operation = 'UPDATE' OR operation = 'DELETE' THEN
      row_data := jsonb_build_object('old_record', old, 'record', new, 'operation', operation, 'table', table_name, 'schema', table_schema);
      PERFORM realtime.send(row_data, event_name, topic_name);
    ELSE
      RAISE EXCEPTION 'Unexpected operation type: %', operation;
    END IF;
  EXCEPTION
    WHEN OTHERS THEN
      RAISE EXCEPTION 'Failed to process the row: %', SQLERRM;
  END
  $f$;
  CREATE OR REPLACE FUNCTION realtime.supalite_capture_message() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $f$
  BEGIN
    INSERT INTO realtime.supalite_changes (schema_name, table_name, op, record, old_record, commit_timestamp)
    VALUES ('realtime', 'messages', 'BROADCAST', to_jsonb(NEW), NULL,
      to_char(statement_timestamp() AT TIME ZONE 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
    RETURN NULL;
  END
  $f$;
  REVOKE ALL ON FUNCTION realtime.supalite_capture_message() FROM PUBLIC;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'supalite_realtime_broadcast'
      AND tgrelid = 'realtime.messages'::regclass) THEN
    CREATE TRIGGER supalite_realtime_broadcast AFTER INSERT ON realtime.messages
      FOR EACH ROW WHEN (NEW.event IS NOT NULL AND NEW.extension = 'broadcast'
        AND NEW.event NOT LIKE 'supalite-probe-%')
      EXECUTE FUNCTION realtime.supalite_capture_message();
  END IF;
EXCEPTION WHEN duplicate_table OR duplicate_object OR duplicate_function OR unique_violation THEN
  NULL;
END
$realtime_messages$;

-- The change queue read by more than one supalite on one database (host/src/
-- realtime/feed.rs): each row carries its transaction's id, so a reader
-- takes a row once its transaction has committed whatever the id order of
-- commits, and no reader deletes what another has not read yet (rows go
-- once every transaction before them ended a while ago); `origin` names the
-- instance a relayed client broadcast came from.
DO $realtime_cursor$
BEGIN
  -- A catalog look-up (see the storage block): a connection without USAGE
  -- on the schema (a non-owner authenticator) finds the column and stops.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'realtime' AND c.relname = 'supalite_changes'
        AND a.attname = 'xid' AND NOT a.attisdropped) THEN
    ALTER TABLE realtime.supalite_changes
      ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
      ADD COLUMN origin text;
    CREATE INDEX supalite_changes_xid ON realtime.supalite_changes (xid);
  END IF;
EXCEPTION WHEN duplicate_column OR duplicate_table OR duplicate_object THEN
  NULL;
END
$realtime_cursor$;
