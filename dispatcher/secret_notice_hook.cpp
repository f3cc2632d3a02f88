// See dispatcher.hpp / secret_notice.hpp. This file: Dispatcher::secret_notice,
// called by report_secrets() for every provider status; enqueues the
// secret-expiry notice mail on the threadpool when one is due and nobody
// sent it yet (the marker file decides, across processes and restarts).
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
// and restarts; the spool work runs on the threadpool.
void Dispatcher::queue_notice(const char* event, const std::string& provider, const std::string& key,
                              const std::string& to, const std::string& text) {
  struct Out {
    std::string id;
    bool already = false;
    spool::Status st;
  };
  auto out = std::make_shared<Out>();
  ++background_work_;
  provider::offload(
      loop_, [this, out, key, to, text] { out->st = enqueue_secret_notice(spool_, key, to, text, &out->id, &out->already); },
      [this, out, event, provider, key, to] {
        --background_work_;
        if (!out->st.ok()) {
          log::error("- event={} provider={} key={} result=error reason={}", event, provider, key,
                     log::quote(out->st.message));
        } else if (out->already) {
          log::debug("- event={} provider={} key={} result=already_sent", event, provider, key);
        } else {
          log::warn("{} event={} provider={} key={} result=queued to=<{}>", out->id, event, provider, key, to);
          if (!stopping_) schedule_scan();
        }
      });
}

}  // namespace relay::dispatch
