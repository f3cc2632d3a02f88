// The smtp provider's `auth: xoauth2` + `oauth:` keys (docs/smtp-oauth.md):
// what loads, and one error per mistake naming FILE:LINE: key.
#include <doctest/doctest.h>

#include "common/config.hpp"
#include "tests/common/config_test_support.hpp"

using namespace relay::config;
using namespace relay::config::test;
namespace fs = std::filesystem;

namespace {
const std::string kHead = "providers:\n  up:\n    type: smtp\n    host: smtp.office365.com\n";
}

TEST_CASE("smtp oauth: Microsoft and Google sections load with their defaults") {
  Config c = load_string(kHead +
                             "    auth: xoauth2\n    username: scan@example.com\n"
                             "    oauth:\n      tenant_id: t1\n      client_id: c1\n      client_secret: s1\n",
                         "/etc/relay/t.yaml");
  const auto& o = c.provider("up")->smtp.oauth;
  CHECK(o.microsoft());
  CHECK_FALSE(o.google());
  CHECK(o.login_url == "https://login.microsoftonline.com");
  CHECK(o.scope.empty());
  Config g = load_string(kHead +
                             "    auth: xoauth2\n    username: scan@example.com\n"
                             "    oauth: {service_account_file: sa.json, subject: boss@example.com,\n"
                             "            token_url: \"https://127.0.0.1:9/token/\"}\n",
                         "/etc/relay/t.yaml");
  const auto& go = g.provider("up")->smtp.oauth;
  CHECK(go.google());
  CHECK(go.service_account_file == fs::path("/etc/relay/sa.json"));
  CHECK(go.token_url == "https://127.0.0.1:9/token");
  CHECK(go.subject == "boss@example.com");
  // The fixed token still works on its own.
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth_token: tok\n") == "(no error)");
}

TEST_CASE("smtp oauth: each mistake is named by file, line and key") {
  // xoauth2 with neither a token nor oauth credentials: at the auth key.
  CHECK(error_of(kHead + "    username: u\n    auth: xoauth2\n") ==
        "/etc/relay/t.yaml:6: providers.up.auth: xoauth2 needs oauth_token (a fixed bearer token) or an oauth: "
        "section with tenant_id + client_id + client_secret (Microsoft) or service_account_file (Google) (got "
        "neither)");
  // An oauth section with only a client id is no credential either.
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth:\n      client_id: c\n")
            .find("/etc/relay/t.yaml:5: providers.up.auth: xoauth2 needs") == 0);
  CHECK(error_of(kHead + "    username: u\n    oauth:\n      tenant_id: t\n      client_id: c\n      client_secret: s\n")
            .find("/etc/relay/t.yaml:6: providers.up.oauth: only used with auth: xoauth2 (got auth: plain)") == 0);
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth_token: x\n    oauth:\n      tenant_id: t\n"
                         "      client_id: c\n      client_secret: s\n")
            .find("/etc/relay/t.yaml:7: providers.up.oauth_token: expected oauth_token or an oauth: section, not both") ==
        0);
  CHECK(error_of(kHead + "    auth: xoauth2\n    oauth:\n      tenant_id: t\n      client_id: c\n      client_secret: s\n")
            .find("providers.up.username: required when auth is xoauth2") != std::string::npos);
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth:\n      tenant_id: t\n      client_secret: s\n")
            .find("/etc/relay/t.yaml:7: providers.up.oauth.client_id: expected the application (client) id") == 0);
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth:\n      tenant_id: t\n      client_id: c\n")
            .find("providers.up.oauth.client_secret: expected client_secret or certificate_file") != std::string::npos);
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth:\n      tenant_id: t\n      client_id: c\n"
                         "      certificate_file: c.pem\n")
            .find("/etc/relay/t.yaml:7: providers.up.oauth.private_key_file: expected both certificate_file and "
                  "private_key_file") == 0);
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth:\n      tenant_id: t\n      client_id: c\n"
                         "      client_secret: s\n      service_account_file: sa.json\n")
            .find("/etc/relay/t.yaml:11: providers.up.oauth.service_account_file: expected tenant_id (Microsoft) or "
                  "service_account_file (Google), not both") == 0);
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth:\n      service_account_file: sa.json\n"
                         "      client_secret: s\n")
            .find("/etc/relay/t.yaml:9: providers.up.oauth.client_secret: not used with service_account_file") == 0);
  CHECK(error_of(kHead + "    auth: xoauth2\n    username: u\n    oauth:\n      tenantid: t\n")
            .find("/etc/relay/t.yaml:8: providers.up.oauth.tenantid: unknown key for a smtp provider (did you mean "
                  "'tenant_id'?)") == 0);
}
