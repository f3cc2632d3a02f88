// relay::dispatch generated mail — the one path by which the dispatcher puts
// a mail of its own (failure notice, secret/config notice, bounce DSN) into
// the spool.
//
// Does: creates a new spool entry with the null envelope sender (MAIL
// FROM:<>, so it can never cause a notice or a bounce itself) and one
// recipient, writes the text and commits it with the receiver's commit rules
// (spool::Spool::create/append/prepare/commit: tmp/, fsync, rename into
// data/ and new/, directory fsync). It is then delivered like any message:
// routed, attempted, retried and recorded in the delivery log.
// Does not: build the text, decide whether a mail is due, or send anything.
// Runs on: a worker thread (blocking spool I/O).
// Fails: returns the spool's Status (ENOSPC, EACCES, ...); nothing
// half-written is left in new/ (the NewEntry rolls back). Callers keep what
// caused the mail until it is queued (bounce_hook.cpp, secret_notice_hook.cpp).
#pragma once
#include <string>

#include "spool/spool.hpp"

namespace relay::dispatch {

// `text` is the whole message (header block, empty line, body; CRLF).
// *id gets the new entry's queue id as soon as it exists, and is cleared
// again when the entry is rolled back (a non-ok Status).
spool::Status enqueue_generated(const spool::Spool& spool, const std::string& to, const std::string& text,
                                std::string* id);

}  // namespace relay::dispatch
