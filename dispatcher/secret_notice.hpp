// relay::dispatch secret-expiry notice — the plain-text mail sent to a
// provider's expiry_notice_to (m365) when its client secret enters a warning
// threshold or has expired.
//
// Does: decides whether a notice is due and under which key: a warning once
// per crossed expiry_warn_days threshold (the smallest one reached: 30, 14,
// 7, ...) and date, an expired secret once per day. "Once" holds across all
// dispatcher processes and restarts: the key is claimed by creating
// <spool>/notices/<key> with O_EXCL before the mail is enqueued (removed
// again when enqueueing fails, so a later round retries). The mail goes into
// the spool as a new entry with the null sender (From: senders.default_sender
// so that a Graph mailbox can send it), delivered like any other message.
// Does not: send anything directly; decide expiry (the provider's
// secret_status() does); clean old marker files (a few bytes per threshold).
// Runs on: secret_notice_key/build_secret_notice anywhere (pure);
// enqueue_secret_notice on a worker thread (blocking spool I/O).
// Fails: enqueue returns the spool's Status; `*already` when another process
// or an earlier run sent it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dispatcher/providers/provider.hpp"
#include "spool/spool.hpp"

namespace relay::dispatch {

struct SecretNoticeConfig {
  std::string notice_to;            // m365.expiry_notice_to
  std::vector<int> warn_days;       // m365.expiry_warn_days
};

// The once-only key of the notice due now, "" when none is (state ok or
// unknown, or a warning not inside any threshold). `now` in Unix seconds.
std::string secret_notice_key(const std::string& provider, const provider::SecretStatus& s,
                              const std::vector<int>& warn_days, std::int64_t now);

// `from`: the From address ("" = MAILER-DAEMON@hostname).
std::string build_secret_notice(const std::string& provider, const provider::SecretStatus& s,
                                const std::string& notice_to, const std::string& from, const std::string& hostname,
                                const std::string& key, std::int64_t now);

// What every notice mail (secret expiry, configuration error) shares: the
// header block, ending in the empty line; Message-ID <message_id_local@hostname>.
std::string notice_header(const std::string& from, const std::string& notice_to, const std::string& subject,
                          const std::string& hostname, const std::string& message_id_local, std::int64_t now);
std::string utc_day(std::int64_t now);          // "YYYY-MM-DD" (UTC)
std::string notice_one_line(std::string s);     // CR/LF become spaces

spool::Status enqueue_secret_notice(const spool::Spool& spool, const std::string& key, const std::string& notice_to,
                                    const std::string& text, std::string* notice_id, bool* already);

}  // namespace relay::dispatch
