// relay::spool::QueueId — time-ordered unique ids (see queue_id.hpp).
//
// Layout of the 100 bits (20 Crockford base32 chars, most significant
// first): 48 bits milliseconds | 20 bits per-process sequence | 22 bits pid
// | 10 bits random. The (milliseconds, sequence) pair comes from one atomic
// counter that never goes backwards within a process (a clock step back or
// more than 2^20 ids in one millisecond borrow from the next millisecond),
// so one process's ids are strictly increasing; the pid (< 2^22 on Linux)
// separates concurrent processes; the random bits guard against a pid
// reused within the same millisecond after a restart with a clock step.
#include "spool/queue_id.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

namespace relay::spool {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kSeqBits = 20;

int decode_char(char c) noexcept {
  for (int i = 0; i < 32; ++i)
    if (kAlphabet[i] == c) return i;
  return -1;
}

std::atomic<std::uint64_t> g_last{0};  // (millis << kSeqBits) | sequence

std::uint64_t next_stamp() noexcept {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::uint64_t floor = static_cast<std::uint64_t>(now) << kSeqBits;
  std::uint64_t last = g_last.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    next = last + 1 > floor ? last + 1 : floor;
  } while (!g_last.compare_exchange_weak(last, next, std::memory_order_relaxed));
  return next;
}

std::uint32_t random10() noexcept {
  // A per-thread xorshift seeded once from the kernel: one getrandom(2) per
  // thread, not per id. After fork() the child repeats the parent's sequence,
  // but its pid differs.
  thread_local std::uint64_t state = [] {
    std::uint64_t seed = 0;
    if (::getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
      seed = static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull;
    return seed | 1;
  }();
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<std::uint32_t>(state >> 40) & 0x3ff;
}

}  // namespace

QueueId QueueId::generate() {
  std::uint64_t stamp = next_stamp();  // 48 + 20 bits
  std::uint64_t pid = static_cast<std::uint64_t>(::getpid()) & 0x3fffff;
  // hi: top 50 bits = stamp's 68 bits >> 18; lo: the remaining 50 bits.
  std::uint64_t hi = stamp >> 18;
  std::uint64_t lo = ((stamp & 0x3ffff) << 32) | (pid << 10) | random10();
  std::string text(kLength, '0');
  for (int i = 9; i >= 0; --i, hi >>= 5) text[static_cast<std::size_t>(i)] = kAlphabet[hi & 31];
  for (int i = 19; i >= 10; --i, lo >>= 5) text[static_cast<std::size_t>(i)] = kAlphabet[lo & 31];
  return QueueId(std::move(text));
}

std::optional<QueueId> QueueId::parse(std::string_view text) {
  if (text.size() != kLength) return std::nullopt;
  for (char c : text)
    if (decode_char(c) < 0) return std::nullopt;
  return QueueId(std::string(text));
}

std::int64_t QueueId::millis() const noexcept {
  // The first 10 chars carry the top 50 bits; milliseconds are the top 48.
  std::uint64_t hi = 0;
  for (std::size_t i = 0; i < 10; ++i) hi = (hi << 5) | static_cast<std::uint64_t>(decode_char(text_[i]));
  return static_cast<std::int64_t>(hi >> 2);
}

}  // namespace relay::spool
