// GMime inspection of spooled messages.
#include <doctest/doctest.h>

#include <unistd.h>

#include <fstream>

#include "dispatcher/message_info.hpp"

using namespace relay::dispatch;

namespace {
std::filesystem::path write_tmp(const std::string& name, const std::string& body) {
  auto p = std::filesystem::temp_directory_path() / ("relay-mi-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p, std::ios::binary) << body;
  return p;
}
}  // namespace

TEST_CASE("headers decoded, attachments counted") {
  gmime_init_once();
  std::string msg =
      "From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.com>\r\n"
      "To: a@dest.test\r\n"
      "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"
      "Message-ID: <abc@example.com>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
      "--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
      "--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
      "--XX\r\nContent-Type: image/png; name=b.png\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
      "--XX--\r\n";
  auto p = write_tmp("multi.eml", msg);
  MessageInfo i = inspect_message(p);
  std::filesystem::remove(p);
  REQUIRE(i.parsed);
  CHECK(i.from_address == "juergen@example.com");
  CHECK(i.from.find("Jürgen") != std::string::npos);
  CHECK(i.subject == "Grüße");
  CHECK(i.message_id == "abc@example.com");
  CHECK(i.attachments == 2);
  CHECK(i.parts == 3);
}

TEST_CASE("plain message without From") {
  gmime_init_once();
  auto p = write_tmp("plain.eml", "Subject: hi\r\n\r\nbody\r\n");
  MessageInfo i = inspect_message(p);
  std::filesystem::remove(p);
  REQUIRE(i.parsed);
  CHECK(i.from_address.empty());
  CHECK(i.subject == "hi");
  CHECK(i.attachments == 0);
}

TEST_CASE("empty or missing file is refused") {
  gmime_init_once();
  auto p = write_tmp("empty.eml", "");
  MessageInfo i = inspect_message(p);
  std::filesystem::remove(p);
  CHECK_FALSE(i.parsed);
  CHECK_FALSE(i.error.empty());
  CHECK_FALSE(inspect_message("/nonexistent/x.eml").parsed);
}
