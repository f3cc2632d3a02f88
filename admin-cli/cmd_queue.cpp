// relayctl queue list|show|hold|release|requeue|delete|flush — the
// postqueue/postsuper of relay. Every change goes through spool::Spool's
// operator API, which takes the entry lock and renames, exactly as the
// daemons do; an entry a dispatcher is working on is never touched.
#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <span>
#include <string>
#include <vector>

#include "admin-cli/command.hpp"
#include "admin-cli/format.hpp"
#include "admin-cli/handlers.hpp"
#include "admin-cli/queue_format.hpp"
#include "admin-cli/safe_output.hpp"
#include "admin-cli/spool_access.hpp"
#include "common/config.hpp"
#include "common/host_name.hpp"

namespace relay::admin {
namespace {

// Queue commands see this host's spool only (docs/scale-out.md): say so.
void print_local_spool(Context& ctx, const config::Config& cfg) {
  fmt::print(ctx.out(), "host: {} (local spool {})\n", printable(config::host_name(cfg)),
             printable(cfg.spool.directory.string()));
}

using spool::State;

struct BulkOp {
  std::string_view past;               // "held"
  std::vector<State> all_from;         // states ALL applies to
  spool::Status (spool::Spool::*fn)(const spool::QueueId&) const;
};

// Why an entry of ALL was left alone, or "" when `st` is a real error.
// Under load a daemon may hold an entry's lock (a delivery in progress),
// claim it into active/, finish it, or move it on between our listing and
// our move: normal, reported as skipped, not an error.
std::string skip_reason(const spool::Spool& sp, const BulkOp& op, const spool::QueueId& id, const spool::Status& st) {
  if (st.err == EBUSY) return "busy: a dispatcher is working on it";
  if (st.err == ENOENT) return "gone: delivered or removed meanwhile";
  if (st.err != EINVAL) return "";
  auto e = sp.find(id);  // moved out of the states ALL applies to?
  if (!e) return "gone: delivered or removed meanwhile";
  if (e->state == State::Active) return "active: a dispatcher claimed it";
  for (State s : op.all_from)
    if (e->state == s) return "";
  return fmt::format("moved to {}/ meanwhile", spool::dir_name(e->state));
}

// A word that can never name an entry ('../x', a path, ALL among ids) is
// a usage error, found before the config or the spool is touched.
bool ids_well_formed(const std::vector<std::string>& words, std::FILE* err) {
  for (const auto& w : words) {
    if (spool::QueueId::parse(w)) continue;
    fmt::print(err, "relayctl: '{}' is not a queue id{}\n", printable(w.substr(0, 100)),
               words.size() == 1 ? " (or ALL)" : " (ALL stands alone)");
    return false;
  }
  return true;
}

std::vector<spool::QueueId> ids_for(const spool::Spool& sp, const BulkOp& op, const std::vector<std::string>& words,
                                    std::FILE* err, bool* ok) {
  std::vector<spool::QueueId> ids;
  *ok = true;
  if (words.size() == 1 && words[0] == "ALL") {
    for (State s : op.all_from)
      for (auto& id : sp.list(s)) ids.push_back(id);
    return ids;
  }
  for (const auto& w : words) {
    auto id = spool::QueueId::parse(w);
    if (!id) {
      fmt::print(err, "relayctl: '{}' is not a queue id (or ALL)\n", printable(w));
      *ok = false;
      return {};
    }
    ids.push_back(*id);
  }
  return ids;
}

// Applies op to each id given (or every entry of op.all_from for ALL).
// Exit 0 unless a real error happened; under ALL an entry a dispatcher is
// working on (locked, active) or that moved on is skipped and counted. A
// named id that cannot be moved is an error (the operator asked for it).
int run_bulk(Context& ctx, const BulkOp& op, const std::vector<std::string>& words) {
  if (!(words.size() == 1 && words[0] == "ALL") && !ids_well_formed(words, ctx.err())) return kUsage;
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  auto sp = open_spool(*cfg, ctx.err());
  if (!sp) return kFail;
  bool all = words.size() == 1 && words[0] == "ALL", ok = true;
  std::vector<spool::QueueId> ids = ids_for(*sp, op, words, ctx.err(), &ok);
  if (!ok) return kFail;
  int done = 0, skipped = 0, failed = 0;
  for (const auto& id : ids) {
    spool::Status st = ((*sp).*op.fn)(id);
    if (st.ok()) {
      fmt::print(ctx.out(), "{}: {}\n", id.str(), op.past);
      ++done;
      continue;
    }
    if (std::string why = all ? skip_reason(*sp, op, id, st) : ""; !why.empty()) {
      fmt::print(ctx.out(), "{}: skipped ({})\n", id.str(), why);
      ++skipped;
      continue;
    }
    fmt::print(ctx.err(), "relayctl: {}: {}\n", id.str(), printable(st.message));
    ++failed;
  }
  fmt::print(ctx.out(), "{} {} {}", op.past, done, done == 1 ? "entry" : "entries");
  if (skipped) fmt::print(ctx.out(), ", skipped {} (busy, active or moved on meanwhile)", skipped);
  if (failed) fmt::print(ctx.out(), ", {} failed", failed);
  fmt::print(ctx.out(), "\n");
  print_local_spool(ctx, *cfg);
  return failed ? kFail : kOk;
}

// The message as stored, headers only unless `body`; never through a
// symlink or from anything but a regular file; control characters escaped
// (a sender must not put terminal escapes on the operator's screen).
std::string read_headers(const std::filesystem::path& p, bool body) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  struct stat st{};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    std::string why = fd < 0 ? std::strerror(errno) : "not a regular file";
    if (fd >= 0) ::close(fd);
    return "(message data unreadable: " + why + ")\n";
  }
  std::FILE* in = ::fdopen(fd, "rb");
  if (!in) {
    ::close(fd);
    return "(message data unreadable)\n";
  }
  ControlFilter filter(true);
  std::string out;
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = ::getline(&buf, &cap, in)) > 0) {
    std::string_view line(buf, static_cast<size_t>(n));
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!body && line.empty()) break;
    filter.feed(line, out);
    filter.finish(out);
    out += '\n';
    if (!body && out.size() > (1u << 20)) break;  // headers bigger than 1 MB: enough
  }
  std::free(buf);
  std::fclose(in);
  return out;
}

}  // namespace

int cmd_queue_list(Context& ctx) {
  auto states = parse_state_filter(ctx.args().get_or("state", "all"));
  if (!states) {
    fmt::print(ctx.err(), "relayctl: unknown state '{}' (new|deferred|hold|failed|active|corrupt|all)\n",
               ctx.args().get_or("state", ""));
    return kUsage;
  }
  auto limit = parse_limit(ctx.args().get("limit"));
  if (!limit) {
    fmt::print(ctx.err(), "relayctl: --limit wants a positive number, not '{}'\n",
               printable(ctx.args().get_or("limit", "")));
    return kUsage;
  }
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  auto sp = open_spool(*cfg, ctx.err());
  if (!sp) return kFail;
  bool json = ctx.args().has("json");
  std::int64_t now = std::time(nullptr);
  std::size_t shown = 0, total = 0;
  std::uint64_t bytes = 0;
  // One write per 64 KiB, not per entry (the stream is line-buffered).
  std::string text = json ? "[" : "";
  auto flush = [&] {
    std::fwrite(text.data(), 1, text.size(), ctx.out());
    text.clear();
  };
  for (State s : *states) {
    // Ids are cheap (a directory listing per bucket); envelopes are read
    // only for the entries shown (--limit stays fast on a huge queue), all
    // at once by the spool's readers.
    const auto ids = sp->list(s);
    total += ids.size();
    const std::size_t take = std::min(ids.size(), *limit - std::min(*limit, shown));
    auto infos = sp->read(s, std::span<const spool::QueueId>(ids).first(take));
    for (std::size_t i = 0; i < take; ++i) {
      auto e = infos[i] ? std::move(infos[i]) : sp->find(ids[i]);  // moved since the listing: where now
      if (!e) continue;  // delivered or removed since the listing
      text += json ? fmt::format("{}{}\n", shown ? "," : "", entry_json(*e)) : format_entry(*e, now);
      ++shown;
      if (e->envelope) bytes += e->envelope->size;
      if (text.size() >= 65536) flush();
    }
  }
  flush();
  if (json) {
    fmt::print(ctx.out(), "]\n");
  } else if (shown == 0 && total == 0) {
    fmt::print(ctx.out(), "queue is empty\n");
  } else {
    fmt::print(ctx.out(), "{}\n", list_summary(shown, total, bytes));
  }
  if (!json) print_local_spool(ctx, *cfg);
  return kOk;
}

int cmd_queue_show(Context& ctx) {
  const std::string& word = ctx.args().positional()[0];
  auto id = spool::QueueId::parse(word);
  if (!id) {
    fmt::print(ctx.err(), "relayctl: '{}' is not a queue id\n", printable(word.substr(0, 100)));
    return kUsage;
  }
  const config::Config* cfg = ctx.config();
  if (!cfg) return kFail;
  auto sp = open_spool(*cfg, ctx.err());
  if (!sp) return kFail;
  auto e = sp->find(*id);
  if (!e) {
    fmt::print(ctx.err(), "relayctl: {}: not in the spool\n", word);
    return kFail;
  }
  fmt::print(ctx.out(), "{:<13} {}{}\n", "state:", spool::dir_name(e->state), e->locked ? " (locked)" : "");
  if (e->envelope) {
    fmt::print(ctx.out(), "{}", format_envelope(*e->envelope));
  } else {
    fmt::print(ctx.out(), "{:<13} {}\n", "unreadable:", e->error);
  }
  fmt::print(ctx.out(), "\n{}", read_headers(sp->data_path(*id), ctx.args().has("body")));
  return kOk;
}

int cmd_queue_hold(Context& ctx) {
  return run_bulk(ctx, {"held", {State::New, State::Deferred}, &spool::Spool::hold}, ctx.args().positional());
}

int cmd_queue_release(Context& ctx) {
  return run_bulk(ctx, {"released", {State::Hold}, &spool::Spool::release}, ctx.args().positional());
}

int cmd_queue_requeue(Context& ctx) {
  return run_bulk(ctx, {"requeued", {State::Deferred, State::Failed}, &spool::Spool::requeue},
                  ctx.args().positional());
}

int cmd_queue_delete(Context& ctx) {
  return run_bulk(ctx,
                  {"deleted", {State::New, State::Deferred, State::Hold, State::Failed, State::Corrupt},
                   &spool::Spool::remove},
                  ctx.args().positional());
}

int cmd_queue_flush(Context& ctx) {
  return run_bulk(ctx, {"requeued", {State::Deferred}, &spool::Spool::requeue}, {"ALL"});
}

}  // namespace relay::admin
