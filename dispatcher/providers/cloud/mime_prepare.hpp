// relay::provider::cloud MIME preparation — turns a spooled message into the
// MIME an API that takes recipients from the header (Graph sendMail, Gmail
// users.messages.send) may send, and decides which mailbox sends it.
//
// Does: (1) sender policy: From and Sender are read by common/header_reader,
// the reader the receiver checked them with (unreadable or ambiguous: fail
// permanently, 5.7.1). Every From/Sender address and a non-null envelope
// MAIL FROM must match the envelope AUTH user's allowed_senders when it has
// any, else senders.allowed; then the message goes out as the From mailbox
// (the Sender when From names several) unchanged. Otherwise policy
// `rewrite` replaces From with senders.default_sender and keeps the
// original in Reply-To (unless a Reply-To exists), dropping a disallowed
// Sender — never for a user's own list; policy `reject` (and a user's list)
// fails the message permanently (5.7.1). A missing From becomes
// default_sender (if the user's list allows it). A body that starts at a
// non-field line gets the empty line put in before it.
// (2) Graph and Gmail take recipients from the header only: it is made to
// name exactly the pending envelope recipients (cloud/recipients.hpp: a
// Bcc: for envelope-only ones, or To/Cc/Bcc replaced when it names others).
// (3) Message-ID and Date are added when missing (Graph returns no id of
// its own). Added headers go on top, in the message's own line ending;
// nothing else is touched but the fields (1) and (2) replace.
// Does not: parse MIME bodies (m365/large_send does), do I/O (except
// load_and_prepare, which maps the spooled file).
// Runs on: any thread; pure.
// Fails: Prepared::ok == false with a Permanent Result.
#pragma once
#include "dispatcher/providers/mail_util.hpp"
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "dispatcher/providers/cloud/body.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::provider::cloud {

struct PrepareInput {
  std::string_view raw;                  // the spooled .eml bytes
  std::string_view mail_from;            // envelope sender ("" = null sender)
  const std::vector<std::string>* rcpts = nullptr;  // pending envelope recipients
  const config::SenderConfig* senders = nullptr;
  std::string_view queue_id;
  std::time_t now = 0;
  std::string_view auth_user;                                // the envelope's SMTP AUTH user ("" = none)
  const std::vector<config::AuthUser>* users = nullptr;      // receiver.users: their allowed_senders
};

struct Prepared {
  bool ok = false;
  Result reject;                 // Permanent, when !ok
  std::string mailbox;           // /users/{mailbox} — the From address sent as
  std::string head;              // new header block, including the blank line
  std::size_t body_offset = 0;   // raw.substr(body_offset) follows `head`
  std::vector<std::string> added;  // names of headers added/changed (for logs)
  bool rewritten = false;
  std::string mime(std::string_view raw) const {
    std::string out;
    out.reserve(size(raw));
    out.append(head).append(raw.substr(body_offset));
    return out;
  }
  std::size_t size(std::string_view raw) const { return head.size() + raw.size() - body_offset; }
};

Prepared prepare(const PrepareInput& in);

// The spooled message mapped (mmap, read-only: no copy of it is made) and
// prepared — the one function here that does I/O, so adapters call it on
// the threadpool (provider::offload): a 25 MB message is tens of
// milliseconds of reading and copying that would stall every transfer on
// the loop. With `want_mime` false nothing the size of the message is
// built: the message as the API gets it is stream(), the new header block
// followed by the spooled file from body_offset on, sent by curl's read
// callback (gmail). Only the header's pages of the mapping are touched.
struct Loaded {
  bool read_ok = false;
  Result read_error;   // !read_ok: why (Transient, spool_error)
  Prepared prepared;   // read_ok: prepare's answer (ok, or a Permanent reject)
  std::string mime;    // ok() and want_mime: prepared.mime(raw), the message as the API gets it
  std::filesystem::path path;  // the spooled file
  std::uint64_t file_size = 0;
  bool ok() const { return read_ok && prepared.ok; }
  const Result& error() const { return read_ok ? prepared.reject : read_error; }  // when !ok()
  std::uint64_t size() const { return prepared.head.size() + file_size - prepared.body_offset; }
  Body stream() const;  // ok(): head + file[body_offset, file_size), never copied
};
Loaded load_and_prepare(const std::filesystem::path& data_path, PrepareInput in,
                        bool want_mime = true);  // in.raw is filled in here

// Addresses (addr-spec) in an address-list header value: handles display
// names, quoted strings, comments, angle brackets and groups.
std::vector<std::string> extract_addresses(std::string_view value);

using provider::rfc5322_date;  // dispatcher/providers/mail_util.hpp

}  // namespace relay::provider::cloud
