// See dispatcher.hpp / secret_notice.hpp. This file: Dispatcher::secret_notice,
// called by report_secrets() for every provider status; enqueues the
// secret-expiry notice mail on the threadpool when one is due and nobody
// sent it yet (the marker file decides, across processes and restarts).
#include <algorithm>
#include <ctime>
#include <memory>

#include "common/log.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/providers/post.hpp"

namespace relay::dispatch {

void Dispatcher::secret_notice(const std::string& provider, const provider::SecretStatus& s) {
  auto it = settings_.secret_notices.find(provider);
  if (it == settings_.secret_notices.end() || it->second.notice_to.empty()) return;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const std::string key = secret_notice_key(provider, s, it->second.warn_days, now);
  if (key.empty()) return;
  const std::string to = it->second.notice_to;
  queue_notice("secret_notice", provider, key, to,
               build_secret_notice(provider, s, to, settings_.notice_from, settings_.hostname, key, now));
}

// Both notices (secret expiry, configuration error) go through here: the
// marker file named by `key` makes each one go out once, across processes
// and restarts; the spool work runs on the threadpool. A spool that refuses
// the write (disk full, permissions) keeps the notice in notice_retry_,
// tried again from the sweep with a back-off of 5 s doubling to 5 min: a
// config error is raised once per state change, so nobody else would.
void Dispatcher::queue_notice(const char* event, const std::string& provider, const std::string& key,
                              const std::string& to, const std::string& text) {
  struct Out {
    std::string id;
    bool already = false;
    spool::Status st;
  };
  auto out = std::make_shared<Out>();
  ++background_work_;
  std::string ev = event;
  provider::offload(
      loop_, [this, out, key, to, text] { out->st = enqueue_secret_notice(spool_, key, to, text, &out->id, &out->already); },
      [this, out, ev, provider, key, to, text] {
        --background_work_;
        if (out->st.ok()) {
          notice_retry_.erase(key);
          if (out->already) {
            log::debug("- event={} provider={} key={} result=already_sent", ev, provider, key);
            return;
          }
          log::warn("{} event={} provider={} key={} result=queued to=<{}>", out->id, ev, provider, key, to);
          if (!stopping_) schedule_scan();
          return;
        }
        PendingNotice& p = notice_retry_[key];
        p = PendingNotice{ev, provider, to, text, 0, std::min<std::uint64_t>(300000, std::max<std::uint64_t>(5000, p.delay_ms * 2))};
        p.due_ms = uv_now(loop_) + p.delay_ms;
        log::error("- event={} provider={} key={} result=error action=retry retry_in_ms={} reason={}", ev, provider, key,
                   p.delay_ms, log::quote(out->st.message));
      });
}

void Dispatcher::retry_notices() {
  if (stopping_) return;
  const std::uint64_t now = uv_now(loop_);
  for (auto& [key, p] : notice_retry_) {
    if (p.due_ms == 0 || p.due_ms > now) continue;
    p.due_ms = 0;  // in flight; the answer sets the next time or erases it
    queue_notice(p.event.c_str(), p.provider, key, p.to, p.text);
  }
}

}  // namespace relay::dispatch
