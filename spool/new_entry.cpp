// relay::spool::NewEntry and Spool::create/commit — the receiver's side.
//
// Durability protocol (Postfix-style, see spool/README.md):
//   tmp/<id>.eml  O_EXCL, written through a 256 KiB buffer
//   tmp/<id>.env  O_EXCL, serialised envelope ending in `end <crc>`
//   fdatasync both, close both (checked)
//   batch: per entry rename data into data/<bucket>/, then the envelope
//          into new/<bucket>/; then one fsync of each bucket the batch
//          touched in data/ and in new/ (usually one each: the bucket
//          follows the id's time, spool/layout.hpp).
// SyncMode::Filesystem replaces the per-file fdatasyncs by one syncfs() of
// the batch before its renames, and the directory fsyncs by one syncfs()
// after them: same ordering guarantee (contents durable before any name in
// data/ or new/ points at them), two flushes per batch.
// Only after that is an entry durable (Status ok: the receiver may say 250).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <utility>

#include "spool/file_util.hpp"
#include "spool/layout.hpp"
#include "spool/spool.hpp"

namespace relay::spool {

using detail::Dirs;
using detail::fail;

NewEntry::NewEntry(std::shared_ptr<const Dirs> dirs, Envelope env, int data_fd, bool reused)
    : dirs_(std::move(dirs)),
      env_(std::move(env)),
      data_fd_(data_fd),
      sync_epoch_(detail::sync_error_epoch()),
      reused_(reused) {}

NewEntry::NewEntry(NewEntry&& o) noexcept
    : dirs_(std::move(o.dirs_)),
      env_(std::move(o.env_)),
      data_fd_(std::exchange(o.data_fd_, -1)),
      buffer_(std::move(o.buffer_)),
      size_(o.size_),
      crc_(o.crc_),
      write_error_(o.write_error_),
      sync_epoch_(o.sync_epoch_),
      reused_(o.reused_),
      prepared_(o.prepared_),
      committed_(o.committed_) {
  o.dirs_.reset();  // moved-from: nothing to roll back
}

NewEntry& NewEntry::operator=(NewEntry&& o) noexcept {
  if (this != &o) {
    rollback();
    dirs_ = std::move(o.dirs_);
    env_ = std::move(o.env_);
    data_fd_ = std::exchange(o.data_fd_, -1);
    buffer_ = std::move(o.buffer_);
    size_ = o.size_;
    crc_ = o.crc_;
    write_error_ = o.write_error_;
    sync_epoch_ = o.sync_epoch_;
    reused_ = o.reused_;
    prepared_ = o.prepared_;
    committed_ = o.committed_;
    o.dirs_.reset();
  }
  return *this;
}

NewEntry::~NewEntry() { rollback(); }

void NewEntry::rollback() noexcept {
  if (data_fd_ >= 0) {
    ::close(data_fd_);
    data_fd_ = -1;
  }
  if (committed_ || !dirs_) return;
  int tmp = dirs_->fd[Dirs::Tmp];
  ::unlinkat(tmp, detail::data_name(env_.id).c_str(), 0);
  if (prepared_) ::unlinkat(tmp, detail::env_name(env_.id).c_str(), 0);
  dirs_.reset();  // rolled back: nothing left to do
}

Status NewEntry::flush() {
  if (write_error_ == 0 && !buffer_.empty()) write_error_ = detail::write_all(data_fd_, buffer_);
  buffer_.clear();
  if (write_error_ != 0) return fail(write_error_, "write tmp/" + detail::data_name(env_.id));
  return Status::success();
}

Status NewEntry::append(std::string_view bytes) {
  if (prepared_ || data_fd_ < 0) return Status{EINVAL, "append after prepare"};
  if (write_error_ != 0) return fail(write_error_, "write tmp/" + detail::data_name(env_.id));
  crc_ = crc32(bytes, crc_);
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() <= kBufferSize) {
    if (buffer_.capacity() < kBufferSize) buffer_.reserve(kBufferSize);
    buffer_.append(bytes);
    return Status::success();
  }
  if (Status st = flush(); !st.ok()) return st;
  if (bytes.size() >= kBufferSize) {  // big chunk: straight through, no copy
    write_error_ = detail::write_all(data_fd_, bytes);
    if (write_error_ != 0) return fail(write_error_, "write tmp/" + detail::data_name(env_.id));
    return Status::success();
  }
  buffer_.append(bytes);
  return Status::success();
}

// Both files are written before either is synced. Each fdatasync costs
// about one device cache flush (measured: ~7 ms on the project's VM disk);
// that, not CPU, bounds a single writer (see contrib/bench/spool-bench).
Status NewEntry::prepare() {
  if (prepared_ || committed_ || data_fd_ < 0 || !dirs_) return Status{EINVAL, "prepare: entry not open"};
  if (Status st = flush(); !st.ok()) return st;
  std::string().swap(buffer_);  // the buffer is not needed any more
  env_.size = size_;
  env_.data_crc32 = crc_;
  const int tmp = dirs_->fd[Dirs::Tmp];
  const std::string ename = detail::env_name(env_.id);
  // A recycled file is overwritten from offset 0 and cut to length here,
  // before the sync: what is durable is exactly this message.
  int err = 0;
  std::string what = "tmp/" + detail::data_name(env_.id);
  if (reused_ && ::ftruncate(data_fd_, static_cast<off_t>(size_)) != 0) err = errno;
  int efd = detail::take_recycled(*dirs_, ename);
  const bool env_reused = efd >= 0;
  if (!env_reused) efd = ::openat(tmp, ename.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  detail::Fd env_fd(efd);
  if (!env_fd) return fail(errno, "create tmp/" + ename);
  if (err == 0) {
    const std::string text = serialize(env_);
    what = "tmp/" + ename;
    err = detail::write_all(env_fd.get(), text);
    if (err == 0 && env_reused && ::ftruncate(env_fd.get(), static_cast<off_t>(text.size())) != 0) err = errno;
  }
  if (!dirs_->sync_filesystem) {
    if (err == 0 && ::fdatasync(data_fd_) != 0) err = errno, what = "tmp/" + detail::data_name(env_.id);
    if (err == 0 && ::fdatasync(env_fd.get()) != 0) err = errno;
  }
  int derr = ::close(data_fd_) == 0 ? 0 : errno;  // close() is checked: NFS reports here
  data_fd_ = -1;
  int eerr = env_fd.close_checked();
  if (err == 0 && derr != 0) err = derr, what = "tmp/" + detail::data_name(env_.id);
  if (err == 0) err = eerr;
  if (err != 0) {
    write_error_ = err;
    ::unlinkat(tmp, ename.c_str(), 0);
    return fail(err, "write " + what);
  }
  prepared_ = true;
  return Status::success();
}

std::optional<NewEntry> Spool::create(Envelope env, Status* error) const {
  const std::string name = detail::data_name(env.id);
  int fd = detail::take_recycled(*dirs_, name);
  const bool reused = fd >= 0;
  if (!reused) fd = ::openat(dirs_->fd[Dirs::Tmp], name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    if (error) *error = fail(errno, "create tmp/" + name);
    return std::nullopt;
  }
  if (error) *error = Status::success();
  return NewEntry(dirs_, std::move(env), fd, reused);
}

namespace {

// Makes a batch's renames durable: syncfs (filesystem mode) or one fsync of
// every bucket the batch renamed into, data/ before new/. 0 or errno.
int sync_names(const Dirs& dirs, const std::set<int>& buckets, std::string* what) {
  if (dirs.sync_filesystem) {
    if (::syncfs(dirs.fd[Dirs::New]) == 0) return 0;
    int err = errno;
    detail::note_sync_error();
    *what = "syncfs after renames";
    return err;
  }
  for (int d : {static_cast<int>(Dirs::Data), static_cast<int>(Dirs::New)}) {
    for (int b : buckets) {
      if (int err = detail::fsync_bucket(dirs.fd[static_cast<std::size_t>(d)], b)) {
        *what = std::string("fsync ") + detail::dir_label(d) + "/" + detail::bucket_name(b) + "/";
        return err;
      }
    }
  }
  return 0;
}

}  // namespace

std::vector<Status> Spool::commit(std::span<NewEntry* const> batch) const {
  std::vector<Status> out(batch.size());
  const int tmp = dirs_->fd[Dirs::Tmp], data = dirs_->fd[Dirs::Data], nw = dirs_->fd[Dirs::New];
  const bool fs = dirs_->sync_filesystem;
  // Filesystem mode: the batch's file contents become durable here, before
  // any rename can publish them.
  int pre_err = fs && ::syncfs(tmp) != 0 ? errno : 0;
  if (pre_err != 0) detail::note_sync_error();
  std::size_t moved = 0;
  std::set<int> buckets;  // the directories whose fsync makes this batch's names durable
  for (std::size_t i = 0; i < batch.size(); ++i) {
    NewEntry& e = *batch[i];
    if (!e.prepared_ || e.committed_ || !e.dirs_) {
      out[i] = Status{EINVAL, "commit " + e.id().str() + ": not prepared"};
      continue;
    }
    if (pre_err != 0) {
      out[i] = fail(pre_err, "syncfs before commit");
      continue;
    }
    std::string dname = detail::data_name(e.id()), ename = detail::env_name(e.id());
    std::string drel = detail::data_rel(e.id()), erel = detail::env_rel(e.id());
    if (int err = detail::rename_into(tmp, dname, data, drel); err != 0) {
      out[i] = fail(err, "rename tmp/" + dname + " -> data/" + drel);
    } else if (int err2 = detail::rename_into(tmp, ename, nw, erel); err2 != 0) {
      out[i] = fail(err2, "rename tmp/" + ename + " -> new/" + erel);
      ::unlinkat(data, drel.c_str(), 0);
    } else {
      ++moved;
      buckets.insert(detail::bucket_index(e.id()));
    }
  }
  // One fsync per directory for the whole batch: this, not the renames, is
  // what a batch shares (each fsync costs about one device flush).
  std::string sync_what;
  const int sync_err = moved > 0 ? sync_names(*dirs_, buckets, &sync_what) : 0;
  // syncfs(2) reports a writeback error to one caller only (the errseq
  // cursor of the shared directory fd), and maybe to the batch before ours
  // while our files were already written. So in filesystem mode an entry
  // created before *any* syncfs error this process saw is not trusted either.
  const std::uint64_t epoch = fs ? detail::sync_error_epoch() : 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    NewEntry& e = *batch[i];
    if (out[i].ok() && sync_err == 0 && fs && e.sync_epoch_ != epoch) {
      out[i] = Status{EIO, "syncfs: a write error on the spool filesystem since this message was started"};
      if (::unlinkat(nw, detail::env_rel(e.id()).c_str(), 0) == 0)
        ::unlinkat(data, detail::data_rel(e.id()).c_str(), 0);
    }
    if (out[i].ok() && sync_err != 0) {
      // Not durable: withdraw it (unless a dispatcher already claimed it;
      // then it is delivered at least once and the client retries anyway).
      out[i] = fail(sync_err, sync_what);
      if (::unlinkat(nw, detail::env_rel(e.id()).c_str(), 0) == 0)
        ::unlinkat(data, detail::data_rel(e.id()).c_str(), 0);
    }
    if (out[i].ok()) {
      e.committed_ = true;
    } else if (e.prepared_ && !e.committed_) {
      e.rollback();
    }
  }
  return out;
}

Status Spool::commit(NewEntry& entry) const {
  NewEntry* one[1] = {&entry};
  return std::move(commit(std::span<NewEntry* const>(one, 1))[0]);
}

}  // namespace relay::spool
