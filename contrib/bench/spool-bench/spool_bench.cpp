// spool-bench — how close does the spool's durable commit get to the disk?
//
// Runs, in one process on one directory (same disk, same minute):
//   raw   : open(O_EXCL) + write SIZE + fsync + close + rename + fsync(dir), in a loop
//   spool : Spool::create + append SIZE + prepare + commit (durability on)
// each with 1 thread and with N threads (spool: GroupCommit batching the
// directory fsyncs), and prints rates and ratios. Not a test: it asserts
// nothing; it prints figures for humans (contrib/bench/README-style).
// The four phases alternate in --rounds slices so that background load on a
// shared machine hits them alike; the ratios are what to compare.
// Usage: spool-bench [--dir D] [--seconds S per phase] [--count N per phase]
//                    [--size B] [--threads T] [--rounds R] [--only PHASE]
//        spool-bench backlog fill|accept|drain|scan --spool D ...  (backlog.cpp,
//                    driven by backlog-bench: a spool after a large backlog)
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "spool/group_commit.hpp"
#include "spool/spool.hpp"

namespace fs = std::filesystem;
using namespace relay::spool;

namespace {

struct Options {
  fs::path dir;
  double seconds = 3;
  long count = 0;  // 0 = no limit (time only)
  std::size_t size = 10240;
  int threads = 32;
  int rounds = 3;  // phases run interleaved in `rounds` slices: same load for all
  std::string only;  // "", "raw1", "spool1", "rawN", "spoolN": run one phase
};

struct Result {
  long ops = 0;
  double secs = 0;
  double rate() const { return secs > 0 ? static_cast<double>(ops) / secs : 0; }
  Result& operator+=(const Result& o) {
    ops += o.ops;
    secs += o.secs;
    return *this;
  }
};

// Runs fn(thread, &stop) in `threads` threads until the time or count limit;
// fn returns false on error (which ends the phase).
template <typename Fn>
Result run_phase(const Options& o, int threads, Fn fn) {
  std::atomic<long> ops{0};
  std::atomic<bool> stop{false};
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> th;
  for (int t = 0; t < threads; ++t)
    th.emplace_back([&, t] {
      while (!stop.load(std::memory_order_relaxed)) {
        if (!fn(t)) {
          stop = true;
          break;
        }
        long n = ++ops;
        if ((o.count > 0 && n >= o.count) || std::chrono::steady_clock::now() >= deadline) stop = true;
      }
    });
  for (auto& x : th) x.join();
  return {ops.load(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

bool raw_once(int tmpdir, int dstdir, const std::string& name, const std::string& payload) {
  int fd = ::openat(tmpdir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return false;
  bool ok = ::write(fd, payload.data(), payload.size()) == static_cast<ssize_t>(payload.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  ok = ok && ::renameat(tmpdir, name.c_str(), dstdir, name.c_str()) == 0;
  return ok && ::fsync(dstdir) == 0;
}

Result bench_raw(const Options& o, const fs::path& root, int threads, const std::string& payload, int round) {
  fs::create_directories(root / "tmp");
  fs::create_directories(root / "dst");
  int tmp = ::open((root / "tmp").c_str(), O_RDONLY | O_DIRECTORY);
  int dst = ::open((root / "dst").c_str(), O_RDONLY | O_DIRECTORY);
  std::vector<long> seq(static_cast<std::size_t>(threads), 0);
  Result r = run_phase(o, threads, [&](int t) {
    std::string name = std::to_string(round) + "." + std::to_string(t) + "." +
                       std::to_string(seq[static_cast<std::size_t>(t)]++);
    return raw_once(tmp, dst, name, payload);
  });
  ::close(tmp);
  ::close(dst);
  return r;
}

bool spool_once(const Spool& sp, GroupCommit* gc, const std::string& payload) {
  Envelope env;
  env.received_at = ::time(nullptr);
  env.client_addr = "127.0.0.1";
  env.mail_from = "bench@example.com";
  env.rcpts.push_back({"rcpt@example.org", "", RcptState::Pending, ""});
  Status st;
  auto e = sp.create(std::move(env), &st);
  if (!e || !e->append(payload).ok() || !e->prepare().ok()) return false;
  st = gc ? gc->commit(*e) : sp.commit(*e);
  if (!st.ok()) std::fprintf(stderr, "commit: %s\n", st.message.c_str());
  return st.ok();
}

Result bench_spool(const Options& o, const fs::path& root, int threads, const std::string& payload,
                   std::uint64_t* batches, std::uint64_t* entries) {
  std::string err;
  auto sp = Spool::open(root, &err);
  if (!sp) {
    std::fprintf(stderr, "spool-bench: %s\n", err.c_str());
    std::exit(1);
  }
  GroupCommit gc(*sp);
  Result r = run_phase(o, threads, [&](int) { return spool_once(*sp, threads > 1 ? &gc : nullptr, payload); });
  *batches += gc.batches();
  *entries += gc.entries();
  return r;
}

// Removes the tree with `threads` threads: on a filesystem mounted with
// `discard` each unlink of a synced file waits for a TRIM (~3 ms here), so a
// serial remove_all of one phase's files could take minutes.
double remove_tree(const fs::path& root, int threads) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file(ec)) files.push_back(it->path());
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> th;
  for (int t = 0; t < threads; ++t)
    th.emplace_back([&] {
      for (std::size_t i; (i = next++) < files.size();) ::unlink(files[i].c_str());
    });
  for (auto& x : th) x.join();
  fs::remove_all(root, ec);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "spool-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir") o.dir = next();
    else if (a == "--seconds") o.seconds = std::atof(next().c_str());
    else if (a == "--count") o.count = std::atol(next().c_str());
    else if (a == "--size") o.size = static_cast<std::size_t>(std::atol(next().c_str()));
    else if (a == "--threads") o.threads = std::atoi(next().c_str());
    else if (a == "--only") o.only = next();
    else if (a == "--rounds") o.rounds = std::atoi(next().c_str());
    else {
      std::fprintf(stderr,
                   "usage: spool-bench [--dir D] [--seconds S per phase, default 3] [--count N per phase]\n"
                   "                   [--size BYTES, default 10240] [--threads T, default 32]\n"
                   "                   [--rounds R, default 3] [--only raw1|spool1|rawN|spoolN]\n");
      std::exit(a == "--help" ? 0 : 2);
    }
  }
  if (o.threads < 1 || o.seconds <= 0 || o.rounds < 1) std::exit(2);
  return o;
}

}  // namespace

int backlog_main(int argc, char** argv);  // backlog.cpp

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "backlog") return backlog_main(argc, argv);
  Options o = parse_args(argc, argv);
  std::string base = o.dir.empty() ? (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/var/tmp") : o.dir.string();
  std::string tmpl = base + "/spool-bench.XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("spool-bench: mkdtemp");
    return 1;
  }
  fs::path work = tmpl;
  struct statfs sfs {};
  ::statfs(work.c_str(), &sfs);
  std::printf("spool-bench dir=%s fs_type=0x%lx size=%zu threads=%d seconds=%.1f count=%ld rounds=%d\n",
              work.c_str(), static_cast<unsigned long>(sfs.f_type), o.size, o.threads, o.seconds, o.count,
              o.rounds);
  std::string payload(o.size, 'x');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  if (payload.size() > 2) payload[payload.size() - 2] = '\r', payload.back() = '\n';

  std::uint64_t batches = 0, entries = 0, unused = 0;
  auto want = [&](const char* p) { return o.only.empty() || o.only == p; };
  Result raw1, sp1, rawn, spn;
  // Each phase has its own directories. Nothing is removed until all
  // phases ran: with `discard`, unlinks queue TRIMs that the next phase's
  // journal commits would wait for. The phases alternate in short slices so
  // that a neighbour's load hits all of them alike.
  Options slice = o;
  slice.seconds = o.seconds / o.rounds;
  slice.count = o.count > 0 ? std::max(1L, o.count / o.rounds) : 0;
  for (int r = 0; r < o.rounds; ++r) {
    if (want("raw1")) raw1 += bench_raw(slice, work / "raw1", 1, payload, r);
    if (want("spool1")) sp1 += bench_spool(slice, work / "spool1", 1, payload, &unused, &unused);
    if (want("rawN")) rawn += bench_raw(slice, work / "rawN", o.threads, payload, r);
    if (want("spoolN")) spn += bench_spool(slice, work / "spoolN", o.threads, payload, &batches, &entries);
  }
  double bn = batches ? static_cast<double>(entries) / static_cast<double>(batches) : 0;
  auto line = [](const char* what, const Result& r) {
    std::printf("%-52s %8.0f /s  (%ld in %.2f s)\n", what, r.rate(), r.ops, r.secs);
  };
  line("raw write+fsync+rename+fsync(dir), 1 thread", raw1);
  line("spool commit (durable), 1 writer", sp1);
  std::string n = std::to_string(o.threads);
  line(("raw write+fsync+rename+fsync(dir), " + n + " threads").c_str(), rawn);
  line(("spool commit (durable, group commit), " + n + " writers").c_str(), spn);
  std::printf("group commit: %.1f entries per batch on average\n", bn);
  auto ratio = [](const Result& a, const Result& b) { return b.rate() > 0 ? a.rate() / b.rate() : 0; };
  std::printf("ratio spool-1 / raw-1            = %.2f\n", ratio(sp1, raw1));
  std::printf("ratio spool-%s / raw-1           = %.2f\n", n.c_str(), ratio(spn, raw1));
  std::printf("ratio spool-%s / raw-%s          = %.2f\n", n.c_str(), n.c_str(), ratio(spn, rawn));
  std::printf("cleanup (not in the rates): %.1f s\n", remove_tree(work, 64));
  return 0;
}
