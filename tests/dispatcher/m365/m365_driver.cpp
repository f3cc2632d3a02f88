// m365_driver — runs the m365 adapter alone (uv loop + CurlMulti + adapter)
// against whatever its config points at (tests: fake_graph.py). Not a
// product binary; tests/integration/m365_adapter.py and contrib/bench use it.
//
//   m365_driver CONFIG PROVIDER test
//   m365_driver CONFIG PROVIDER send FILE[,FILE...] MAIL_FROM|- RCPT[,RCPT...] [COUNT] [DELAY_MS]
// (message i uses file i mod n, so several files spread load over mailboxes)
//
// Prints one JSON line per outcome, then a summary line
// {"summary":true,"token_requests":N,"elapsed":s,"sent":n,...}.
// COUNT copies are started at once (DELAY_MS apart when given). A negative
// DELAY_MS sends them one after another instead: copy i+1 starts -DELAY_MS
// after copy i's outcome (for a test whose next message must see the
// previous one's answer, however slow the machine).
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/config.hpp"
#include "common/curl_multi.hpp"
#include "common/log.hpp"
#include "dispatcher/providers/m365/m365_adapter.hpp"

using namespace relay;

namespace {

nlohmann::json to_json(const provider::Result& r) {
  nlohmann::json j = {{"outcome", std::string(provider::to_string(r.outcome))},
                      {"code", r.code},
                      {"enhanced", r.enhanced},
                      {"text", r.text},
                      {"config_error", r.config_error}};
  j["retry_after"] = r.retry_after ? nlohmann::json(*r.retry_after) : nlohmann::json(nullptr);
  return j;
}

// DELAY_MS < 0: one message at a time, the next `gap_ms` after an outcome.
struct Sequential {
  provider::m365::Adapter* prov;
  provider::Message m;
  std::vector<std::string> files;
  int left;
  std::uint64_t gap_ms;
  std::function<void(const provider::Result&)> record;
  uv_timer_t timer{};
  int sent = 0;

  void send_one() {
    m.id = spool::QueueId::generate();
    m.data_path = files[static_cast<std::size_t>(sent++) % files.size()];
    --left;
    prov->send(m, [this](provider::Result r) {
      record(r);
      if (left > 0) {
        uv_timer_start(&timer, [](uv_timer_t* t) { static_cast<Sequential*>(t->data)->send_one(); }, gap_ms, 0);
      } else {
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
      }
    });
  }
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: m365_driver CONFIG PROVIDER test|secrets|send FILE FROM RCPTS [COUNT] [DELAY_MS]\n");
    return 2;
  }
  log::set_program("m365_driver");
  config::Config cfg;
  try {
    cfg = config::load(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  log::set_level(cfg.log.level);
  const config::ProviderConfig* pc = cfg.provider(argv[2]);
  if (!pc) return 2;
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    net::CurlMulti curl(&loop);
    provider::Context ctx{&loop, &curl, &cfg};
    auto prov = std::make_unique<provider::m365::Adapter>(*pc, ctx);
    const std::string cmd = argv[3];
    auto t0 = std::chrono::steady_clock::now();
    int sent = 0, transient = 0, permanent = 0;
    std::unique_ptr<Sequential> seq;  // outlives uv_run: its timer is closed after the last outcome
    auto record = [&](const provider::Result& r) {
      std::printf("%s\n", to_json(r).dump().c_str());
      std::fflush(stdout);
      (r.outcome == provider::Outcome::Sent ? sent : r.outcome == provider::Outcome::Transient ? transient : permanent)++;
    };
    if (cmd == "test" || cmd == "secrets") {
      prov->test([&](provider::Result r) {
        record(r);
        if (auto s = prov->secret_status()) {
          nlohmann::json j = {{"secret", {{"expires", s->expires}, {"days_left", s->days_left}, {"source", s->source},
                                          {"state", s->state}, {"detail", s->detail}}}};
          std::printf("%s\n", j.dump().c_str());
        }
      });
    } else if (cmd == "send" && argc >= 7) {
      const auto files = split(argv[4]);
      const std::string from = std::string(argv[5]) == "-" ? "" : argv[5];
      provider::Message m{spool::QueueId::generate(), from, split(argv[6]), files.at(0), 0, "", ""};
      const int count = argc >= 8 ? std::atoi(argv[7]) : 1;
      const int delay = argc >= 9 ? std::atoi(argv[8]) : 0;
      if (delay < 0 && count > 0) {
        seq = std::make_unique<Sequential>(Sequential{prov.get(), m, files, count, static_cast<std::uint64_t>(-delay), record});
        uv_timer_init(&loop, &seq->timer);
        seq->timer.data = seq.get();
        seq->send_one();
      }
      for (int i = 0; delay >= 0 && i < count; ++i) {
        m.id = spool::QueueId::generate();
        m.data_path = files[static_cast<std::size_t>(i) % files.size()];
        if (delay == 0 || i == 0) {
          prov->send(m, record);
        } else {
          auto* t = new uv_timer_t;
          uv_timer_init(&loop, t);
          struct Job { provider::m365::Adapter* p; provider::Message m; std::function<void(provider::Result)> rec; };
          t->data = new Job{prov.get(), m, record};
          uv_timer_start(t, [](uv_timer_t* h) {
            auto* j = static_cast<Job*>(h->data);
            j->p->send(j->m, j->rec);
            delete j;
            uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* hh) { delete reinterpret_cast<uv_timer_t*>(hh); });
          }, static_cast<std::uint64_t>(delay) * static_cast<std::uint64_t>(i), 0);
        }
      }
    } else {
      std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
      return 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json summary = {{"summary", true}, {"token_requests", prov->token_requests()}, {"elapsed", secs},
                              {"sent", sent}, {"transient", transient}, {"permanent", permanent}};
    std::printf("%s\n", summary.dump().c_str());
    rc = (transient + permanent) ? 1 : 0;
    prov.reset();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    std::fprintf(stderr, "loop closed with open handles\n");
    rc = 3;
  }
  return rc;
}
