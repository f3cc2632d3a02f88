// relay::spool::RefusalSummary — what a receiver refused, aggregated per
// (client address, AUTH user), and its small summary file in
// <spool>/refusals/ that a dispatcher imports into PostgreSQL (the receiver
// never talks to the database; DESIGN.md).
//
// Does: RefusalTally counts refusals in memory with a hard cap on entries:
// once full, a new (client, user) pair is counted in one overflow entry
// ("*", "*"), so a client spraying refusals from many addresses cannot grow
// memory; every stored string is truncated (client 64, user 256, reason 200
// bytes). write_summary() writes the tally as one file (tmp + rename, so a
// reader never sees half a file) unless kMaxFiles summaries already wait
// (no dispatcher importing): then the tally stays in memory, still capped,
// so disk use is bounded too. Format (human-readable, like the envelope):
//   relay-refusals 1
//   r <count> <tls_count> <first_unix> <last_unix> <client> <user> <reason>
//   end
// with fields percent-encoded (bytes <= 0x20, '%', '~', 0x7f as %XX) so a
// line is one record of space-separated fields; an empty field is "~".
// Does not: talk to PostgreSQL, or fsync (a summary lost in a crash only
// loses counts, never mail).
// Thread: a tally belongs to one thread (the receiver's loop); the file
// functions are blocking and thread-safe.
// Fails: write_summary/read_summary return false with *error; a malformed
// file is reported, never half-parsed.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay::spool {

struct RefusalEntry {
  std::string client_addr;
  std::string auth_user;  // "" = not authenticated (nor tried)
  std::uint64_t count = 0;
  std::uint64_t tls_count = 0;  // refusals on a TLS session
  std::int64_t first_at = 0;    // unix seconds
  std::int64_t last_at = 0;
  std::string last_reason;      // the last refusal reply (e.g. "535 5.7.8 ...")
};

class RefusalTally {
 public:
  static constexpr std::size_t kMaxClient = 64, kMaxUser = 256, kMaxReason = 200;
  explicit RefusalTally(std::size_t max_entries) : max_entries_(max_entries < 1 ? 1 : max_entries) {}

  void note(std::string_view client, std::string_view user, bool tls, std::string_view reason, std::int64_t now);
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }  // including the overflow entry
  std::uint64_t overflowed() const noexcept { return overflowed_; }
  std::vector<RefusalEntry> entries() const;
  void clear() { entries_.clear(); }
  void set_max_entries(std::size_t n) { max_entries_ = n < 1 ? 1 : n; }

 private:
  std::size_t max_entries_;
  std::uint64_t overflowed_ = 0;  // refusals counted in the overflow entry since start
  std::map<std::pair<std::string, std::string>, RefusalEntry> entries_;
};

inline constexpr std::size_t kMaxRefusalFiles = 100;

std::string serialize_refusals(const std::vector<RefusalEntry>& entries);
bool parse_refusals(std::string_view text, std::vector<RefusalEntry>* out, std::string* error);

// Writes <dir>/<id>.sum (id: a new time-ordered queue id, so names sort in
// the order written). Creates dir. Returns false and *error when it could
// not, or when kMaxRefusalFiles summaries wait already (*error says so).
bool write_refusal_summary(const std::filesystem::path& dir, const std::vector<RefusalEntry>& entries,
                           std::string* name, std::string* error);
// Summary files waiting in dir, oldest first (by name).
std::vector<std::filesystem::path> pending_refusal_summaries(const std::filesystem::path& dir);
bool read_refusal_summary(const std::filesystem::path& file, std::vector<RefusalEntry>* out, std::string* error);

}  // namespace relay::spool
