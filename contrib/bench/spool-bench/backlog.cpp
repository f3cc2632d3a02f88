// spool-bench backlog — the steps of contrib/bench/spool-bench/backlog-bench
// (a spool after a large backlog), each on an existing spool directory:
//   fill   --spool D --count N   commit N small entries (SyncMode::Filesystem,
//                                group commit: fast; durability is not what
//                                this step measures)
//   accept --spool D --seconds S  durable commits/s (SyncMode::Files, group
//                                commit, --threads writers): the receiver's
//                                path, into whatever the spool holds now
//   drain  --spool D             claim + done every entry of new/ with
//                                --threads claimers, sweeping recycle/ as a
//                                dispatcher does; prints entries/s
//   scan   --spool D             time of one Spool::list(new) (the
//                                dispatcher's periodic scan)
// Uses only the public Spool API, so the same source builds against the
// previous version's spool library (the "before" of backlog-bench).
// Prints one `key=value` line per step. Not a test: it asserts nothing.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "spool/group_commit.hpp"
#include "spool/spool.hpp"

using namespace relay::spool;

namespace {

struct Args {
  std::string step, spool;
  long count = 0;
  double seconds = 10;
  int threads = 32;
  std::size_t size = 512;
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::optional<Spool> open_or_die(const Args& a, SyncMode mode) {
  std::string err;
  auto sp = Spool::open(a.spool, &err, mode);
  if (!sp) {
    std::fprintf(stderr, "spool-bench backlog: %s\n", err.c_str());
    std::exit(1);
  }
  return sp;
}

bool put_one(const Spool& sp, GroupCommit& gc, const std::string& payload) {
  Envelope env;
  env.received_at = ::time(nullptr);
  env.client_addr = "127.0.0.1";
  env.mail_from = "bench@example.com";
  env.rcpts.push_back({"rcpt@example.org", "", RcptState::Pending, ""});
  Status st;
  auto e = sp.create(std::move(env), &st);
  if (!e || !e->append(payload).ok() || !e->prepare().ok()) return false;
  st = gc.commit(*e);
  if (!st.ok()) std::fprintf(stderr, "commit: %s\n", st.message.c_str());
  return st.ok();
}

// Commits with a.threads writers until `count` entries (count > 0) or
// `seconds` passed; returns {entries, seconds}.
std::pair<long, double> commit_loop(const Args& a, const Spool& sp, long count, double seconds) {
  std::string payload(a.size, 'x');
  payload[a.size - 2] = '\r', payload[a.size - 1] = '\n';
  GroupCommit gc(sp);
  std::atomic<long> n{0};
  std::atomic<bool> stop{false};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> th;
  for (int t = 0; t < a.threads; ++t)
    th.emplace_back([&] {
      while (!stop) {
        if (count > 0 && n.fetch_add(1) >= count) break;
        if (!put_one(sp, gc, payload)) stop = true;
        if (count == 0 && (++n, since(t0) >= seconds)) stop = true;
      }
    });
  for (auto& x : th) x.join();
  return {count > 0 ? std::min(n.load(), count) : n.load(), since(t0)};
}

int drain(const Args& a) {
  auto sp = open_or_die(a, SyncMode::Files);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<QueueId> ids = sp->list(State::New);
  const double list_s = since(t0);
  std::atomic<std::size_t> next{0};
  std::atomic<long> done{0}, lost{0};
  std::vector<std::thread> th;
  for (int t = 0; t < a.threads; ++t)
    th.emplace_back([&, t] {
      for (std::size_t i; (i = next++) < ids.size();) {
        auto c = sp->claim(ids[i]);
        if (c && c->done().ok()) ++done;
        else ++lost;
        // A dispatcher's sweep cuts recycle/ back (its files would pile up
        // otherwise); one thread does it every 20,000 entries.
        if (t == 0 && i % 20000 == 0) (void)sp->sweep({});
      }
    });
  for (auto& x : th) x.join();
  (void)sp->sweep({});
  const double s = since(t0);
  std::printf("step=drain entries=%ld lost=%ld seconds=%.2f rate=%.0f list_new_seconds=%.3f\n", done.load(),
              lost.load(), s, static_cast<double>(done.load()) / s, list_s);
  return lost.load() == 0 ? 0 : 1;
}

int run(const Args& a) {
  if (a.step == "fill") {
    auto sp = open_or_die(a, SyncMode::Filesystem);
    auto [n, s] = commit_loop(a, *sp, a.count, 0);
    std::printf("step=fill entries=%ld seconds=%.2f rate=%.0f\n", n, s, static_cast<double>(n) / s);
    return n == a.count ? 0 : 1;
  }
  if (a.step == "accept") {
    auto sp = open_or_die(a, SyncMode::Files);
    auto [n, s] = commit_loop(a, *sp, 0, a.seconds);
    std::printf("step=accept entries=%ld seconds=%.2f rate=%.0f\n", n, s, static_cast<double>(n) / s);
    return 0;
  }
  if (a.step == "drain") return drain(a);
  if (a.step == "scan") {
    auto sp = open_or_die(a, SyncMode::Files);
    auto t0 = std::chrono::steady_clock::now();
    std::size_t n = sp->list(State::New).size();
    std::printf("step=scan entries=%zu seconds=%.4f\n", n, since(t0));
    return 0;
  }
  std::fprintf(stderr, "spool-bench backlog: unknown step '%s' (fill|accept|drain|scan)\n", a.step.c_str());
  return 2;
}

}  // namespace

int backlog_main(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc && k.rfind("--", 0) == 0) {
      std::fprintf(stderr, "spool-bench backlog: %s needs a value\n", k.c_str());
      return 2;
    }
    if (k == "--spool") a.spool = argv[++i];
    else if (k == "--count") a.count = std::atol(argv[++i]);
    else if (k == "--seconds") a.seconds = std::atof(argv[++i]);
    else if (k == "--threads") a.threads = std::atoi(argv[++i]);
    else if (k == "--size") a.size = static_cast<std::size_t>(std::atol(argv[++i]));
    else if (a.step.empty()) a.step = k;
    else {
      std::fprintf(stderr, "usage: spool-bench backlog fill|accept|drain|scan --spool DIR [--count N] "
                           "[--seconds S] [--threads T] [--size B]\n");
      return 2;
    }
  }
  if (a.spool.empty() || a.threads < 1 || a.size < 2) {
    std::fprintf(stderr, "spool-bench backlog: --spool DIR is required\n");
    return 2;
  }
  return run(a);
}
