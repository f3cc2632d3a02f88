// relayctl for scripts and on-call (issue 13 item 3): strict UTF-8 in JSON
// and on the terminal, queue list --limit, which secrets each command
// resolves, wrong -c, send-test's password sources.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "admin-cli/command.hpp"
#include "tests/admin-cli/dispatch_capture.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/password_input.hpp"
#include "admin-cli/queue_format.hpp"
#include "admin-cli/safe_output.hpp"

using namespace relay::admin;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = "/tmp/relayctl-scripts-test.XXXXXX";
    REQUIRE(::mkdtemp(t.data()));
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};


test::Captured run(std::vector<std::string> argv, std::string cfg) { return test::run_captured(argv, std::move(cfg)); }

const Command& command(std::string_view name) {
  for (const Command& c : commands())
    if (c.name == name) return c;
  FAIL("no command " << name);
  return commands()[0];
}

}  // namespace

TEST_CASE("strict UTF-8: overlongs, surrogates and code points above U+10FFFF are not text") {
  CHECK(utf8_sequence_length("\xc3\xa9", 0) == 2);
  CHECK(utf8_sequence_length("\xe2\x82\xac", 0) == 3);
  CHECK(utf8_sequence_length("\xf0\x9f\x93\xa7", 0) == 4);
  CHECK(utf8_sequence_length("\xf4\x8f\xbf\xbf", 0) == 4);  // U+10FFFF
  CHECK(utf8_sequence_length("\xed\x9f\xbf", 0) == 3);      // U+D7FF
  CHECK(utf8_sequence_length("\xc0\xaf", 0) == 0);          // overlong '/'
  CHECK(utf8_sequence_length("\xe0\x80\xaf", 0) == 0);      // overlong
  CHECK(utf8_sequence_length("\xed\xa0\x80", 0) == 0);      // surrogate U+D800
  CHECK(utf8_sequence_length("\xf0\x80\x80\xaf", 0) == 0);  // overlong
  CHECK(utf8_sequence_length("\xf4\x90\x80\x80", 0) == 0);  // U+110000
  CHECK(utf8_sequence_length("\xe2\x82", 0) == 0);          // cut off
  CHECK(printable("\xed\xa0\x80z") == "\\xed\\xa0\\x80z");
  CHECK(printable("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");
}

TEST_CASE("json_string: only well-formed UTF-8 and no control character comes out") {
  std::string nasty("a\0b\x1b[31m\xed\xa0\x80\xc0\xaf\xff\xf4\x90\x80\x80\xc2\x9b\"\\\xe2\x82\xac", 25);
  std::string j = json_string(nasty);
  CHECK(j == "\"a\\u0000b\\u001b[31m\\u00ed\\u00a0\\u0080\\u00c0\\u00af\\u00ff\\u00f4\\u0090\\u0080\\u0080"
             "\\u009b\\\"\\\\\xe2\x82\xac\"");
  for (std::size_t i = 0; i < j.size();) {  // the output is well-formed UTF-8 without controls
    auto c = static_cast<unsigned char>(j[i]);
    if (c < 0x80) {
      CHECK(c >= 0x20);
      ++i;
      continue;
    }
    std::size_t n = utf8_sequence_length(j, i);
    REQUIRE(n > 0);
    i += n;
  }
  CHECK(printable(j) == j);  // and the escaping stream leaves JSON alone
}

TEST_CASE("queue list --limit: parse and the summary line") {
  CHECK(parse_limit(std::nullopt) == SIZE_MAX);
  CHECK(parse_limit(std::string("1")) == 1u);
  CHECK(parse_limit(std::string("250")) == 250u);
  for (const char* bad : {"", "0", "-1", "1x", "abc", "99999999999"}) CHECK_MESSAGE(!parse_limit(std::string(bad)), bad);
  CHECK(list_summary(3, 3, 1536) == "-- 1.5K in 3 entries.");
  CHECK(list_summary(1, 10, 100) == "-- 100 in 1 entry shown of 10 (--limit).");
}

TEST_CASE("secrets per command: spool tools read none, database tools only the conninfo") {
  for (auto n : {"queue list", "queue show", "queue hold", "queue release", "queue requeue", "queue delete",
                 "queue flush", "dispatch pause", "dispatch resume", "dispatch status", "hash-password", "help"})
    CHECK_MESSAGE(command(n).secrets == Secrets::None, n);
  for (auto n : {"log", "stats", "db migrate", "send-test", "secrets"})
    CHECK_MESSAGE(command(n).secrets == Secrets::Database, n);
  for (auto n : {"run", "config check", "provider test"}) CHECK_MESSAGE(command(n).secrets == Secrets::All, n);
}

TEST_CASE("queue list with unreadable provider secrets works; config check still names them") {
  TempDir d;
  fs::create_directories(d.path / "spool" / "new");
  fs::create_directories(d.path / "spool" / "data");
  std::ofstream(d.path / "relay.yaml") << "spool: {directory: " << (d.path / "spool").string() << "}\n"
                                       << "database: {conninfo: \"${env:RELAY_TEST_NO_SUCH_VAR_DB}\"}\n"
                                       << "providers:\n  m: {type: m365, tenant_id: t, client_id: c,"
                                       << " client_secret: \"${file:/nonexistent/relay-secret}\"}\n";
  const std::string cfg = (d.path / "relay.yaml").string();
  ::unsetenv("RELAY_TEST_NO_SUCH_VAR_DB");
  test::Captured r = run({"queue", "list"}, cfg);
  CHECK_MESSAGE(r.rc == 0, r.err);
  CHECK(r.out == "queue is empty\n");
  r = run({"dispatch", "status"}, cfg);
  CHECK_MESSAGE(r.rc == 0, r.err);
  CHECK(r.out.find("dispatch: running") != std::string::npos);
  r = run({"log"}, cfg);  // needs the database: resolves the conninfo only
  CHECK(r.rc == 1);
  CHECK(r.err.find("database.conninfo: environment variable RELAY_TEST_NO_SUCH_VAR_DB is not set") != std::string::npos);
  CHECK(r.err.find("relay-secret") == std::string::npos);
  r = run({"config", "check"}, cfg);
  CHECK(r.rc == 1);
  CHECK_MESSAGE(r.err.find("RELAY_TEST_NO_SUCH_VAR_DB") != std::string::npos, r.err);  // the first one it needs
}

TEST_CASE("a wrong -c and a missing spool are errors; nothing is created") {
  TempDir d;
  test::Captured r = run({"queue", "list"}, (d.path / "nope.yaml").string());
  CHECK(r.rc == 1);
  CHECK(r.err.find("nope.yaml: No such file or directory") != std::string::npos);
  r = run({"queue", "list"}, d.path.string());  // a directory
  CHECK(r.rc == 1);
  CHECK(r.err.find("is a directory") != std::string::npos);
  CHECK(r.out.find("queue is empty") == std::string::npos);
  std::ofstream(d.path / "relay.yaml") << "spool: {directory: " << (d.path / "spool").string() << "}\n"
                                       << "providers: {o: {type: outbox, directory: /tmp}}\n";
  for (std::vector<std::string> cmd : {std::vector<std::string>{"queue", "list"}, {"queue", "hold", "ALL"},
                                       {"queue", "flush"}, {"dispatch", "pause"}}) {
    r = run(cmd, (d.path / "relay.yaml").string());
    CHECK(r.rc == 1);
    CHECK_MESSAGE(r.err.find("spool " + (d.path / "spool").string() + " does not exist") != std::string::npos, r.err);
  }
  CHECK_FALSE(fs::exists(d.path / "spool"));
  fs::create_directories(d.path / "spool");  // exists but is no spool (a wrong spool.directory)
  r = run({"queue", "list"}, (d.path / "relay.yaml").string());
  CHECK(r.rc == 1);
  CHECK(r.err.find("is not a relay spool") != std::string::npos);
  CHECK(fs::is_empty(d.path / "spool"));
}

TEST_CASE("send-test refuses --password on argv and reads a password file") {
  TempDir d;
  std::ofstream(d.path / "relay.yaml") << "spool: {directory: /nonexistent}\n"
                                       << "providers: {o: {type: outbox, directory: /tmp}}\n";
  test::Captured r = run({"send-test", "--to", "a@example.org", "--user", "u", "--password", "hunter2"},
              (d.path / "relay.yaml").string());
  CHECK(r.rc == 2);
  CHECK(r.err.find("--password-file") != std::string::npos);
  CHECK(r.err.find("hunter2") == std::string::npos);
  std::ofstream(d.path / "pw") << "correct horse\r\nsecond line\n";
  std::string error;
  CHECK(read_password_file(d.path / "pw", &error) == "correct horse");
  std::ofstream(d.path / "empty") << "\n";
  CHECK_FALSE(read_password_file(d.path / "empty", &error));
  CHECK(error.find("empty") != std::string::npos);
  CHECK_FALSE(read_password_file(d.path, &error));  // a directory
  CHECK_FALSE(read_password_file(d.path / "missing", &error));
  CHECK(error.find("missing") != std::string::npos);
}
