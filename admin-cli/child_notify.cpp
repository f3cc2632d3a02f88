// relay::admin::ChildNotify (see child_notify.hpp).
#include "admin-cli/child_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace relay::admin {

bool ChildNotify::open(std::string* error) {
  fd_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) {
    *error = std::string("notify socket: ") + std::strerror(errno);
    return false;
  }
  int on = 1;
  setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::string name = "relay-run-" + std::to_string(::getpid()) + "-" + std::to_string(ts.tv_nsec);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    *error = std::string("notify socket bind: ") + std::strerror(errno);
    return false;
  }
  address_ = "@" + name;
  return true;
}

void ChildNotify::drain(const std::function<void(pid_t, std::string_view)>& fn) {
  for (;;) {
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: nothing more
    }
    pid_t pid = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        pid = cred.pid;
      }
    }
    if (pid > 0) fn(pid, std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

}  // namespace relay::admin
