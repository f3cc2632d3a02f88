// relay::admin metrics collection (see metrics_collect.hpp).
#include "admin-cli/metrics_collect.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <tuple>

#include "common/metrics_publisher.hpp"
#include "common/metrics_registry.hpp"
#include "spool/queue_id.hpp"

namespace relay::admin {
namespace {

constexpr std::size_t kMaxMetricsFile = 4 << 20;
constexpr std::size_t kMaxJournalRead = 64 << 20;

std::int64_t wall_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// "dispatcher-3" -> {"dispatcher", 3}; index 0 when the name is not a slot.
SlotState slot_of(std::string_view name) {
  SlotState s;
  auto dash = name.rfind('-');
  if (dash == std::string_view::npos) return s;
  std::string_view role = name.substr(0, dash), num = name.substr(dash + 1);
  if (role != "receiver" && role != "dispatcher") return s;
  int n = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc() || end != num.data() + num.size() || n < 1 || n > 1000 || num.front() == '0') return s;
  s.role = std::string(role);
  s.index = n;
  return s;
}

std::vector<std::string> dir_names(const std::filesystem::path& dir, std::size_t cap) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    out.emplace_back(e->d_name);
    if (out.size() >= cap) break;
  }
  ::closedir(d);
  return out;
}

bool read_capped(const std::filesystem::path& p, std::size_t cap, std::string* out) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st{};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) <= cap;
  if (ok) {
    out->resize(static_cast<std::size_t>(st.st_size));
    ssize_t n = ::read(fd, out->data(), out->size());
    ok = n >= 0;
    if (ok) out->resize(static_cast<std::size_t>(n));
  }
  ::close(fd);
  return ok;
}

std::string label(const metrics::Sample& s, std::string_view key) {
  for (const auto& [k, v] : s.labels)
    if (k == key) return v;
  return {};
}

void merge_gauge(Collected& c, metrics::Sample s) {
  std::string key = metrics::series(s.name, s.labels);
  auto [it, fresh] = c.gauges.try_emplace(key, s);
  if (!fresh && s.name == "relay_client_secret_days_left") it->second.value = std::min(it->second.value, s.value);
}

void read_slot_file(Collected& c, const std::filesystem::path& file, bool up) {
  std::string text;
  if (!read_capped(file, kMaxMetricsFile, &text) || text.rfind(metrics::kFileHeader, 0) != 0) {
    ++c.bad_files;
    return;
  }
  std::string_view rest(text);
  rest.remove_prefix(std::min(rest.size(), rest.find('\n') + 1));
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    auto s = line.size() > 2 && (line[0] == 'c' || line[0] == 'g') && line[1] == ' '
                 ? metrics::parse_sample(line.substr(2))
                 : std::nullopt;
    if (!s || (line[0] == 'c' && !(s->value >= 0))) {
      ++c.bad_lines;
      continue;
    }
    if (line[0] == 'g') {
      if (up) merge_gauge(c, std::move(*s));
      continue;
    }
    std::string key = metrics::series(s->name, s->labels);
    auto [it, fresh] = c.counters.try_emplace(key, *s);
    if (!fresh) it->second.value += s->value;
  }
}

void collect_slots(Collected& c, const CollectOptions& opt) {
  const auto dir = metrics::metrics_dir(opt.spool_dir);
  std::set<std::pair<std::string, int>> seen;
  for (const auto& name : dir_names(dir, 4096)) {
    SlotState s = slot_of(name);
    if (s.index == 0) continue;
    s.up = metrics::slot_locked(dir / (name + ".lock")) == 1;
    read_slot_file(c, dir / name, s.up);
    seen.emplace(s.role, s.index);
    c.slots.push_back(s);
  }
  auto expect = [&](const std::string& role, int n) {
    if (!seen.count({role, n})) c.slots.push_back(SlotState{role, n, false});
  };
  expect("receiver", 1);
  for (int n = 1; n <= opt.dispatchers; ++n) expect("dispatcher", n);
  std::sort(c.slots.begin(), c.slots.end(),
            [](const SlotState& a, const SlotState& b) { return std::tie(a.role, a.index) < std::tie(b.role, b.index); });
  c.restarts = {{"receiver", 0}, {"dispatcher", 0}};
  for (const auto& [key, s] : c.counters)
    if (s.name == "relay_process_starts_total" && s.value >= 1) c.restarts[label(s, "role")] += s.value - 1;
}

// A bucket of a hashed state directory (spool/layout.hpp): "00".."ff".
bool is_bucket(std::string_view name) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && hex(name[0]) && hex(name[1]);
}

void count_env(const std::string& name, QueueState& q, std::string& oldest) {
  if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".env") != 0) return;
  ++q.entries;
  std::string id = name.substr(0, name.size() - 4);
  if (spool::QueueId::parse(id) && (oldest.empty() || id < oldest)) oldest = id;
}

// Entries sit in dir/<bucket>/<id>.env; a flat dir/<id>.env (a spool of the
// previous layout not yet migrated) counts as well.
QueueState scan_state(const std::filesystem::path& dir, const std::string& state, std::int64_t now_ms) {
  QueueState q{state, 0, 0};
  std::string oldest;
  std::size_t read = 0;
  for (const auto& name : dir_names(dir, kMaxEntriesPerState)) {
    if (!is_bucket(name)) {
      count_env(name, q, oldest);
      continue;
    }
    if (read >= kMaxEntriesPerState) continue;
    auto names = dir_names(dir / name, kMaxEntriesPerState - read);
    read += names.size();
    for (const auto& n : names) count_env(n, q, oldest);
  }
  if (auto id = spool::QueueId::parse(oldest))
    q.oldest_age_seconds = std::max<double>(0, static_cast<double>(now_ms - id->millis()) / 1000.0);
  return q;
}

double journal_lines(const std::filesystem::path& journal) {
  int fd = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat st{};
  double lines = 0;
  std::size_t read_total = 0;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    char buf[65536];
    ssize_t n;
    while (read_total < kMaxJournalRead && (n = ::read(fd, buf, sizeof buf)) > 0) {
      read_total += static_cast<std::size_t>(n);
      lines += static_cast<double>(std::count(buf, buf + n, '\n'));
    }
    if (read_total >= kMaxJournalRead && st.st_size > 0)  // estimate the rest at the same line length
      lines *= static_cast<double>(st.st_size) / static_cast<double>(read_total);
  }
  ::close(fd);
  return std::floor(lines);
}

}  // namespace

Collected collect(const CollectOptions& opt) {
  Collected c;
  collect_slots(c, opt);
  const std::int64_t now = opt.now_ms ? opt.now_ms : wall_ms();
  for (const char* s : {"new", "active", "deferred", "hold", "failed", "corrupt"})
    c.queue.push_back(scan_state(opt.spool_dir / s, s, now));
  c.journal_backlog = journal_lines(opt.journal.empty() ? opt.spool_dir / "journal" : opt.journal);
  struct stat st{};
  c.paused = ::lstat((opt.spool_dir / "control" / "dispatch-paused").c_str(), &st) == 0;
  return c;
}

void clear_dead_slots(const std::filesystem::path& metrics_dir) {
  for (const auto& name : dir_names(metrics_dir, 4096)) {
    if (slot_of(name).index == 0) continue;
    auto lock = metrics_dir / (name + ".lock");
    if (metrics::slot_locked(lock) == 1) continue;
    ::unlink((metrics_dir / name).c_str());
    ::unlink(lock.c_str());
  }
}

}  // namespace relay::admin
