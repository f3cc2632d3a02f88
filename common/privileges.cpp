// relay::priv — see privileges.hpp.
#include "common/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace relay::priv {
namespace {

std::string errtext(int err) { return std::strerror(err); }

std::string label(uid_t uid) {
  passwd pw{}, *res = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res) return pw.pw_name;
  return "uid " + std::to_string(uid);
}

}  // namespace

std::optional<Account> lookup_user(const std::string& name, std::string* error) {
  passwd pw{}, *res = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res);
  if (rc != 0 || res == nullptr) {
    *error = "no such user '" + name + "'" + (rc ? ": " + errtext(rc) : "");
    return std::nullopt;
  }
  return Account{pw.pw_uid, pw.pw_gid, pw.pw_name};
}

std::optional<Account> owner_of(const std::filesystem::path& dir, std::string* error) {
  error->clear();
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) *error = "stat " + dir.string() + ": " + errtext(errno);
    return std::nullopt;
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = dir.string() + " is not a directory";
    return std::nullopt;
  }
  return Account{st.st_uid, st.st_gid, label(st.st_uid)};
}

bool ensure_owned_dir(const std::filesystem::path& dir, const Account& who, std::string* error) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      *error = "stat " + dir.string() + ": " + errtext(errno);
      return false;
    }
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      *error = "mkdir " + dir.string() + ": " + errtext(errno);
      return false;
    }
    if (::lchown(dir.c_str(), who.uid, who.gid) != 0) {
      *error = "chown " + dir.string() + " to " + who.name + ": " + errtext(errno);
      return false;
    }
    if (::stat(dir.c_str(), &st) != 0) {
      *error = "stat " + dir.string() + ": " + errtext(errno);
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    *error = dir.string() + " is not a directory";
    return false;
  }
  if (st.st_uid != who.uid) {
    *error = dir.string() + " belongs to " + label(st.st_uid) + ", not to " + who.name + " (run: chown -R " +
             who.name + ": " + dir.string() + ")";
    return false;
  }
  return true;
}

bool drop_to(const Account& who, std::string* error) {
  if (::getuid() == who.uid && ::geteuid() == who.uid && ::getgid() == who.gid && ::getegid() == who.gid) return true;
  if (::setgroups(1, &who.gid) != 0) {
    *error = "setgroups for " + who.name + ": " + errtext(errno);
    return false;
  }
  if (::setgid(who.gid) != 0 || ::setuid(who.uid) != 0) {
    *error = "switch to " + who.name + ": " + errtext(errno);
    return false;
  }
  if (who.uid != 0 && (::setuid(0) == 0 || ::geteuid() == 0)) {
    *error = "switch to " + who.name + ": root could be regained";
    return false;
  }
  return true;
}

bool drop_to_keeping_bind(const Account& who, std::string* error) {
  if (::geteuid() != 0 || who.uid == 0) {
    *error = "keeping CAP_NET_BIND_SERVICE needs root switching to another user";
    return false;
  }
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || ::setgroups(1, &who.gid) != 0 || ::setgid(who.gid) != 0 ||
      ::setuid(who.uid) != 0) {
    *error = "switch to " + who.name + ": " + errtext(errno);
    return false;
  }
  // Only CAP_NET_BIND_SERVICE stays permitted; the rest went with the uid
  // (KEEPCAPS kept the permitted set, which is cut down here).
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  const unsigned bit = 1u << CAP_NET_BIND_SERVICE;  // < 32: word 0
  data[0].permitted = data[0].inheritable = bit;  // effective: none (the supervisor binds nothing)
  if (::syscall(SYS_capset, &hdr, data) != 0 || ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 ||
      ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) != 0) {
    *error = "keep CAP_NET_BIND_SERVICE as " + who.name + ": " + errtext(errno);
    return false;
  }
  if (::setuid(0) == 0 || ::geteuid() == 0) {
    *error = "switch to " + who.name + ": root could be regained";
    return false;
  }
  return true;
}

EffectiveUser::EffectiveUser(const Account& who) {
  if (::geteuid() != 0 || who.uid == 0) return;
  if (::setegid(who.gid) != 0 || ::seteuid(who.uid) != 0) {
    ok_ = false;
    (void)::seteuid(0);
    (void)::setegid(0);
    return;
  }
  switched_ = true;
}

EffectiveUser::~EffectiveUser() {
  if (!switched_) return;
  // Back to root (the real and saved uid are still 0).
  if (::seteuid(0) != 0 || ::setegid(0) != 0) std::abort();
}

}  // namespace relay::priv
