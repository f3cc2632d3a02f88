-- 005_mailbox_limits: per-mailbox limits that hold across hosts (issue 14
-- item 1). docs/mailbox-limits.md.
--
-- * mailbox_lease: N slots per limited key ("m365:<mailbox>",
--   "gmail:<user>"); a request in flight holds one slot. holder names the
--   dispatcher (host:pid:boot:nonce); a slot is free when holder is NULL or
--   expires_at has passed (a crashed holder's leases lapse after the TTL).
-- * mailbox_rate: the starts of the last minute per key (a sliding window,
--   exact like the per-process limiter: at most R starts in any 60 s), and
--   paused_until (a provider's Retry-After, shared by every host).
-- * relay_mailbox_step(): the one statement a dispatcher runs per batch:
--   release the given slots, then claim up to `want` free or expired slots
--   among the first `slots`, limited by the rate window and the pause.
--   A release notifies channel relay_mailbox_free (payload: the key), so
--   dispatchers waiting for it ask again at once instead of polling.
--   Returns the slots claimed and, when fewer than wanted, how long until
--   the rate or pause allows more (ms; 0 = only a release can help).
-- * relay_mailbox_renew(): pushes the expiry of every lease of a holder.
-- Idempotent: every object is created IF NOT EXISTS / OR REPLACE.

CREATE TABLE IF NOT EXISTS mailbox_lease (
  mailbox    text NOT NULL,
  slot       integer NOT NULL,
  holder     text,
  expires_at timestamptz,
  PRIMARY KEY (mailbox, slot)
);
CREATE INDEX IF NOT EXISTS mailbox_lease_holder_idx ON mailbox_lease (holder) WHERE holder IS NOT NULL;

CREATE TABLE IF NOT EXISTS mailbox_rate (
  mailbox      text PRIMARY KEY,
  starts       timestamptz[] NOT NULL DEFAULT '{}',
  paused_until timestamptz NOT NULL DEFAULT '-infinity'
);

CREATE OR REPLACE FUNCTION relay_mailbox_step(p_mailbox text, p_holder text, p_slots integer, p_rate integer,
                                              p_ttl_ms integer, p_release integer[], p_want integer,
                                              p_pause_ms integer DEFAULT 0,
                                              OUT granted integer[], OUT wait_ms integer)
LANGUAGE plpgsql AS $$
DECLARE
  t     timestamptz := clock_timestamp();
  live  timestamptz[];
  pause timestamptz;
  room  integer := p_want;
BEGIN
  granted := '{}';
  wait_ms := 0;
  IF cardinality(p_release) > 0 THEN
    UPDATE mailbox_lease SET holder = NULL, expires_at = NULL
     WHERE mailbox = p_mailbox AND slot = ANY (p_release) AND holder = p_holder;
    IF FOUND THEN  -- other dispatchers waiting for this mailbox try again now (LISTEN relay_mailbox_free)
      PERFORM pg_notify('relay_mailbox_free', p_mailbox);
    END IF;
  END IF;
  IF p_want <= 0 AND p_pause_ms <= 0 THEN
    RETURN;
  END IF;
  -- The rate row serialises the claims for one mailbox (short: one statement).
  INSERT INTO mailbox_rate (mailbox) VALUES (p_mailbox) ON CONFLICT (mailbox) DO NOTHING;
  SELECT array(SELECT s FROM unnest(r.starts) s WHERE s > t - interval '1 minute' ORDER BY s), r.paused_until
    INTO live, pause FROM mailbox_rate r WHERE r.mailbox = p_mailbox FOR UPDATE;
  IF p_pause_ms > 0 THEN
    pause := greatest(pause, t + make_interval(secs => p_pause_ms / 1000.0));
  END IF;
  IF pause > t THEN
    room := 0;
    wait_ms := ceil(extract(epoch FROM pause - t) * 1000);
  ELSIF p_rate > 0 AND cardinality(live) + room > p_rate THEN
    room := greatest(0, p_rate - cardinality(live));
    IF room = 0 THEN
      wait_ms := greatest(1, ceil(extract(epoch FROM live[cardinality(live) - p_rate + 1] + interval '1 minute' - t) * 1000));
    END IF;
  END IF;
  IF room > 0 THEN
    INSERT INTO mailbox_lease (mailbox, slot)
      SELECT p_mailbox, g FROM generate_series(0, p_slots - 1) g ON CONFLICT DO NOTHING;
    WITH free AS (
      SELECT slot FROM mailbox_lease
       WHERE mailbox = p_mailbox AND slot < p_slots AND (holder IS NULL OR expires_at < t)
       ORDER BY slot LIMIT room FOR UPDATE SKIP LOCKED),
    took AS (
      UPDATE mailbox_lease l SET holder = p_holder, expires_at = t + make_interval(secs => p_ttl_ms / 1000.0)
        FROM free WHERE l.mailbox = p_mailbox AND l.slot = free.slot RETURNING l.slot)
    SELECT coalesce(array_agg(slot ORDER BY slot), '{}') INTO granted FROM took;
  END IF;
  IF p_rate > 0 AND cardinality(granted) > 0 THEN
    live := live || array_fill(t, ARRAY[cardinality(granted)]);
  END IF;
  UPDATE mailbox_rate SET starts = live[greatest(1, cardinality(live) - greatest(p_rate, 0) + 1):], paused_until = pause
   WHERE mailbox = p_mailbox;
END $$;

CREATE OR REPLACE FUNCTION relay_mailbox_renew(p_holder text, p_ttl_ms integer) RETURNS integer
LANGUAGE sql AS $$
  WITH r AS (
    UPDATE mailbox_lease SET expires_at = clock_timestamp() + make_interval(secs => p_ttl_ms / 1000.0)
     WHERE holder = p_holder AND expires_at >= clock_timestamp() RETURNING 1)
  SELECT count(*)::integer FROM r;
$$;
