// Server: listeners, admission, connection registry.
#include "receiver/server/server.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include "common/cidr.hpp"
#include "common/log.hpp"
#include "receiver/server/connection.hpp"

namespace relay::receiver {

struct Server::ListenHandle {
  uv_tcp_t tcp{};
  Server* server = nullptr;
  std::shared_ptr<const ListenerSpec> spec;
};

namespace {
bool is_loopback(const std::string& host) {
  auto a = net::parse_address(host);
  if (!a) return host == "localhost";
  if (a->family == AF_INET) return a->bytes[0] == 127;
  static const std::uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::equal(a->bytes.begin(), a->bytes.end(), kV6Loopback);
}
}  // namespace

Server::Server(uv_loop_t* loop, config::Config cfg, std::shared_ptr<const smtp::Policy> policy, spool::Spool spool,
               std::shared_ptr<TlsContext> tls)
    : loop_(loop), cfg_(std::move(cfg)), policy_(std::move(policy)), spool_(std::move(spool)), group_(spool_),
      pool_(loop, spool_, 32),
      tls_(std::move(tls)),
      throttle_(policy_->limits.max_auth_failures_per_ip, policy_->limits.auth_failure_window) {}

Server::~Server() = default;

std::string Server::next_session_id() {
  static const unsigned pid = static_cast<unsigned>(getpid());
  return fmt::format("S{:X}.{}", pid, ++session_counter_);
}

std::uint64_t Server::storage_free() {
  const std::uint64_t now = uv_now(loop_);
  if (storage_checked_ms_ != 0 && now - storage_checked_ms_ < 1000) return storage_free_;
  storage_checked_ms_ = now == 0 ? 1 : now;
  struct statvfs vfs{};
  if (::statvfs(spool_.root().c_str(), &vfs) != 0) {
    storage_free_ = UINT64_MAX;
  } else if (vfs.f_files > 0 && vfs.f_favail < kMinFreeInodes) {
    storage_free_ = 0;  // bytes left but no inodes: every create fails
  } else {
    storage_free_ = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  }
  return storage_free_;
}

bool Server::listen_one(const config::Listener& l, std::string* error) {
  auto spec = std::make_shared<ListenerSpec>();
  spec->cfg = l;
  spec->info.tls = l.tls;
  spec->info.loopback = is_loopback(l.host);
  bool v6 = l.host.find(':') != std::string::npos;
  spec->name = v6 ? "[" + l.host + "]:" + std::to_string(l.port) : l.host + ":" + std::to_string(l.port);
  if (l.tls != config::TlsMode::None && !tls_) {
    *error = "listener " + spec->name + " uses TLS but receiver.tls.cert_file/key_file are not set";
    return false;
  }
  sockaddr_storage addr{};
  int r = v6 ? uv_ip6_addr(l.host.c_str(), l.port, reinterpret_cast<sockaddr_in6*>(&addr))
             : uv_ip4_addr(l.host.c_str(), l.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (r != 0) {
    *error = "listener " + spec->name + ": bad address";
    return false;
  }
  auto* h = new ListenHandle;
  h->server = this;
  h->spec = spec;
  h->tcp.data = h;
  uv_tcp_init(loop_, &h->tcp);
  r = uv_tcp_bind(&h->tcp, reinterpret_cast<sockaddr*>(&addr), v6 ? UV_TCP_IPV6ONLY : 0);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&h->tcp), 1024, on_connection);
  if (r != 0) {
    *error = "listen on " + spec->name + ": " + uv_strerror(r);
    uv_close(reinterpret_cast<uv_handle_t*>(&h->tcp), [](uv_handle_t* x) { delete static_cast<ListenHandle*>(x->data); });
    return false;
  }
  listeners_.push_back(h);
  log::info("listening address={} tls={}", spec->name, static_cast<int>(l.tls));
  return true;
}

void Server::close_listeners() {
  for (auto* h : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&h->tcp), [](uv_handle_t* x) { delete static_cast<ListenHandle*>(x->data); });
  }
  listeners_.clear();
}

void Server::on_connection(uv_stream_t* s, int status) {
  auto* h = static_cast<ListenHandle*>(s->data);
  if (status < 0) {
    log::warn("event=accept_error listener={} error={}", h->spec->name, uv_strerror(status));
    return;
  }
  Connection::accept(*h->server, s, h->spec);
}

Server::Admit Server::check_limits(const std::string& ip, const std::string& key) const {
  if (draining_) return Admit::Draining;
  if (!policy_->client_allowed(ip)) return Admit::Network;
  if (count_ >= static_cast<std::size_t>(policy_->limits.max_connections)) return Admit::Total;
  auto it = per_ip_.find(key);
  if (it != per_ip_.end() && it->second >= policy_->limits.max_connections_per_ip) return Admit::PerIp;
  return Admit::Ok;
}

Server::Admit Server::admit(const std::string& ip, const std::string& key) {
  Admit a = check_limits(ip, key);
  if (a == Admit::Total || a == Admit::PerIp) {
    // Clients that connected and hung up in the same accept batch (port
    // probes, impatient clients) still hold a slot until we read their EOF:
    // look before refusing someone for their sake.
    reap_disconnected(a == Admit::PerIp ? &key : nullptr);
    a = check_limits(ip, key);
  }
  if (a == Admit::Ok && !rate_.admit(key, uv_now(loop_), policy_->limits.max_connection_rate)) return Admit::Rate;
  return a;
}

void Server::reap_disconnected(const std::string* key) {
  for (Connection* c = head_; c;) {
    Connection* next = c->next;
    if (!key || c->key() == *key) c->reap_if_disconnected();
    c = next;
  }
}

void Server::attach(Connection* c, const std::string& key) {
  c->next = head_;
  c->prev = nullptr;
  if (head_) head_->prev = c;
  head_ = c;
  ++count_;
  ++per_ip_[key];
}

void Server::release(const std::string& key) {
  --count_;
  auto it = per_ip_.find(key);
  if (it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
  if (draining_) maybe_finish();
}

void Server::unlink(Connection* c) {
  if (c->prev) c->prev->next = c->next;
  else head_ = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = nullptr;
  if (finished_ && !head_) close_own_handles();
}

}  // namespace relay::receiver
