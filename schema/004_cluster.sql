-- 004_cluster: one row per relay host sharing this database
-- (docs/scale-out.md). `relayctl run` upserts its host's row every
-- cluster.heartbeat_interval: version, state (up / draining / stopped),
-- queue sizes per spool state and the age of the oldest queued entry.
-- `relayctl cluster` lists the rows; a row older than 3 intervals is a host
-- that is down (or cut off from the database).
--
-- Additive only (a new table): binaries that predate it keep working on a
-- database that has it (rolling upgrades, docs/scale-out.md).

CREATE TABLE IF NOT EXISTS hosts (
  host             text PRIMARY KEY,
  version          text NOT NULL DEFAULT '',
  schema_version   integer NOT NULL DEFAULT 0,   -- highest migration the host's binary embeds
  state            text NOT NULL DEFAULT 'up',   -- up | draining | stopped
  pid              integer NOT NULL DEFAULT 0,   -- relayctl run's
  started_at       timestamptz NOT NULL,
  seen_at          timestamptz NOT NULL,
  interval_s       integer NOT NULL DEFAULT 15,
  queue            jsonb NOT NULL DEFAULT '{}',  -- {"new": 3, "deferred": 1, ...}
  oldest_queued_s  bigint,                       -- NULL: nothing queued
  paused           boolean NOT NULL DEFAULT false
);

-- Which host's dispatcher recorded a provider's secret state last (`relayctl
-- secrets` shows it). A column with a default, not a new key: dispatchers
-- of older releases keep upserting ON CONFLICT (provider) unchanged.
ALTER TABLE secret_status ADD COLUMN IF NOT EXISTS host text NOT NULL DEFAULT '';
