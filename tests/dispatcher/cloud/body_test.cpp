// cloud::Body / BodyReader: the streamed request bodies (docs/memory.md)
// give exactly the bytes a std::string would have held, in any read size.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "dispatcher/providers/cloud/body.hpp"
#include "dispatcher/providers/cloud/codec.hpp"

using namespace relay::provider::cloud;

namespace {

std::string drain(const Body& b, std::size_t step) {
  BodyReader r(b);
  std::string out, buf(step, '\0');
  for (;;) {
    long n = r.read(buf.data(), step);
    if (n < 0) FAIL("read error: " << r.error());
    if (n == 0) return out;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
}

std::filesystem::path temp_file(const std::string& bytes) {
  auto p = std::filesystem::temp_directory_path() / ("relay-body-test-" + std::to_string(::getpid()) + ".eml");
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 977) & 0xff);
  return s;
}

}  // namespace

TEST_CASE("a head string then a file range reads as head + file[offset..]") {
  const std::string file = pattern(200000);
  const auto path = temp_file(file);
  auto head = std::make_shared<const std::string>("Bcc: a@x.org\r\n");
  Body b;
  b.add(head).add_file(path, 17, file.size() - 17);
  const std::string want = *head + file.substr(17);
  CHECK(b.size() == want.size());
  for (std::size_t step : {1u, 7u, 4096u, 65536u, 300000u}) CHECK(drain(b, step) == want);
  CHECK(drain(b.slice(5), 5000) == want.substr(5));
  CHECK(drain(b.slice(head->size() + 1000), 65536) == want.substr(head->size() + 1000));
  CHECK(drain(b.slice(100, 70000), 999) == want.substr(100, 70000));
  CHECK(b.plain());  // curl may seek it (a rewind after a dead reused connection)
  CHECK_FALSE(b.base64().plain());
  CHECK(drain(b.base64(), 1000) == base64(want));
  CHECK(b.base64().size() == base64(want).size());
  std::filesystem::remove(path);
  BodyReader gone(b);  // the spool file vanished: an error, not a crash or a short body
  char buf[64];
  long n = 0;
  while ((n = gone.read(buf, sizeof buf)) > 0) {
  }
  CHECK(n == -1);
  CHECK(gone.error().find("cannot open") != std::string::npos);
}

TEST_CASE("a piece base64-encoded on its own sits between plain pieces (JSON contentBytes)") {
  for (std::size_t len : {0u, 1u, 2u, 3u, 49151u, 49152u, 49153u, 150001u}) {
    auto bytes = std::make_shared<const std::string>(pattern(len));
    Body b;
    b.add(std::make_shared<const std::string>("{\"contentBytes\":\"")).add_base64(bytes, 0, len)
        .add(std::make_shared<const std::string>("\"}"));
    const std::string want = "{\"contentBytes\":\"" + base64(*bytes) + "\"}";
    CHECK(b.size() == want.size());
    CHECK(drain(b, 1000) == want);
    CHECK(drain(b, 3) == want);
  }
}
