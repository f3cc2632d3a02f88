// relay::config — the one YAML file that configures every relay program.
//
// Does: loads and validates the file into typed structs, driven by one table
// of keys (type, default, range, reloadable; Postfix CONFIG_*_TABLE style).
// Durations ("30s", "5m", "2h", "7d", plain number = seconds) and sizes
// ("512", "64KB", "35MB", "1GB"; binary multiples). Secrets may be written
// `${env:NAME}` or `${file:/path}` (file contents, trailing newline dropped).
// Unknown keys are errors. Relative paths are resolved against the config
// file's directory. After load(): default_provider is set (to the only
// provider when the file leaves it empty), dispatcher.journal is set
// (<spool.directory>/journal by default), URLs carry no trailing '/'.
// Implementation: config.cpp (load, walk), config_table.cpp (THE key table),
// config_set*.cpp (per-type parsing), config_validate.cpp (cross-key rules),
// config_values.cpp / config_secrets.cpp (value parsers), config_query.cpp.
// Does not: open sockets, files named in the config (except ${file:}), or
// the database. Pure function of the file and the environment.
// Fails: load() throws ConfigError whose what() is
//   "FILE:LINE: KEY.PATH: what was expected (got ...)"
// e.g. "etc/relay.yaml:12: receiver.limits.max_message_size: expected a size like 35MB (got '35 parsecs')".
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace relay::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class TlsMode { None, StartTls, StartTlsRequired, Implicit };
enum class AuthMode { Off, Optional, Required };
enum class SenderPolicy { Reject, Rewrite };  // what to do with a disallowed/missing From

struct Listener {
  std::string host = "127.0.0.1";  // IPv4 or IPv6 literal ("::1")
  std::uint16_t port = 2525;
  TlsMode tls = TlsMode::None;
};

struct TlsConfig {
  std::filesystem::path cert_file;   // PEM chain; required if any listener uses TLS
  std::filesystem::path key_file;
  std::string min_version = "TLSv1.2";  // TLSv1.2 | TLSv1.3
  std::string ciphers;                  // OpenSSL cipher list for <=1.2; "" = OpenSSL default
};

struct AuthUser {
  std::string name;
  std::string password_hash;                 // from `relayctl hash-password`
  std::vector<std::string> allowed_senders;  // overrides senders.allowed when non-empty
};

struct Limits {
  std::uint64_t max_message_size = 35ull << 20;
  std::uint64_t max_header_size = 256ull << 10;  // the whole header section; over it 552 5.3.4
  int max_recipients = 100;
  int max_connections = 1000;
  int max_connections_per_ip = 100;
  int max_bad_commands = 10;
  int max_auth_failures_per_ip = 5;      // per auth_failure_window, then 454/421
  std::int64_t auth_failure_window = 300;  // seconds
  std::int64_t idle_timeout = 300;       // seconds, RFC 5321 4.5.3.2: 5 min
  std::int64_t data_timeout = 600;       // seconds per DATA/BDAT transfer
  std::int64_t shutdown_grace = 30;      // seconds allowed for DATA in progress at SIGTERM
  // Hostile clients (issue 9): request deadlines and the connection rate.
  std::int64_t command_timeout = 60;        // seconds for one command line; base of the DATA/BDAT deadline
  std::uint64_t min_data_rate = 500;        // bytes/s a DATA/BDAT transfer must keep up; 0 = off
  std::int64_t tls_handshake_timeout = 30;  // seconds from STARTTLS / connect (implicit) to an established TLS
  int max_connection_rate = 0;              // new connections per client per minute; 0 = no limit
  // MAIL is answered 452 4.3.1 while the spool's filesystem has less than
  // this free (plus 1.5 x a declared SIZE): the disk never fills from new
  // mail, so dispatchers keep room for envelope rewrites and DSNs. 0 = off.
  std::uint64_t min_free_space = 100ull << 20;
};

struct ReceiverConfig {
  std::string hostname = "localhost";     // in the greeting and Received:
  std::vector<Listener> listeners{Listener{}};
  TlsConfig tls;
  AuthMode auth = AuthMode::Off;
  std::vector<AuthUser> users;
  std::vector<std::string> client_networks{"127.0.0.0/8", "::1/128"};  // CIDR; "any" is 0.0.0.0/0 + ::/0
  Limits limits;
  // Acknowledges a listener that accepts unauthenticated mail from
  // networks beyond private address space (an open relay); warned at start.
  bool allow_open_relay = false;
  // Client inventory (issue 12 item 3): refusals counted in memory per
  // (client, AUTH user), at most max_entries, written to <spool>/refusals/
  // every flush_interval for a dispatcher to import.
  struct Refusals {
    std::int64_t flush_interval = 60;  // seconds
    std::int64_t max_entries = 1000;
  } refusals;
};

struct SenderConfig {
  // Full addresses ("a@example.com"), "@example.com" (that domain) or
  // "*.example.com" (subdomains and the domain itself). Empty = any sender.
  std::vector<std::string> allowed;
  std::string default_sender;             // used by rewrite and for a missing From
  SenderPolicy policy = SenderPolicy::Reject;
};

struct SpoolConfig {
  std::filesystem::path directory = "/var/spool/relay";
  std::int64_t orphan_grace = 3600;   // seconds
  std::int64_t failed_keep = 7 * 86400;
  // "files": fdatasync per file + directory fsyncs per batch (any filesystem);
  // "filesystem": one syncfs(2) before and one after each batch's renames
  // (fastest; meant for a spool on a filesystem of its own); "auto":
  // filesystem when the spool directory is a mount point, else files.
  // spool/spool.hpp.
  std::string sync = "auto";
};

struct RetryConfig {
  std::int64_t min_backoff = 60;       // seconds
  std::int64_t max_backoff = 3600;
  std::int64_t max_lifetime = 5 * 86400;
  double jitter = 0.2;                 // +/- fraction
};

struct DispatcherConfig {
  int processes = 2;
  int max_in_flight = 32;              // deliveries in flight per process
  std::int64_t scan_interval = 30;     // seconds, fallback when inotify misses
  std::int64_t sweep_interval = 10;
  std::int64_t drain_timeout = 30;     // SIGTERM: in-flight deliveries may finish this long
  std::int64_t in_flight_grace = 120;  // then requests the provider may still accept get this long more
  RetryConfig retry;
  std::string failure_notice_to;       // "" = no notice mail on permanent failure
  // Bounces (docs/bounces.md): an RFC 3464 DSN to the envelope sender of a
  // permanently failed message. From: bounce_from, else
  // senders.default_sender, else postmaster@receiver.hostname.
  bool bounces = true;
  std::string bounce_from;
  std::filesystem::path journal;       // default <spool>/journal
};

struct DatabaseConfig {
  std::string conninfo;                // libpq conninfo or URL; "" = no database
  std::int64_t connect_timeout = 5;
  // Delivery-log retention (issue 12 item 2): rows older than this are
  // deleted in batches of retention_batch by the one elected dispatcher.
  std::int64_t retention = 90 * 86400;  // seconds
  std::int64_t retention_batch = 1000;
};

// Per-mailbox limits across hosts (docs/mailbox-limits.md).
struct LimitsConfig {
  // "database": m365/gmail per-mailbox limits are coordinated through
  // PostgreSQL (when database.conninfo is set); "local": each process keeps
  // its static share (limit / (dispatcher.processes x hosts)).
  std::string coordination = "database";
  std::int64_t lease_ttl = 30;  // seconds a dead holder's lease outlives it
  int hosts = 1;                // relay hosts sharing the mailboxes: divides the fallback share
};

struct OutboxProvider {
  std::filesystem::path directory;
  std::uint64_t max_message_size = 0;       // 0 = no limit of its own (routing: common/route_table.hpp)
};

// `auth: xoauth2` with tokens relay gets and refreshes itself (docs/smtp-oauth.md):
// Microsoft (tenant_id set: client credentials, secret or certificate) or
// Google (service_account_file set: JWT bearer, sub = subject).
struct SmtpOAuth {
  std::string tenant_id;                    // Microsoft
  std::string client_id;
  std::string client_secret;                // secret
  std::filesystem::path certificate_file;   // alternative to client_secret
  std::filesystem::path private_key_file;
  std::string login_url = "https://login.microsoftonline.com";
  std::filesystem::path service_account_file;  // Google
  std::string token_url = "https://oauth2.googleapis.com/token";
  std::string scope;                        // "" = Outlook's (Microsoft) or https://mail.google.com/ (Google)
  std::string subject;                      // Google sub; "" = username
  std::filesystem::path ca_file;            // for the token endpoint; "" = system store
  bool microsoft() const noexcept { return !tenant_id.empty(); }
  bool google() const noexcept { return !service_account_file.empty(); }
  bool configured() const noexcept { return microsoft() || google(); }
};

struct SmtpProvider {
  std::string host;
  std::uint16_t port = 587;
  TlsMode tls = TlsMode::StartTlsRequired;  // None | StartTls (opportunistic) | StartTlsRequired | Implicit
  bool verify_peer = true;
  std::filesystem::path ca_file;            // "" = system store
  std::string username;
  std::string password;                     // secret: ${env:}/${file:}
  std::string auth = "plain";               // plain | login | xoauth2
  std::string oauth_token;                  // for xoauth2: a fixed token (expires; see oauth)
  SmtpOAuth oauth;                          // for xoauth2: tokens acquired and refreshed by relay
  int max_connections = 4;                  // per host
  std::int64_t timeout = 60;
  std::string helo;                         // "" = receiver.hostname
  std::uint64_t max_message_size = 0;       // the upstream's SIZE, as configured; 0 = no limit of our own
};

struct M365Provider {
  std::string tenant_id;
  std::string client_id;
  std::string client_secret;                // secret
  std::filesystem::path certificate_file;   // alternative to client_secret
  std::filesystem::path private_key_file;
  std::string login_url = "https://login.microsoftonline.com";
  std::string graph_url = "https://graph.microsoft.com";
  std::filesystem::path ca_file;            // tests point this at their own CA
  bool save_to_sent_items = false;
  std::string json_unfaithful = "mime";     // save_to_sent_items false, message JSON cannot carry: mime|refuse
  std::string client_secret_expires;        // "YYYY-MM-DD" or ""
  std::vector<int> expiry_warn_days{30, 14, 7, 3, 1};
  std::string expiry_notice_to;             // "" = no notice mail
  int max_concurrent_per_mailbox = 4;
  int rate_per_minute = 30;                 // per mailbox; 0 = unlimited
  std::uint64_t max_mime_size = 3ull << 20; // above: draft + upload session
  std::uint64_t max_message_size = 35ull << 20;  // Exchange Online's default MaxSendSize; upload sessions reach 150MB
  std::int64_t timeout = 120;
};

struct GmailProvider {
  std::filesystem::path service_account_file;
  std::string client_id, client_secret, refresh_token;
  std::string token_url = "https://oauth2.googleapis.com/token";
  std::string api_url = "https://gmail.googleapis.com";
  std::filesystem::path ca_file;
  // Added by the gmail adapter (all with defaults):
  std::string user;                              // "" = impersonate the From mailbox (service account) / "me"
  std::string scope = "https://www.googleapis.com/auth/gmail.send";  // space-separated OAuth scopes
  std::uint64_t max_message_size = 35ull << 20;  // Gmail API limit per message
  std::uint64_t resumable_threshold = 5ull << 20;  // above: resumable upload
  int max_recipients = 100;                      // Gmail API limit per message
  std::int64_t timeout = 120;
  int max_concurrent_per_user = 4;               // requests in flight per user (adaptive below it on 429)
};

enum class ProviderType { Outbox, Smtp, M365, Gmail };

struct ProviderConfig {
  std::string name;
  ProviderType type = ProviderType::Outbox;
  OutboxProvider outbox;
  SmtpProvider smtp;
  M365Provider m365;
  GmailProvider gmail;
};

struct Route {
  // First matching route wins (common/route_table.hpp). At most one of
  // sender / auth_user; size bounds combine with either, or stand alone.
  std::string sender;         // full address or pattern as in senders.allowed
  std::string auth_user;
  std::string provider;
  std::uint64_t min_size = 0;  // bytes of the stored message; 0 = no lower bound
  std::uint64_t max_size = 0;  // 0 = no upper bound (the provider's own limit still applies)
};

// `relayctl run` (admin-cli/supervisor.hpp, docs/systemd.md).
struct SupervisorConfig {
  // A child that exits this many times in a row before it reports ready
  // (port taken, certificate unreadable) makes `relayctl run` stop and exit 1.
  int max_start_failures = 5;
  // A child that has not reported ready this many seconds after it was
  // started (hung on a dead NFS spool, a stuck name lookup) is SIGKILLed
  // and counted as a start-up failure.
  std::int64_t start_timeout = 30;
};

// Scale-out (docs/scale-out.md): how this host names itself in the shared
// database and how often `relayctl run` writes its row of the hosts table.
struct ClusterConfig {
  std::string host_name;                 // "" = the system's host name (gethostname)
  std::int64_t heartbeat_interval = 15;  // seconds between hosts-table upserts
};

struct LogConfig {
  std::string level = "info";  // debug | info | warn | error
};

// `admin_http: {listen: "127.0.0.1:9325"}`: /metrics and /healthz served by
// `relayctl run` (docs/metrics.md). Off when the section is absent.
struct AdminHttpConfig {
  Listener listen{.host = "", .port = 0, .tls = TlsMode::None};
  bool enabled() const noexcept { return listen.port != 0; }
};

struct Config {
  std::filesystem::path file;  // the file it was loaded from
  ReceiverConfig receiver;
  SenderConfig senders;
  SpoolConfig spool;
  DispatcherConfig dispatcher;
  DatabaseConfig database;
  LimitsConfig limits;
  std::vector<ProviderConfig> providers;   // YAML: map name -> {type: ..., ...}
  std::vector<Route> routes;
  std::string default_provider;            // "" = the only provider, if exactly one
  std::string fallback_provider;           // "" = none
  LogConfig log;
  AdminHttpConfig admin_http;
  SupervisorConfig supervisor;
  ClusterConfig cluster;
  // Run as this system user when started as root (after binding ports);
  // "" = keep the identity the program was started with.
  std::string user;
  // Set by load(): false when loaded with LoadOptions{.expand_secrets = false}.
  bool secrets_expanded = true;
  // Set by load(): "FILE:LINE: KEY: ..." lines the programs log at every
  // start (e.g. an acknowledged open relay).
  std::vector<std::string> warnings;

  const ProviderConfig* provider(std::string_view name) const;
};

struct LoadOptions {
  // false: keys holding secrets (provider credentials, database.conninfo)
  // keep their "${file:...}" text and no secret file is opened. The
  // receiver loads this way: it never needs, so never reads, credentials.
  bool expand_secrets = true;
};
// Loads and validates. Throws ConfigError (see above). The file must be a
// regular file of at most kMaxConfigFileSize bytes (a FIFO, /dev/zero or a
// wrong -c pointing at a log file is refused before it is read), UTF-8 text
// without NUL bytes, one YAML document; the document may expand (aliases)
// to at most kMaxConfigValues keys and list items (a legitimate file has a
// few hundred; each one costs memory in the loader).
inline constexpr std::size_t kMaxConfigFileSize = 1 << 20;
inline constexpr std::size_t kMaxConfigValues = 200000;
Config load(const std::filesystem::path& file, const LoadOptions& opt = {});
// For tests: parse YAML text as if it were `file_name`.
Config load_string(const std::string& yaml, const std::filesystem::path& file_name, const LoadOptions& opt = {});

// Sender patterns: true when `address` matches any of `patterns`
// (case-insensitive domain, exact local part). Empty list matches everything.
bool sender_allowed(std::string_view address, const std::vector<std::string>& patterns);

// ---- added by the config engineer (additions only) -------------------------

// Names as written in the YAML ("starttls-required", "m365", ...), for logs.
std::string_view to_string(TlsMode mode);
std::string_view to_string(AuthMode mode);
std::string_view to_string(ProviderType type);

// The provider for a message: the first route whose `sender` pattern
// matches `sender` or whose `auth_user` equals `auth_user` (non-empty),
// else default_provider; sizes as for an empty message (the rules with
// sizes: common/route_table.hpp). Never null for a Config returned by load().
const ProviderConfig* select_provider(const Config& cfg, std::string_view sender, std::string_view auth_user);

// Keys that differ between two loaded configs and are NOT reloadable
// (marked [restart] in etc/relay.example.yaml: receiver.listeners,
// spool.directory, dispatcher.journal, database.conninfo). A supervisor
// reloading on SIGHUP logs these and keeps running with the old values for
// them (or restarts the affected children). Empty = everything reloadable.
std::vector<std::string> restart_needed(const Config& old_cfg, const Config& new_cfg);

// Sender pattern syntax check ("user@example.com", "@example.com",
// "*.example.com"), as the loader applies it.
bool valid_sender_pattern(std::string_view pattern);

// Parsers used by the loader, exposed for tests.
std::optional<std::int64_t> parse_duration(std::string_view text);   // seconds
std::optional<std::uint64_t> parse_size(std::string_view text);      // bytes

}  // namespace relay::config
