// relay::admin spool access (see spool_access.hpp).
#include "admin-cli/spool_access.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "admin-cli/queue_format.hpp"
#include "common/config.hpp"
#include "common/privileges.hpp"

namespace relay::admin {

namespace {

// "" when `dir` is an existing relay spool, else why not. relayctl never
// creates a spool: a wrong -c or spool.directory must not produce an empty
// one that then reports "queue is empty".
std::string missing_spool(const std::filesystem::path& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return "does not exist";
    return std::strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  for (const char* sub : {"new", "data"}) {
    if (::stat((dir / sub).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return fmt::format("is not a relay spool (no {}/ in it)", sub);
  }
  return "";
}

}  // namespace

bool act_as_spool_owner(const config::Config& cfg, std::FILE* err) {
  const auto& dir = cfg.spool.directory;
  if (std::string why = missing_spool(dir); !why.empty()) {
    fmt::print(err,
               "relayctl: spool {} {} (spool.directory in {}; is -c right? relay creates the spool when it "
               "first starts)\n",
               dir.string(), why, cfg.file.string());
    return false;
  }
  if (::geteuid() != 0) return true;  // not root: the kernel checks what we may do
  std::string error;
  std::optional<priv::Account> configured;
  if (!cfg.user.empty() && !(configured = priv::lookup_user(cfg.user, &error))) {
    fmt::print(err, "relayctl: {}: user: {}\n", cfg.file.string(), error);
    return false;
  }
  auto owner = priv::owner_of(dir, &error);
  if (!owner) {
    fmt::print(err, "relayctl: spool {}: {}\n", dir.string(), error.empty() ? "has no owner" : error);
    return false;
  }
  if (configured && configured->uid != owner->uid) {
    fmt::print(err, "relayctl: spool {} belongs to {}, but {} says user: {}; refusing to act for either "
                    "(run: chown -R {}: {})\n",
               dir.string(), owner->name, cfg.file.string(), cfg.user, cfg.user, dir.string());
    return false;
  }
  if (owner->uid == 0) return true;  // a root-owned spool: root is its owner
  if (!priv::drop_to(*owner, &error)) {
    fmt::print(err, "relayctl: cannot act as the spool's owner: {}\n", error);
    return false;
  }
  return true;
}

std::optional<spool::Spool> open_spool(const config::Config& cfg, std::FILE* err) {
  std::string error;
  // As root, act as the spool's owner: whatever relayctl writes (a requeued
  // envelope, a missing folder) must stay readable by the daemons.
  if (!act_as_spool_owner(cfg, err)) return std::nullopt;
  auto s = spool::Spool::open(cfg.spool.directory, &error);
  if (!s) fmt::print(err, "relayctl: spool {}: {}\n", cfg.spool.directory.string(), error);
  return s;
}

QueueSummary summarize(const spool::Spool& spool) {
  using S = spool::State;
  QueueSummary out;
  for (S s : all_states()) {
    auto ids = spool.list(s);
    out.counts[std::string(spool::dir_name(s))] = ids.size();
    bool queued = s == S::New || s == S::Active || s == S::Deferred || s == S::Hold;
    if (!queued) continue;
    out.queued += ids.size();
    for (const auto& id : ids) {
      if (out.oldest_millis == 0 || id.millis() < out.oldest_millis) out.oldest_millis = id.millis();
    }
  }
  return out;
}

}  // namespace relay::admin
