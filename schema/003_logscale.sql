-- 003_logscale: a delivery log that scales to tens of millions of rows, and
-- the client inventory (issue 12 items 2 and 3). docs/delivery-log.md.
--
-- * Indexes for every query relayctl runs (log and its filters, stats,
--   clients) and for the retention deletes.
-- * messages: tls (the TLS of the client's SMTP session, from the envelope),
--   client_helo, host (dispatcher host that wrote the row).
-- * recipients: one row per envelope recipient with its state and last
--   reply (per-recipient state in `relayctl log`, and `log --to`).
-- * Rollups, so `stats` and `clients` never scan whole tables: row triggers
--   on messages/attempts append small +/- deltas to rollup_delta (plain
--   inserts: no hot row, no lock shared between dispatchers); the elected
--   maintenance dispatcher folds them into stats_hourly / client_hourly
--   (relay_fold_rollups). Readers add the unfolded deltas, so figures are
--   exact at all times. Retention deletes do not touch the rollups.
-- * client_refusals: what the receivers refused, per (host, client, user),
--   imported from the receivers' summary files in the spool.
-- Idempotent: every object is created IF NOT EXISTS / OR REPLACE.

ALTER TABLE messages ADD COLUMN IF NOT EXISTS tls text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN IF NOT EXISTS client_helo text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN IF NOT EXISTS host text NOT NULL DEFAULT '';

-- relayctl log (newest first, --since/--until) and retention.
CREATE INDEX IF NOT EXISTS messages_received_idx ON messages (received_at, queue_id);
-- log --from (envelope or header sender, case-insensitive).
CREATE INDEX IF NOT EXISTS messages_from_idx ON messages (lower(mail_from), received_at);
CREATE INDEX IF NOT EXISTS messages_header_from_idx ON messages (lower(header_from), received_at);
-- log --message-id, --provider.
CREATE INDEX IF NOT EXISTS messages_message_id_idx ON messages (message_id);
CREATE INDEX IF NOT EXISTS messages_provider_idx ON messages (provider, received_at);
-- log --subject (substring): a trigram index when pg_trgm can be created
-- (a trusted extension: needs CREATE on the database). Without it the
-- search walks messages_received_idx (bounded by --limit / --since).
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm not available (%): relayctl log --subject works without an index', SQLERRM;
END $$;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    EXECUTE 'CREATE INDEX IF NOT EXISTS messages_subject_trgm_idx ON messages USING gin (subject gin_trgm_ops)';
  END IF;
END $$;
-- stats: the most recent failed attempt without walking successful ones.
CREATE INDEX IF NOT EXISTS attempts_errors_idx ON attempts (started_at, id) WHERE outcome <> 'sent';
-- stats uptime (live processes) and heartbeat retention.
CREATE INDEX IF NOT EXISTS heartbeats_seen_idx ON heartbeats (seen_at);

CREATE TABLE IF NOT EXISTS recipients (
  queue_id     text NOT NULL,
  rcpt         text NOT NULL,
  state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
  reply        text NOT NULL DEFAULT '',
  received_at  timestamptz NOT NULL,   -- the message's, for log --to ordering and retention
  PRIMARY KEY (queue_id, rcpt)
);
CREATE INDEX IF NOT EXISTS recipients_rcpt_idx ON recipients (lower(rcpt), received_at);
CREATE INDEX IF NOT EXISTS recipients_domain_idx ON recipients (lower(substring(rcpt from '[^@]*$')), received_at);
CREATE INDEX IF NOT EXISTS recipients_received_idx ON recipients (received_at);

CREATE TABLE IF NOT EXISTS rollup_delta (
  id           bigserial PRIMARY KEY,
  hour         timestamptz NOT NULL,
  host         text NOT NULL DEFAULT '',
  provider     text NOT NULL DEFAULT '',
  client_addr  text,                   -- NULL: a delivery-stats delta; else a client delta
  auth_user    text,
  sent         integer NOT NULL DEFAULT 0,
  failed       integer NOT NULL DEFAULT 0,
  partial      integer NOT NULL DEFAULT 0,
  attempts     integer NOT NULL DEFAULT 0,
  errors       integer NOT NULL DEFAULT 0,
  received     integer NOT NULL DEFAULT 0,
  tls          integer NOT NULL DEFAULT 0,
  last_seen    timestamptz
);

-- Messages finished (by finished_at hour) and attempts made (by started_at
-- hour). Kept when retention deletes the rows they count: all-time totals.
CREATE TABLE IF NOT EXISTS stats_hourly (
  hour      timestamptz NOT NULL,
  host      text NOT NULL,
  provider  text NOT NULL,
  sent      bigint NOT NULL DEFAULT 0,
  failed    bigint NOT NULL DEFAULT 0,
  partial   bigint NOT NULL DEFAULT 0,
  attempts  bigint NOT NULL DEFAULT 0,
  errors    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, host, provider)
);

-- Messages accepted per client: by received_at hour (client_hourly, kept
-- 2 days: the "24 h" figure) and by UTC day (client_daily, kept 31 days or
-- the retention, whichever is longer: the "30 days" figure).
CREATE TABLE IF NOT EXISTS client_daily (
  day           timestamptz NOT NULL,
  host          text NOT NULL,
  client_addr   text NOT NULL,
  auth_user     text NOT NULL,
  messages      bigint NOT NULL DEFAULT 0,
  tls_messages  bigint NOT NULL DEFAULT 0,
  last_seen     timestamptz,
  PRIMARY KEY (day, host, client_addr, auth_user)
);
CREATE TABLE IF NOT EXISTS client_hourly (
  hour          timestamptz NOT NULL,
  host          text NOT NULL,
  client_addr   text NOT NULL,
  auth_user     text NOT NULL,
  messages      bigint NOT NULL DEFAULT 0,
  tls_messages  bigint NOT NULL DEFAULT 0,
  last_seen     timestamptz,
  PRIMARY KEY (hour, host, client_addr, auth_user)
);

-- Refusals by the receiver of `host`, per client address and AUTH user
-- ('' = none, '*' = the receiver's overflow entry). last_summary makes an
-- import idempotent: a summary is added once, in the order written.
CREATE TABLE IF NOT EXISTS client_refusals (
  host             text NOT NULL,
  client_addr      text NOT NULL,
  auth_user        text NOT NULL,
  refused          bigint NOT NULL DEFAULT 0,
  tls_refused      bigint NOT NULL DEFAULT 0,
  first_refused_at timestamptz NOT NULL,
  last_refused_at  timestamptz NOT NULL,
  last_reason      text NOT NULL DEFAULT '',
  last_summary     text NOT NULL DEFAULT '',
  PRIMARY KEY (host, client_addr, auth_user)
);
CREATE INDEX IF NOT EXISTS client_refusals_last_idx ON client_refusals (last_refused_at);

-- UTC hour of a timestamp, whatever the session's TimeZone.
CREATE OR REPLACE FUNCTION relay_hour(t timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT date_trunc('hour', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;
CREATE OR REPLACE FUNCTION relay_day(t timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT date_trunc('day', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

CREATE OR REPLACE FUNCTION relay_messages_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.finished_at IS NOT DISTINCT FROM NEW.finished_at
     AND OLD.provider = NEW.provider AND OLD.host = NEW.host THEN
    RETURN NULL;  -- a replay or a deferral: nothing to count
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.status <> 'queued' AND OLD.finished_at IS NOT NULL THEN
    INSERT INTO rollup_delta (hour, host, provider, sent, failed, partial)
    VALUES (relay_hour(OLD.finished_at), OLD.host, OLD.provider,
            -(OLD.status = 'sent')::int, -(OLD.status = 'failed')::int, -(OLD.status = 'partial')::int);
  END IF;
  IF NEW.status <> 'queued' AND NEW.finished_at IS NOT NULL THEN
    INSERT INTO rollup_delta (hour, host, provider, sent, failed, partial)
    VALUES (relay_hour(NEW.finished_at), NEW.host, NEW.provider,
            (NEW.status = 'sent')::int, (NEW.status = 'failed')::int, (NEW.status = 'partial')::int);
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_delta (hour, host, client_addr, auth_user, received, tls, last_seen)
    VALUES (relay_hour(NEW.received_at), NEW.host, NEW.client_addr, NEW.auth_user, 1, (NEW.tls <> '')::int,
            NEW.received_at);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION relay_attempts_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rollup_delta (hour, host, provider, attempts, errors)
  VALUES (relay_hour(NEW.started_at), NEW.host, NEW.provider, 1, (NEW.outcome <> 'sent')::int);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS messages_rollup ON messages;
CREATE TRIGGER messages_rollup AFTER INSERT OR UPDATE ON messages
  FOR EACH ROW EXECUTE FUNCTION relay_messages_rollup();
DROP TRIGGER IF EXISTS attempts_rollup ON attempts;
CREATE TRIGGER attempts_rollup AFTER INSERT ON attempts
  FOR EACH ROW EXECUTE FUNCTION relay_attempts_rollup();

-- Folds up to `batch` deltas into the rollups (one statement: atomic).
-- Returns the number of deltas folded. Run by the maintenance leader.
CREATE OR REPLACE FUNCTION relay_fold_rollups(batch integer) RETURNS bigint LANGUAGE sql AS $$
WITH d AS (
  DELETE FROM rollup_delta WHERE id IN (SELECT id FROM rollup_delta ORDER BY id LIMIT batch) RETURNING *
), s AS (
  INSERT INTO stats_hourly AS t (hour, host, provider, sent, failed, partial, attempts, errors)
  SELECT hour, host, provider, sum(sent), sum(failed), sum(partial), sum(attempts), sum(errors)
  FROM d WHERE client_addr IS NULL GROUP BY 1, 2, 3
  ON CONFLICT (hour, host, provider) DO UPDATE SET
    sent = t.sent + EXCLUDED.sent, failed = t.failed + EXCLUDED.failed, partial = t.partial + EXCLUDED.partial,
    attempts = t.attempts + EXCLUDED.attempts, errors = t.errors + EXCLUDED.errors
  RETURNING 1
), c AS (
  INSERT INTO client_hourly AS t (hour, host, client_addr, auth_user, messages, tls_messages, last_seen)
  SELECT hour, host, client_addr, COALESCE(auth_user, ''), sum(received), sum(tls), max(last_seen)
  FROM d WHERE client_addr IS NOT NULL GROUP BY 1, 2, 3, 4
  ON CONFLICT (hour, host, client_addr, auth_user) DO UPDATE SET
    messages = t.messages + EXCLUDED.messages, tls_messages = t.tls_messages + EXCLUDED.tls_messages,
    last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)
  RETURNING 1
), cd AS (
  INSERT INTO client_daily AS t (day, host, client_addr, auth_user, messages, tls_messages, last_seen)
  SELECT relay_day(hour), host, client_addr, COALESCE(auth_user, ''), sum(received), sum(tls), max(last_seen)
  FROM d WHERE client_addr IS NOT NULL GROUP BY 1, 2, 3, 4
  ON CONFLICT (day, host, client_addr, auth_user) DO UPDATE SET
    messages = t.messages + EXCLUDED.messages, tls_messages = t.tls_messages + EXCLUDED.tls_messages,
    last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)
  RETURNING 1
)
SELECT (SELECT count(*) FROM d) + 0 * ((SELECT count(*) FROM s) + (SELECT count(*) FROM c) + (SELECT count(*) FROM cd));
$$;

-- Rebuilds the rollups from the rows present (the first migration of an
-- existing log, and contrib/bench/log-bench after a bulk fill).
CREATE OR REPLACE FUNCTION relay_rebuild_rollups() RETURNS void LANGUAGE sql AS $$
DELETE FROM rollup_delta;
DELETE FROM stats_hourly;
DELETE FROM client_hourly;
DELETE FROM client_daily;
INSERT INTO stats_hourly (hour, host, provider, sent, failed, partial)
SELECT relay_hour(finished_at), host, provider, count(*) FILTER (WHERE status = 'sent'),
       count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'partial')
FROM messages WHERE status <> 'queued' AND finished_at IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO stats_hourly AS t (hour, host, provider, attempts, errors)
SELECT relay_hour(started_at), host, provider, count(*), count(*) FILTER (WHERE outcome <> 'sent')
FROM attempts GROUP BY 1, 2, 3
ON CONFLICT (hour, host, provider) DO UPDATE SET attempts = EXCLUDED.attempts, errors = EXCLUDED.errors;
INSERT INTO client_hourly (hour, host, client_addr, auth_user, messages, tls_messages, last_seen)
SELECT relay_hour(received_at), host, client_addr, auth_user, count(*), count(*) FILTER (WHERE tls <> ''),
       max(received_at)
FROM messages WHERE received_at > now() - interval '2 days' GROUP BY 1, 2, 3, 4;
INSERT INTO client_daily (day, host, client_addr, auth_user, messages, tls_messages, last_seen)
SELECT relay_day(received_at), host, client_addr, auth_user, count(*), count(*) FILTER (WHERE tls <> ''),
       max(received_at)
FROM messages WHERE received_at > now() - interval '31 days' GROUP BY 1, 2, 3, 4;
$$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM stats_hourly) THEN
    PERFORM relay_rebuild_rollups();
  END IF;
END $$;
