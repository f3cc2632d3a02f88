// relay-receiver — accepts mail over ESMTP and commits it to the spool.
//
// Usage: relay-receiver -c FILE [--check]
// main only parses arguments, loads the config, wires the objects and runs
// the libuv loop (STYLE 1). --check validates config, certificate and spool
// and exits. Exit codes: 0 ok (also after a SIGTERM drain), 1 runtime
// start-up failure (spool, listen, TLS), 2 usage or config error.
#include <sys/resource.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "common/config.hpp"
#include "common/config_snapshot.hpp"
#include "common/log.hpp"
#include "common/metrics_publisher.hpp"
#include "common/privileges.hpp"
#include "common/run_as.hpp"
#include "common/service_notify.hpp"
#include "receiver/server/server.hpp"
#include "receiver/server/tls_context.hpp"
#include "receiver/smtp/policy.hpp"
#include "spool/spool.hpp"

using namespace relay;

namespace {
int usage() {
  std::fprintf(stderr, "usage: relay-receiver -c FILE [--check]\n");
  return 2;
}

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

bool needs_tls(const config::Config& cfg) {
  for (const auto& l : cfg.receiver.listeners) {
    if (l.tls != config::TlsMode::None) return true;
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  std::string file;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-c") == 0 && i + 1 < argc) file = argv[++i];
    else if (std::strcmp(argv[i], "--check") == 0) check = true;
    else return usage();
  }
  if (file.empty()) return usage();
  log::set_program("relay-receiver");

  config::Config cfg;
  try {
    // The receiver never needs provider credentials or the database
    // password: it does not even open those ${file:} secrets.
    // Under `relayctl run`: the bytes the supervisor accepted (config_snapshot.hpp).
    cfg = config::load_accepted(file, {.expand_secrets = false});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "relay-receiver: %s\n", e.what());
    return 2;
  }
  log::set_level(cfg.log.level);
  for (const auto& w : cfg.warnings) log::warn("- event=config_warning reason={}", log::quote(w));
  std::string start_err;
  auto start_as = priv::prepare_start(cfg, &start_err);
  if (!start_as) {
    std::fprintf(stderr, "relay-receiver: %s\n", start_err.c_str());
    return 1;
  }
  std::string err;
  auto policy = smtp::Policy::from_config(cfg, &err);
  if (!policy) {
    std::fprintf(stderr, "relay-receiver: %s: %s\n", file.c_str(), err.c_str());
    return 2;
  }
  std::shared_ptr<receiver::TlsContext> tls;
  if (!cfg.receiver.tls.cert_file.empty() || needs_tls(cfg)) {
    tls = receiver::TlsContext::load(cfg.receiver.tls, &err);
    if (!tls) {
      std::fprintf(stderr, "relay-receiver: %s: %s\n", file.c_str(), err.c_str());
      return 2;
    }
  }
  const spool::SyncMode sync = cfg.spool.sync == "filesystem" ? spool::SyncMode::Filesystem
                               : cfg.spool.sync == "files"    ? spool::SyncMode::Files
                                                              : spool::auto_sync_mode(cfg.spool.directory);
  // As root with `user:`, the spool's folders are made as that user.
  std::optional<spool::Spool> spool;
  {
    std::optional<priv::EffectiveUser> as_user;
    if (start_as->switch_user) as_user.emplace(start_as->account);
    if (as_user && !as_user->ok()) {
      std::fprintf(stderr, "relay-receiver: cannot act as %s\n", start_as->account.name.c_str());
      return 1;
    }
    spool = spool::Spool::open(cfg.spool.directory, &err, sync);
    if (spool) {  // not writable (owner, mode, read-only mount): refuse to start, not 451 every message
      if (spool::Status st = spool->check_writable(); !st.ok()) {
        err = st.message;
        spool.reset();
      }
    }
  }
  const std::string sync_note = fmt::format("spool_sync={} setting={}",
                                            sync == spool::SyncMode::Filesystem ? "filesystem" : "files",
                                            cfg.spool.sync);
  if (!spool) {
    std::fprintf(stderr, "relay-receiver: spool %s: %s\n", cfg.spool.directory.c_str(), err.c_str());
    return 1;
  }
  if (check) {
    std::printf("relay-receiver: %s: ok\n", file.c_str());
    return 0;
  }

  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  setenv("UV_THREADPOOL_SIZE", "16", 0);  // commits and password checks share the pool
  uv_loop_t* loop = uv_default_loop();
  int rc = 0;
  const bool admin_http = cfg.admin_http.enabled();
  const std::filesystem::path spool_dir = cfg.spool.directory;
  {
    receiver::Server server(loop, std::move(cfg), std::move(policy), std::move(*spool), std::move(tls));
    if (!server.start(&err)) {
      log::error("event=start_failed reason={}", log::quote(err));
      std::fprintf(stderr, "relay-receiver: %s\n", err.c_str());
      rc = 1;
      uv_stop(loop);
    } else if (start_as->switch_user && !priv::drop_to(start_as->account, &err)) {
      // Listeners are bound: nothing after this point needs root.
      log::error("event=start_failed reason={}", log::quote(err));
      std::fprintf(stderr, "relay-receiver: %s\n", err.c_str());
      rc = 1;
      uv_stop(loop);
    } else {
      log::info("event=started {} user={}", sync_note, start_as->switch_user ? start_as->account.name : "-");
      // admin_http: counters to `relayctl run` (docs/metrics.md); the last
      // write happens when it goes out of scope after the loop.
      std::unique_ptr<metrics::Publisher> published;
      if (admin_http) published = metrics::Publisher::open(metrics::metrics_dir(spool_dir), "receiver", &err);
      if (admin_http && !published) log::warn("event=metrics_disabled reason={}", log::quote(err));
      notify::send("READY=1");  // listeners bound: the supervisor may report readiness
      uv_run(loop, UV_RUN_DEFAULT);
    }
  }
  if (rc != 0) {
    uv_walk(loop, [](uv_handle_t* h, void*) { if (!uv_is_closing(h)) uv_close(h, nullptr); }, nullptr);
    uv_run(loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(loop);
  return rc;
}
