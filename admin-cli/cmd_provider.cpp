// relayctl provider test [NAME] — builds each configured provider (or the
// one named) with relay::provider::make on a private uv loop with a
// net::CurlMulti, calls its test() and prints exactly what the adapter
// says. Exit 1 when any test does not come back "sent" (= OK).
#include <fmt/format.h>

#include <optional>

#include "admin-cli/command.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/uv_owner.hpp"
#include "common/config.hpp"
#include "common/curl_multi.hpp"
#include "dispatcher/providers/provider.hpp"

namespace relay::admin {
namespace {

constexpr std::uint64_t kTestTimeoutMs = 180'000;  // adapters time out on their own well before

// Runs one test to completion; nullopt when it never answered.
std::optional<provider::Result> run_test(UvLoop& loop, provider::Provider& p) {
  std::optional<provider::Result> result;
  bool timed_out = false;
  UvTimer guard(loop.get());
  guard.start(kTestTimeoutMs, [&] {
    timed_out = true;
    uv_stop(loop.get());
  });
  p.test([&](provider::Result r) {
    result = std::move(r);
    uv_stop(loop.get());
  });
  while (!result && !timed_out) uv_run(loop.get(), UV_RUN_DEFAULT);
  return result;
}

void print_result(std::FILE* out, const config::ProviderConfig& pc, std::string_view type,
                  const provider::Result& r) {
  if (r.outcome == provider::Outcome::Sent) {
    fmt::print(out, "{} ({}): OK: {}\n", pc.name, type, r.text);
    return;
  }
  std::string code = r.code ? fmt::format(" {}", r.code) : "";
  if (!r.enhanced.empty()) code += " " + r.enhanced;
  fmt::print(out, "{} ({}): FAILED ({}{}{}): {}\n", pc.name, type, provider::to_string(r.outcome), code,
             r.config_error ? ", configuration error" : "", r.text);
}

}  // namespace

int cmd_provider_test(Context& ctx) {
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  std::vector<const config::ProviderConfig*> todo;
  if (!ctx.args().positional().empty()) {
    const auto& name = ctx.args().positional()[0];
    const auto* pc = cfg->provider(name);
    if (!pc) {
      fmt::print(ctx.err(), "relayctl: no provider named '{}' in {}\n", name, cfg->file.string());
      return kFail;
    }
    todo.push_back(pc);
  } else {
    for (const auto& pc : cfg->providers) todo.push_back(&pc);
  }
  int failures = 0;
  UvLoop loop;
  {
    net::CurlMulti curl(loop.get());
    provider::Context pctx{loop.get(), &curl, cfg};
    for (const auto* pc : todo) {
      std::unique_ptr<provider::Provider> p;
      try {
        p = provider::make(*pc, pctx);
      } catch (const std::exception& e) {
        fmt::print(ctx.out(), "{}: FAILED (configuration): {}\n", pc->name, e.what());
        ++failures;
        continue;
      }
      auto r = run_test(loop, *p);
      if (!r) {
        fmt::print(ctx.out(), "{} ({}): FAILED: no answer within {} s\n", pc->name, p->type(), kTestTimeoutMs / 1000);
        ++failures;
        continue;
      }
      print_result(ctx.out(), *pc, p->type(), *r);
      if (auto s = p->secret_status()) fmt::print(ctx.out(), "  secret: {} ({})\n", s->detail, s->state);
      failures += r->outcome != provider::Outcome::Sent;
    }
  }
  uv_run(loop.get(), UV_RUN_NOWAIT);  // let CurlMulti's close callbacks free memory
  return failures ? kFail : kOk;
}

}  // namespace relay::admin
