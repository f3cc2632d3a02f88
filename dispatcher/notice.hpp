// relay::dispatch failure notice — the plain-text mail sent to
// dispatcher.failure_notice_to when a message fails permanently.
//
// Does: builds the notice (what failed, for whom, why; never the original
// body) and enqueues it as a new spool entry with the null sender, so it is
// delivered like any other message and can never cause a notice itself.
// Does not: send anything directly.
// Runs on: build_failure_notice anywhere (pure); enqueue_failure_notice on a
// worker thread (blocking spool I/O).
// Fails: enqueue returns the spool's Status.
#pragma once
#include <cstdint>
#include <string>

#include "dispatcher/message_info.hpp"
#include "spool/spool.hpp"

namespace relay::dispatch {

// True when a notice is configured and the message is not itself a bounce
// or notice (null envelope sender).
bool wants_notice(const spool::Envelope& failed, const std::string& notice_to);

// `from` is senders.default_sender when configured (a Graph or Gmail
// mailbox can send as it, and the sender policy allows it); "" falls back to
// MAILER-DAEMON@hostname.
std::string build_failure_notice(const spool::Envelope& failed, const MessageInfo& info,
                                 const std::string& notice_to, const std::string& from,
                                 const std::string& hostname, std::int64_t now);

spool::Status enqueue_failure_notice(const spool::Spool& spool, const spool::Envelope& failed,
                                     const MessageInfo& info, const std::string& notice_to,
                                     const std::string& from, const std::string& hostname,
                                     std::string* notice_id);

}  // namespace relay::dispatch
