// OutboxProvider (see outbox_provider.hpp). The job struct owns copies of
// everything the worker thread needs, so the provider may be destroyed while
// a job is running; the job's Done is still called exactly once.
#include "dispatcher/providers/outbox_provider.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "dispatcher/providers/outcome_table.hpp"
#include "dispatcher/providers/post.hpp"

namespace relay::provider {

namespace fs = std::filesystem;

namespace {

struct Job {
  bool is_test = false;
  fs::path dir;
  std::string id;
  std::string mail_from;
  std::vector<std::string> rcpts;
  fs::path data_path;
  std::uint64_t size = 0;
  Provider::Done done;
  Result result;
};

// Owner of a file descriptor.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

Result io_failure(int err, const std::string& what) {
  std::string detail = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return make_result(Cause::DiskFull, detail);
  if (err == EACCES || err == EPERM || err == ENOENT || err == ENOTDIR || err == EROFS) {
    return make_result(Cause::ConfigError, detail);
  }
  return make_result(Cause::LocalIoError, detail);
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// fsync + close, both checked (a failed close can mean lost data on NFS).
bool finish(Fd& f) {
  if (::fsync(f.fd) != 0) return false;
  return ::close(f.release()) == 0;
}

// A temporary file of our own: never through a symlink or onto a file
// someone planted under our (predictable) name. A leftover of a crashed
// run with the same pid is removed first (unlink does not follow links);
// a name that reappears in between makes this attempt fail (transient).
int create_private(const fs::path& p) {
  ::unlink(p.c_str());
  return ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
}

std::optional<Result> copy_data(const Job& j, const fs::path& tmp) {
  Fd in(::open(j.data_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (in.fd < 0) {
    return make_result(Cause::SpoolError, j.data_path.filename().string() + ": " + std::strerror(errno));
  }
  Fd out(create_private(tmp));
  if (out.fd < 0) return io_failure(errno, "create " + tmp.string());
  std::vector<char> buf(1 << 16);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t r = ::read(in.fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return make_result(Cause::SpoolError, std::string("read: ") + std::strerror(errno));
    if (r == 0) break;
    if (!write_all(out.fd, buf.data(), static_cast<std::size_t>(r))) {
      return io_failure(errno, "write " + tmp.string());
    }
    total += static_cast<std::uint64_t>(r);
  }
  if (j.size != 0 && total != j.size) {
    return make_result(Cause::SpoolError, "data is " + std::to_string(total) + " bytes, envelope says " +
                                              std::to_string(j.size));
  }
  if (!finish(out)) return io_failure(errno, "fsync " + tmp.string());
  return std::nullopt;
}

std::optional<Result> write_json(const Job& j, const fs::path& tmp) {
  nlohmann::json doc = {{"queue_id", j.id}, {"mail_from", j.mail_from}, {"rcpts", j.rcpts}};
  std::string text = doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  Fd out(create_private(tmp));
  if (out.fd < 0) return io_failure(errno, "create " + tmp.string());
  if (!write_all(out.fd, text.data(), text.size())) return io_failure(errno, "write " + tmp.string());
  if (!finish(out)) return io_failure(errno, "fsync " + tmp.string());
  return std::nullopt;
}

bool fsync_dir(const fs::path& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return d.fd >= 0 && ::fsync(d.fd) == 0;
}

Result deliver(const Job& j) {
  std::string stem = "." + j.id + "." + std::to_string(::getpid());
  fs::path eml_tmp = j.dir / (stem + ".eml.tmp");
  fs::path json_tmp = j.dir / (stem + ".json.tmp");
  auto cleanup = [&] {
    ::unlink(eml_tmp.c_str());
    ::unlink(json_tmp.c_str());
  };
  if (auto err = copy_data(j, eml_tmp)) return cleanup(), *err;
  if (auto err = write_json(j, json_tmp)) return cleanup(), *err;
  fs::path eml = j.dir / (j.id + ".eml");
  fs::path json = j.dir / (j.id + ".json");
  if (::rename(json_tmp.c_str(), json.c_str()) != 0 || ::rename(eml_tmp.c_str(), eml.c_str()) != 0) {
    int err = errno;
    cleanup();
    return io_failure(err, "rename into " + j.dir.string());
  }
  if (!fsync_dir(j.dir)) return io_failure(errno, "fsync " + j.dir.string());
  Result r = make_result(Cause::Sent);
  r.provider_id = eml.filename().string();
  return r;
}

Result probe(const Job& j) {
  struct stat st{};
  if (::stat(j.dir.c_str(), &st) != 0) return io_failure(errno, "outbox directory " + j.dir.string());
  if (!S_ISDIR(st.st_mode)) return io_failure(ENOTDIR, "outbox directory " + j.dir.string());
  fs::path tmp = j.dir / (".relay-test." + std::to_string(::getpid()) + ".tmp");
  Fd f(create_private(tmp));
  if (f.fd < 0) return io_failure(errno, "outbox directory " + j.dir.string() + " not writable");
  bool ok = write_all(f.fd, "x", 1) && finish(f);
  int err = errno;
  ::unlink(tmp.c_str());
  if (!ok) return io_failure(err, "write test file in " + j.dir.string());
  Result r = make_result(Cause::Sent);
  r.text = "outbox directory " + j.dir.string() + " is writable";
  return r;
}

// The file work on the threadpool, the log line and Done on the loop.
void queue(uv_loop_s* loop, std::unique_ptr<Job> job) {
  std::shared_ptr<Job> j(std::move(job));
  offload(
      loop,
      [j] {
        try {
          j->result = j->is_test ? probe(*j) : deliver(*j);
        } catch (const std::exception& e) {
          j->result = make_result(Cause::LocalIoError, e.what());
        }
      },
      [j] {
        const Result& r = j->result;
        if (!j->is_test) {
          log::info("{} event=outbox_{} file={} outcome={} reason={}", j->id,
                    r.outcome == Outcome::Sent ? "written" : "failed", log::quote(r.provider_id),
                    to_string(r.outcome), log::quote(r.text));
        }
        j->done(std::move(j->result));
      });
}

}  // namespace

OutboxProvider::OutboxProvider(std::string name, config::OutboxProvider cfg, const Context& ctx)
    : name_(std::move(name)), cfg_(std::move(cfg)), loop_(ctx.loop) {
  if (cfg_.directory.empty()) {
    throw config::ConfigError("provider " + name_ + ": outbox directory is empty");
  }
  // An operator expects a fresh install to work: create the directory (as
  // `mkdir -p`). When that fails, say so now; every delivery then reports
  // the precise error as a transient config error, so mail stays queued.
  std::error_code ec;
  std::filesystem::create_directories(cfg_.directory, ec);
  if (ec) {
    log::warn("provider={} event=outbox_mkdir_failed dir={} reason={}", name_,
              log::quote(cfg_.directory.string()), log::quote(ec.message()));
  }
}

void OutboxProvider::send(const Message& msg, Done done) {
  auto job = std::make_unique<Job>();
  job->dir = cfg_.directory;
  job->id = msg.id.str();
  job->mail_from = msg.mail_from;
  job->rcpts = msg.rcpts;
  job->data_path = msg.data_path;
  job->size = msg.size;
  job->done = std::move(done);
  queue(loop_, std::move(job));
}

void OutboxProvider::test(Done done) {
  auto job = std::make_unique<Job>();
  job->is_test = true;
  job->dir = cfg_.directory;
  job->id = "-";
  job->done = std::move(done);
  queue(loop_, std::move(job));
}

}  // namespace relay::provider
