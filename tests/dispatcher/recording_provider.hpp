// RecordingProvider — a real implementation of provider::Provider for tests
// (STYLE.md 14: test doubles are real implementations): it records every
// message it is given (with a copy of the bytes) and answers with scripted
// Results, in order, falling back to "sent". Answers are delivered through
// a zero-delay uv timer, never inside send(), as the interface requires.
#pragma once
#include <uv.h>

#include <deque>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dispatcher/providers/provider.hpp"

namespace relay::test {

class RecordingProvider final : public provider::Provider {
 public:
  struct Call {
    provider::Message msg;
    std::string bytes;
  };
  RecordingProvider(std::string name, uv_loop_t* loop) : name_(std::move(name)), loop_(loop) {}

  std::string_view name() const noexcept override { return name_; }
  std::string_view type() const noexcept override { return "recording"; }
  void send(const provider::Message& msg, Done done) override {
    std::ifstream in(msg.data_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    calls.push_back(Call{msg, ss.str()});
    provider::Result r;
    r.outcome = provider::Outcome::Sent;
    r.code = 250;
    r.text = "recorded";
    if (script_fn) {
      r = script_fn(msg);
    } else if (!script.empty()) {
      r = script.front();
      script.pop_front();
    }
    auto* t = new Pending{{}, std::move(done), std::move(r), msg.id.str(), this};
    t->timer.data = t;
    uv_timer_init(loop_, &t->timer);
    uv_timer_start(&t->timer, [](uv_timer_t* h) {
      auto* p = static_cast<Pending*>(h->data);
      if (!p->self->cancelled.count(p->id)) p->done(std::move(p->result));
      uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete static_cast<Pending*>(x->data); });
    }, delay_ms, 0);
  }
  // cancellable: cancel() stops a delivery (its Done never comes), as an
  // adapter does for one whose request has not started; else InFlight.
  provider::CancelResult cancel(const spool::QueueId& id) override {
    if (!cancellable) return provider::CancelResult::InFlight;
    cancelled.insert(id.str());
    return provider::CancelResult::Stopped;
  }
  void test(Done done) override { send(provider::Message{spool::QueueId::generate(), "", {}, "/dev/null", 0, "", ""}, std::move(done)); }

  std::vector<Call> calls;
  std::deque<provider::Result> script;
  std::function<provider::Result(const provider::Message&)> script_fn;
  std::uint64_t delay_ms = 0;
  bool cancellable = false;
  std::set<std::string> cancelled;

 private:
  struct Pending {
    uv_timer_t timer;
    Done done;
    provider::Result result;
    std::string id;
    RecordingProvider* self;
  };
  std::string name_;
  uv_loop_t* loop_;
};

}  // namespace relay::test
