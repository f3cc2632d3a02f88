// Tests for the config rules that keep an operator from exposing relay by
// mistake (issue 9): open relay by configuration, secret files without a
// size bound, secrets echoed in errors, orphan_grace vs data_timeout, the
// receiver not reading provider credentials, the `user` key.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/config.hpp"
#include "common/password.hpp"
#include "tests/common/config_test_support.hpp"

using namespace relay::config;
using namespace relay::config::test;
namespace fs = std::filesystem;

namespace {

std::string receiver(const std::string& auth, const std::string& address, const std::string& nets,
                     const std::string& extra = "") {
  return "receiver:\n"
         "  listeners: [{address: \"" + address + "\"}]\n"
         "  auth: " + auth + "\n"
         "  client_networks: " + nets + "\n" + extra + kBase;
}

}  // namespace

TEST_CASE("open relay: an empty client_networks is an error, not 'any client'") {
  CHECK(error_of(receiver("off", "127.0.0.1:2525", "[]")) ==
        "/etc/relay/t.yaml:4: receiver.client_networks: expected at least one network (an empty list admits nobody; "
        "write [0.0.0.0/0, \"::/0\"] for any client)");
}

TEST_CASE("open relay: unauthenticated public listener open to the Internet is refused, naming file:line:key") {
  for (const char* auth : {"off", "optional"}) {
    std::string e = error_of(receiver(auth, "0.0.0.0:25", "[0.0.0.0/0, \"::/0\"]"));
    CHECK(e.find("/etc/relay/t.yaml:2: receiver.listeners[0].address: listener 0.0.0.0:25 with auth ") == 0);
    CHECK(e.find("(0.0.0.0/0, ::/0)") != std::string::npos);
    CHECK(e.find("receiver.allow_open_relay: true") != std::string::npos);
  }
  // A public network narrower than "any" is still public.
  CHECK(error_of(receiver("off", "[::]:25", "[127.0.0.0/8, 8.8.8.0/24]")).find("open relay") != std::string::npos);
  CHECK(error_of(receiver("off", "192.0.2.10:25", "[\"2a00:1450::/32\"]")).find("open relay") != std::string::npos);
  CHECK(error_of(receiver("off", "192.0.2.10:25", "[10.0.0.0/7]")).find("open relay") != std::string::npos);
}

TEST_CASE("open relay: what stays allowed without acknowledgement") {
  // Loopback listener, whatever the networks.
  CHECK(error_of(receiver("off", "127.0.0.1:2525", "[0.0.0.0/0]")) == "(no error)");
  CHECK(error_of(receiver("off", "[::1]:2525", "[\"::/0\"]")) == "(no error)");
  // Public listener, private networks only.
  CHECK(error_of(receiver("off", "0.0.0.0:25", "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, \"fd00::/8\", 127.0.0.0/8, \"::1/128\"]")) ==
        "(no error)");
  // Documentation space (never routed), as the netns test uses.
  CHECK(error_of(receiver("optional", "192.0.2.10:2525", "[192.0.2.0/24, 127.0.0.0/8, \"2001:db8::/32\"]")) ==
        "(no error)");
  // Public listener, public networks, but every client must authenticate.
  std::string hash = relay::auth::hash_password("pw", relay::auth::kMinIterations);
  CHECK(error_of(receiver("required", "0.0.0.0:587", "[0.0.0.0/0]",
                          "  users: [{name: u, password_hash: \"" + hash + "\"}]\n")) == "(no error)");
}

TEST_CASE("open relay: receiver.allow_open_relay acknowledges it, and load() reports a warning") {
  Config c = load_string(receiver("off", "0.0.0.0:25", "[0.0.0.0/0]", "  allow_open_relay: true\n"), "/etc/relay/t.yaml");
  CHECK(c.receiver.allow_open_relay);
  REQUIRE(c.warnings.size() == 1);
  CHECK(c.warnings[0].find("/etc/relay/t.yaml:5: receiver.allow_open_relay: listener 0.0.0.0:25") == 0);
  CHECK(c.warnings[0].find("(acknowledged)") != std::string::npos);
  Config safe = load_string(receiver("off", "127.0.0.1:25", "[127.0.0.0/8]"), "/etc/relay/t.yaml");
  CHECK(safe.warnings.empty());
}

TEST_CASE("${file:} secrets: bounded to 64 KB, regular files only") {
  TempDir d;
  std::ofstream(d.path / "big") << std::string(64 * 1024 + 1, 'x');
  std::ofstream(d.path / "ok") << std::string(64 * 1024, 'y') << "\n";
  REQUIRE(::mkfifo((d.path / "fifo").c_str(), 0600) == 0);
  auto m365 = [](const std::string& ref) {
    return "providers:\n  m: {type: m365, tenant_id: t, client_id: c, client_secret: \"" + ref + "\"}\n";
  };
  std::string e = error_of(m365("${file:big}"), (d.path / "t.yaml").string());
  CHECK(e.find("providers.m.client_secret: ${file:" + (d.path / "big").string() + "} is larger than 64 KB") !=
        std::string::npos);
  CHECK(e.find("xxxx") == std::string::npos);
  e = error_of(m365("${file:fifo}"), (d.path / "t.yaml").string());  // must not block
  CHECK(e.find("not a regular file") != std::string::npos);
  Config c = load_string(m365("${file:ok}"), d.path / "t.yaml");
  CHECK(c.provider("m")->m365.client_secret.size() == 64 * 1024);
}

TEST_CASE("an expanded secret is never echoed in a config error") {
  TempDir d;
  std::ofstream(d.path / "s") << "hunter2-very-secret\n";
  setenv("RELAY_TEST_SECRET_PORT", "topsecret42", 1);
  // A secret file put where a number is expected.
  std::string e = error_of("receiver: {limits: {max_recipients: \"${file:s}\"}}\n" + kBase,
                           (d.path / "t.yaml").string());
  CHECK(e.find("receiver.limits.max_recipients: expected") != std::string::npos);
  CHECK(e.find("hunter2") == std::string::npos);
  CHECK(e.find("${file:s}") != std::string::npos);  // the reference as written is shown instead
  // Embedded in a longer value, through the CIDR parser's own message.
  e = error_of("receiver: {client_networks: [\"${env:RELAY_TEST_SECRET_PORT}/8\"]}\n" + kBase);
  CHECK(e.find("client_networks[0]") != std::string::npos);
  CHECK(e.find("topsecret42") == std::string::npos);
  // In a cross-key check (route naming an unknown provider).
  e = error_of(kBase + "routes: [{sender: \"@example.com\", provider: \"${env:RELAY_TEST_SECRET_PORT}\"}]\n");
  CHECK(e.find("routes[0].provider") != std::string::npos);
  CHECK(e.find("topsecret42") == std::string::npos);
}

TEST_CASE("spool.orphan_grace must be longer than receiver.limits.data_timeout") {
  CHECK(error_of(kBase + "receiver: {limits: {data_timeout: 2h}}\nspool: {orphan_grace: 1h}\n") ==
        "/etc/relay/t.yaml:4: spool.orphan_grace: expected a duration longer than receiver.limits.data_timeout "
        "(7200s; got 3600s)");
  CHECK(error_of(kBase + "receiver: {limits: {data_timeout: 10m}}\nspool: {orphan_grace: 10m}\n")
            .find("spool.orphan_grace") != std::string::npos);
  CHECK(error_of(kBase + "receiver: {limits: {data_timeout: 10m}}\nspool: {orphan_grace: 11m}\n") == "(no error)");
}

TEST_CASE("the receiver's load does not open provider credentials") {
  TempDir d;
  const std::string y = kBase +
                        "  m: {type: m365, tenant_id: t, client_id: c, client_secret: \"${file:/nonexistent/secret}\"}\n"
                        "default_provider: outbox\n"
                        "database: {conninfo: \"${file:/nonexistent/db}\"}\n";
  CHECK(error_of(y).find("cannot read ${file:/nonexistent/secret}") != std::string::npos);
  Config c = load_string(y, d.path / "t.yaml", LoadOptions{.expand_secrets = false});
  CHECK_FALSE(c.secrets_expanded);
  CHECK(c.provider("m")->m365.client_secret == "${file:/nonexistent/secret}");
  CHECK(c.database.conninfo == "${file:/nonexistent/db}");
}

TEST_CASE("user: the account to run as") {
  CHECK(load_string(kBase, "/t.yaml").user.empty());
  CHECK(load_string(kBase + "user: relay\n", "/t.yaml").user == "relay");
}
