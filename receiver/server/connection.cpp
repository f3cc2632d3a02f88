// Connection: accept, read/write plumbing, TLS switch, close.
#include "receiver/server/connection.hpp"

#include <ctime>

#include "common/log.hpp"
#include "common/metrics_registry.hpp"
#include "receiver/server/client_limits.hpp"
#include "receiver/server/jobs.hpp"
#include "receiver/server/tls_context.hpp"

namespace relay::receiver {

namespace {
char g_read_buffer[65536];  // shared: read callbacks run one at a time on the loop

std::string peer_ip(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&ss), buf, sizeof buf);
  } else {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {  // dual-stack listener: report the IPv4 address
      sockaddr_in s4{};
      s4.sin_family = AF_INET;
      std::memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
      uv_ip4_name(&s4, buf, sizeof buf);
    } else {
      uv_ip6_name(s6, buf, sizeof buf);
    }
  }
  return buf;
}

struct WriteReq {
  uv_write_t req{};
  Connection* owner = nullptr;
  std::string data;
};
}  // namespace

Connection::Connection(Server& server, std::shared_ptr<const ListenerSpec> spec)
    : server_(server), spec_(std::move(spec)) {
  tcp_.data = this;
}

Connection::~Connection() = default;

std::int64_t Connection::now() const { return static_cast<std::int64_t>(std::time(nullptr)); }

void Connection::accept(Server& server, uv_stream_t* listener, std::shared_ptr<const ListenerSpec> spec) {
  auto* c = new Connection(server, std::move(spec));
  uv_tcp_init(server.loop(), &c->tcp_);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp_)) != 0) {
    c->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), on_closed);
    return;
  }
  uv_tcp_nodelay(&c->tcp_, 1);
  c->ip_ = peer_ip(&c->tcp_);
  c->key_ = client_key(c->ip_);
  c->id_ = server.next_session_id();
  c->connected_at_ = c->last_activity_ = uv_now(server.loop());
  c->guarded([c] { c->start_session(); });
}

void Connection::start_session() {
  const auto& host = server_.policy()->hostname;
  switch (server_.admit(ip_, key_)) {
    case Server::Admit::Ok: break;
    case Server::Admit::Network: return refuse("554 5.7.1 " + host + " Error: access denied", "client_network");
    case Server::Admit::Total: return refuse("421 4.7.0 " + host + " Error: too many connections", "max_connections");
    case Server::Admit::PerIp:
      return refuse("421 4.7.0 " + host + " Error: too many connections from your address", "max_connections_per_ip");
    case Server::Admit::Rate:
      return refuse("421 4.7.0 " + host + " Error: too many connections from your address, try again later",
                    "max_connection_rate");
    case Server::Admit::Draining: return refuse("421 4.3.2 " + host + " Service shutting down", "shutdown");
  }
  server_.attach(this, key_);
  attached_ = true;
  metrics::registry().add("relay_smtp_connections_total", {{"result", "accepted"}, {"reason", "ok"}});
  log::info("{} event=connect client={} listener={} tls={}", id_, ip_, spec_->name,
            spec_->cfg.tls == config::TlsMode::Implicit ? "implicit" : "none");
  session_ = std::make_unique<smtp::Session>(*this, server_.policy(), spec_->info, ip_, id_);
  if (spec_->cfg.tls == config::TlsMode::Implicit) {
    auto tls = std::make_unique<TlsTransport>(*server_.tls());
    if (!tls->ok()) return abort("tls setup failed");
    transport_ = std::move(tls);
    tls_begins();
  }
  session_->start();
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read);
  reading_ = true;
}

void Connection::send(std::string_view reply) {
  out_.append(reply);
  if (!reply.empty() && (reply[0] == '4' || reply[0] == '5')) note_refusal(reply);
}

// A shutdown's 421 is not the client's failure: not counted.
void Connection::note_refusal(std::string_view reply) {
  if (server_.draining()) return;
  std::string_view user;
  if (session_) user = session_->auth_user().empty() ? session_->auth_pending_user() : session_->auth_user();
  server_.note_refusal(ip_, user, session_ && !session_->tls().empty(), reply);
}

void Connection::refuse(std::string_view reply, std::string_view reason) {
  note_refusal(reply);
  log::info("{} event=refused_connection client={} listener={} reason={}", id_, ip_, spec_->name, reason);
  metrics::registry().add("relay_smtp_connections_total", {{"result", "refused"}, {"reason", std::string(reason)}});
  // An implicit-TLS client cannot read a clear-text reply: just close.
  if (spec_->cfg.tls != config::TlsMode::Implicit) out_.append(reply).append("\r\n");
  close(reason);
}

void Connection::guard_failed(const char* what) {
  log::error("{} event=internal_error client={} error={}", id_, ip_, log::quote(what));
  abort("internal error");
}

void Connection::on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
  buf->base = g_read_buffer;
  buf->len = sizeof g_read_buffer;
}

void Connection::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (n == 0 || c->closing_) return;
  if (n == UV_EOF && c->session_ && !c->session_->closed() && !c->tls_handshaking()) {
    // A half-close (shutdown(SHUT_WR) after the end of data): the client
    // still reads. Its complete commands are answered, a pending commit
    // too, before we close; an unfinished message is dropped.
    c->peer_eof_ = true;
    uv_read_stop(s);
    c->reading_ = false;
    c->guarded([c] { c->session_->end_of_input(); });
    return;
  }
  if (n < 0) {
    c->abort(n == UV_EOF ? "client disconnected" : uv_strerror(static_cast<int>(n)));
    return;
  }
  c->last_activity_ = uv_now(c->server_.loop());
  if (c->transfer_start_ != 0) c->transfer_bytes_ += static_cast<std::uint64_t>(n);
  c->guarded([c, buf, n] { c->input(std::string_view(buf->base, static_cast<std::size_t>(n))); });
}

void Connection::input(std::string_view wire) {
  if (!session_ || session_->closed()) return;
  if (!transport_) return session_->feed(wire);
  std::string wire_out;
  auto plain = transport_->decode(wire, wire_out);
  if (!wire_out.empty()) write_raw(wire_out);
  if (!plain) return abort("tls error: " + transport_->error());
  if (transport_->take_established()) {
    tls_since_ = 0;
    log::info("{} event=tls client={} tls={}", id_, ip_, log::quote(transport_->description()));
    session_->tls_established(transport_->description());
  }
  if (!plain->empty()) session_->feed(*plain);
  if (transport_->peer_closed() && !peer_eof_) {  // TLS close_notify: a clean half-close
    peer_eof_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
    session_->end_of_input();
  }
}

void Connection::after_session() {
  if (closing_) return;
  // A session stopped by the output bound still holds complete commands: go
  // on as long as the kernel takes the replies (a client that reads them).
  for (int round = 0; round < 64; ++round) {
    bool stopped = session_ && output_blocked();
    flush();
    if (!stopped || closing_ || close_after_flush_ || tls_pending_ || output_blocked()) break;
    session_->resume();
    if (out_.empty()) break;
  }
  if (tls_pending_ && !closing_) {
    tls_pending_ = false;
    auto tls = std::make_unique<TlsTransport>(*server_.tls());
    if (!tls->ok()) return abort("tls setup failed");
    transport_ = std::move(tls);
    tls_begins();
  }
  if (close_after_flush_) return finish_close();
  if (!session_) return;
  std::uint64_t now = uv_now(server_.loop());
  track_deadlines(now);
  bool transfer = session_->in_transfer();
  bool want = session_->wants_input() && !output_blocked() && !peer_eof_;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want && !reading_) uv_read_start(stream, on_alloc, on_read);
  if (!want && reading_) uv_read_stop(stream);
  reading_ = want;
  if (server_.draining() && !transfer) shutdown_if_idle();
}

void Connection::flush() {
  if (out_.empty()) return;
  if (!transport_) {
    write_raw(out_);
  } else {
    std::string wire;
    if (!transport_->encode(out_, wire)) {
      out_.clear();
      return abort("tls error: " + transport_->error());
    }
    if (!wire.empty()) write_raw(wire);
  }
  out_.clear();
  if (out_.capacity() > 4096) out_.shrink_to_fit();  // idle connections stay small
}

void Connection::write_raw(std::string_view bytes) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (closing_ || bytes.empty()) return;
  if (uv_stream_get_write_queue_size(stream) == 0) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    int n = uv_try_write(stream, &b, 1);
    if (n == static_cast<int>(bytes.size())) return;
    if (n < 0 && n != UV_EAGAIN) return abort(std::string("write: ") + uv_strerror(n));
    if (n > 0) bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  auto* w = new WriteReq;
  w->data.assign(bytes);
  w->owner = this;
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int r = uv_write(&w->req, stream, &b, 1, on_write);
  if (r != 0) {
    delete w;
    abort(std::string("write: ") + uv_strerror(r));
  }
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Connection* c = w->owner;
  delete w;
  if (c->closing_) return;
  if (status < 0 && status != UV_ECANCELED) return c->abort(std::string("write: ") + uv_strerror(status));
  // Backpressure (issue 9 item 4): the client read enough of its replies.
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp_);
  if (!c->reading_ && c->blocked_since_ != 0 && uv_stream_get_write_queue_size(stream) <= kResumeOutput) {
    c->guarded([c] {
      if (c->session_) c->session_->resume();
    });
  }
}

bool Connection::output_blocked() const {
  auto* stream = reinterpret_cast<const uv_stream_t*>(&tcp_);
  return out_.size() + uv_stream_get_write_queue_size(stream) > kMaxPendingOutput;
}

}  // namespace relay::receiver
