// Hostile config files (the operator's first input): what the file itself
// is (a FIFO, /dev/zero, a directory, a huge file) and what its bytes are
// (NUL, invalid UTF-8, a second YAML document, nesting past yaml-cpp's
// guard, merge keys, tabs). Each must be one clear "FILE:LINE: ..." error,
// without hanging or reading without bound.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "common/config.hpp"
#include "tests/common/config_test_support.hpp"

using namespace relay::config;
using namespace relay::config::test;
namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

std::string load_error(const fs::path& p) {
  try {
    load(p);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("load(): only a regular file of bounded size is read") {
  TempDir d;
  // A FIFO with no writer: open() alone would block forever.
  REQUIRE(::mkfifo((d.path / "fifo.yaml").c_str(), 0600) == 0);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(load_error(d.path / "fifo.yaml") == (d.path / "fifo.yaml").string() + ": not a regular file");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // A character device that never ends.
  CHECK(load_error("/dev/zero") == "/dev/zero: not a regular file");
  CHECK(load_error(d.path) == d.path.string() + ": is a directory, not a configuration file");
  // A sparse file far beyond any real config: refused before it is read.
  {
    std::ofstream(d.path / "huge.yaml").close();
    fs::resize_file(d.path / "huge.yaml", std::uintmax_t{1} << 30);
  }
  t0 = std::chrono::steady_clock::now();
  CHECK(load_error(d.path / "huge.yaml") ==
        (d.path / "huge.yaml").string() + ": is larger than 1 MB (is it the right file?)");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // Exactly at the bound it is read (and then judged as YAML).
  std::string at_limit = kBase + "# " + std::string(kMaxConfigFileSize - kBase.size() - 3, 'x') + "\n";
  REQUIRE(at_limit.size() == kMaxConfigFileSize);
  CHECK(load_error(d.write("limit.yaml", at_limit)) == "(no error)");
  CHECK(load_string(at_limit + "\n", "/t.yaml").providers.size() == 1);  // the bound is the file's, not YAML's
}

TEST_CASE("bytes that are not UTF-8 text name the line") {
  CHECK(error_of(kBase + "log: {level: \"in\0fo\"}\n"s) ==
        "/etc/relay/t.yaml:3: the file contains a NUL byte (column 17): not a text file?");
  CHECK(error_of(kBase + "receiver: {hostname: \"h\xff\xfe\"}\n") ==
        "/etc/relay/t.yaml:3: invalid UTF-8 (byte 0xff at column 24): write the file in UTF-8");
  CHECK(error_of("# caf\xe9\n" + kBase) == "/etc/relay/t.yaml:1: invalid UTF-8 (byte 0xe9 at column 6): write the file in UTF-8");
  // UTF-8 text and a byte order mark are fine.
  CHECK(error_of("\xef\xbb\xbf" + kBase + "receiver: {hostname: \"h\xc3\xa9.example\"}\n") == "(no error)");
}

TEST_CASE("a second YAML document is an error, not silently ignored") {
  CHECK(error_of(kBase + "---\nlog: {level: debug}\n") ==
        "/etc/relay/t.yaml:3: a second YAML document starts here: relay reads one document per file");
  CHECK(error_of("---\n" + kBase + "...\n") == "(no error)");  // explicit start and end markers of one document
}

TEST_CASE("a ',' at the top of a document is an error, not a hang (yaml-cpp never consumes it)") {
  // YAML::LoadAll looped forever on these, growing without bound (fuzzer).
  auto t0 = std::chrono::steady_clock::now();
  const std::string want = ": YAML syntax error: a ',' outside [ ] or { } (the parser cannot go past it)";
  CHECK(error_of(",/ll:/") == "/etc/relay/t.yaml:1" + want);
  CHECK(error_of(",") == "/etc/relay/t.yaml:1" + want);
  CHECK(error_of(kBase + "---\n  , x\n") == "/etc/relay/t.yaml:4" + want);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  // Many empty documents are still one document's worth of settings.
  std::string empties;
  for (int i = 0; i < 50; ++i) empties += "---\n";
  CHECK(error_of(kBase + empties) == "(no error)");
}

TEST_CASE("nesting beyond yaml-cpp's guard is named, not 'bad file'") {
  std::string e = error_of(kBase + "x: " + std::string(100000, '['));
  CHECK(e.rfind("/etc/relay/t.yaml:3: YAML nesting deeper than", 0) == 0);
  e = error_of("a: " + std::string(5000, '{'));
  CHECK(e.find("YAML nesting deeper than") != std::string::npos);
}

TEST_CASE("merge keys, tabs and duplicate providers get specific messages") {
  CHECK(error_of("providers:\n  a: &d {type: outbox, directory: out}\n  b:\n    <<: *d\n") ==
        "/etc/relay/t.yaml:4: providers.b.<<: YAML merge keys (<<) are not supported: write the keys out");
  CHECK(error_of("providers:\n\toutbox: {type: outbox, directory: out}\n").find(
            "/etc/relay/t.yaml:2: YAML syntax error: ") == 0);
  CHECK(error_of("providers:\n\toutbox: {type: outbox, directory: out}\n").find("tab") != std::string::npos);
  CHECK(error_of("providers:\n  o: {type: outbox, directory: a}\n  o: {type: outbox, directory: b}\n") ==
        "/etc/relay/t.yaml:3: providers.o: duplicate provider name (first at line 2)");
  CHECK(error_of("providers:\n  ? [a, b]\n  : {type: outbox, directory: out}\n") ==
        "/etc/relay/t.yaml:2: providers: expected a provider name (got a list)");
}

TEST_CASE("an alias bomb is refused, not expanded into memory") {
  // yaml-cpp shares aliased nodes, but the loader copies what it walks: N
  // users sharing one list of M senders would be N*M strings (here 10^10).
  std::string y = "senders:\n  allowed: &a [&s \"@a.example\"";
  for (int i = 0; i < 100000; ++i) y += ",*s";
  y += "]\nreceiver:\n  users: [&u {name: x, password_hash: \"$pbkdf2-sha256$i=50000$VYn8op935PeOVcYPGifv6A$"
       "5Isa26Uk8YEretsKVlqnisHzS7ZAiN6zYqlG1Dpd7H8\", allowed_senders: *a}";
  for (int i = 0; i < 100000; ++i) y += ",*u";
  y += "]\n" + kBase;
  REQUIRE(y.size() < kMaxConfigFileSize);
  auto t0 = std::chrono::steady_clock::now();
  std::string e = error_of(y);
  CHECK(e.rfind("/etc/relay/t.yaml:", 0) == 0);
  CHECK(e.find("more than " + std::to_string(kMaxConfigValues) + " keys and values") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("${file:} secrets: exactly one line end dropped; a world-readable one is warned about") {
  TempDir d;
  auto secret = [&](const std::string& name, const std::string& text, mode_t mode) {
    d.write(name, text);
    ::chmod((d.path / name).c_str(), mode);
  };
  secret("lf", "s3cret\n\n", 0600);
  secret("crlf", "s3cret\r\n", 0600);
  secret("cr", "s3cret\r", 0600);
  secret("empty", "", 0600);
  secret("world", "s3cret", 0644);
  secret("group", "s3cret", 0640);
  auto secret_of = [&](const std::string& file, std::vector<std::string>* warnings = nullptr) {
    Config c = load_string("database: {conninfo: \"${file:" + file + "}\"}\n" + kBase, d.path / "t.yaml");
    if (warnings) *warnings = c.warnings;
    return c.database.conninfo;
  };
  CHECK(secret_of("lf") == "s3cret\n");
  CHECK(secret_of("crlf") == "s3cret");
  CHECK(secret_of("cr") == "s3cret\r");  // a CR alone is not a line end
  CHECK(secret_of("empty").empty());
  std::vector<std::string> w;
  CHECK(secret_of("group", &w) == "s3cret");
  CHECK(w.empty());
  CHECK(secret_of("world", &w) == "s3cret");
  REQUIRE(w.size() == 1);
  CHECK(w[0] == (d.path / "t.yaml").string() + ":1: database.conninfo: ${file:world} is readable by every user "
                "(mode 0644): chmod o-r it");
  CHECK(error_of("database: {conninfo: \"${file:" + d.path.string() + "}\"}\n" + kBase)
            .find("cannot read ${file:" + d.path.string() + "}: is a directory") != std::string::npos);
}
