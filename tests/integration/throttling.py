#!/usr/bin/python3
"""Throttling waits exactly as long as it must (issue 10 item 4). Real
receiver, dispatcher and PostgreSQL against fake_graph.py / fake_gmail.py.

- A Graph 429 with Retry-After: 3 is retried after ~3 s, not after the
  backoff (min_backoff 30 s here) nor the sweep interval (10 s).
- One throttled mailbox (429 + Retry-After: 30 on every sendMail) does not
  stall another mailbox: with max_in_flight 4, the second mailbox's
  messages still go out at once (the first mailbox's messages are handed
  back unsent, `event=held`, instead of waiting in dispatcher slots). The
  same for a mailbox out of rate_per_minute.
- Gmail: a burst from one user against a fake that answers 429 above 10
  requests in flight per user: relay keeps max_concurrent_per_user (4) in
  flight, no 429, all delivered; with the cap set to 16 the 429s halve it
  and only a few are answered. Figures are printed (MEASURE lines); the
  500-message version is contrib/bench/gmail_burst.py."""
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatcher_common import scalar, send, wait_sql  # noqa: E402
from m365_common import Pipeline, message  # noqa: E402
from relaytest import run_tests, wait_for  # noqa: E402
import gmail_adapter  # noqa: E402

SLOW_RETRY = {"dispatcher": {"max_in_flight": 4, "sweep_interval": "10s",
                             "retry": {"min_backoff": "30s", "max_backoff": "10m", "max_lifetime": "1h",
                                       "jitter": 0.0}}}


def sendmail_calls(fg, mailbox):
    return [c for c in fg.calls if c["path"] == f"/v1.0/users/{mailbox}/sendMail"]


def test_retry_after_3_is_honoured():
    with Pipeline(overrides=SLOW_RETRY) as p:
        p.start()
        p.fg.add_fault(r"^POST /v1\.0/users/[^/]+/sendMail$", 1, status=429, code="ApplicationThrottled",
                       message="Application is over its MailboxConcurrency limit.", retry_after=3)
        qid = p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], "throttled once"))
        p.wait_sent(1, timeout=40)
        wait_for(lambda: len(sendmail_calls(p.fg, "scan@example.com")) >= 2, 30, what="two sendMail records")
        first, second = sendmail_calls(p.fg, "scan@example.com")[:2]
        assert first["status"] == 429 and second["status"] == 202, (first, second)
        delay = second["t0"] - first["t1"]
        print(f"MEASURE retry_after_3_delay_s={delay:.2f}")
        assert 3.0 <= delay <= 10.0, f"retried {delay:.1f} s after a 429 with Retry-After: 3"
        wait_sql(p.r, f"SELECT status FROM messages WHERE queue_id='{qid}'", "sent")
        att = p.attempts(qid)
        assert [(a[1], a[2]) for a in att] == [("transient", 429), ("sent", 202)], att


def second_mailbox_timing(p, first_n, k=6):
    """first_n messages from scan@ (throttled or out of rate), then k from
    relay@; returns seconds until all of relay@'s are at the fake."""
    for i in range(first_n):
        p.send("scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], f"busy {i}"))
    time.sleep(1.0)  # the busy mailbox's messages are claimed and waiting (or held)
    t0 = time.time()
    for i in range(k):
        p.send("relay@example.com", ["b@x.org"], message("relay@example.com", ["b@x.org"], f"other {i}"))
    wait_for(lambda: sum(s["mailbox"] == "relay@example.com" for s in p.fg.sent) >= k, 40, interval=0.05,
             what=f"the second mailbox's {k} messages")
    return time.time() - t0


def test_throttled_mailbox_does_not_stall_another():
    with Pipeline(overrides=SLOW_RETRY) as p:
        p.start()
        p.fg.add_fault(r"^POST /v1\.0/users/scan@example\.com/sendMail$", 1000, status=429,
                       code="ApplicationThrottled", message="throttled", retry_after=30)
        took = second_mailbox_timing(p, 12)
        print(f"MEASURE second_mailbox_while_first_throttled_s={took:.2f} rate_msg_s={6 / took:.1f}")
        assert took < 5.0, f"the second mailbox needed {took:.1f} s while the first was throttled"
        assert "event=held" in p.log(), "the throttled mailbox's waiting messages were not handed back"
        assert all(s["mailbox"] == "relay@example.com" for s in p.fg.sent)


def test_mailbox_out_of_rate_does_not_stall_another():
    with Pipeline(prov={"rate_per_minute": 3}, overrides=SLOW_RETRY) as p:
        p.start()
        took = second_mailbox_timing(p, 12, k=3)  # within its own rate
        print(f"MEASURE second_mailbox_while_first_rate_limited_s={took:.2f}")
        assert took < 5.0, f"the second mailbox needed {took:.1f} s while the first was out of rate"
        assert sum(s["mailbox"] == "scan@example.com" for s in p.fg.sent) == 3, "rate_per_minute 3 not kept"
        # Held is not an attempt: the messages handed back have no attempt row.
        wait_sql(p.r, "SELECT count(*) FROM messages WHERE status = 'queued'", 9)
        assert scalar(p.r, "SELECT count(*) FROM attempts") == "6"
        assert scalar(p.r, "SELECT count(*) FROM attempts WHERE outcome <> 'sent'") == "0"


def gmail_burst(n, cap=None, limit=10, latency=0.05, timeout=80, overrides=None, partial=None):
    """n messages from one user; (seconds, 429s, most in flight, dispatcher log).
    Also used by contrib/bench/gmail-burst: with partial=[] a timeout is no
    error, partial gets the number delivered by then."""
    prov = {"max_concurrent_per_user": cap} if cap else {}
    with gmail_adapter.Pipeline(prov=prov, overrides=overrides) as p:
        p.fake.concurrency_limit = limit
        p.fake.latency = latency
        p.r.start_receiver()  # the burst is queued first, then the dispatcher meets it at once
        s = smtplib.SMTP("127.0.0.1", p.r.port, timeout=30)
        s.ehlo("client.test")
        for i in range(n):
            send(p.r.port, "scan@example.com", ["a@x.org"], message("scan@example.com", ["a@x.org"], f"b{i}"), smtp=s)
        s.quit()
        t0 = time.time()
        p.r.start_dispatcher()
        try:
            p.wait_sent(n, timeout=timeout)
        except AssertionError:
            if partial is None:
                raise
        took = time.time() - t0
        if partial is not None:
            partial.append(len(p.fake.sent))
        else:
            wait_sql(p.r, "SELECT count(*) FROM messages WHERE status='sent'", n)
        return took, p.fake.throttled, p.fake.max_inflight.get("scan@example.com"), p.r.read_log("dispatcher0")


def test_gmail_burst_stays_within_the_per_user_limit():
    n = 150
    took, throttled, most, _ = gmail_burst(n)
    print(f"MEASURE gmail_burst n={n} cap=4 seconds={took:.1f} rate_msg_s={n / took:.1f} 429s={throttled}"
          f" max_in_flight={most}")
    assert throttled == 0 and most <= 4, (throttled, most)


def test_gmail_429s_lower_the_cap():
    n = 150
    took, throttled, most, log = gmail_burst(n, cap=16)
    print(f"MEASURE gmail_burst n={n} cap=16 seconds={took:.1f} rate_msg_s={n / took:.1f} 429s={throttled}"
          f" max_in_flight={most}")
    assert "event=gmail_throttled" in log
    assert 0 < throttled <= 20, f"{throttled} answers 429 for {n} messages"


if __name__ == "__main__":
    run_tests([test_retry_after_3_is_honoured, test_throttled_mailbox_does_not_stall_another,
               test_mailbox_out_of_rate_does_not_stall_another, test_gmail_burst_stays_within_the_per_user_limit,
               test_gmail_429s_lower_the_cap])
