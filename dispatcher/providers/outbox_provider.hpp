// relay::provider::OutboxProvider — "delivers" by writing the message into a
// local directory: <dir>/<queueid>.eml (byte-identical to the spooled data)
// and beside it <dir>/<queueid>.json {"queue_id","mail_from","rcpts"}.
//
// Does: copy to a dot-named temp file in the outbox dir, fsync, rename, fsync
// the directory (the .json is renamed first, so an .eml is never seen without
// its envelope). A retry of the same queue id overwrites both files.
// Does not: touch the spool; parse the message.
// Runs on: the blocking I/O runs on the libuv threadpool (provider::offload); the
// loop thread only starts jobs and calls `done` (never inside send()).
// Fails: ENOSPC -> transient disk_full; missing/unwritable directory ->
// transient config_error; unreadable/short spool data -> transient spool_error.
#pragma once
#include <string>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider {

class OutboxProvider final : public Provider {
 public:
  OutboxProvider(std::string name, config::OutboxProvider cfg, const Context& ctx);
  std::string_view name() const noexcept override { return name_; }
  std::string_view type() const noexcept override { return "outbox"; }
  void send(const Message& msg, Done done) override;
  void test(Done done) override;

 private:
  std::string name_;
  config::OutboxProvider cfg_;
  uv_loop_s* loop_;
};

}  // namespace relay::provider
