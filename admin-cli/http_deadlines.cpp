// relay::admin::HttpDeadlines (see http_deadlines.hpp).
#include "admin-cli/http_deadlines.hpp"

#include <sys/socket.h>

namespace relay::admin {

HttpDeadlines::HttpDeadlines(std::chrono::seconds lifetime) : lifetime_(lifetime), thread_([this] { watch(); }) {}

HttpDeadlines::~HttpDeadlines() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void HttpDeadlines::notify(void* cls, MHD_Connection* conn, void**, MHD_ConnectionNotificationCode code) {
  auto* self = static_cast<HttpDeadlines*>(cls);
  const MHD_ConnectionInfo* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (info == nullptr) return;
  const int fd = info->connect_fd;
  std::lock_guard lock(self->mu_);
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    self->opened_[fd] = std::chrono::steady_clock::now();
  else
    self->opened_.erase(fd);
}

void HttpDeadlines::watch() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, std::chrono::milliseconds(250));
    const auto now = std::chrono::steady_clock::now();
    for (auto it = opened_.begin(); it != opened_.end();) {
      if (now - it->second < lifetime_) {
        ++it;
        continue;
      }
      ::shutdown(it->first, SHUT_RDWR);  // under mu_: MHD has not reported it closed, so the fd is its
      it = opened_.erase(it);
    }
  }
}

}  // namespace relay::admin
