// relay-dispatcher: claims spool entries and delivers them through the
// configured providers, recording every attempt in PostgreSQL (or the local
// journal while it is unreachable).
//
// main only parses arguments, loads the config, wires objects and runs the
// loop (STYLE.md 1). Exit codes: 0 after a clean SIGTERM/SIGINT drain,
// 2 for configuration errors, 1 for start-up failures (spool unusable).
#include <unistd.h>

#include <uv.h>

#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/host_name.hpp"
#include "common/config_snapshot.hpp"
#include "common/curl_multi.hpp"
#include "common/log.hpp"
#include "common/metrics_publisher.hpp"
#include "common/privileges.hpp"
#include "common/run_as.hpp"
#include "common/service_notify.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/dlog/delivery_log.hpp"
#include "dispatcher/message_info.hpp"
#include "dispatcher/provider_set.hpp"
#include "dispatcher/loop_lag.hpp"

namespace {

void usage() { std::fprintf(stderr, "usage: relay-dispatcher [-c CONFIG]\n"); }

// Runs the loop until only closing handles remain (bounded: a provider
// that leaks an active handle must not keep the process alive).
void drain_loop(uv_loop_t* loop) {
  for (int i = 0; i < 200 && uv_loop_alive(loop); ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
    if (uv_loop_alive(loop)) uv_sleep(10);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace relay;
  std::string config_file = "/etc/relay/relay.yaml";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
      config_file = argv[++i];
    } else {
      usage();
      return 2;
    }
  }
  log::set_program("relay-dispatcher");
  // Claims, GMime parsing, spool moves and the outbox provider all run on
  // the uv threadpool (4 threads by default); give it room unless the
  // operator chose a size.
  ::setenv("UV_THREADPOOL_SIZE", "8", 0);
  config::Config cfg;
  try {
    cfg = config::load_accepted(config_file);  // under `relayctl run`: the accepted bytes
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay-dispatcher: %s\n", e.what());
    return 2;
  }
  log::set_level(cfg.log.level);
  {
    // No ports to bind: started as root with `user:`, become that user
    // before touching the spool, the journal or any provider.
    std::string err;
    auto start_as = priv::prepare_start(cfg, &err);
    if (!start_as || (start_as->switch_user && !priv::drop_to(start_as->account, &err))) {
      log::error("- event=start_failed reason={}", log::quote(err));
      return 1;
    }
    if (start_as->switch_user) log::info("- event=user_switched user={}", start_as->account.name);
  }
  std::signal(SIGPIPE, SIG_IGN);
  dispatch::gmime_init_once();

  std::string error;
  auto spool = spool::Spool::open(cfg.spool.directory, &error);
  if (spool) {  // a spool it cannot write to would only loop on rename errors
    if (spool::Status st = spool->check_writable(); !st.ok()) {
      error = st.message;
      spool.reset();
    }
  }
  if (!spool) {
    log::error("- event=start_failed reason={}", log::quote("spool: " + error));
    return 1;
  }
  dlog::DeliveryLog::Options dopt;
  dopt.conninfo = cfg.database.conninfo;
  dopt.connect_timeout = cfg.database.connect_timeout;
  dopt.journal = cfg.dispatcher.journal.empty() ? spool->root() / "journal" : cfg.dispatcher.journal;
  {
    dlog::Maintenance::Options m;
    m.retention_s = cfg.database.retention;
    m.batch = cfg.database.retention_batch;
    m.refusal_dir = spool->root() / "refusals";
    m.host = config::host_name(cfg);  // cluster.host_name (docs/scale-out.md)
    dopt.maintenance = m;
  }
  dlog::DeliveryLog dlog(dopt);
  if (dopt.conninfo.empty()) log::warn("- event=no_database reason=\"database.conninfo is empty\" journal={}", dopt.journal.string());
  // admin_http: counters to `relayctl run` (docs/metrics.md); destroyed
  // last, so its final write has everything.
  std::unique_ptr<metrics::Publisher> published;
  if (cfg.admin_http.enabled()) {
    published = metrics::Publisher::open(metrics::metrics_dir(spool->root()), "dispatcher", &error);
    if (!published) log::warn("- event=metrics_disabled reason={}", log::quote(error));
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    auto curl = std::make_unique<net::CurlMulti>(&loop);
    auto factory = dispatch::make_provider_factory(&loop, curl.get());  // also used on SIGHUP
    std::string perr;
    auto providers = factory(std::make_shared<const config::Config>(cfg), &perr);
    if (!providers) {
      std::fprintf(stderr, "relay-dispatcher: %s: %s\n", config_file.c_str(), perr.c_str());
      return 2;
    }
    dispatch::Dispatcher d(&loop, *spool, std::move(providers), dlog, dispatch::Settings::from_config(cfg));
    if (std::string e = d.check(); !e.empty()) {
      std::fprintf(stderr, "relay-dispatcher: %s: %s\n", config_file.c_str(), e.c_str());
      return 2;
    }
    d.set_provider_factory(factory);
    dlog.start();
    d.set_config_file(config_file);
    d.set_on_stopped([&loop] { uv_stop(&loop); });
    d.start(/*install_signals=*/true);
    notify::send("READY=1");  // tells `relayctl run` this dispatcher started
    dispatch::LoopLag lag(&loop);  // the longest stall of the loop (docs/memory.md)
    uv_run(&loop, UV_RUN_DEFAULT);
    log::info("- event=loop_lag max_ms={:.1f} max_busy_ms={:.1f} late_ticks={} ticks={}", lag.max_ms(),
              lag.max_busy_ms(), lag.late_ticks(), lag.ticks());
    lag.stop();
  }  // the dispatcher and its providers go first (their transfers abort), then the CurlMulti
  drain_loop(&loop);
  dlog.stop();
  if (uv_loop_close(&loop) != 0) log::warn("- event=loop_not_empty reason=\"handles left open at exit\"");
  return rc;
}
