// relay::priv — running as the configured user instead of root.
//
// Does: looks up a system user (`user:` in the config), makes sure the
// spool directory exists and belongs to it, switches the effective ids for
// a while (EffectiveUser: files created meanwhile belong to the user) and
// gives up root for good (drop_to: supplementary groups, gid, uid, then a
// check that root cannot be regained). Used by relay-receiver (after
// binding its listeners), relay-dispatcher (at once) and relayctl (which
// acts as the spool's owner).
// Does not: keep capabilities; read the config; log (callers do).
// Thread: call before any thread is started (glibc applies set*id to all
// threads, but a thread mid-file-creation would race the switch).
// Fails: every function returns false / nullopt and sets *error to one
// line naming the user, directory and errno text.
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace relay::priv {

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // "relay", or "uid 998" when only ids are known
};

// getpwnam(name). nullopt + "no such user 'x'".
std::optional<Account> lookup_user(const std::string& name, std::string* error);

// The owner of `dir` (stat, following a symlinked root); nullopt when it
// does not exist (*error empty) or cannot be stat'ed (*error set).
std::optional<Account> owner_of(const std::filesystem::path& dir, std::string* error);

// Creates `dir` (mode 0750, parents as needed) when missing and gives it to
// `who` (lchown: never through a symlink). An existing directory is left
// as it is but must belong to `who`; else false and *error says whose it
// is and what to run (chown -R).
bool ensure_owned_dir(const std::filesystem::path& dir, const Account& who, std::string* error);

// Gives up root for good: setgroups({gid}), setgid, setuid, and verifies
// that setuid(0) now fails. No-op (true) when already running as who.uid.
bool drop_to(const Account& who, std::string* error);

// drop_to() that keeps one capability, CAP_NET_BIND_SERVICE, as an ambient
// capability inherited across exec (the receiver a supervisor starts may
// then bind ports below 1024 without being root), and verifies that root
// cannot be regained. Root only; false + *error otherwise.
bool drop_to_keeping_bind(const Account& who, std::string* error);

// Switches the effective uid/gid to `who` for its lifetime (root only;
// a no-op otherwise). ok() false when the switch failed.
class EffectiveUser {
 public:
  explicit EffectiveUser(const Account& who);
  ~EffectiveUser();
  EffectiveUser(const EffectiveUser&) = delete;
  EffectiveUser& operator=(const EffectiveUser&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  bool switched_ = false;
  bool ok_ = true;
};

}  // namespace relay::priv
