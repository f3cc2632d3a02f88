// See dispatcher.hpp / config_alert.hpp. This file: Dispatcher::config_notice,
// called when a provider's configuration-error alert is raised; enqueues the
// notice mail on the threadpool once per provider and day (the marker file of
// enqueue_secret_notice decides, across processes and restarts).
#include <ctime>
#include <memory>

#include "common/log.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/providers/post.hpp"

namespace relay::dispatch {

void Dispatcher::config_notice(const std::string& provider, const std::string& reason) {
  std::string to = settings_.failure_notice_to;
  if (auto it = settings_.secret_notices.find(provider); it != settings_.secret_notices.end() && !it->second.notice_to.empty())
    to = it->second.notice_to;
  if (to.empty() || stopping_) return;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  const std::string key = config_notice_key(provider, now);
  struct Out {
    std::string id;
    bool already = false;
    spool::Status st;
  };
  auto out = std::make_shared<Out>();
  const std::string text = build_config_notice(provider, reason, to, settings_.notice_from, settings_.hostname, key, now);
  ++background_work_;
  provider::offload(
      loop_, [this, out, key, to, text] { out->st = enqueue_secret_notice(spool_, key, to, text, &out->id, &out->already); },
      [this, out, provider, key, to] {
        --background_work_;
        if (!out->st.ok()) {
          log::error("- event=config_notice provider={} key={} result=error reason={}", provider, key,
                     log::quote(out->st.message));
        } else if (out->already) {
          log::debug("- event=config_notice provider={} key={} result=already_sent", provider, key);
        } else {
          log::warn("{} event=config_notice provider={} key={} result=queued to=<{}>", out->id, provider, key, to);
          if (!stopping_) schedule_scan();
        }
      });
}

}  // namespace relay::dispatch
