// SmtpProvider (see smtp_provider.hpp): queueing, the easy-handle pool and
// the libcurl options. Classification lives in smtp_transcript.cpp.
#include "dispatcher/providers/smtp_provider.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "common/log.hpp"
#include "dispatcher/providers/outcome_table.hpp"
#include "dispatcher/providers/post.hpp"
#include "dispatcher/providers/smtp_checks.hpp"
#include "dispatcher/providers/smtp_oauth.hpp"
#include "dispatcher/providers/smtp_transcript.hpp"

namespace relay::provider {

struct SmtpProvider::Transfer {
  bool is_test = false;
  std::string id = "-";
  std::string mail_from;
  std::vector<std::string> rcpts;
  net::SList rcpt_list;
  int fd = -1;
  curl_off_t size = 0;
  bool read_error = false;
  std::optional<net::Easy> easy;  // from the pool or new when started
  std::string token;              // oauth: the access token this transfer authenticates with
  bool token_retried = false;     // one retry with a fresh token after the upstream refused one
  SmtpProvider* owner = nullptr;
  std::optional<Result> refused;  // stopped before MAIL by check_before_mail()
  char errbuf[CURL_ERROR_SIZE] = {};
  Done done;
  SmtpTranscript transcript;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

using Transfer = SmtpProvider::Transfer;

size_t read_body(char* buf, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  for (;;) {
    ssize_t r = ::read(t->fd, buf, size * n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno == EINTR) continue;
    t->read_error = true;
    return CURL_READFUNC_ABORT;
  }
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

int on_debug(CURL*, curl_infotype type, char* data, size_t len, void* ud) {
  static_cast<Transfer*>(ud)->transcript.on_debug(type, std::string_view(data, len));
  return 0;
}

// Pre-request callback: the connection is up (EHLO, STARTTLS, AUTH done
// or reused), MAIL is next.
int on_prereq(void* ud, char*, char*, int, int) {
  auto* t = static_cast<Transfer*>(ud);
  return t->owner->before_mail(*t) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

// Progress callback. libcurl 7.88 waits for the reply to QUIT in a
// blocking loop (smtp_disconnect -> smtp_block_statemach, up to the
// response timeout) that calls this about once a second: once QUIT is out,
// nothing more is needed from the upstream, so stop waiting (<= 1 s stall
// of the loop instead of `timeout`).
int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Transfer*>(ud)->transcript.quitting() ? 1 : 0;
}

// Whether the spooled file holds a byte >= 0x80 (read with pread: the
// transfer's offset stays at 0). Only asked when the upstream lacks 8BITMIME.
bool file_has_8bit(int fd) {
  char buf[65536];
  for (off_t off = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    for (ssize_t i = 0; i < n; ++i)
      if (static_cast<unsigned char>(buf[i]) >= 0x80) return true;
    off += n;
  }
}

void call(Provider::Done& done, Result r, const std::string& id) {
  try {
    done(std::move(r));
  } catch (const std::exception& e) {
    log::error("{} event=smtp_done_threw reason={}", id, log::quote(e.what()));
  }
}

std::string make_url(const config::SmtpProvider& c, const std::string& helo) {
  std::string host = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
  std::string scheme = c.tls == config::TlsMode::Implicit ? "smtps://" : "smtp://";
  // libcurl uses the URL path as the EHLO argument.
  return scheme + host + ":" + std::to_string(c.port) + "/" + helo;
}

}  // namespace

SmtpProvider::SmtpProvider(std::string name, config::SmtpProvider cfg, const Context& ctx)
    : name_(std::move(name)), cfg_(std::move(cfg)), loop_(ctx.loop), curl_(ctx.curl) {
  if (cfg_.host.empty()) throw config::ConfigError("provider " + name_ + ": smtp host is empty");
  if (curl_ == nullptr || loop_ == nullptr) {
    throw config::ConfigError("provider " + name_ + ": smtp needs the dispatcher's curl transport");
  }
  if (cfg_.auth != "plain" && cfg_.auth != "login" && cfg_.auth != "xoauth2") {
    throw config::ConfigError("provider " + name_ + ": auth must be plain, login or xoauth2");
  }
  if (cfg_.max_connections < 1) cfg_.max_connections = 1;
  std::string helo = cfg_.helo;
  if (helo.empty() && ctx.config != nullptr) helo = ctx.config->receiver.hostname;
  if (helo.empty()) helo = "localhost";
  url_ = make_url(cfg_, helo);
  share_ = curl_share_init();
  if (share_ == nullptr) throw config::ConfigError("provider " + name_ + ": curl_share_init failed");
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  if (cfg_.auth == "xoauth2" && cfg_.oauth.configured()) {
    if (cfg_.username.empty()) throw config::ConfigError("provider " + name_ + ": xoauth2 needs username (the mailbox)");
    tokens_ = smtp_oauth::make_token_cache(*curl_, cloud::HttpOptions{cfg_.oauth.ca_file, tracker_}, cfg_, name_);
  }
}

SmtpProvider::~SmtpProvider() {
  closing_ = true;
  cloud::cancel_all(*curl_, *tracker_);  // token requests: their callbacks are dropped
  // Each cancel calls finished() synchronously, which completes the Done.
  std::vector<CURL*> handles;
  for (auto& t : running_)
    if (t->easy) handles.push_back(t->easy->get());
  for (CURL* h : handles) curl_->cancel(h);
  for (auto& t : running_)  // still waiting for a token: never started
    if (!t->easy) call(t->done, make_result(Cause::Aborted), t->id);
  for (auto& t : waiting_) call(t->done, make_result(Cause::Aborted), t->id);
  waiting_.clear();
  running_.clear();
  pool_.clear();  // every easy handle detached before the share goes
  // Closing the cached connections sends QUIT and waits for the reply in a
  // blocking loop (libcurl's internal handle: up to 120 s each against an
  // upstream that never answers). Shut our sockets down first: the QUIT
  // fails at once and the loop is not held.
  for (curl_socket_t s : sockets_) ::shutdown(s, SHUT_RDWR);
  if (curl_share_cleanup(share_) != CURLSHE_OK) {
    log::error("- event=curl_share_cleanup_failed provider={}", name_);
  }
}

void SmtpProvider::send(const Message& msg, Done done) {
  auto t = std::make_unique<Transfer>();
  t->id = msg.id.str();
  t->mail_from = msg.mail_from;
  t->rcpts = msg.rcpts;
  t->done = std::move(done);
  t->fd = ::open(msg.data_path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st{};
  if (t->fd < 0 || ::fstat(t->fd, &st) != 0 || msg.rcpts.empty()) {
    std::string why = msg.rcpts.empty() ? "no pending recipients" : std::strerror(errno);
    Result r = make_result(msg.rcpts.empty() ? Cause::UpstreamPermanent : Cause::SpoolError, why);
    auto d = std::move(t->done);
    post(loop_, [d = std::move(d), r = std::move(r)]() mutable { d(std::move(r)); });
    return;
  }
  t->size = st.st_size;
  for (const auto& r : t->rcpts) t->rcpt_list.append(r.c_str());
  enqueue(std::move(t));
}

void SmtpProvider::test(Done done) {
  auto t = std::make_unique<Transfer>();
  t->is_test = true;
  t->done = std::move(done);
  enqueue(std::move(t));
}

CancelResult SmtpProvider::cancel(const spool::QueueId& id) {
  const std::string key = id.str();
  auto it = std::find_if(waiting_.begin(), waiting_.end(), [&](const auto& t) { return !t->is_test && t->id == key; });
  if (it == waiting_.end()) return CancelResult::InFlight;  // its upload may be running: wait for it
  waiting_.erase(it);
  return CancelResult::Stopped;
}

void SmtpProvider::enqueue(std::unique_ptr<Transfer> t) {
  waiting_.push_back(std::move(t));
  // Starting on the loop keeps even configuration failures out of send().
  start_next();
}

void SmtpProvider::start_next() {
  // A token answered from memory (or a cached token error) comes back
  // inside get(): the loop below picks up the slot it frees, no recursion.
  if (starting_) return;
  starting_ = true;
  while (!closing_ && !waiting_.empty() &&
         running_.size() < static_cast<std::size_t>(cfg_.max_connections)) {
    std::unique_ptr<Transfer> t = std::move(waiting_.front());
    waiting_.pop_front();
    Transfer* raw = t.get();
    running_.push_back(std::move(t));
    acquire(raw);
  }
  starting_ = false;
}

void SmtpProvider::acquire(Transfer* raw) {
  if (!tokens_) {
    launch(raw);
    return;
  }
  tokens_->get([this, raw](const cloud::TokenResult& tr) {
    if (closing_) return;
    if (!tr.ok) {
      token_failed(raw, tr.error);
      return;
    }
    raw->token = tr.token;
    launch(raw);
  });
}

void SmtpProvider::launch(Transfer* raw) {
  if (!pool_.empty()) {
    raw->easy.emplace(std::move(pool_.back()));
    pool_.pop_back();
  } else {
    raw->easy.emplace();
  }
  configure(*raw);
  curl_->start(raw->easy->get(), [this, raw](CURLcode rc) { finished(raw, rc); });
}

std::unique_ptr<Transfer> SmtpProvider::take_running(Transfer* raw) {
  auto it = std::find_if(running_.begin(), running_.end(), [raw](auto& p) { return p.get() == raw; });
  if (it == running_.end()) return nullptr;
  std::unique_ptr<Transfer> t = std::move(*it);
  running_.erase(it);
  return t;
}

// No token, so no connection was made: the Done is posted (never called
// inside send()), the slot goes to the next transfer.
void SmtpProvider::token_failed(Transfer* raw, Result r) {
  std::unique_ptr<Transfer> t = take_running(raw);
  if (!t) return;
  r.text = "OAuth token from " + smtp_oauth::endpoint(cfg_.oauth) + " failed: " + r.text;
  log::warn("{} event=smtp_{} provider={} step=token outcome={} config_error={} reason={}", t->id,
            t->is_test ? "test" : "result", name_, to_string(r.outcome), r.config_error, log::quote(r.text));
  auto d = std::move(t->done);
  std::string id = t->id;
  post(loop_, [d = std::move(d), r = std::move(r), id]() mutable { call(d, std::move(r), id); });
  start_next();
}

void SmtpProvider::configure_security(CURL* e, const Transfer& t) {
  long use_ssl = CURLUSESSL_NONE;
  // Opportunistic STARTTLS only without credentials: CURLUSESSL_TRY would
  // send AUTH in clear to an upstream (or an attacker) not offering it.
  if (cfg_.tls == config::TlsMode::StartTls) use_ssl = cfg_.username.empty() ? CURLUSESSL_TRY : CURLUSESSL_ALL;
  if (cfg_.tls == config::TlsMode::StartTlsRequired) use_ssl = CURLUSESSL_ALL;
  if (cfg_.tls == config::TlsMode::Implicit) use_ssl = CURLUSESSL_ALL;
  curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cfg_.verify_peer ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cfg_.verify_peer ? 2L : 0L);
  if (!cfg_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, cfg_.ca_file.c_str());
  if (!cfg_.username.empty()) {
    curl_easy_setopt(e, CURLOPT_USERNAME, cfg_.username.c_str());
    std::string opts = "AUTH=" + cfg_.auth;
    std::transform(opts.begin(), opts.end(), opts.begin(), ::toupper);
    curl_easy_setopt(e, CURLOPT_LOGIN_OPTIONS, opts.c_str());
    if (cfg_.auth == "xoauth2") {
      const std::string& token = tokens_ ? t.token : cfg_.oauth_token.empty() ? cfg_.password : cfg_.oauth_token;
      curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, token.c_str());
    } else {
      curl_easy_setopt(e, CURLOPT_PASSWORD, cfg_.password.c_str());
    }
  }
}

void SmtpProvider::configure(Transfer& t) {
  CURL* e = t.easy->get();
  curl_easy_reset(e);
  curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(e, CURLOPT_SHARE, share_);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);  // feeds the transcript, prints nothing
  curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, &on_debug);
  curl_easy_setopt(e, CURLOPT_DEBUGDATA, &t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
  t.owner = this;
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &on_prereq);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, &t);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &SmtpProvider::open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &SmtpProvider::close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, static_cast<long>(cfg_.timeout));
  curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, static_cast<long>(cfg_.timeout));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);  // stalled upload = timeout
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(cfg_.timeout));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 60L);
  configure_security(e, t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard);
  if (t.is_test) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "NOOP");
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);  // QUIT right after
    return;
  }
  curl_easy_setopt(e, CURLOPT_MAIL_FROM, t.mail_from.c_str());
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t.rcpt_list.get());
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, &read_body);
  curl_easy_setopt(e, CURLOPT_READDATA, &t);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, t.size);
}

// The upstream refused the token (expired early, revoked): drop it from the
// cache and, once per transfer, go again with a fresh one. Nothing was
// sent: AUTH comes before MAIL.
bool SmtpProvider::retry_with_new_token(std::unique_ptr<Transfer>& t, CURLcode rc) {
  if (!tokens_ || t->token.empty() || t->read_error || !smtp_oauth::token_refused(t->transcript, rc)) return false;
  tokens_->invalidate(t->token);
  if (t->token_retried || closing_ || (!t->is_test && ::lseek(t->fd, 0, SEEK_SET) != 0)) return false;
  log::info("{} event=smtp_token_refused provider={} steps={} action=\"retry once with a new token\"", t->id, name_,
            log::quote(t->transcript.summary()));
  t->token_retried = true;
  t->token.clear();
  t->transcript.clear();
  curl_easy_reset(t->easy->get());
  pool_.push_back(std::move(*t->easy));
  t->easy.reset();
  waiting_.push_front(std::move(t));
  start_next();
  return true;
}

curl_socket_t SmtpProvider::open_socket(void* ud, curlsocktype, curl_sockaddr* a) {
  curl_socket_t s = ::socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (s != CURL_SOCKET_BAD) static_cast<SmtpProvider*>(ud)->sockets_.insert(s);
  return s;
}

int SmtpProvider::close_socket(void* ud, curl_socket_t s) {
  auto* self = static_cast<SmtpProvider*>(ud);
  self->sockets_.erase(s);
  self->conns_.erase(s);
  return ::close(s);
}

// What the connection's EHLO offered is remembered per socket: a reused
// connection's transfer sees no EHLO of its own.
bool SmtpProvider::before_mail(Transfer& t) {
  curl_socket_t sock = CURL_SOCKET_BAD;
  curl_easy_getinfo(t.easy->get(), CURLINFO_ACTIVESOCKET, &sock);
  long connects = 0;
  curl_easy_getinfo(t.easy->get(), CURLINFO_NUM_CONNECTS, &connects);
  if (connects > 0) {
    conns_[sock] = ConnState{t.transcript.capabilities(), t.transcript.authenticated(), t.transcript.saw_starttls()};
  }
  auto it = conns_.find(sock);
  if (it == conns_.end()) return true;
  std::string mech = cfg_.auth;
  std::transform(mech.begin(), mech.end(), mech.begin(), ::toupper);
  SmtpCheckInput in{!cfg_.username.empty(), mech, it->second.tls || cfg_.tls == config::TlsMode::Implicit,
                    t.is_test, static_cast<std::uint64_t>(t.size), t.mail_from, t.rcpts,
                    [&t] { return t.fd >= 0 && file_has_8bit(t.fd); }};
  t.refused = check_before_mail(it->second.caps, it->second.authed, in);
  return !t.refused;
}

void SmtpProvider::finished(Transfer* raw, CURLcode rc) {
  std::unique_ptr<Transfer> t = take_running(raw);
  if (!t) return;
  if (retry_with_new_token(t, rc)) return;
  t->transcript.set_curl_error(t->errbuf);
  Result r;
  if (t->refused) {
    r = std::move(*t->refused);
  } else if (t->read_error) {
    r = make_result(Cause::SpoolError, "read of spooled data failed");
  } else if (t->is_test) {
    r = classify_probe(t->transcript, rc);
  } else {
    r = classify_delivery(t->transcript, rc, t->rcpts);
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK && !t->read_error && !t->refused) r = make_result(Cause::Aborted);
  if (rc == CURLE_LOGIN_DENIED && t->transcript.last("AUTH") == nullptr && t->transcript.capabilities().seen) {
    std::string mech = cfg_.auth;
    std::transform(mech.begin(), mech.end(), mech.begin(), ::toupper);
    r = auth_mechanism_missing(t->transcript.capabilities(), mech);
  }
  if (tokens_ && !t->token.empty() && smtp_oauth::token_refused(t->transcript, rc)) {
    r = smtp_oauth::refused_result(t->transcript, cfg_.username);
  }
  if (tokens_ && t->is_test) r.text = "token from " + smtp_oauth::endpoint(cfg_.oauth) + ": ok; SMTP: " + r.text;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t->started);
  log::info("{} event=smtp_{} provider={} outcome={} code={} enhanced={} curl={} steps={} duration_ms={} reason={}",
            t->id, t->is_test ? "test" : "result", name_, to_string(r.outcome), r.code, r.enhanced,
            static_cast<int>(rc), log::quote(t->transcript.summary()), ms.count(), log::quote(r.text));
  if (!closing_ && pool_.size() < static_cast<std::size_t>(cfg_.max_connections)) {
    curl_easy_reset(t->easy->get());  // drop pointers into *t; keeps caches
    pool_.push_back(std::move(*t->easy));
  }
  call(t->done, std::move(r), t->id);
  // `this` may have been destroyed by the Done only if the caller broke the
  // contract; start_next() is safe otherwise.
  start_next();
}

}  // namespace relay::provider
