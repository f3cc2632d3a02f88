// relay::dispatch::MessageInfo — what the dispatcher needs to know about a
// spooled message's content: From, Subject, Message-ID, attachment count.
//
// Does: parses the .eml with GMime (streamed from the file; bodies are not
// loaded into memory) and extracts the header fields, decoded to UTF-8.
// Does not: modify the message (adapters add Bcc/Message-ID/Date when their
// API needs it). Logging is the caller's.
// Runs on: a worker thread (uv threadpool): parsing a large message takes
// time the event loop must not lose. g_mime_init() must have been called
// once before (main / test main). Distinct messages may be parsed in
// parallel.
// Fails: parsed == false with `error` when GMime cannot parse the file at
// all (unreadable, empty, no header block): the dispatcher fails such a
// message permanently.
#pragma once
#include <filesystem>
#include <string>

namespace relay::dispatch {

struct MessageInfo {
  bool parsed = false;
  std::string error;         // when !parsed
  std::string from;          // the From: header as decoded text, "Name <a@x>"
  std::string from_address;  // addr-spec of its first mailbox ("" when none)
  std::string subject;       // decoded
  std::string message_id;    // without <>
  int attachments = 0;       // parts with a Content-Disposition: attachment or a file name
  int parts = 0;             // leaf MIME parts
  // The message is itself a delivery status notification (top-level
  // multipart/report with report-type delivery-status or
  // global-delivery-status): never bounced, whatever its envelope sender.
  bool is_dsn = false;
};

MessageInfo inspect_message(const std::filesystem::path& eml);

// Calls g_mime_init() once per process (thread-safe).
void gmime_init_once();

}  // namespace relay::dispatch
