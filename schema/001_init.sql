-- 001_init: the delivery log.
-- One row per message (messages), one per delivery attempt (attempts),
-- dispatcher/receiver liveness (heartbeats) and provider credential expiry
-- (secret_status). Applied by relay::dlog::migrate (`relayctl db migrate`, run
-- with an owner role; the daemons only check the version), inside one
-- transaction, under an advisory lock.

CREATE TABLE messages (
  queue_id         text PRIMARY KEY,
  mail_from        text NOT NULL DEFAULT '',
  header_from      text NOT NULL DEFAULT '',
  rcpts            text[] NOT NULL DEFAULT '{}',
  subject          text NOT NULL DEFAULT '',
  message_id       text NOT NULL DEFAULT '',
  size             bigint NOT NULL DEFAULT 0,
  client_addr      text NOT NULL DEFAULT '',
  auth_user        text NOT NULL DEFAULT '',
  provider         text NOT NULL DEFAULT '',
  status           text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'sent', 'failed', 'partial')),
  received_at      timestamptz NOT NULL,
  first_attempt_at timestamptz,
  finished_at      timestamptz,
  last_error       text NOT NULL DEFAULT '',
  attempts         integer NOT NULL DEFAULT 0
);
CREATE INDEX messages_status_idx ON messages (status, received_at);
CREATE INDEX messages_finished_idx ON messages (finished_at);

-- The unique key covers everything that identifies one attempt: the same
-- queue id and attempt number can legitimately occur twice (a dispatcher
-- killed after the provider accepted, before the spool was updated, lets
-- another one retry with the same counter), but never from the same process
-- at the same microsecond. Journal replay inserts with ON CONFLICT DO NOTHING.
CREATE TABLE attempts (
  id           bigserial PRIMARY KEY,
  queue_id     text NOT NULL,
  attempt_no   integer NOT NULL,
  provider     text NOT NULL DEFAULT '',
  outcome      text NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent')),
  code         integer NOT NULL DEFAULT 0,
  enhanced     text NOT NULL DEFAULT '',
  response     text NOT NULL DEFAULT '',
  rcpts        text[] NOT NULL DEFAULT '{}',
  duration_ms  bigint NOT NULL DEFAULT 0,
  host         text NOT NULL DEFAULT '',
  pid          integer NOT NULL DEFAULT 0,
  started_at   timestamptz NOT NULL,
  CONSTRAINT attempts_once UNIQUE (queue_id, attempt_no, host, pid, started_at)
);
CREATE INDEX attempts_queue_idx ON attempts (queue_id);
CREATE INDEX attempts_started_idx ON attempts (started_at);

CREATE TABLE heartbeats (
  kind        text NOT NULL,            -- 'dispatcher' | 'receiver' | 'run'
  host        text NOT NULL,
  pid         integer NOT NULL,
  started_at  timestamptz NOT NULL,
  seen_at     timestamptz NOT NULL,
  counters    jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (host, pid, started_at)
);

CREATE TABLE secret_status (
  provider    text PRIMARY KEY,
  expires     date,
  days_left   integer,
  source      text NOT NULL DEFAULT '',
  state       text NOT NULL DEFAULT 'unknown',
  detail      text NOT NULL DEFAULT '',
  checked_at  timestamptz NOT NULL
);
