// relay::admin::AdminHttp (see admin_http.hpp).
#include "admin-cli/admin_http.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>

#include <cstdarg>
#include <cstring>
#include <strings.h>

#include "admin-cli/health.hpp"
#include "admin-cli/http_deadlines.hpp"
#include "admin-cli/metrics_exposition.hpp"
#include "common/config.hpp"
#include "common/log.hpp"
#include "common/metrics_publisher.hpp"

namespace relay::admin {
namespace {

constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

MHD_Result respond(MHD_Connection* conn, unsigned status, const std::string& body, const char* type,
                   const char* allow = nullptr) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

struct Framing {
  int content_length = 0;
  int transfer_encoding = 0;
};

MHD_Result count_framing(void* cls, MHD_ValueKind, const char* key, const char*) {
  auto* f = static_cast<Framing*>(cls);
  if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) ++f->content_length;
  if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) ++f->transfer_encoding;
  return MHD_YES;
}

// What RFC 9112 says to refuse and MHD lets through; "" when fine.
const char* malformed(MHD_Connection* conn, const char* version) {
  if (std::strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST) == nullptr)
    return "bad request: HTTP/1.1 without Host\n";
  Framing f;
  MHD_get_connection_values(conn, MHD_HEADER_KIND, &count_framing, &f);
  if (f.content_length > 1) return "bad request: more than one Content-Length\n";
  if (f.content_length && f.transfer_encoding) return "bad request: Content-Length with Transfer-Encoding\n";
  return "";
}

// "http://host:port/metrics?x" (absolute-form, RFC 9112 3.2.2) -> "/metrics".
std::string_view origin_path(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (url.size() < scheme.size() || strncasecmp(url.data(), scheme.data(), scheme.size()) != 0) continue;
    auto slash = url.find('/', scheme.size());
    return slash == url.npos ? std::string_view("/") : url.substr(slash);
  }
  return url;
}

MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method, const char* version,
                      const char*, size_t*, void**) {
  const auto* self = static_cast<const AdminHttp*>(cls);
  const CollectOptions* opt = &self->options();
  const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 || std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  const std::string_view path = origin_path(url);
  try {
    if (const char* bad = malformed(conn, version); *bad) return respond(conn, MHD_HTTP_BAD_REQUEST, bad, kText);
    if (path != "/metrics" && path != "/healthz") return respond(conn, MHD_HTTP_NOT_FOUND, "not found\n", kText);
    if (!get) return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", kText, "GET, HEAD");
    Collected c = collect(*opt);
    if (path == "/metrics") return respond(conn, MHD_HTTP_OK, render_metrics(c), kPrometheus);
    Health h = evaluate_health(c, spool_write_problem(opt->spool_dir), self->draining());
    if (h.status == 200) {
      if (std::string s = spool_space_problem(opt->spool_dir, self->min_free_space()); !s.empty()) h = {503, s};
    }
    return respond(conn, static_cast<unsigned>(h.status), h.text + "\n", kText);
  } catch (const std::exception& e) {  // never out of MHD's thread
    log::error("admin_http event=request_failed path={} reason={}", log::quote(path.substr(0, 100)),
               log::quote(e.what()));
    return respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", kText);
  }
}

void mhd_log(void*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line(buf);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  log::warn("admin_http event=http_error reason={}", log::quote(line));
}

bool fill_address(const std::string& host, std::uint16_t port, sockaddr_storage* ss, unsigned* flags) {
  if (host.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    *flags |= MHD_USE_IPv6;
    return inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  return inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1;
}

bool loopback(const std::string& host) { return host == "::1" || host.rfind("127.", 0) == 0; }

}  // namespace

std::unique_ptr<AdminHttp> AdminHttp::start(const config::Config& cfg, std::string* error,
                                             const AdminHttpLimits& limits) {
  std::unique_ptr<AdminHttp> a(new AdminHttp());
  a->opt_.spool_dir = cfg.spool.directory;
  a->opt_.journal = cfg.dispatcher.journal;
  a->opt_.dispatchers = cfg.dispatcher.processes;
  a->set_min_free_space(cfg.receiver.limits.min_free_space);
  const auto& l = cfg.admin_http.listen;
  const std::string where = l.host.find(':') != std::string::npos ? "[" + l.host + "]:" + std::to_string(l.port)
                                                                   : l.host + ":" + std::to_string(l.port);
  clear_dead_slots(metrics::metrics_dir(cfg.spool.directory));
  sockaddr_storage ss{};
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
  if (!fill_address(l.host, l.port, &ss, &flags)) {
    *error = "admin_http.listen: bad address " + where;
    return nullptr;
  }
  // MHD's thread inherits the signal mask: with every signal blocked there,
  // SIGTERM/SIGHUP/SIGCHLD reach the supervisor's signalfd, never this thread
  // (whose default action would kill the whole process).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  a->deadlines_ = std::make_unique<HttpDeadlines>(std::chrono::seconds(limits.lifetime_seconds));
  a->daemon_ = MHD_start_daemon(
      flags, l.port, nullptr, nullptr, &on_request, a.get(), MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, nullptr,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&ss), MHD_OPTION_CONNECTION_LIMIT, 32u,
      MHD_OPTION_CONNECTION_TIMEOUT, limits.idle_seconds, MHD_OPTION_NOTIFY_CONNECTION,
      static_cast<MHD_NotifyConnectionCallback>(&HttpDeadlines::notify), a->deadlines_.get(),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(16 * 1024),
      MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!a->daemon_) {
    *error = fmt::format("admin_http.listen {}: cannot listen (address in use or not local?)", where);
    return nullptr;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(a->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  a->port_ = info ? info->port : l.port;
  log::info("admin_http event=listening address={} paths=/metrics,/healthz", where);
  if (!loopback(l.host))
    log::warn("admin_http event=non_loopback address={} reason=\"/metrics and /healthz have no authentication\"", where);
  return a;
}

AdminHttp::~AdminHttp() {
  if (daemon_) MHD_stop_daemon(daemon_);
}

}  // namespace relay::admin
