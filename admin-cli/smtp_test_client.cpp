// relay::admin SMTP test client (see smtp_test_client.hpp).
#include "admin-cli/smtp_test_client.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <ctime>

#include "common/curl_multi.hpp"

namespace relay::admin {
namespace {

struct Upload {
  std::string_view data;
  std::size_t pos = 0;
};

std::size_t read_cb(char* buf, std::size_t size, std::size_t n, void* p) {
  auto* u = static_cast<Upload*>(p);
  std::size_t len = std::min(size * n, u->data.size() - u->pos);
  std::memcpy(buf, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

// libcurl hands every SMTP server reply line to the header callback.
std::size_t header_cb(char* buf, std::size_t size, std::size_t n, void* p) {
  auto* lines = static_cast<std::vector<std::string>*>(p);
  std::string line(buf, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  lines->push_back(std::move(line));
  return size * n;
}

}  // namespace

SmtpTarget target_for(const config::Listener& l) {
  std::string host = l.host.find(':') != std::string::npos ? "[" + l.host + "]" : l.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  SmtpTarget t;
  t.url = fmt::format("{}://{}:{}", l.tls == config::TlsMode::Implicit ? "smtps" : "smtp", host, l.port);
  t.require_tls = l.tls == config::TlsMode::StartTls || l.tls == config::TlsMode::StartTlsRequired;
  return t;
}

std::optional<std::string> parse_queued_as(std::string_view reply) {
  static constexpr std::string_view kKey = "queued as ";
  auto pos = reply.find(kKey);
  if (pos == std::string_view::npos) return std::nullopt;
  reply.remove_prefix(pos + kKey.size());
  std::size_t end = 0;
  while (end < reply.size() && std::isalnum(static_cast<unsigned char>(reply[end]))) ++end;
  if (end == 0) return std::nullopt;
  return std::string(reply.substr(0, end));
}

std::string build_test_message(std::string_view from, std::string_view to, std::string_view subject,
                               std::int64_t unix_time, std::string_view message_id) {
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return fmt::format(
      "From: <{}>\r\nTo: <{}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n\r\n"
      "This is a test message sent by `relayctl send-test` to check that relay\r\n"
      "accepts, spools and delivers mail. No action is needed.\r\n",
      from, to, subject, date, message_id);
}

SmtpSendResult smtp_send(const SmtpSendRequest& req) {
  SmtpSendResult out;
  net::Easy easy;
  CURL* h = easy.get();
  net::SList rcpts;
  std::string to = "<" + req.to + ">";
  rcpts.append(to.c_str());
  std::string url = req.target.url + "/" + req.helo;
  std::string from = "<" + req.from + ">";
  Upload up{req.message};
  std::vector<std::string> lines;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts.get());
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(h, CURLOPT_READDATA, &up);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.message.size()));
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &lines);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, req.timeout_s);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (req.target.require_tls) curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!req.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, req.ca_file.c_str());
  if (req.insecure) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!req.user.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, req.user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, req.password.c_str());
  }
  CURLcode rc = curl_easy_perform(h);
  if (!lines.empty()) out.last_reply = lines.back();
  for (const auto& l : lines)
    if (auto id = parse_queued_as(l)) out.queue_id = id;
  out.ok = rc == CURLE_OK;
  if (!out.ok) out.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  return out;
}

}  // namespace relay::admin
