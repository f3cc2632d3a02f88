// Server: the refusal tally and its summary files (see server.hpp).
// The file write is small (<= max_entries short lines) and happens at most
// once per flush_interval, so it runs on the loop; no fsync (a summary lost
// in a crash loses counts, never mail).
#include <ctime>

#include "common/log.hpp"
#include "receiver/server/server.hpp"

namespace relay::receiver {

void Server::note_refusal(const std::string& ip, std::string_view user, bool tls, std::string_view reply) {
  auto eol = reply.find_first_of("\r\n");
  if (eol != std::string_view::npos) reply = reply.substr(0, eol);
  refusals_.set_max_entries(static_cast<std::size_t>(cfg_.receiver.refusals.max_entries));
  refusals_.note(ip, user, tls, reply, static_cast<std::int64_t>(std::time(nullptr)));
}

void Server::flush_refusals(bool force) {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (refusals_flushed_at_ == 0) refusals_flushed_at_ = now;
  if (!force && now - refusals_flushed_at_ < cfg_.receiver.refusals.flush_interval) return;
  refusals_flushed_at_ = now;
  if (refusals_.empty()) return;
  std::string name, error;
  const auto entries = refusals_.entries();
  if (!spool::write_refusal_summary(spool_.root() / "refusals", entries, &name, &error)) {
    if (!refusals_blocked_)
      log::warn("- event=refusal_summary_failed entries={} action=keep_in_memory reason={}", entries.size(),
                log::quote(error));
    refusals_blocked_ = true;
    return;  // the tally keeps counting, capped
  }
  refusals_blocked_ = false;
  refusals_.clear();
  log::info("- event=refusal_summary file={} entries={} overflowed_total={}", name, entries.size(),
            refusals_.overflowed());
}

}  // namespace relay::receiver
