// relay::net::CurlMulti — see curl_multi.hpp.
//
// How it works: libcurl tells us which sockets to watch (socket callback) and
// when to wake it up (timer callback). We mirror that with one uv_poll_t per
// socket and one uv_timer_t, and hand every event back through
// curl_multi_socket_action(). Finished transfers are collected with
// curl_multi_info_read() after each action and their Done called there, so a
// Done never runs inside a libcurl callback (it may start or cancel transfers).
// Runs on: the loop thread only. Every uv handle is heap-allocated and freed in
// its close callback (STYLE.md 8), so handles may outlive this object by one
// loop iteration.
// Fails: add/remove errors become a Done(CURLE_FAILED_INIT) posted to the loop;
// exceptions thrown by a Done are caught and logged, never propagated into libuv.
#include "common/curl_multi.hpp"

#include <cstdlib>
#include <deque>
#include <exception>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/log.hpp"

namespace relay::net {

namespace {

// curl_global_init is not thread-safe before 7.84; do it once per process.
void global_init_once() {
  static const bool ok = [] {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  }();
  if (!ok) {
    log::error("- event=curl_global_init_failed");
    std::abort();
  }
}

template <typename H>
void close_and_free(H* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* p) { delete reinterpret_cast<H*>(p); });
}

// Removes a transfer that has not finished. libcurl 7.88 finishes a removed
// SMTP upload as if it were complete (smtp_done() sends the end-of-data dot
// and blocks for the reply), which would deliver a truncated message. Without
// recipients smtp_done() skips that, and the connection, removed mid-transfer,
// is dropped without QUIT: the server discards the partial message.
void remove_unfinished(CURLM* multi, CURL* easy) {
  curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, static_cast<curl_slist*>(nullptr));
  curl_multi_remove_handle(multi, easy);
}

void call_done(CurlMulti::Done& done, CURLcode rc) noexcept {
  if (!done) return;
  try {
    done(rc);
  } catch (const std::exception& e) {
    log::error("- event=curl_done_threw reason={}", log::quote(e.what()));
  } catch (...) {
    log::error("- event=curl_done_threw reason=unknown");
  }
}

}  // namespace

// ---- Easy / SList -------------------------------------------------------

Easy::Easy() {
  global_init_once();
  h_ = curl_easy_init();
  if (h_ == nullptr) {
    log::error("- event=curl_easy_init_failed");
    std::abort();
  }
}
Easy::Easy(Easy&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
Easy& Easy::operator=(Easy&& o) noexcept {
  if (this != &o) {
    if (h_ != nullptr) curl_easy_cleanup(h_);
    h_ = std::exchange(o.h_, nullptr);
  }
  return *this;
}
Easy::~Easy() {
  if (h_ != nullptr) curl_easy_cleanup(h_);
}

SList::SList(SList&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
SList& SList::operator=(SList&& o) noexcept {
  if (this != &o) {
    curl_slist_free_all(l_);
    l_ = std::exchange(o.l_, nullptr);
  }
  return *this;
}
SList::~SList() { curl_slist_free_all(l_); }
void SList::append(const char* s) {
  curl_slist* n = curl_slist_append(l_, s);
  if (n == nullptr) {
    log::error("- event=curl_slist_append_failed");
    std::abort();
  }
  l_ = n;
}

// ---- CurlMulti ----------------------------------------------------------

struct CurlMulti::Impl {
  struct Socket {
    uv_poll_t poll;  // first member: the uv handle pointer is the Socket pointer
    Impl* impl = nullptr;
    curl_socket_t fd = CURL_SOCKET_BAD;
  };

  uv_loop_t* loop = nullptr;
  CURLM* multi = nullptr;
  uv_timer_t* timer = nullptr;   // curl's timeout
  uv_timer_t* kick = nullptr;    // runs posted completions (failed starts)
  std::unordered_map<CURL*, Done> transfers;
  std::unordered_set<Socket*> sockets;
  std::deque<std::pair<Done, CURLcode>> posted;

  static int on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* sockp);
  static int on_timer(CURLM*, long timeout_ms, void* userp);
  static void on_poll(uv_poll_t* h, int status, int events);
  static void on_timeout(uv_timer_t* t);
  static void on_kick(uv_timer_t* t);

  void action(curl_socket_t fd, int flags);
  void check_info();
  void forget_socket(Socket* s);
  void post(Done done, CURLcode rc);
};

int CurlMulti::Impl::on_socket(CURL*, curl_socket_t fd, int what, void* userp, void* sockp) {
  auto* self = static_cast<Impl*>(userp);
  auto* s = static_cast<Socket*>(sockp);
  if (what == CURL_POLL_REMOVE) {
    if (s != nullptr) self->forget_socket(s);
    return 0;
  }
  if (s == nullptr) {
    s = new Socket;
    s->impl = self;
    s->fd = fd;
    int rc = uv_poll_init_socket(self->loop, &s->poll, fd);
    if (rc != 0) {
      log::error("- event=uv_poll_init_failed fd={} reason={}", fd, uv_strerror(rc));
      delete s;
      return -1;  // libcurl fails the transfers on this socket
    }
    s->poll.data = s;
    self->sockets.insert(s);
    curl_multi_assign(self->multi, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, &Impl::on_poll);
  return 0;
}

void CurlMulti::Impl::forget_socket(Socket* s) {
  // Stop before libcurl closes the fd; free the memory in the close callback.
  uv_poll_stop(&s->poll);
  if (multi != nullptr) curl_multi_assign(multi, s->fd, nullptr);
  sockets.erase(s);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll),
           [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
}

int CurlMulti::Impl::on_timer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<Impl*>(userp);
  if (timeout_ms < 0) {
    uv_timer_stop(self->timer);
  } else {
    // 0 means "call socket_action as soon as possible" — but never from
    // inside this callback (libcurl forbids re-entrancy), so via the loop.
    uv_timer_start(self->timer, &Impl::on_timeout, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void CurlMulti::Impl::on_poll(uv_poll_t* h, int status, int events) {
  auto* s = static_cast<Socket*>(h->data);
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  s->impl->action(s->fd, flags);
}

void CurlMulti::Impl::on_timeout(uv_timer_t* t) {
  static_cast<Impl*>(t->data)->action(CURL_SOCKET_TIMEOUT, 0);
}

void CurlMulti::Impl::action(curl_socket_t fd, int flags) {
  int running = 0;
  CURLMcode rc = curl_multi_socket_action(multi, fd, flags, &running);
  if (rc != CURLM_OK) {
    log::error("- event=curl_multi_socket_action_failed reason={}",
               log::quote(curl_multi_strerror(rc)));
  }
  check_info();
}

void CurlMulti::Impl::check_info() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* easy = m->easy_handle;
    CURLcode result = m->data.result;
    curl_multi_remove_handle(multi, easy);
    auto it = transfers.find(easy);
    if (it == transfers.end()) continue;
    Done done = std::move(it->second);
    transfers.erase(it);
    call_done(done, result);  // may start/cancel other transfers: safe here
  }
}

void CurlMulti::Impl::post(Done done, CURLcode rc) {
  posted.emplace_back(std::move(done), rc);
  uv_timer_start(kick, &Impl::on_kick, 0, 0);
}

void CurlMulti::Impl::on_kick(uv_timer_t* t) {
  auto* self = static_cast<Impl*>(t->data);
  auto batch = std::move(self->posted);
  self->posted.clear();
  for (auto& [done, rc] : batch) call_done(done, rc);
}

CurlMulti::CurlMulti(uv_loop_t* loop) : loop_(loop), impl_(std::make_unique<Impl>()) {
  global_init_once();
  impl_->loop = loop;
  impl_->multi = curl_multi_init();
  if (impl_->multi == nullptr) {
    log::error("- event=curl_multi_init_failed");
    std::abort();
  }
  impl_->timer = new uv_timer_t;
  impl_->kick = new uv_timer_t;
  uv_timer_init(loop, impl_->timer);
  uv_timer_init(loop, impl_->kick);
  impl_->timer->data = impl_.get();
  impl_->kick->data = impl_.get();
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETDATA, impl_.get());
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERDATA, impl_.get());
}

CurlMulti::~CurlMulti() {
  Impl& m = *impl_;
  // Abort running transfers first: their Done may still use this object.
  while (!m.transfers.empty()) {
    auto it = m.transfers.begin();
    CURL* easy = it->first;
    Done done = std::move(it->second);
    m.transfers.erase(it);
    remove_unfinished(m.multi, easy);
    call_done(done, CURLE_ABORTED_BY_CALLBACK);
  }
  for (auto& [done, rc] : m.posted) call_done(done, rc);
  m.posted.clear();
  // Cleanup closes cached connections; it may still call on_socket(REMOVE).
  curl_multi_cleanup(m.multi);
  m.multi = nullptr;
  while (!m.sockets.empty()) m.forget_socket(*m.sockets.begin());
  uv_timer_stop(m.timer);
  uv_timer_stop(m.kick);
  close_and_free(m.timer);
  close_and_free(m.kick);
}

void CurlMulti::start(CURL* easy, Done done) {
  CURLMcode rc = curl_multi_add_handle(impl_->multi, easy);
  if (rc != CURLM_OK) {
    log::error("- event=curl_multi_add_failed reason={}", log::quote(curl_multi_strerror(rc)));
    impl_->post(std::move(done), CURLE_FAILED_INIT);
    return;
  }
  // libcurl has asked for a 0 ms timeout: the transfer begins on the loop.
  impl_->transfers.emplace(easy, std::move(done));
}

void CurlMulti::cancel(CURL* easy) {
  auto it = impl_->transfers.find(easy);
  if (it == impl_->transfers.end()) return;
  Done done = std::move(it->second);
  impl_->transfers.erase(it);
  remove_unfinished(impl_->multi, easy);
  // Called before cancel() returns, so the caller may free the easy handle
  // and everything its Done captured right afterwards.
  call_done(done, CURLE_ABORTED_BY_CALLBACK);
}

void CurlMulti::set_limits(long max_host_connections, long max_total_connections) {
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total_connections);
}

std::size_t CurlMulti::running() const noexcept { return impl_->transfers.size(); }

}  // namespace relay::net
