// relay::config — rules that span several keys (required-one-of, references
// between sections, TLS needing a certificate). Runs after the table walk;
// errors point at the line of the key that is wrong or missing.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>

#include "common/cidr.hpp"
#include "common/config_loader.hpp"
#include "common/route_table.hpp"

namespace relay::config::detail {
namespace {

std::string idx(std::string_view base, size_t i) { return std::string(base) + "[" + std::to_string(i) + "]"; }

// True when every address of `c` is loopback, private (RFC 1918, RFC 6598
// shared, link-local), unique-local / link-local IPv6, or documentation
// space (RFC 5737, RFC 3849; never routed): hosts on the Internet at large
// cannot be in it.
bool private_network(const net::Cidr& c) {
  struct Range {
    int family;
    std::array<std::uint8_t, 4> head;
    int prefix;
  };
  static constexpr Range kPrivate[] = {
      {AF_INET, {127}, 8},          {AF_INET, {10}, 8},           {AF_INET, {172, 16}, 12},
      {AF_INET, {192, 168}, 16},    {AF_INET, {169, 254}, 16},    {AF_INET, {100, 64}, 10},
      {AF_INET, {192, 0, 2}, 24},   {AF_INET, {198, 51, 100}, 24}, {AF_INET, {203, 0, 113}, 24},
      {AF_INET6, {0xfc}, 7},        {AF_INET6, {0xfe, 0x80}, 10}, {AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32},
  };
  if (c.family == AF_INET6 && c.prefix == 128) {  // ::1
    bool loop = c.addr[15] == 1;
    for (int i = 0; i < 15; ++i) loop = loop && c.addr[static_cast<size_t>(i)] == 0;
    if (loop) return true;
  }
  for (const auto& r : kPrivate) {
    if (r.family != c.family || c.prefix < r.prefix) continue;
    std::array<std::uint8_t, 16> net{};
    std::copy(r.head.begin(), r.head.end(), net.begin());
    net::Cidr range{r.family, net, r.prefix};
    if (range.contains(c.family, c.addr.data())) return true;
  }
  return false;
}

// 127.0.0.0/8, ::1 or "localhost": nobody between us and the upstream.
bool loopback_host(const std::string& host) {
  auto a = net::parse_address(host);
  if (!a) return host == "localhost";
  if (a->family == AF_INET) return a->bytes[0] == 127;
  for (size_t i = 0; i < 15; ++i)
    if (a->bytes[i] != 0) return false;
  return a->bytes[15] == 1;
}

// An unauthenticated listener reachable from outside that accepts clients
// from public address space relays anyone's mail through the providers.
// Refused unless receiver.allow_open_relay says it is meant; then warned.
void check_open_relay(Loader& ld, Config& cfg) {
  auto& rc = cfg.receiver;
  if (rc.client_networks.empty())
    ld.fail(ld.line_of("receiver.client_networks"), "receiver.client_networks",
            "expected at least one network (an empty list admits nobody; write [0.0.0.0/0, \"::/0\"] for any client)");
  if (rc.auth == AuthMode::Required) return;
  std::string wide;
  for (const auto& text : rc.client_networks) {
    auto c = net::Cidr::parse(text);
    if (c && !private_network(*c)) wide += (wide.empty() ? "" : ", ") + text;
  }
  if (wide.empty()) return;
  for (size_t i = 0; i < rc.listeners.size(); ++i) {
    const auto& l = rc.listeners[i];
    if (loopback_host(l.host)) continue;
    std::string p = idx("receiver.listeners", i);
    std::string what = "listener " + l.host + ":" + std::to_string(l.port) + " with auth " +
                       std::string(to_string(rc.auth)) + " accepts mail from public networks (" + wide +
                       ") without a password: an open relay";
    if (!rc.allow_open_relay)
      ld.fail(ld.line_of(p + ".address"), p + ".address",
              what + "; set receiver.auth: required, narrow receiver.client_networks, or set "
                     "receiver.allow_open_relay: true if that is intended");
    cfg.warnings.push_back(cfg.file.string() + ":" + std::to_string(ld.line_of("receiver.allow_open_relay")) +
                           ": receiver.allow_open_relay: " + what + " (acknowledged)");
  }
}

// auth: xoauth2 takes a fixed oauth_token or an oauth: section (Microsoft
// client credentials or a Google service account), never both, never neither.
template <class Need>
void validate_smtp_oauth(const ProviderConfig& p, Need& need) {
  const auto& s = p.smtp;
  const auto& o = s.oauth;
  const bool any = o.configured() || !o.client_id.empty() || !o.client_secret.empty() ||
                   !o.certificate_file.empty() || !o.private_key_file.empty() || !o.scope.empty() ||
                   !o.subject.empty();
  if (s.auth != "xoauth2") {
    need(!any, "oauth", "only used with auth: xoauth2 (got auth: " + s.auth + ")");
    return;
  }
  need(!s.oauth_token.empty() || o.configured(), "auth",
       "xoauth2 needs oauth_token (a fixed bearer token) or an oauth: section with tenant_id + client_id + "
       "client_secret (Microsoft) or service_account_file (Google) (got neither)");
  need(s.oauth_token.empty() || !any, "oauth_token", "expected oauth_token or an oauth: section, not both");
  need(!s.username.empty(), "username", "required when auth is xoauth2 (the mailbox the token is for)");
  need(!(o.microsoft() && o.google()), "oauth.service_account_file",
       "expected tenant_id (Microsoft) or service_account_file (Google), not both");
  if (o.microsoft()) {
    need(!o.client_id.empty(), "oauth.client_id", "expected the application (client) id (got '')");
    need(!o.client_secret.empty() || !o.certificate_file.empty(), "oauth.client_secret",
         "expected client_secret or certificate_file + private_key_file (got neither)");
    need(o.certificate_file.empty() == o.private_key_file.empty(),
         o.certificate_file.empty() ? "oauth.certificate_file" : "oauth.private_key_file",
         "expected both certificate_file and private_key_file, or neither");
  } else if (any && !o.google()) {
    need(false, "oauth", "expected tenant_id (Microsoft) or service_account_file (Google)");
  }
  if (o.google()) {
    need(o.client_id.empty() && o.client_secret.empty() && o.certificate_file.empty(),
         !o.client_id.empty() ? "oauth.client_id" : !o.client_secret.empty() ? "oauth.client_secret"
                                                                             : "oauth.certificate_file",
         "not used with service_account_file (the key file holds the Google credentials)");
  }
}

// A route whose size bounds no message can meet is a mistake: min_size
// above max_size, above its provider's own limit, or above what the
// receiver accepts at all.
void validate_route_sizes(Loader& ld, const Config& cfg, const Route& r, const std::string& p) {
  const std::string min_key = p + ".min_size";
  auto fail_min = [&](const std::string& what) {
    ld.fail(ld.line_of(min_key), min_key, "expected a size no larger than " + what + " (got " +
                                              std::to_string(r.min_size) + " bytes): no message could take this route");
  };
  if (r.max_size != 0 && r.min_size > r.max_size)
    fail_min(p + ".max_size (" + std::to_string(r.max_size) + " bytes)");
  const ProviderConfig* prov = cfg.provider(r.provider);
  std::uint64_t limit = prov ? provider_max_size(*prov) : kUnlimited;
  if (r.min_size > limit)
    fail_min("providers." + r.provider + ".max_message_size (" + std::to_string(limit) + " bytes)");
  if (r.min_size > cfg.receiver.limits.max_message_size)
    fail_min("receiver.limits.max_message_size (" + std::to_string(cfg.receiver.limits.max_message_size) + " bytes)");
}

}  // namespace

void Loader::validate(Config& cfg) {
  validate_receiver(cfg);
  validate_providers(cfg);
  validate_routes(cfg);
  auto& r = cfg.dispatcher.retry;
  if (r.min_backoff > r.max_backoff)
    fail(line_of("dispatcher.retry.min_backoff"), "dispatcher.retry.min_backoff",
         "expected a duration no longer than dispatcher.retry.max_backoff");
  if (cfg.dispatcher.journal.empty()) cfg.dispatcher.journal = cfg.spool.directory / "journal";
  // A message being received sits in tmp/ for up to data_timeout: a shorter
  // grace lets the sweeper delete it under the receiver.
  if (cfg.spool.orphan_grace <= cfg.receiver.limits.data_timeout)
    fail(line_of("spool.orphan_grace"), "spool.orphan_grace",
         "expected a duration longer than receiver.limits.data_timeout (" +
             std::to_string(cfg.receiver.limits.data_timeout) + "s; got " + std::to_string(cfg.spool.orphan_grace) +
             "s)");
  check_open_relay(*this, cfg);
  if (cfg.senders.policy == SenderPolicy::Rewrite && cfg.senders.default_sender.empty())
    fail(line_of("senders.policy"), "senders.default_sender", "required when senders.policy is rewrite");
}

void Loader::validate_receiver(Config& cfg) {
  auto& rc = cfg.receiver;
  if (rc.listeners.empty()) fail(line_of("receiver.listeners"), "receiver.listeners", "expected at least one listener");
  std::set<std::pair<std::string, int>> seen;
  for (size_t i = 0; i < rc.listeners.size(); ++i) {
    const auto& l = rc.listeners[i];
    std::string p = idx("receiver.listeners", i);
    if (!seen.emplace(l.host, l.port).second) fail(line_of(p + ".address"), p + ".address", "duplicate listener address");
    if (l.tls != TlsMode::None && (rc.tls.cert_file.empty() || rc.tls.key_file.empty()))
      fail(line_of(p + ".tls"), p + ".tls",
           "a TLS listener needs receiver.tls.cert_file and receiver.tls.key_file (got none)");
  }
  if (rc.tls.cert_file.empty() != rc.tls.key_file.empty())
    fail(line_of("receiver.tls"), rc.tls.cert_file.empty() ? "receiver.tls.cert_file" : "receiver.tls.key_file",
         "expected both cert_file and key_file, or neither");
  if (rc.auth == AuthMode::Required && rc.users.empty())
    fail(line_of("receiver.auth"), "receiver.auth", "auth is required but receiver.users is empty (nobody could send)");
  std::set<std::string> names;
  for (size_t i = 0; i < rc.users.size(); ++i) {
    std::string p = idx("receiver.users", i) + ".name";
    if (rc.users[i].name.empty()) fail(line_of(p), p, "expected a user name (got '')");
    if (!names.insert(rc.users[i].name).second) fail(line_of(p), p, "duplicate user name '" + rc.users[i].name + "'");
  }
}

void Loader::validate_providers(Config& cfg) {
  if (cfg.providers.empty())
    fail(line_of("providers"), "providers", "expected at least one provider (e.g. {outbox: {type: outbox, directory: ...}})");
  for (const auto& p : cfg.providers) {
    std::string b = "providers." + p.name;
    auto need = [&](bool ok, std::string_view key, std::string_view msg) {
      if (!ok) fail(line_of(b + "." + std::string(key)), b + "." + std::string(key), msg);
    };
    switch (p.type) {
      case ProviderType::Outbox: need(!p.outbox.directory.empty(), "directory", "expected a directory (got '')"); break;
      case ProviderType::Smtp:
        need(!p.smtp.host.empty(), "host", "expected a host name (got '')");
        validate_smtp_oauth(p, need);
        need(p.smtp.auth == "xoauth2" || p.smtp.username.empty() || !p.smtp.password.empty(), "password",
             "required when username is set");
        need(!p.smtp.username.empty() || p.smtp.password.empty(), "username", "required when password is set");
        // Credentials never go out in clear where someone could strip STARTTLS
        // (tls: starttls with credentials is STARTTLS-required at run time).
        need(p.smtp.username.empty() || loopback_host(p.smtp.host) ||
                 p.smtp.tls == TlsMode::StartTlsRequired || p.smtp.tls == TlsMode::Implicit,
             "tls", "expected starttls-required or implicit when username is set (credentials are only sent "
                    "without TLS to a loopback upstream)");
        break;
      case ProviderType::M365: {
        const auto& m = p.m365;
        need(!m.tenant_id.empty(), "tenant_id", "expected the Entra tenant id (got '')");
        need(!m.client_id.empty(), "client_id", "expected the application (client) id (got '')");
        need(!m.client_secret.empty() || !m.certificate_file.empty(), "client_secret",
             "expected client_secret or certificate_file + private_key_file (got neither)");
        need(m.certificate_file.empty() == m.private_key_file.empty(),
             m.certificate_file.empty() ? "certificate_file" : "private_key_file",
             "expected both certificate_file and private_key_file, or neither");
        break;
      }
      case ProviderType::Gmail: {
        const auto& g = p.gmail;
        bool user_token = !g.client_id.empty() && !g.client_secret.empty() && !g.refresh_token.empty();
        need(!g.service_account_file.empty() || user_token, "service_account_file",
             "expected service_account_file, or client_id + client_secret + refresh_token (got neither)");
        break;
      }
    }
  }
}

void Loader::validate_routes(Config& cfg) {
  for (size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto& r = cfg.routes[i];
    std::string p = idx("routes", i);
    if (!r.sender.empty() && !r.auth_user.empty())
      fail(line_of(p), p, "expected at most one of sender or auth_user");
    if (r.sender.empty() && r.auth_user.empty() && r.min_size == 0 && r.max_size == 0)
      fail(line_of(p), p, "expected at least one of sender, auth_user, min_size or max_size");
    if (!cfg.provider(r.provider))
      fail(line_of(p + ".provider"), p + ".provider", "expected the name of a configured provider (got '" + r.provider + "')");
    validate_route_sizes(*this, cfg, r, p);
    if (!r.auth_user.empty()) {
      bool known = false;
      for (const auto& u : cfg.receiver.users) known = known || u.name == r.auth_user;
      if (!known) fail(line_of(p + ".auth_user"), p + ".auth_user", "expected a user from receiver.users (got '" + r.auth_user + "')");
    }
  }
  if (cfg.default_provider.empty()) {
    if (cfg.providers.size() == 1)
      cfg.default_provider = cfg.providers.front().name;
    else
      fail(line_of("providers"), "default_provider", "required when several providers are configured");
  } else if (!cfg.provider(cfg.default_provider)) {
    fail(line_of("default_provider"), "default_provider",
         "expected the name of a configured provider (got '" + cfg.default_provider + "')");
  }
  if (!cfg.fallback_provider.empty() && !cfg.provider(cfg.fallback_provider))
    fail(line_of("fallback_provider"), "fallback_provider",
         "expected the name of a configured provider (got '" + cfg.fallback_provider + "')");
}

}  // namespace relay::config::detail
