// relay::priv — see privileges.hpp.
#include "common/privileges.hpp"

#include <grp.h>
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
