// relayctl run's admin endpoint, without HTTP: collecting the processes'
// metrics files (sums, live/dead slots, corrupt files), the spool and
// journal figures, the exposition text, and /healthz's answer.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "admin-cli/health.hpp"
#include "admin-cli/metrics_collect.hpp"
#include "admin-cli/metrics_exposition.hpp"
#include "common/metrics_publisher.hpp"
#include "common/metrics_registry.hpp"
#include "spool/layout.hpp"
#include "spool/queue_id.hpp"

using namespace relay::admin;
namespace fs = std::filesystem;

namespace {
struct TempSpool {
  fs::path root;
  fs::path mdir;
  TempSpool() {
    char tmpl[] = "/tmp/relay-expo-test-XXXXXX";
    root = ::mkdtemp(tmpl);
    mdir = relay::metrics::metrics_dir(root);
    fs::create_directories(mdir);
    for (const char* s : {"tmp", "new", "active", "deferred", "hold", "failed", "corrupt"}) fs::create_directory(root / s);
  }
  ~TempSpool() { fs::remove_all(root); }
  void write(const fs::path& p, const std::string& text) const {
    std::ofstream(p, std::ios::binary) << text;
  }
};

std::string file(std::initializer_list<std::string> lines) {
  std::string out(relay::metrics::kFileHeader);
  out += "\n";
  for (const auto& l : lines) out += l + "\n";
  return out;
}

bool has(const std::string& text, const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; }
}  // namespace

TEST_CASE("counters are summed over live and dead slots; gauges come from live slots only") {
  TempSpool t;
  t.write(t.mdir / "dispatcher-1", file({"c relay_deliveries_total{provider=\"outbox\",outcome=\"sent\"} 3",
                                         "g relay_client_secret_days_left{provider=\"m\"} 5",
                                         "c relay_process_starts_total{role=\"dispatcher\",index=\"1\"} 3"}));
  t.write(t.mdir / "dispatcher-2", file({"c relay_deliveries_total{provider=\"outbox\",outcome=\"sent\"} 4",
                                         "g relay_client_secret_days_left{provider=\"m\"} 9"}));
  // dispatcher-2 is live: this process holds its lock (a probe from another
  // open file sees it, as the endpoint would).
  int fd = ::open((t.mdir / "dispatcher-2.lock").c_str(), O_RDWR | O_CREAT, 0644);
  struct flock fl{};
  fl.l_type = F_WRLCK;
  REQUIRE(::fcntl(fd, F_OFD_SETLK, &fl) == 0);
  Collected c = collect({t.root, {}, 2, 0});
  std::string text = render_metrics(c);
  CHECK(has(text, "relay_deliveries_total{provider=\"outbox\",outcome=\"sent\"} 7"));
  CHECK(has(text, "relay_client_secret_days_left{provider=\"m\"} 9"));  // the dead slot's 5 is stale
  CHECK(has(text, "relay_process_up{role=\"dispatcher\",index=\"1\"} 0"));
  CHECK(has(text, "relay_process_up{role=\"dispatcher\",index=\"2\"} 1"));
  CHECK(has(text, "relay_process_up{role=\"receiver\",index=\"1\"} 0"));  // expected, never started
  CHECK(has(text, "relay_process_restarts_total{role=\"dispatcher\"} 2"));
  CHECK(text.find("relay_process_starts_total") == std::string::npos);  // internal
  ::close(fd);
}

TEST_CASE("a corrupt or hostile metrics file does not break the scrape") {
  TempSpool t;
  t.write(t.mdir / "receiver-1", file({"c relay_smtp_messages_total{result=\"accepted\",reason=\"ok\"} 2"}));
  t.write(t.mdir / "dispatcher-1", "no header\nc relay_deliveries_total{provider=\"x\",outcome=\"sent\"} 99\n");
  t.write(t.mdir / "dispatcher-2",
          file({"c relay_deliveries_total{provider=\"x\",outcome=\"sent\"} 1\n# HELP relay_deliveries_total injected",
                "c relay_deliveries_total{provider=\"x\\q\"} 5", "c relay_smtp_messages_total -3",
                "c relay_not_ours_total 5", "g broken{", std::string(1000, 'x'),
                "c relay_delivery_duration_seconds_bucket{provider=\"x\",le=\"abc\"} 4"}));
  t.write(t.mdir / "dispatcher-3", std::string("\0\0\0\xff", 4));
  fs::create_directory(t.mdir / "dispatcher-4");  // not a file
  t.write(t.mdir / "dispatcher-5", std::string(5 << 20, 'a'));  // too large
  t.write(t.mdir / "dispatcher-01", file({"c relay_deliveries_total{provider=\"y\",outcome=\"sent\"} 1"}));  // not a slot name
  Collected c = collect({t.root, {}, 1, 0});
  std::string text = render_metrics(c);
  CHECK(c.bad_files == 4);
  CHECK(c.bad_lines >= 5);
  CHECK(has(text, "relay_smtp_messages_total{result=\"accepted\",reason=\"ok\"} 2"));
  CHECK(has(text, "relay_deliveries_total{provider=\"x\",outcome=\"sent\"} 1"));
  CHECK(text.find("injected") == std::string::npos);
  CHECK(text.find("relay_not_ours_total") == std::string::npos);
  CHECK(text.find("abc") == std::string::npos);
  CHECK(text.find("provider=\"y\"") == std::string::npos);
  CHECK(has(text, "relay_metrics_files_skipped{what=\"file\"} 4"));
}

TEST_CASE("exposition: HELP and TYPE for every family, escaped labels, ordered histogram") {
  TempSpool t;
  relay::metrics::Registry r;
  r.add("relay_smtp_messages_total", {{"result", "refused"}, {"reason", "we\"ird\\\n"}});
  r.observe("relay_delivery_duration_seconds", {{"provider", "p"}}, 0.3);
  r.observe("relay_delivery_duration_seconds", {{"provider", "p"}}, 20);
  t.write(t.mdir / "dispatcher-1", r.serialize());
  std::string text = render_metrics(collect({t.root, {}, 1, 0}));
  for (const auto& f : metric_families()) {
    INFO(std::string(f.name));
    CHECK(text.find("# HELP " + std::string(f.name) + " ") != std::string::npos);
    CHECK(text.find("# TYPE " + std::string(f.name) + " ") != std::string::npos);
  }
  CHECK(has(text, R"(relay_smtp_messages_total{result="refused",reason="we\"ird\\\n"} 1)"));
  auto b05 = text.find("relay_delivery_duration_seconds_bucket{provider=\"p\",le=\"0.5\"} 1");
  auto b10 = text.find("relay_delivery_duration_seconds_bucket{provider=\"p\",le=\"10\"} 1");
  auto b30 = text.find("relay_delivery_duration_seconds_bucket{provider=\"p\",le=\"30\"} 2");
  auto inf = text.find("relay_delivery_duration_seconds_bucket{provider=\"p\",le=\"+Inf\"} 2");
  auto sum = text.find("relay_delivery_duration_seconds_sum{provider=\"p\"} 20.3");
  auto cnt = text.find("relay_delivery_duration_seconds_count{provider=\"p\"} 2");
  REQUIRE(b05 != std::string::npos);
  REQUIRE(b10 != std::string::npos);
  REQUIRE(b30 != std::string::npos);
  REQUIRE(inf != std::string::npos);
  REQUIRE(sum != std::string::npos);
  REQUIRE(cnt != std::string::npos);
  CHECK((b05 < b10 && b10 < b30 && b30 < inf && inf < sum && sum < cnt));
}

TEST_CASE("queue figures come from the spool; journal lines and the pause marker are read") {
  TempSpool t;
  auto id = relay::spool::QueueId::generate();
  // Entries sit in buckets (spool/layout.hpp): deferred/<b>/<id>.env.
  fs::create_directory(t.root / "deferred" / relay::spool::detail::bucket_name(relay::spool::detail::bucket_index(id)));
  t.write(t.root / "deferred" / relay::spool::detail::env_rel(id), "x");
  t.write(t.root / "deferred" / "junk.env", "x");
  t.write(t.root / "new" / "notes.txt", "x");
  fs::create_directory(t.root / "new" / "zz");  // not a bucket: not read
  t.write(t.root / "new" / "zz" / (id.str() + ".env"), "x");
  t.write(t.root / "journal", "{}\n{}\n{}\n");
  Collected c = collect({t.root, {}, 1, id.millis() + 90000});
  std::string text = render_metrics(c);
  CHECK(has(text, "relay_queue_entries{state=\"deferred\"} 2"));
  CHECK(has(text, "relay_queue_entries{state=\"new\"} 0"));
  CHECK(has(text, "relay_queue_oldest_age_seconds{state=\"deferred\"} 90"));
  CHECK(has(text, "relay_queue_oldest_age_seconds{state=\"failed\"} 0"));
  CHECK(has(text, "relay_journal_backlog_records 3"));
  CHECK(has(text, "relay_delivery_paused 0"));
  fs::create_directory(t.root / "control");
  t.write(t.root / "control" / "dispatch-paused", "");
  CHECK(has(render_metrics(collect({t.root, {}, 1, 0})), "relay_delivery_paused 1"));
}

TEST_CASE("healthz: spool, receiver, dispatchers, provider alerts, pause") {
  Collected c;
  c.slots = {{"receiver", 1, true}, {"dispatcher", 1, false}, {"dispatcher", 2, true}};
  CHECK(evaluate_health(c, "").status == 200);
  CHECK(evaluate_health(c, "").text == "ok");
  c.paused = true;
  CHECK(evaluate_health(c, "").text == "ok (delivery paused)");
  // relayctl run is stopping: draining comes first, even when all is well.
  CHECK(evaluate_health(c, "", true).status == 503);
  CHECK(evaluate_health(c, "", true).text == "draining");
  Health h = evaluate_health(c, "tmp/: Permission denied");
  CHECK(h.status == 503);
  CHECK(h.text == "spool not writable: tmp/: Permission denied");
  c.slots[2].up = false;
  CHECK(evaluate_health(c, "").text == "no dispatcher running");
  c.slots[0].up = false;
  CHECK(evaluate_health(c, "").text == "receiver not running");
  c.slots[0].up = c.slots[1].up = true;
  relay::metrics::Sample s{"relay_provider_config_error", {{"provider", "m365"}, {"reason", "AADSTS7000222\nexpired"}}, 1};
  c.gauges[relay::metrics::series(s.name, s.labels)] = s;
  h = evaluate_health(c, "");
  CHECK(h.status == 503);
  CHECK(h.text == "provider m365 fails authentication or configuration: AADSTS7000222 expired");
}

TEST_CASE("spool_space_problem: below receiver.limits.min_free_space, says what MAIL gets") {
  TempSpool t;
  CHECK(spool_space_problem(t.root, 0) == "");     // the check is off
  CHECK(spool_space_problem(t.root, 1024) == "");  // any test machine has 1 KB free
  const std::string s = spool_space_problem(t.root, std::uint64_t{1} << 60);  // 1 EB: never free
  CHECK(s.rfind("spool short of space: ", 0) == 0);
  CHECK(s.find(" MB free, receiver.limits.min_free_space is 1099511627776 MB (MAIL is answered 452 4.3.1)") !=
        std::string::npos);
  CHECK(spool_space_problem(t.root / "missing", std::uint64_t{1} << 60) == "");  // the write check names that
}

TEST_CASE("spool_write_problem names the reason") {
  TempSpool t;
  CHECK(spool_write_problem(t.root) == "");
  fs::remove(t.root / "tmp");
  CHECK(spool_write_problem(t.root) == "tmp/: No such file or directory");
}
