// relay::config::detail — THE table of configuration keys. Adding a key:
// add the struct member in config.hpp, one row here, and a commented line
// in etc/relay.example.yaml (tests/common check that every key is there).
#include "common/config_table.hpp"

#include "common/config.hpp"

namespace relay::config::detail {
namespace {

#define FLD(T, m) [](void* o) -> void* { return &static_cast<T*>(o)->m; }
constexpr double kNoMin = 1, kNoMax = 0;  // min > max: unbounded
constexpr double kDay = 86400;
constexpr double kMB = 1 << 20;
constexpr bool R = true;   // reloadable
constexpr bool NR = false; // needs a restart
constexpr bool REQ = true;

using S = Scope;
using K = Kind;

constexpr Key kKeys[] = {
    // ---- receiver -------------------------------------------------------
    {S::Top, "receiver", K::Section},
    {S::Top, "receiver.hostname", K::String, "localhost", kNoMin, kNoMax, R, false, "", FLD(Config, receiver.hostname)},
    {S::Top, "receiver.listeners", K::Listeners, "[{address: \"127.0.0.1:2525\", tls: none}]", kNoMin, kNoMax, NR,
     false, "", FLD(Config, receiver.listeners)},
    {S::Listener, "address", K::Address, "127.0.0.1:2525", kNoMin, kNoMax, NR, REQ, "", [](void* o) -> void* { return o; }},  // sets host and port,
    {S::Listener, "tls", K::TlsMode, "none", kNoMin, kNoMax, NR, false, "none|starttls|starttls-required|implicit",
     FLD(Listener, tls)},
    {S::Top, "receiver.tls", K::Section},
    {S::Top, "receiver.tls.cert_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(Config, receiver.tls.cert_file)},
    {S::Top, "receiver.tls.key_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(Config, receiver.tls.key_file)},
    {S::Top, "receiver.tls.min_version", K::Choice, "TLSv1.2", kNoMin, kNoMax, R, false, "TLSv1.2|TLSv1.3",
     FLD(Config, receiver.tls.min_version)},
    {S::Top, "receiver.tls.ciphers", K::String, "", kNoMin, kNoMax, R, false, "", FLD(Config, receiver.tls.ciphers)},
    {S::Top, "receiver.auth", K::AuthMode, "off", kNoMin, kNoMax, R, false, "off|optional|required",
     FLD(Config, receiver.auth)},
    {S::Top, "receiver.users", K::Users, "[]", kNoMin, kNoMax, R, false, "", FLD(Config, receiver.users)},
    {S::User, "name", K::String, "", kNoMin, kNoMax, R, REQ, "", FLD(AuthUser, name)},
    {S::User, "password_hash", K::PasswordHash, "", kNoMin, kNoMax, R, REQ, "", FLD(AuthUser, password_hash)},
    {S::User, "allowed_senders", K::SenderList, "[]", kNoMin, kNoMax, R, false, "", FLD(AuthUser, allowed_senders)},
    {S::Top, "receiver.client_networks", K::CidrList, "[127.0.0.0/8, \"::1/128\"]", kNoMin, kNoMax, R, false, "",
     FLD(Config, receiver.client_networks)},
    {S::Top, "receiver.allow_open_relay", K::Bool, "false", kNoMin, kNoMax, R, false, "",
     FLD(Config, receiver.allow_open_relay)},
    {S::Top, "receiver.refusals", K::Section},
    {S::Top, "receiver.refusals.flush_interval", K::Duration, "60s", 1, 3600, R, false, "",
     FLD(Config, receiver.refusals.flush_interval)},
    {S::Top, "receiver.refusals.max_entries", K::Int, "1000", 10, 1000000, R, false, "",
     FLD(Config, receiver.refusals.max_entries)},
    {S::Top, "receiver.limits", K::Section},
    {S::Top, "receiver.limits.max_message_size", K::Size, "35MB", 1024, 1024 * kMB * 1024, R, false, "",
     FLD(Config, receiver.limits.max_message_size)},
    {S::Top, "receiver.limits.max_header_size", K::Size, "256KB", 1024, 64 * kMB, R, false, "",
     FLD(Config, receiver.limits.max_header_size)},
    {S::Top, "receiver.limits.max_recipients", K::Int, "100", 1, 100000, R, false, "",
     FLD(Config, receiver.limits.max_recipients)},
    {S::Top, "receiver.limits.max_connections", K::Int, "1000", 1, 1000000, R, false, "",
     FLD(Config, receiver.limits.max_connections)},
    {S::Top, "receiver.limits.max_connections_per_ip", K::Int, "100", 1, 1000000, R, false, "",
     FLD(Config, receiver.limits.max_connections_per_ip)},
    {S::Top, "receiver.limits.max_bad_commands", K::Int, "10", 1, 1000, R, false, "",
     FLD(Config, receiver.limits.max_bad_commands)},
    {S::Top, "receiver.limits.max_auth_failures_per_ip", K::Int, "5", 1, 1000000, R, false, "",
     FLD(Config, receiver.limits.max_auth_failures_per_ip)},
    {S::Top, "receiver.limits.auth_failure_window", K::Duration, "5m", 1, 7 * kDay, R, false, "",
     FLD(Config, receiver.limits.auth_failure_window)},
    {S::Top, "receiver.limits.idle_timeout", K::Duration, "5m", 1, kDay, R, false, "",
     FLD(Config, receiver.limits.idle_timeout)},
    {S::Top, "receiver.limits.data_timeout", K::Duration, "10m", 1, kDay, R, false, "",
     FLD(Config, receiver.limits.data_timeout)},
    {S::Top, "receiver.limits.shutdown_grace", K::Duration, "30s", 0, 3600, R, false, "",
     FLD(Config, receiver.limits.shutdown_grace)},
    {S::Top, "receiver.limits.command_timeout", K::Duration, "1m", 1, 3600, R, false, "",
     FLD(Config, receiver.limits.command_timeout)},
    {S::Top, "receiver.limits.min_data_rate", K::Size, "500", 0, 1024 * kMB, R, false, "",
     FLD(Config, receiver.limits.min_data_rate)},
    {S::Top, "receiver.limits.tls_handshake_timeout", K::Duration, "30s", 1, 3600, R, false, "",
     FLD(Config, receiver.limits.tls_handshake_timeout)},
    {S::Top, "receiver.limits.max_connection_rate", K::Int, "0", 0, 1000000, R, false, "",
     FLD(Config, receiver.limits.max_connection_rate)},
    {S::Top, "receiver.limits.min_free_space", K::Size, "100MB", 0, 1024 * kMB * 1024, R, false, "",
     FLD(Config, receiver.limits.min_free_space)},
    // ---- senders --------------------------------------------------------
    {S::Top, "senders", K::Section},
    {S::Top, "senders.allowed", K::SenderList, "[]", kNoMin, kNoMax, R, false, "", FLD(Config, senders.allowed)},
    {S::Top, "senders.default_sender", K::Email, "", kNoMin, kNoMax, R, false, "", FLD(Config, senders.default_sender)},
    {S::Top, "senders.policy", K::SenderPolicy, "reject", kNoMin, kNoMax, R, false, "reject|rewrite",
     FLD(Config, senders.policy)},
    // ---- spool ----------------------------------------------------------
    {S::Top, "spool", K::Section},
    {S::Top, "spool.directory", K::Path, "/var/spool/relay", kNoMin, kNoMax, NR, false, "",
     FLD(Config, spool.directory)},
    {S::Top, "spool.orphan_grace", K::Duration, "1h", 60, 30 * kDay, R, false, "", FLD(Config, spool.orphan_grace)},
    {S::Top, "spool.sync", K::Choice, "auto", kNoMin, kNoMax, NR, false, "auto|files|filesystem",
     FLD(Config, spool.sync)},
    {S::Top, "spool.failed_keep", K::Duration, "7d", 0, 3650 * kDay, R, false, "", FLD(Config, spool.failed_keep)},
    // ---- dispatcher -----------------------------------------------------
    {S::Top, "dispatcher", K::Section},
    {S::Top, "dispatcher.processes", K::Int, "2", 1, 64, R, false, "", FLD(Config, dispatcher.processes)},
    {S::Top, "dispatcher.max_in_flight", K::Int, "32", 1, 10000, R, false, "", FLD(Config, dispatcher.max_in_flight)},
    {S::Top, "dispatcher.scan_interval", K::Duration, "30s", 1, kDay, R, false, "",
     FLD(Config, dispatcher.scan_interval)},
    {S::Top, "dispatcher.sweep_interval", K::Duration, "10s", 1, kDay, R, false, "",
     FLD(Config, dispatcher.sweep_interval)},
    {S::Top, "dispatcher.drain_timeout", K::Duration, "30s", 0, 3600, R, false, "",
     FLD(Config, dispatcher.drain_timeout)},
    {S::Top, "dispatcher.in_flight_grace", K::Duration, "2m", 0, 3600, R, false, "",
     FLD(Config, dispatcher.in_flight_grace)},
    {S::Top, "dispatcher.retry", K::Section},
    {S::Top, "dispatcher.retry.min_backoff", K::Duration, "1m", 1, 30 * kDay, R, false, "",
     FLD(Config, dispatcher.retry.min_backoff)},
    {S::Top, "dispatcher.retry.max_backoff", K::Duration, "1h", 1, 30 * kDay, R, false, "",
     FLD(Config, dispatcher.retry.max_backoff)},
    {S::Top, "dispatcher.retry.max_lifetime", K::Duration, "5d", 60, 365 * kDay, R, false, "",
     FLD(Config, dispatcher.retry.max_lifetime)},
    {S::Top, "dispatcher.retry.jitter", K::Double, "0.2", 0, 1, R, false, "", FLD(Config, dispatcher.retry.jitter)},
    {S::Top, "dispatcher.failure_notice_to", K::Email, "", kNoMin, kNoMax, R, false, "",
     FLD(Config, dispatcher.failure_notice_to)},
    {S::Top, "dispatcher.bounces", K::Bool, "true", kNoMin, kNoMax, R, false, "", FLD(Config, dispatcher.bounces)},
    {S::Top, "dispatcher.bounce_from", K::Email, "", kNoMin, kNoMax, R, false, "",
     FLD(Config, dispatcher.bounce_from)},
    {S::Top, "dispatcher.journal", K::Path, "<spool.directory>/journal", kNoMin, kNoMax, NR, false, "",
     FLD(Config, dispatcher.journal)},
    // ---- database -------------------------------------------------------
    {S::Top, "database", K::Section},
    {S::Top, "database.conninfo", K::Secret, "", kNoMin, kNoMax, NR, false, "", FLD(Config, database.conninfo)},
    {S::Top, "database.connect_timeout", K::Duration, "5s", 1, 300, R, false, "",
     FLD(Config, database.connect_timeout)},
    {S::Top, "database.retention", K::Duration, "90d", 3600, 3650 * kDay, NR, false, "",
     FLD(Config, database.retention)},
    {S::Top, "database.retention_batch", K::Int, "1000", 10, 100000, NR, false, "",
     FLD(Config, database.retention_batch)},
    // ---- providers ------------------------------------------------------
    {S::Top, "providers", K::Providers, "{}", kNoMin, kNoMax, R, false, "", FLD(Config, providers)},
    {S::Outbox, "type", K::ProviderType, "", kNoMin, kNoMax, R, REQ, "outbox|smtp|m365|gmail",
     FLD(ProviderConfig, type)},
    {S::Outbox, "directory", K::Path, "", kNoMin, kNoMax, R, REQ, "", FLD(ProviderConfig, outbox.directory)},
    {S::Outbox, "max_message_size", K::Size, "0", 0, 1024 * kMB * 1024, R, false, "",
     FLD(ProviderConfig, outbox.max_message_size)},
    {S::Smtp, "type", K::ProviderType, "", kNoMin, kNoMax, R, REQ, "outbox|smtp|m365|gmail", FLD(ProviderConfig, type)},
    {S::Smtp, "host", K::String, "", kNoMin, kNoMax, R, REQ, "", FLD(ProviderConfig, smtp.host)},
    {S::Smtp, "port", K::Port, "587", 1, 65535, R, false, "", FLD(ProviderConfig, smtp.port)},
    {S::Smtp, "tls", K::TlsMode, "starttls-required", kNoMin, kNoMax, R, false,
     "none|starttls|starttls-required|implicit", FLD(ProviderConfig, smtp.tls)},
    {S::Smtp, "verify_peer", K::Bool, "true", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.verify_peer)},
    {S::Smtp, "ca_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.ca_file)},
    {S::Smtp, "username", K::String, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.username)},
    {S::Smtp, "password", K::Secret, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.password)},
    {S::Smtp, "auth", K::Choice, "plain", kNoMin, kNoMax, R, false, "plain|login|xoauth2", FLD(ProviderConfig, smtp.auth)},
    {S::Smtp, "oauth_token", K::Secret, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.oauth_token)},
    {S::Smtp, "max_connections", K::Int, "4", 1, 1000, R, false, "", FLD(ProviderConfig, smtp.max_connections)},
    {S::Smtp, "timeout", K::Duration, "60s", 1, 3600, R, false, "", FLD(ProviderConfig, smtp.timeout)},
    {S::Smtp, "helo", K::String, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.helo)},
    // smtp oauth: (docs/smtp-oauth.md); names and kinds as the m365 and gmail keys.
    {S::Smtp, "oauth", K::Section},
    {S::Smtp, "oauth.tenant_id", K::String, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.oauth.tenant_id)},
    {S::Smtp, "oauth.client_id", K::String, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.oauth.client_id)},
    {S::Smtp, "oauth.client_secret", K::Secret, "", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, smtp.oauth.client_secret)},
    {S::Smtp, "oauth.certificate_file", K::Path, "", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, smtp.oauth.certificate_file)},
    {S::Smtp, "oauth.private_key_file", K::Path, "", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, smtp.oauth.private_key_file)},
    {S::Smtp, "oauth.login_url", K::Url, "https://login.microsoftonline.com", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, smtp.oauth.login_url)},
    {S::Smtp, "oauth.service_account_file", K::Path, "", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, smtp.oauth.service_account_file)},
    {S::Smtp, "oauth.token_url", K::Url, "https://oauth2.googleapis.com/token", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, smtp.oauth.token_url)},
    {S::Smtp, "oauth.scope", K::String, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.oauth.scope)},
    {S::Smtp, "oauth.subject", K::Email, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.oauth.subject)},
    {S::Smtp, "oauth.ca_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, smtp.oauth.ca_file)},
    {S::Smtp, "max_message_size", K::Size, "0", 0, 1024 * kMB * 1024, R, false, "",
     FLD(ProviderConfig, smtp.max_message_size)},
    {S::M365, "type", K::ProviderType, "", kNoMin, kNoMax, R, REQ, "outbox|smtp|m365|gmail", FLD(ProviderConfig, type)},
    {S::M365, "tenant_id", K::String, "", kNoMin, kNoMax, R, REQ, "", FLD(ProviderConfig, m365.tenant_id)},
    {S::M365, "client_id", K::String, "", kNoMin, kNoMax, R, REQ, "", FLD(ProviderConfig, m365.client_id)},
    {S::M365, "client_secret", K::Secret, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, m365.client_secret)},
    {S::M365, "certificate_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, m365.certificate_file)},
    {S::M365, "private_key_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, m365.private_key_file)},
    {S::M365, "login_url", K::Url, "https://login.microsoftonline.com", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, m365.login_url)},
    {S::M365, "graph_url", K::Url, "https://graph.microsoft.com", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, m365.graph_url)},
    {S::M365, "ca_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, m365.ca_file)},
    {S::M365, "save_to_sent_items", K::Bool, "false", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, m365.save_to_sent_items)},
    {S::M365, "json_unfaithful", K::Choice, "mime", kNoMin, kNoMax, R, false, "mime|refuse",
     FLD(ProviderConfig, m365.json_unfaithful)},
    {S::M365, "client_secret_expires", K::Date, "", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, m365.client_secret_expires)},
    {S::M365, "expiry_warn_days", K::IntList, "[30, 14, 7, 3, 1]", 0, 3650, R, false, "",
     FLD(ProviderConfig, m365.expiry_warn_days)},
    {S::M365, "expiry_notice_to", K::Email, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, m365.expiry_notice_to)},
    {S::M365, "max_concurrent_per_mailbox", K::Int, "4", 1, 64, R, false, "",
     FLD(ProviderConfig, m365.max_concurrent_per_mailbox)},
    {S::M365, "rate_per_minute", K::Int, "30", 0, 100000, R, false, "", FLD(ProviderConfig, m365.rate_per_minute)},
    {S::M365, "max_mime_size", K::Size, "3MB", 1024, 4 * kMB, R, false, "", FLD(ProviderConfig, m365.max_mime_size)},
    {S::M365, "timeout", K::Duration, "120s", 1, 3600, R, false, "", FLD(ProviderConfig, m365.timeout)},
    {S::M365, "max_message_size", K::Size, "35MB", 1024, 150 * kMB, R, false, "",
     FLD(ProviderConfig, m365.max_message_size)},
    {S::Gmail, "type", K::ProviderType, "", kNoMin, kNoMax, R, REQ, "outbox|smtp|m365|gmail", FLD(ProviderConfig, type)},
    {S::Gmail, "service_account_file", K::Path, "", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, gmail.service_account_file)},
    {S::Gmail, "client_id", K::String, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, gmail.client_id)},
    {S::Gmail, "client_secret", K::Secret, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, gmail.client_secret)},
    {S::Gmail, "refresh_token", K::Secret, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, gmail.refresh_token)},
    {S::Gmail, "token_url", K::Url, "https://oauth2.googleapis.com/token", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, gmail.token_url)},
    {S::Gmail, "api_url", K::Url, "https://gmail.googleapis.com", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, gmail.api_url)},
    {S::Gmail, "ca_file", K::Path, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, gmail.ca_file)},
    {S::Gmail, "user", K::Email, "", kNoMin, kNoMax, R, false, "", FLD(ProviderConfig, gmail.user)},
    {S::Gmail, "scope", K::String, "https://www.googleapis.com/auth/gmail.send", kNoMin, kNoMax, R, false, "",
     FLD(ProviderConfig, gmail.scope)},
    {S::Gmail, "max_message_size", K::Size, "35MB", 1024, 35 * kMB, R, false, "",
     FLD(ProviderConfig, gmail.max_message_size)},
    {S::Gmail, "resumable_threshold", K::Size, "5MB", 1024, 35 * kMB, R, false, "",
     FLD(ProviderConfig, gmail.resumable_threshold)},
    {S::Gmail, "max_recipients", K::Int, "100", 1, 100, R, false, "", FLD(ProviderConfig, gmail.max_recipients)},
    {S::Gmail, "timeout", K::Duration, "120s", 1, 3600, R, false, "", FLD(ProviderConfig, gmail.timeout)},
    {S::Gmail, "max_concurrent_per_user", K::Int, "4", 1, 64, R, false, "",
     FLD(ProviderConfig, gmail.max_concurrent_per_user)},
    // ---- routing --------------------------------------------------------
    {S::Top, "routes", K::Routes, "[]", kNoMin, kNoMax, R, false, "", FLD(Config, routes)},
    {S::Route, "sender", K::SenderPattern, "", kNoMin, kNoMax, R, false, "", FLD(Route, sender)},
    {S::Route, "auth_user", K::String, "", kNoMin, kNoMax, R, false, "", FLD(Route, auth_user)},
    {S::Route, "provider", K::String, "", kNoMin, kNoMax, R, REQ, "", FLD(Route, provider)},
    {S::Route, "min_size", K::Size, "0", 0, 1024 * kMB * 1024, R, false, "", FLD(Route, min_size)},
    {S::Route, "max_size", K::Size, "0", 0, 1024 * kMB * 1024, R, false, "", FLD(Route, max_size)},
    {S::Top, "default_provider", K::String, "", kNoMin, kNoMax, R, false, "", FLD(Config, default_provider)},
    {S::Top, "fallback_provider", K::String, "", kNoMin, kNoMax, R, false, "", FLD(Config, fallback_provider)},
    {S::Top, "user", K::String, "", kNoMin, kNoMax, NR, false, "", FLD(Config, user)},
    // ---- log ------------------------------------------------------------
    {S::Top, "log", K::Section},
    {S::Top, "log.level", K::Choice, "info", kNoMin, kNoMax, R, false, "debug|info|warn|error", FLD(Config, log.level)},
    // ---- admin_http (docs/metrics.md) -------------------------------------
    {S::Top, "admin_http", K::Section},
    {S::Top, "admin_http.listen", K::Address, "", kNoMin, kNoMax, NR, REQ, "",
     [](void* o) -> void* { return &static_cast<Config*>(o)->admin_http.listen; }},
    // ---- relayctl run (docs/systemd.md) -----------------------------------
    {S::Top, "supervisor", K::Section},
    {S::Top, "supervisor.max_start_failures", K::Int, "5", 1, 1000, R, false, "",
     FLD(Config, supervisor.max_start_failures)},
    {S::Top, "supervisor.start_timeout", K::Duration, "30s", 1, 3600, R, false, "",
     FLD(Config, supervisor.start_timeout)},
    // ---- cluster (docs/scale-out.md) --------------------------------------
    {S::Top, "cluster", K::Section},
    {S::Top, "cluster.host_name", K::String, "", kNoMin, kNoMax, NR, false, "", FLD(Config, cluster.host_name)},
    {S::Top, "cluster.heartbeat_interval", K::Duration, "15s", 1, 3600, NR, false, "",
     FLD(Config, cluster.heartbeat_interval)},
    // ---- limits (docs/mailbox-limits.md) ----------------------------------
    {S::Top, "limits", K::Section},
    {S::Top, "limits.coordination", K::Choice, "database", kNoMin, kNoMax, NR, false, "database|local",
     FLD(Config, limits.coordination)},
    {S::Top, "limits.lease_ttl", K::Duration, "30s", 2, 600, NR, false, "", FLD(Config, limits.lease_ttl)},
    {S::Top, "limits.hosts", K::Int, "1", 1, 64, NR, false, "", FLD(Config, limits.hosts)},
};
#undef FLD

}  // namespace

std::span<const Key> keys() { return kKeys; }

const Key* find_key(Scope scope, std::string_view path) {
  for (const auto& k : kKeys)
    if (k.scope == scope && k.path == path) return &k;
  return nullptr;
}

std::string_view scope_name(Scope scope) {
  switch (scope) {
    case Scope::Top: return "";
    case Scope::Listener: return "listener";
    case Scope::User: return "user";
    case Scope::Route: return "route";
    case Scope::Outbox: return "outbox provider";
    case Scope::Smtp: return "smtp provider";
    case Scope::M365: return "m365 provider";
    case Scope::Gmail: return "gmail provider";
  }
  return "";
}

}  // namespace relay::config::detail
