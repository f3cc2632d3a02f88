// OutboxProvider on a real directory and the uv threadpool: byte-identical
// .eml, envelope .json beside it, no temp files left, Done exactly once and
// never inside send(), failures classified.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "dispatcher/providers/outbox_provider.hpp"
#include "dispatcher/providers/provider.hpp"
#include "spool/queue_id.hpp"
#include "test_support.hpp"

using namespace relay;
using relay::test::Loop;
using relay::test::TempDir;

namespace {

std::string awkward_bytes() {
  std::string s = "From: a@example.com\r\nSubject: bytes\r\n\r\n";
  for (int i = 0; i < 200000; ++i) s += static_cast<char>(i % 256);  // NUL, bare LF/CR, 8-bit
  s += "\n.\n..\r\n.\r\nend";  // no final CRLF on purpose
  return s;
}

provider::Message message(const std::filesystem::path& data, std::vector<std::string> rcpts) {
  provider::Message m{spool::QueueId::generate(), "sender@example.com", std::move(rcpts), data, 0, "", ""};
  m.size = std::filesystem::file_size(data);
  return m;
}

}  // namespace

TEST_CASE("outbox: writes byte-identical .eml and the envelope beside it") {
  TempDir tmp;
  auto out = tmp.path() / "outbox";
  std::filesystem::create_directory(out);
  std::string bytes = awkward_bytes();
  relay::test::write_file(tmp.path() / "data.eml", bytes);
  Loop loop;
  {
    config::OutboxProvider cfg{out};
    provider::Context ctx{loop.get(), nullptr, nullptr};
    auto p = provider::make(config::ProviderConfig{"box", config::ProviderType::Outbox, cfg, {}, {}, {}}, ctx);
    CHECK(p->type() == "outbox");
    CHECK(p->name() == "box");
    std::vector<provider::Message> msgs;
    std::vector<provider::Result> results;
    int calls = 0;
    for (int i = 0; i < 20; ++i) {
      msgs.push_back(message(tmp.path() / "data.eml", {"a@example.com", "b@example.org"}));
    }
    for (auto& m : msgs) {
      p->send(m, [&](provider::Result r) { ++calls; results.push_back(std::move(r)); });
    }
    CHECK(calls == 0);  // never inside send()
    REQUIRE(loop.run_until([&] { return calls == 20; }, 20));
    for (std::size_t i = 0; i < msgs.size(); ++i) {
      std::string id = msgs[i].id.str();
      CHECK(relay::test::read_file(out / (id + ".eml")) == bytes);
      auto env = nlohmann::json::parse(relay::test::read_file(out / (id + ".json")));
      CHECK(env["queue_id"] == id);
      CHECK(env["mail_from"] == "sender@example.com");
      CHECK(env["rcpts"] == nlohmann::json::array({"a@example.com", "b@example.org"}));
    }
    for (auto& r : results) {
      CHECK(r.outcome == provider::Outcome::Sent);
      CHECK(r.provider_id.size() == spool::QueueId::kLength + 4);
    }
    int files = 0;
    for (auto& e : std::filesystem::directory_iterator(out)) {
      CHECK(e.path().filename().string()[0] != '.');  // no temp files left
      ++files;
    }
    CHECK(files == 40);
    bool tested = false;
    p->test([&](provider::Result r) {
      tested = true;
      CHECK(r.outcome == provider::Outcome::Sent);
    });
    REQUIRE(loop.run_until([&] { return tested; }));
  }
  loop.close();
}

TEST_CASE("outbox: creates a missing directory") {
  TempDir tmp;
  Loop loop;
  provider::Context ctx{loop.get(), nullptr, nullptr};
  provider::OutboxProvider box("box", config::OutboxProvider{tmp.path() / "a" / "b"}, ctx);
  CHECK(std::filesystem::is_directory(tmp.path() / "a" / "b"));
}

TEST_CASE("outbox: uncreatable directory and unreadable data are transient") {
  TempDir tmp;
  relay::test::write_file(tmp.path() / "data.eml", "Subject: x\r\n\r\nbody\r\n");
  relay::test::write_file(tmp.path() / "plainfile", "x");
  Loop loop;
  {
    provider::Context ctx{loop.get(), nullptr, nullptr};
    provider::OutboxProvider missing("box", config::OutboxProvider{tmp.path() / "plainfile" / "nope"}, ctx);
    std::vector<provider::Result> rs;
    missing.send(message(tmp.path() / "data.eml", {"a@x"}), [&](provider::Result r) { rs.push_back(r); });
    missing.test([&](provider::Result r) { rs.push_back(r); });
    provider::OutboxProvider ok("box", config::OutboxProvider{tmp.path()}, ctx);
    auto gone = message(tmp.path() / "data.eml", {"a@x"});
    gone.data_path = tmp.path() / "vanished.eml";
    ok.send(gone, [&](provider::Result r) { rs.push_back(r); });
    auto short_data = message(tmp.path() / "data.eml", {"a@x"});
    short_data.size += 10;  // envelope says more bytes than the file has
    ok.send(short_data, [&](provider::Result r) { rs.push_back(r); });
    REQUIRE(loop.run_until([&] { return rs.size() == 4; }));
    for (auto& r : rs) CHECK(r.outcome == provider::Outcome::Transient);
    // Order of completion is not fixed; find each by text.
    int config_errors = 0, spool_errors = 0;
    for (auto& r : rs) {
      config_errors += r.config_error;
      spool_errors += r.text.find("spooled message unreadable") == 0;
    }
    CHECK(config_errors == 2);
    CHECK(spool_errors == 2);
    CHECK(!std::filesystem::exists(tmp.path() / (short_data.id.str() + ".eml")));
    CHECK_THROWS_AS(provider::OutboxProvider("x", config::OutboxProvider{}, ctx), config::ConfigError);
  }
  loop.close();
}

TEST_CASE("outbox: temporary files never follow a planted symlink") {
  // The temporary names are predictable (.<id>.<pid>.eml.tmp): someone who
  // can write to the outbox directory plants symlinks there, pointing at
  // files the dispatcher's user may write. They must stay untouched.
  TempDir tmp;
  auto out = tmp.path() / "outbox";
  std::filesystem::create_directory(out);
  relay::test::write_file(tmp.path() / "data.eml", "Subject: x\r\n\r\nbody\r\n");
  relay::test::write_file(tmp.path() / "victim-eml", "precious eml");
  relay::test::write_file(tmp.path() / "victim-json", "precious json");
  relay::test::write_file(tmp.path() / "victim-test", "precious test");
  Loop loop;
  {
    provider::Context ctx{loop.get(), nullptr, nullptr};
    provider::OutboxProvider box("box", config::OutboxProvider{out}, ctx);
    auto m = message(tmp.path() / "data.eml", {"a@x"});
    const std::string stem = "." + m.id.str() + "." + std::to_string(::getpid());
    std::filesystem::create_symlink(tmp.path() / "victim-eml", out / (stem + ".eml.tmp"));
    std::filesystem::create_symlink(tmp.path() / "victim-json", out / (stem + ".json.tmp"));
    std::filesystem::create_symlink(tmp.path() / "victim-test",
                                    out / (".relay-test." + std::to_string(::getpid()) + ".tmp"));
    std::vector<provider::Result> rs;
    box.send(m, [&](provider::Result r) { rs.push_back(std::move(r)); });
    box.test([&](provider::Result r) { rs.push_back(std::move(r)); });
    REQUIRE(loop.run_until([&] { return rs.size() == 2; }, 20));
    CHECK(relay::test::read_file(tmp.path() / "victim-eml") == "precious eml");
    CHECK(relay::test::read_file(tmp.path() / "victim-json") == "precious json");
    CHECK(relay::test::read_file(tmp.path() / "victim-test") == "precious test");
    // The stale names were ours to replace: the delivery itself succeeds.
    CHECK(relay::test::read_file(out / (m.id.str() + ".eml")) == "Subject: x\r\n\r\nbody\r\n");
  }
  loop.close();
}
