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
  struct Out {
    std::string id;
    bool already = false;
    spool::Status st;
  };
  auto out = std::make_shared<Out>();
  const std::string to = it->second.notice_to;
  const std::string text = build_secret_notice(provider, s, to, settings_.notice_from, settings_.hostname, key, now);
  ++background_work_;
  provider::offload(
      loop_, [this, out, key, to, text] { out->st = enqueue_secret_notice(spool_, key, to, text, &out->id, &out->already); },
      [this, out, provider, key, to] {
        --background_work_;
        if (!out->st.ok()) {
          log::error("- event=secret_notice provider={} key={} result=error reason={}", provider, key,
                     log::quote(out->st.message));
        } else if (out->already) {
          log::debug("- event=secret_notice provider={} key={} result=already_sent", provider, key);
        } else {
          log::warn("{} event=secret_notice provider={} key={} result=queued to=<{}>", out->id, provider, key, to);
          if (!stopping_) schedule_scan();
        }
      });
}

}  // namespace relay::dispatch
