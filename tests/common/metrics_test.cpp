// relay::metrics: exposition text helpers (escaping, strict parsing), the
// in-process Registry (serialize / restore across a restart) and the
// Publisher's slots (a live process keeps its slot, a successor takes a
// dead one over and continues its counters).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/metrics_publisher.hpp"
#include "common/metrics_registry.hpp"
#include "common/metrics_text.hpp"
#include "tests/common/config_test_support.hpp"

using namespace relay::metrics;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("label values escape backslash, double quote and line feed") {
  CHECK(escape_label_value(R"(a\b"c)" "\n" "d") == R"(a\\b\"c\nd)");
  CHECK(escape_label_value("plain ok") == "plain ok");
  CHECK(escape_help("x\\y\nz\"") == "x\\\\y\\nz\"");  // HELP leaves quotes alone
  CHECK(series("m", {{"reason", "say \"hi\"\\\n"}}) == R"(m{reason="say \"hi\"\\\n"})");
  CHECK(series("m", {}) == "m");
}

TEST_CASE("a sample line round-trips through series/format_value/parse_sample") {
  Labels l{{"provider", "a\"b\\c\nd"}, {"le", "+Inf"}};
  auto s = parse_sample(series("relay_x_total", l) + " " + format_value(42));
  REQUIRE(s);
  CHECK(s->name == "relay_x_total");
  CHECK(s->labels == l);
  CHECK(s->value == 42);
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(1e6) == "1000000");
  CHECK(format_value(INFINITY) == "+Inf");
  CHECK(parse_sample("m 0.5")->value == 0.5);
  CHECK(std::isinf(parse_sample("m +Inf")->value));
}

TEST_CASE("parse_sample refuses anything that is not exactly one well-formed sample") {
  for (const char* bad : {"", " 1", "m", "m ", "m 1 2", "m 1x", "m{} ", "9m 1", "m-x 1", "m{a=\"1\" 1",
                          "m{a=\"1\",a=\"2\"} 1", "m{a=1} 1", "m{a=\"x\\q\"} 1", "m{a=\"x\n\"} 1",
                          "m{__a=\"x\"} 1", "m{a=\"x\"}} 1", "m{a=\"x\"}1", "m{1a=\"x\"} 1", "m inf",
                          "m{a=\"x\"} 1\n# HELP injected", "m{a=\"unterminated} 1"}) {
    INFO("line: ", bad);
    CHECK_FALSE(parse_sample(bad));
  }
}

TEST_CASE("registry: counters add, gauges set and erase, histograms are cumulative") {
  Registry r;
  r.add("relay_a_total", {{"k", "v"}});
  r.add("relay_a_total", {{"k", "v"}}, 2);
  CHECK(r.value("relay_a_total", {{"k", "v"}}) == 3);
  r.set("relay_g", {{"provider", "p1"}, {"reason", "r"}}, 1);
  r.set("relay_g", {{"provider", "p2"}, {"reason", "r"}}, 1);
  r.erase("relay_g", "provider", "p1");
  CHECK(r.value("relay_g", {{"provider", "p1"}, {"reason", "r"}}) == 0);
  CHECK(r.value("relay_g", {{"provider", "p2"}, {"reason", "r"}}) == 1);
  r.observe("relay_d_seconds", {{"provider", "p"}}, 0.3);
  r.observe("relay_d_seconds", {{"provider", "p"}}, 7);
  CHECK(r.value("relay_d_seconds_bucket", {{"provider", "p"}, {"le", "0.25"}}) == 0);
  CHECK(r.value("relay_d_seconds_bucket", {{"provider", "p"}, {"le", "0.5"}}) == 1);
  CHECK(r.value("relay_d_seconds_bucket", {{"provider", "p"}, {"le", "10"}}) == 2);
  CHECK(r.value("relay_d_seconds_bucket", {{"provider", "p"}, {"le", "+Inf"}}) == 2);
  CHECK(r.value("relay_d_seconds_count", {{"provider", "p"}}) == 2);
  CHECK(r.value("relay_d_seconds_sum", {{"provider", "p"}}) == doctest::Approx(7.3));
}

TEST_CASE("registry: a successor restores counters, not gauges, and skips garbage") {
  Registry old;
  old.add("relay_a_total", {{"reason", "x\"y"}}, 5);
  old.set("relay_g", {}, 9);
  std::string text = old.serialize();
  CHECK(text.rfind(std::string(kFileHeader), 0) == 0);
  text += "c relay_bad{ 3\nc relay_neg_total -4\ngarbage\nc relay_b_total 2\n";
  Registry next;
  CHECK(next.restore(text) == 2);
  CHECK(next.value("relay_a_total", {{"reason", "x\"y"}}) == 5);
  CHECK(next.value("relay_b_total", {}) == 2);
  CHECK(next.value("relay_g", {}) == 0);
  CHECK(next.value("relay_neg_total", {}) == 0);
}

TEST_CASE("publisher: slots by lock; a successor of a dead process continues its counters") {
  relay::config::test::TempDir t;
  const fs::path dir = t.path / "run" / "metrics";
  registry().clear();
  registry().add("relay_x_total", {}, 7);
  std::string err;
  // The other process is forked before this one starts a publisher thread:
  // a fork while a thread is being set up (or holds the allocator's or the
  // log's lock) can deadlock the child, and under ASan it did (ctest timed
  // out). The child takes slot 1 and holds it until this side is done.
  int ready[2], done[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(done) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    ::close(done[1]);
    std::string e;
    auto a = Publisher::open(dir, "dispatcher", &e, 10000);
    const char ok = a && a->index() == 1 ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    char c;
    (void)!::read(done[0], &c, 1);  // EOF: the parent is done
    a.reset();                       // clean exit: last write
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(done[0]);
  char ok = 0;
  REQUIRE(::read(ready[0], &ok, 1) == 1);
  CHECK(ok == 'y');
  CHECK(slot_locked(dir / "dispatcher-1.lock") == 1);  // an OFD lock: any other open file sees it
  {
    // Slot 1 is held by a live process: this one takes slot 2.
    auto b = Publisher::open(dir, "dispatcher", &err, 10000);
    REQUIRE_MESSAGE(b, err);
    CHECK(b->index() == 2);
  }
  ::close(done[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(ready[0]);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK(slot_locked(dir / "dispatcher-2.lock") == 0);  // its holder is gone: the slot is free
  CHECK(slot_locked(dir / "dispatcher-1.lock") == 0);
  CHECK(slot_locked(dir / "nothing.lock") == -1);
  std::string text = slurp(dir / "dispatcher-1");
  CHECK(text.find("c relay_x_total 7\n") != std::string::npos);
  CHECK(text.find("c relay_process_starts_total{role=\"dispatcher\",index=\"1\"} 1\n") != std::string::npos);
  // A restarted process: fresh registry, same slot, counters continue.
  registry().clear();
  auto c = Publisher::open(dir, "dispatcher", &err, 10000);
  REQUIRE(c);
  CHECK(c->index() == 1);
  CHECK(registry().value("relay_x_total", {}) == 7);
  CHECK(registry().value("relay_process_starts_total", {{"role", "dispatcher"}, {"index", "1"}}) == 2);
  registry().add("relay_x_total", {}, 1);
  c.reset();
  CHECK(slurp(dir / "dispatcher-1").find("c relay_x_total 8\n") != std::string::npos);
  registry().clear();
}
