// Tests for relay::config: good configs, the shipped etc/ files, and one
// failing case per kind of mistake (each checks FILE:LINE: key in the message).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/config.hpp"
#include "common/password.hpp"
#include "tests/common/config_test_support.hpp"

using namespace relay::config;
using namespace relay::config::test;
namespace fs = std::filesystem;

TEST_CASE("minimal config gets the documented defaults") {
  Config c = load_string(kBase, "/etc/relay/relay.yaml");
  CHECK(c.receiver.listeners.size() == 1);
  CHECK(c.receiver.listeners[0].host == "127.0.0.1");
  CHECK(c.receiver.listeners[0].port == 2525);
  CHECK(c.receiver.limits.max_message_size == 35ull << 20);
  CHECK(c.default_provider == "outbox");
  REQUIRE(c.providers.size() == 1);
  CHECK(c.providers[0].outbox.directory == fs::path("/etc/relay/out"));
  CHECK(c.dispatcher.journal == fs::path("/var/spool/relay/journal"));
  CHECK(c.provider("outbox") == &c.providers[0]);
  CHECK(c.provider("nope") == nullptr);
}

TEST_CASE("full config from the team's shape") {
  setenv("RELAY_TEST_SMTP_PW", "s3cret", 1);
  TempDir d;
  d.write("m365.secret", "graph-secret\n");
  std::string hash = relay::auth::hash_password("pw", relay::auth::kMinIterations);
  std::string y =
      "receiver:\n"
      "  hostname: relay.example.com\n"
      "  listeners: [ {address: \"127.0.0.1:2525\", tls: none}, {address: \"[::1]:2465\", tls: implicit} ]\n"
      "  tls: {cert_file: certs/c.pem, key_file: /k.pem, min_version: TLSv1.3, ciphers: \"\"}\n"
      "  auth: required\n"
      "  users: [ {name: scanner1, password_hash: \"" + hash + "\", allowed_senders: [\"scan@example.com\"]} ]\n"
      "  client_networks: [127.0.0.0/8, \"::1/128\", 10.0.0.0/8]\n"
      "  limits: {max_message_size: 10MB, max_recipients: 50, idle_timeout: 2m, shutdown_grace: 0}\n"
      "senders: {allowed: [\"@example.com\", \"*.example.org\"], default_sender: relay@example.com, policy: rewrite}\n"
      "spool: {directory: /srv/spool, orphan_grace: 2h, failed_keep: 7d}\n"
      "dispatcher: {processes: 3, retry: {min_backoff: 30s, max_backoff: 2h, jitter: 0.5}, journal: j}\n"
      "database: {conninfo: \"host=/tmp/x dbname=relay\", connect_timeout: 10}\n"
      "providers:\n"
      "  outbox: {type: outbox, directory: /var/lib/relay/outbox}\n"
      "  upstream: {type: smtp, host: smtp.example.com, port: 465, tls: implicit, username: u,\n"
      "             password: \"${env:RELAY_TEST_SMTP_PW}\", timeout: 1m}\n"
      "  m365: {type: m365, tenant_id: t, client_id: c, client_secret: \"${file:m365.secret}\",\n"
      "         client_secret_expires: \"2027-06-30\", expiry_warn_days: [10, 1], graph_url: \"http://127.0.0.1:9/\"}\n"
      "  gmail: {type: gmail, service_account_file: sa.json}\n"
      "routes: [ {sender: \"@example.com\", provider: m365}, {auth_user: scanner1, provider: upstream} ]\n"
      "default_provider: outbox\n"
      "fallback_provider: upstream\n"
      "log: {level: debug}\n";
  Config c = load_string(y, d.path / "relay.yaml");
  REQUIRE(c.receiver.listeners.size() == 2);
  CHECK(c.receiver.listeners[1].host == "::1");
  CHECK(c.receiver.listeners[1].port == 2465);
  CHECK(c.receiver.listeners[1].tls == TlsMode::Implicit);
  CHECK(c.receiver.tls.cert_file == d.path / "certs/c.pem");
  CHECK(c.receiver.tls.key_file == fs::path("/k.pem"));
  CHECK(c.receiver.auth == AuthMode::Required);
  CHECK(c.receiver.users.at(0).allowed_senders.at(0) == "scan@example.com");
  CHECK(c.receiver.limits.max_message_size == 10ull << 20);
  CHECK(c.receiver.limits.idle_timeout == 120);
  CHECK(c.receiver.limits.shutdown_grace == 0);
  CHECK(c.senders.policy == SenderPolicy::Rewrite);
  CHECK(c.spool.orphan_grace == 7200);
  CHECK(c.dispatcher.retry.jitter == doctest::Approx(0.5));
  CHECK(c.dispatcher.journal == d.path / "j");
  CHECK(c.database.connect_timeout == 10);
  const auto* up = c.provider("upstream");
  REQUIRE(up);
  CHECK(up->type == ProviderType::Smtp);
  CHECK(up->smtp.password == "s3cret");
  CHECK(up->smtp.tls == TlsMode::Implicit);
  CHECK(up->smtp.timeout == 60);
  const auto* m = c.provider("m365");
  REQUIRE(m);
  CHECK(m->m365.client_secret == "graph-secret");
  CHECK(m->m365.expiry_warn_days == std::vector<int>{10, 1});
  CHECK(m->m365.graph_url == "http://127.0.0.1:9");
  CHECK(m->m365.login_url == "https://login.microsoftonline.com");
  CHECK(c.provider("gmail")->gmail.service_account_file == d.path / "sa.json");
  CHECK(c.routes.size() == 2);
  CHECK(c.fallback_provider == "upstream");
  CHECK(c.log.level == "debug");
}

TEST_CASE("JSON (what the integration harness writes) loads") {
  Config c = load_string(
      R"({"receiver": {"listeners": [{"address": "127.0.0.1:40001"}]}, "dispatcher": {"processes": 1},
          "providers": {"outbox": {"type": "outbox", "directory": "/tmp/o"}}, "default_provider": "outbox",
          "database": {"conninfo": ""}, "log": {"level": "debug"}})",
      "/tmp/x/relay.yaml");
  CHECK(c.receiver.listeners.at(0).port == 40001);
  CHECK(c.receiver.listeners.at(0).tls == TlsMode::None);
}

TEST_CASE("the shipped etc/ configs load") {
  fs::path src = RELAY_SOURCE_DIR;
  Config q = load(src / "etc/relay.yaml");
  CHECK(q.spool.directory == src / "var/spool");
  CHECK(q.provider("outbox")->outbox.directory == src / "var/outbox");
  CHECK(q.receiver.listeners.at(0).port == 2525);
  CHECK(q.dispatcher.processes == 2);
  CHECK(q.database.conninfo == "host=/tmp/relay-quickstart dbname=relay user=postgres");
  CHECK(q.log.level == "info");
  Config ex = load(src / "etc/relay.example.yaml");
  CHECK(!ex.providers.empty());
}

TEST_CASE("load() of a missing file names it") {
  CHECK_THROWS_WITH_AS(load("/nonexistent/relay.yaml"), doctest::Contains("/nonexistent/relay.yaml: cannot open"),
                       ConfigError);
}

// ---- one failing test per kind of mistake --------------------------------

TEST_CASE("yaml syntax error names file and line") {
  std::string e = error_of(kBase + "receiver:\n  hostname: [unclosed\n", "t.yaml");
  CHECK(e.rfind("t.yaml:", 0) == 0);
  CHECK(e.find("YAML syntax error") != std::string::npos);
}

TEST_CASE("wrong type") {
  CHECK(error_of(kBase + "dispatcher:\n  processes: many\n") ==
        "/etc/relay/t.yaml:4: dispatcher.processes: expected an integer between 1 and 64 (got 'many')");
  CHECK(error_of(kBase + "receiver:\n  limits: 5\n") ==
        "/etc/relay/t.yaml:4: receiver.limits: expected a mapping (got '5')");
  CHECK(error_of(kBase + "senders: {allowed: \"@x.com\"}\n").find("senders.allowed: expected") != std::string::npos);
  CHECK(error_of(kBase + "dispatcher: {processes: 0}\n").find("between 1 and 64 (got '0')") != std::string::npos);
}

TEST_CASE("unknown key names file:line:key and suggests") {
  CHECK(error_of(kBase + "receiver:\n  limits:\n    max_mesage_size: 10MB\n") ==
        "/etc/relay/t.yaml:5: receiver.limits.max_mesage_size: unknown key (did you mean 'max_message_size'?)");
  CHECK(error_of(kBase + "bogus: 1\n") == "/etc/relay/t.yaml:3: bogus: unknown key");
  std::string e = error_of("providers:\n  o: {type: outbox, directory: x, host: h}\n");
  CHECK(e == "/etc/relay/t.yaml:2: providers.o.host: unknown key for a outbox provider");
}

TEST_CASE("duplicate key") {
  CHECK(error_of(kBase + "log: {level: info}\nlog: {level: debug}\n").find("t.yaml:4: log: duplicate key") !=
        std::string::npos);
}

TEST_CASE("bad duration") {
  CHECK(error_of(kBase + "receiver:\n  limits:\n    idle_timeout: 5 minutes\n") ==
        "/etc/relay/t.yaml:5: receiver.limits.idle_timeout: expected a duration between 1s and 1d (got '5 minutes')");
  CHECK(error_of(kBase + "spool: {orphan_grace: -1h}\n").find("spool.orphan_grace: expected a duration") !=
        std::string::npos);
}

TEST_CASE("bad size") {
  CHECK(error_of(kBase + "receiver: {limits: {max_message_size: 35 parsecs}}\n") ==
        "/etc/relay/t.yaml:3: receiver.limits.max_message_size: expected a size between 1KB and 1TB (got '35 parsecs')");
  CHECK(error_of(kBase + "receiver: {limits: {max_message_size: 2TB}}\n").find("(got '2TB')") != std::string::npos);
}

TEST_CASE("missing required key") {
  CHECK(error_of("providers:\n  up: {type: smtp, port: 25}\n") ==
        "/etc/relay/t.yaml:2: providers.up.host: required key is missing for a smtp provider");
  CHECK(error_of("providers:\n  up: {host: x}\n") ==
        "/etc/relay/t.yaml:2: providers.up.type: required key is missing (one of outbox, smtp, m365 or gmail)");
  CHECK(error_of("providers:\n  m: {type: m365, tenant_id: t, client_id: c}\n") ==
        "/etc/relay/t.yaml:2: providers.m.client_secret: expected client_secret or certificate_file + "
        "private_key_file (got neither)");
  CHECK(error_of("providers:\n  m: {type: m365, client_id: c, client_secret: s}\n").find("providers.m.tenant_id") !=
        std::string::npos);
  CHECK(error_of("receiver:\n  listeners: [{tls: none}]\n" + kBase) ==
        "/etc/relay/t.yaml:2: receiver.listeners[0].address: required key is missing for a listener");
  CHECK(error_of("log: {level: info}\n").find("providers: expected at least one provider") != std::string::npos);
}

TEST_CASE("unresolvable ${env:}") {
  unsetenv("RELAY_TEST_UNSET_VAR");
  CHECK(error_of("providers:\n  up: {type: smtp, host: h, username: u,\n        password: \"${env:RELAY_TEST_UNSET_VAR}\"}\n") ==
        "/etc/relay/t.yaml:3: providers.up.password: environment variable RELAY_TEST_UNSET_VAR is not set (in "
        "${env:RELAY_TEST_UNSET_VAR})");
}

TEST_CASE("missing ${file:}") {
  std::string e = error_of("providers:\n  m: {type: m365, tenant_id: t, client_id: c, client_secret: \"${file:nope.txt}\"}\n");
  CHECK(e == "/etc/relay/t.yaml:2: providers.m.client_secret: cannot read ${file:/etc/relay/nope.txt}: No such file or directory");
}

TEST_CASE("secret expansion: literal $${ and embedded references") {
  setenv("RELAY_TEST_USER", "bob", 1);
  Config c = load_string("database: {conninfo: \"user=${env:RELAY_TEST_USER} password=$${x}\"}\n" + kBase, "/t.yaml");
  CHECK(c.database.conninfo == "user=bob password=${x}");
  CHECK(error_of(kBase + "database: {conninfo: \"${vault:x}\"}\n").find("unknown reference") != std::string::npos);
}

TEST_CASE("bad enum value") {
  CHECK(error_of("receiver:\n  listeners: [{address: \"127.0.0.1:25\", tls: yes}]\n" + kBase) ==
        "/etc/relay/t.yaml:2: receiver.listeners[0].tls: expected one of none, starttls, starttls-required or "
        "implicit (got 'yes')");
  CHECK(error_of(kBase + "log: {level: verbose}\n") ==
        "/etc/relay/t.yaml:3: log.level: expected one of debug, info, warn or error (got 'verbose')");
  CHECK(error_of("providers: {x: {type: sendgrid}}\n").find("providers.x.type: expected one of outbox, smtp") !=
        std::string::npos);
}

TEST_CASE("bad CIDR") {
  CHECK(error_of(kBase + "receiver:\n  client_networks: [127.0.0.0/8, 10.0.0.0/33]\n") ==
        "/etc/relay/t.yaml:4: receiver.client_networks[1]: expected a network like 10.0.0.0/8 or fd00::/8: expected "
        "a prefix length 0-32 (got '10.0.0.0/33')");
  CHECK(error_of(kBase + "receiver: {client_networks: [example.com]}\n").find("client_networks[0]") != std::string::npos);
}

TEST_CASE("unknown provider in route, default and fallback") {
  CHECK(error_of(kBase + "routes:\n  - {sender: \"@example.com\", provider: m365}\n") ==
        "/etc/relay/t.yaml:4: routes[0].provider: expected the name of a configured provider (got 'm365')");
  CHECK(error_of(kBase + "default_provider: nope\n") ==
        "/etc/relay/t.yaml:3: default_provider: expected the name of a configured provider (got 'nope')");
  CHECK(error_of(kBase + "fallback_provider: nope\n").find("t.yaml:3: fallback_provider") != std::string::npos);
  CHECK(error_of(kBase + "routes: [{provider: outbox}]\n").find("routes[0]: expected at least one of sender, auth_user, min_size or max_size") !=
        std::string::npos);
  CHECK(error_of(kBase + "routes: [{auth_user: ghost, provider: outbox}]\n").find("routes[0].auth_user") !=
        std::string::npos);
  CHECK(error_of(kBase + "  smtp: {type: smtp, host: h}\n").find("default_provider: required") != std::string::npos);
}

TEST_CASE("TLS listener without cert") {
  CHECK(error_of("receiver:\n  listeners:\n    - address: \"[::1]:2465\"\n      tls: implicit\n" + kBase) ==
        "/etc/relay/t.yaml:4: receiver.listeners[0].tls: a TLS listener needs receiver.tls.cert_file and "
        "receiver.tls.key_file (got none)");
  CHECK(error_of(kBase + "receiver: {tls: {cert_file: c.pem}}\n").find("receiver.tls.key_file: expected both") !=
        std::string::npos);
}

TEST_CASE("other validation: auth without users, bad sender pattern, bad date, bad hash, listener address") {
  CHECK(error_of(kBase + "receiver:\n  auth: required\n") ==
        "/etc/relay/t.yaml:4: receiver.auth: auth is required but receiver.users is empty (nobody could send)");
  CHECK(error_of(kBase + "senders: {allowed: [\"example.com\"]}\n") ==
        "/etc/relay/t.yaml:3: senders.allowed[0]: expected a sender like user@example.com, @example.com or "
        "*.example.com (got 'example.com')");
  CHECK(error_of("providers:\n  m: {type: m365, tenant_id: t, client_id: c, client_secret: s, "
                 "client_secret_expires: 2027-02-30}\n") ==
        "/etc/relay/t.yaml:2: providers.m.client_secret_expires: expected a date like 2027-06-30 (got '2027-02-30')");
  CHECK(error_of(kBase + "receiver: {users: [{name: a, password_hash: plaintext}]}\n").find(
            "receiver.users[0].password_hash: expected a hash from 'relayctl hash-password'") != std::string::npos);
  CHECK(error_of(kBase + "receiver: {listeners: [{address: \"::1:25\"}]}\n").find(
            "expected an address like 127.0.0.1:2525 or [::1]:2525 (got '::1:25')") != std::string::npos);
  CHECK(error_of(kBase + "receiver: {listeners: [{address: \"127.0.0.1:0\"}]}\n").find("(got '127.0.0.1:0')") !=
        std::string::npos);
  CHECK(error_of(kBase + "senders: {policy: rewrite}\n").find("senders.default_sender: required") != std::string::npos);
  CHECK(error_of(kBase + "dispatcher: {retry: {min_backoff: 2h, max_backoff: 1h}}\n").find("min_backoff") !=
        std::string::npos);
  CHECK(error_of("").find("empty file") != std::string::npos);
}

TEST_CASE("duration and size parsers") {
  CHECK(parse_duration("30s") == 30);
  CHECK(parse_duration("5m") == 300);
  CHECK(parse_duration("2h") == 7200);
  CHECK(parse_duration("7d") == 7 * 86400);
  CHECK(parse_duration("45") == 45);
  CHECK(!parse_duration("5x"));
  CHECK(!parse_duration(""));
  CHECK(!parse_duration("-5s"));
  CHECK(!parse_duration("99999999999999999999d"));
  CHECK(parse_size("512") == 512);
  CHECK(parse_size("64KB") == 64 * 1024);
  CHECK(parse_size("35MB") == 35ull << 20);
  CHECK(parse_size("1GB") == 1ull << 30);
  CHECK(parse_size("1gib") == 1ull << 30);
  CHECK(!parse_size("1.5MB"));
  CHECK(!parse_size("MB"));
  CHECK(!parse_size("99999999999999999GB"));
}

TEST_CASE("sender patterns") {
  std::vector<std::string> p = {"@example.com", "*.example.org", "printer@example.net"};
  CHECK(sender_allowed("a@example.com", p));
  CHECK(sender_allowed("a@EXAMPLE.com", p));
  CHECK_FALSE(sender_allowed("a@sub.example.com", p));   // "@domain" is exactly that domain
  CHECK(sender_allowed("a@example.org", p));             // "*.domain" includes the domain
  CHECK(sender_allowed("a@deep.sub.Example.ORG", p));
  CHECK_FALSE(sender_allowed("a@badexample.org", p));    // not a subdomain
  CHECK(sender_allowed("printer@Example.NET", p));
  CHECK_FALSE(sender_allowed("Printer@example.net", p));  // local part is exact
  CHECK_FALSE(sender_allowed("other@example.net", p));
  CHECK_FALSE(sender_allowed("", p));
  CHECK_FALSE(sender_allowed("nodomain", p));
  CHECK(sender_allowed("anyone@anywhere", {}));
}

// ---- the example file documents every key, and its commented blocks work --

#include <sstream>

#include "common/config_table.hpp"

namespace {
std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("etc/relay.example.yaml mentions every key of the table") {
  std::string text = read_text(fs::path(RELAY_SOURCE_DIR) / "etc/relay.example.yaml");
  for (const auto& k : relay::config::detail::keys()) {
    std::string_view last = k.path.substr(k.path.rfind('.') == std::string_view::npos ? 0 : k.path.rfind('.') + 1);
    std::string needle = std::string(last) + ":";
    INFO("key ", std::string(k.path));
    CHECK(text.find(needle) != std::string::npos);
  }
}

TEST_CASE("etc/relay.example.yaml with its commented-out blocks enabled still loads") {
  std::istringstream in(read_text(fs::path(RELAY_SOURCE_DIR) / "etc/relay.example.yaml"));
  std::string out, line;
  bool in_providers = false;
  while (std::getline(in, line)) {
    if (line.rfind("providers:", 0) == 0) in_providers = true;
    if (line.rfind("routes:", 0) == 0) in_providers = false;
    if (line == "routes: []" || line == "  users: []") line.resize(line.size() - 3);
    bool provider_line = in_providers && (line.rfind("  #   ", 0) == 0 || line.rfind("  # upstream:", 0) == 0 ||
                                          line.rfind("  # m365:", 0) == 0 || line.rfind("  # gmail:", 0) == 0);
    if (provider_line) line = "  " + line.substr(4);
    if (line.rfind("#  - {", 0) == 0 || line.rfind("  #  - ", 0) == 0 || line.rfind("  #    ", 0) == 0)
      line[line.find('#')] = ' ';
    out += line + "\n";
  }
  auto replace = [&](const std::string& from, const std::string& to) {
    auto pos = out.find(from);
    REQUIRE(pos != std::string::npos);
    out.replace(pos, from.size(), to);
  };
  replace("$pbkdf2-sha256$i=50000$...$...", relay::auth::hash_password("x", relay::auth::kMinIterations));
  replace("${file:/etc/relay/m365.secret}", "not-a-real-secret");
  setenv("SMTP_PASSWORD", "pw", 1);
  Config c = load_string(out, fs::path(RELAY_SOURCE_DIR) / "etc/relay.example.yaml");
  CHECK(c.providers.size() == 4);
  CHECK(c.routes.size() == 3);
  CHECK(c.routes[2].min_size == 3u << 20);
  CHECK(c.receiver.users.size() == 1);
  CHECK(c.provider("m365")->m365.client_secret_expires == "2027-06-30");
  CHECK(c.provider("upstream")->smtp.password == "pw");
}

TEST_CASE("route selection, enum names, restart-needed keys") {
  Config c = load_string(kBase +
                             "  up: {type: smtp, host: h}\n"
                             "  m: {type: m365, tenant_id: t, client_id: c, client_secret: s}\n"
                             "receiver: {users: [{name: erp, password_hash: \"" +
                             relay::auth::hash_password("x", relay::auth::kMinIterations) +
                             "\"}]}\n"
                             "routes: [{sender: \"*.example.com\", provider: m}, {auth_user: erp, provider: up}]\n"
                             "default_provider: outbox\n",
                         "/t.yaml");
  CHECK(select_provider(c, "a@mail.Example.com", "erp")->name == "m");  // first match wins
  CHECK(select_provider(c, "a@other.org", "erp")->name == "up");
  CHECK(select_provider(c, "a@other.org", "")->name == "outbox");
  CHECK(to_string(TlsMode::StartTlsRequired) == "starttls-required");
  CHECK(to_string(ProviderType::M365) == "m365");
  CHECK(to_string(AuthMode::Optional) == "optional");

  Config a = load_string(kBase, "/t.yaml");
  Config b = load_string(kBase + "log: {level: debug}\nreceiver: {limits: {max_recipients: 5}}\n", "/t.yaml");
  CHECK(restart_needed(a, b).empty());
  Config d = load_string(kBase + "spool: {directory: /x}\nreceiver: {listeners: [{address: \"127.0.0.1:26\"}]}\n",
                         "/t.yaml");
  auto r = restart_needed(a, d);
  CHECK(r == std::vector<std::string>{"receiver.listeners", "spool.directory", "dispatcher.journal"});
}

TEST_CASE("an empty section means all defaults") {
  Config c = load_string(kBase + "spool:\nlog:\n", "/t.yaml");
  CHECK(c.log.level == "info");
}

TEST_CASE("gmail provider: defaults, added keys, credentials required") {
  Config c = load_string(kBase +
                             "  g: {type: gmail, service_account_file: sa.json, user: relay@example.com,\n"
                             "      scope: \"https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.settings.basic\",\n"
                             "      resumable_threshold: 1MB, max_recipients: 50, timeout: 30s}\n"
                             "  r: {type: gmail, client_id: c, client_secret: s, refresh_token: t}\n"
                             "default_provider: g\n",
                         "/etc/relay/t.yaml");
  const auto& g = c.provider("g")->gmail;
  CHECK(g.service_account_file == fs::path("/etc/relay/sa.json"));
  CHECK(g.user == "relay@example.com");
  CHECK(g.scope.find("gmail.settings.basic") != std::string::npos);
  CHECK(g.resumable_threshold == 1ull << 20);
  CHECK(g.max_recipients == 50);
  CHECK(g.timeout == 30);
  CHECK(g.max_message_size == 35ull << 20);
  const auto& r = c.provider("r")->gmail;
  CHECK(r.token_url == "https://oauth2.googleapis.com/token");
  CHECK(r.api_url == "https://gmail.googleapis.com");
  CHECK(r.scope == "https://www.googleapis.com/auth/gmail.send");
  CHECK(r.max_recipients == 100);
  CHECK(r.resumable_threshold == 5ull << 20);
  CHECK(error_of(kBase + "  g: {type: gmail, client_id: c}\n").find("providers.g.service_account_file") !=
        std::string::npos);
  CHECK(error_of(kBase + "  g: {type: gmail, service_account_file: a, max_recipients: 101}\n")
            .find("providers.g.max_recipients") != std::string::npos);
  CHECK(error_of(kBase + "  g: {type: gmail, service_account_file: a, user: nobody}\n").find("providers.g.user") !=
        std::string::npos);
}

TEST_CASE("smtp credentials need TLS unless the upstream is on loopback") {
  // tls: starttls (opportunistic) or none with a username: a stripped
  // STARTTLS would put the password on the wire in clear.
  CHECK(error_of("providers:\n  up: {type: smtp, host: smtp.example.com, username: u, password: p,\n"
                 "        tls: starttls}\n") ==
        "/etc/relay/t.yaml:3: providers.up.tls: expected starttls-required or implicit when username is set "
        "(credentials are only sent without TLS to a loopback upstream)");
  CHECK(error_of("providers:\n  up: {type: smtp, host: 192.0.2.7,\n        tls: none, username: u, password: p}\n")
            .find("/etc/relay/t.yaml:3: providers.up.tls: expected starttls-required or implicit") == 0);
  CHECK(error_of("providers:\n  up: {type: smtp, host: 128.0.0.1, tls: none, username: u, password: p}\n")
            .find("providers.up.tls") != std::string::npos);
  for (const char* ok : {"host: smtp.example.com, tls: starttls-required", "host: smtp.example.com, tls: implicit",
                         "host: smtp.example.com", "host: 127.0.0.1, tls: none", "host: 127.8.9.1, tls: starttls",
                         "host: '::1', tls: none", "host: localhost, tls: starttls"}) {
    CAPTURE(ok);
    CHECK(error_of(std::string("providers:\n  up: {type: smtp, ") + ok + ", username: u, password: p}\n") == "(no error)");
  }
  // Without credentials opportunistic STARTTLS stays allowed anywhere.
  CHECK(error_of("providers:\n  up: {type: smtp, host: smtp.example.com, tls: starttls}\n") == "(no error)");
}
