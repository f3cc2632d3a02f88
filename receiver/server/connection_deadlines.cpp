// Connection: timeouts and the hostile-client deadlines (issue 9 items 4, 5)
// — idle and data timeouts, the per-command deadline (a slow drip of one
// command line), the minimum DATA/BDAT rate, the TLS handshake deadline and
// the output stall (replies the client never reads). Checked once a second
// by the server's sweep; each logs event=timeout with its phase.
#include "common/log.hpp"
#include "receiver/server/connection.hpp"

namespace relay::receiver {

void Connection::tls_begins() { tls_since_ = uv_now(server_.loop()); }

void Connection::track_deadlines(std::uint64_t now) {
  bool transfer = session_->in_transfer();
  if (transfer && transfer_start_ == 0) {
    transfer_start_ = now;
    transfer_bytes_ = 0;
  }
  if (!transfer) transfer_start_ = 0;
  if (!session_->line_pending()) line_since_ = 0;
  else if (line_since_ == 0) line_since_ = now;
  if (!output_blocked()) blocked_since_ = 0;
  else if (blocked_since_ == 0) blocked_since_ = now;
}

// True when a deadline fired (the connection is then closing).
bool Connection::check_deadlines(std::uint64_t now) {
  const auto& lim = server_.policy()->limits;
  const std::uint64_t request_ms = static_cast<std::uint64_t>(lim.command_timeout) * 1000;
  if (tls_since_ != 0 && now - tls_since_ >= static_cast<std::uint64_t>(lim.tls_handshake_timeout) * 1000) {
    log::info("{} event=timeout client={} phase=tls_handshake limit={}s", id_, ip_, lim.tls_handshake_timeout);
    abort("tls handshake timeout");  // no clear-text reply in the middle of a handshake
    return true;
  }
  if (blocked_since_ != 0 && now - blocked_since_ >= request_ms) {
    log::info("{} event=timeout client={} phase=output reason=replies_not_read unsent={} limit={}s", id_, ip_,
              out_.size() + uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_)),
              lim.command_timeout);
    abort("replies not read");  // it does not read: a last reply would only queue
    return true;
  }
  if (line_since_ != 0 && now - line_since_ >= request_ms) {
    log::info("{} event=timeout client={} phase=command reason=command_deadline limit={}s", id_, ip_,
              lim.command_timeout);
    guarded([this] { session_->timeout("command deadline exceeded"); });
    return true;
  }
  if (transfer_start_ != 0 && lim.min_data_rate > 0) {
    std::uint64_t allowed_ms = request_ms + transfer_bytes_ * 1000 / lim.min_data_rate;
    if (now - transfer_start_ >= allowed_ms) {
      log::info("{} event=timeout client={} phase=data reason=min_data_rate bytes={} elapsed_ms={} min_rate={}", id_,
                ip_, transfer_bytes_, now - transfer_start_, lim.min_data_rate);
      guarded([this] { session_->timeout("data rate too low"); });
      return true;
    }
  }
  return false;
}

void Connection::check_timeout(std::uint64_t now_ms) {
  auto* h = reinterpret_cast<uv_handle_t*>(&tcp_);
  if (closing_) {
    // a graceful close whose final write never drains (peer not reading)
    if (now_ms - closing_since_ > 10000 && !uv_is_closing(h)) uv_close(h, on_closed);
    return;
  }
  if (!session_ || job_ || auth_job_) return;  // waiting on us, not on the client
  if (check_deadlines(now_ms)) return;
  const auto& lim = server_.policy()->limits;
  bool transfer = session_->in_transfer();
  std::uint64_t limit_ms = static_cast<std::uint64_t>(transfer ? lim.data_timeout : lim.idle_timeout) * 1000;
  bool expired = now_ms - last_activity_ >= limit_ms ||
                 (transfer && transfer_start_ != 0 && now_ms - transfer_start_ >= limit_ms);
  if (!expired) return;
  log::info("{} event=timeout client={} phase={}", id_, ip_, transfer ? "data" : "idle");
  guarded([this] { session_->timeout(); });
}

}  // namespace relay::receiver
