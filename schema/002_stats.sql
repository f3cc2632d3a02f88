-- 002_stats: views the operator tools (relayctl stats/log) read.
-- Queue age is a property of the spool, not the database: relayctl computes
-- it from the queue ids on disk; stats_queue_db below is the database's view
-- of it (messages seen by a dispatcher but not finished yet).

-- Totals over all time and the last hour / day.
CREATE VIEW stats_totals AS
SELECT
  count(*) FILTER (WHERE status = 'sent')                       AS sent,
  count(*) FILTER (WHERE status = 'failed')                     AS failed,
  count(*) FILTER (WHERE status = 'partial')                    AS partial,
  count(*) FILTER (WHERE status = 'queued')                     AS queued,
  count(*) FILTER (WHERE status = 'sent' AND finished_at > now() - interval '1 hour') AS sent_1h,
  count(*) FILTER (WHERE status IN ('failed', 'partial') AND finished_at > now() - interval '1 hour') AS failed_1h,
  count(*) FILTER (WHERE status = 'sent' AND finished_at > now() - interval '1 day') AS sent_24h,
  count(*) FILTER (WHERE status IN ('failed', 'partial') AND finished_at > now() - interval '1 day') AS failed_24h
FROM messages;

-- Error rate: failed attempts (transient + permanent) over all attempts, per
-- window. NULL when there were no attempts in the window.
CREATE VIEW stats_error_rate AS
SELECT w.name AS window_name,
       count(a.*) AS attempts,
       count(a.*) FILTER (WHERE a.outcome <> 'sent') AS errors,
       CASE WHEN count(a.*) = 0 THEN NULL
            ELSE round(count(a.*) FILTER (WHERE a.outcome <> 'sent')::numeric / count(a.*), 4) END AS error_rate
FROM (VALUES ('1h', interval '1 hour'), ('24h', interval '1 day'), ('7d', interval '7 days')) AS w(name, span)
LEFT JOIN attempts a ON a.started_at > now() - w.span
GROUP BY w.name, w.span
ORDER BY w.span;

-- The most recent failed attempt per provider.
CREATE VIEW stats_last_error AS
SELECT DISTINCT ON (provider)
       provider, queue_id, attempt_no, outcome, code, enhanced, response, started_at
FROM attempts
WHERE outcome <> 'sent'
ORDER BY provider, started_at DESC;

-- Per provider totals.
CREATE VIEW stats_providers AS
SELECT provider,
       count(*) FILTER (WHERE outcome = 'sent')      AS sent,
       count(*) FILTER (WHERE outcome = 'transient') AS transient,
       count(*) FILTER (WHERE outcome = 'permanent') AS permanent,
       round(avg(duration_ms) FILTER (WHERE outcome = 'sent'), 1) AS avg_sent_ms,
       max(started_at) AS last_attempt_at
FROM attempts
GROUP BY provider;

-- Messages a dispatcher has seen but not finished: count and oldest age.
CREATE VIEW stats_queue_db AS
SELECT count(*) AS queued,
       COALESCE(EXTRACT(EPOCH FROM now() - min(received_at))::bigint, 0) AS oldest_age_s
FROM messages WHERE status = 'queued';

-- Live processes: heartbeat seen within the last 60 s.
CREATE VIEW live_processes AS
SELECT kind, host, pid, started_at, seen_at,
       EXTRACT(EPOCH FROM seen_at - started_at)::bigint AS uptime_s, counters
FROM heartbeats
WHERE seen_at > now() - interval '60 seconds';
