// relay::dispatch::Dispatcher::Job — the state of one claimed entry while
// the dispatcher works on it. Private to the dispatcher's .cpp files.
//
// Stages: Claiming (threadpool: claim + GMime) -> Sending (provider on the
// loop; may repeat once on the fallback provider) -> Recording (DeliveryLog
// thread) -> Finishing (threadpool: Claim::done/defer/fail/release).
// A job is only touched by the loop thread, except during the threadpool
// stages, when the loop leaves it alone (it is not erased before the
// completion runs).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "dispatcher/dispatcher.hpp"
#include "dispatcher/dlog/records.hpp"
#include "dispatcher/message_info.hpp"
#include "dispatcher/outcome.hpp"

namespace relay::dispatch {

struct Dispatcher::Job {
  enum class Stage { Claiming, Sending, Recording, Finishing };

  explicit Job(spool::QueueId qid) : id(std::move(qid)) {}

  spool::QueueId id;
  Stage stage = Stage::Claiming;
  std::optional<spool::Claim> claim;
  std::string claim_error;
  bool paused = false;  // the pause marker was there: not claimed
  spool::Envelope env;
  MessageInfo info;

  std::uint64_t seq = 0;  // identifies the send in progress; 0 = none (late callbacks are ignored)
  std::string provider;   // provider of the send in progress / last send
  provider::Provider* prov = nullptr;  // its object, while Sending
  const ProviderSet* set = nullptr;    // the set it belongs to (kept alive while Sending)
  bool cancel_asked = false;           // drain: cancel() answered InFlight, waiting for Done
  bool fallback_tried = false;
  std::vector<std::string> attempted;
  std::int64_t attempt_started_us = 0;
  std::uint64_t attempt_t0_ms = 0;
  std::int64_t first_attempt_us = 0;  // 0 unless this claim made the message's first attempt

  std::vector<dlog::Record> records;
  Decision decision;
  bool release = false;  // shutdown: back to new/ instead of done/defer/fail
  std::string finish_error;
  // A spool write that failed (disk full): the claim stays held and the
  // progress in `env` is written again after finish_delay_ms (doubling).
  UvHandle<uv_timer_t> finish_timer;
  std::uint64_t finish_delay_ms = 0;
  Dispatcher* owner = nullptr;
  std::string notice_id;
};

}  // namespace relay::dispatch
