// relay::spool::detail — the hashed directory layout (see layout.hpp).
#include "spool/layout.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

namespace relay::spool::detail {

namespace {

// What a flat spool's directory held directly, by directory.
std::vector<std::string_view> flat_suffixes(int index) {
  if (index == Dirs::Data) return {".eml"};
  if (index == Dirs::Corrupt) return {".env", ".reason"};
  return {".env"};
}

// The id of a `<id><suffix>` name for one of the suffixes, else nullopt.
std::optional<QueueId> id_of(std::string_view name, const std::vector<std::string_view>& suffixes) {
  for (std::string_view s : suffixes) {
    if (name.size() != QueueId::kLength + s.size() || name.substr(QueueId::kLength) != s) continue;
    return QueueId::parse(name.substr(0, QueueId::kLength));
  }
  return std::nullopt;
}

}  // namespace

bool hashed(int dir_index) noexcept { return dir_index >= Dirs::Data && dir_index <= Dirs::Corrupt; }

int bucket_index(const QueueId& id) noexcept {
  return static_cast<int>((static_cast<std::uint64_t>(id.millis()) >> kBucketShift) % kBuckets);
}

std::string bucket_name(int bucket) {
  static constexpr char kHex[] = "0123456789abcdef";
  return {kHex[(bucket >> 4) & 15], kHex[bucket & 15]};
}

std::string env_rel(const QueueId& id) { return bucket_name(bucket_index(id)) + "/" + env_name(id); }
std::string data_rel(const QueueId& id) { return bucket_name(bucket_index(id)) + "/" + data_name(id); }
std::string reason_rel(const QueueId& id) { return bucket_name(bucket_index(id)) + "/" + id.str() + ".reason"; }

namespace {

bool is_bucket_name(std::string_view n) noexcept {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return n.size() == 2 && hex(n[0]) && hex(n[1]);
}

}  // namespace

Status check_buckets(const Dirs& dirs) {
  for (int d = 0; d < static_cast<int>(Dirs::kCount); ++d) {
    if (!hashed(d)) continue;
    const int top = dirs.fd[static_cast<std::size_t>(d)];
    std::vector<std::string> names;
    if (int err = list_names(top, &names)) return fail(err, std::string("list ") + dir_label(d) + "/");
    for (const auto& n : names) {
      struct stat st{};
      if (!is_bucket_name(n)) continue;
      if (::fstatat(top, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return fail(errno, std::string("stat ") + dir_label(d) + "/" + n);
      // A planted symlink named like a bucket would lead renames out of the spool.
      if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR, std::string("bucket ") + dir_label(d) + "/" + n);
    }
  }
  return Status::success();
}

int ensure_bucket(int top, int bucket) noexcept {
  if (::mkdirat(top, bucket_name(bucket).c_str(), 0750) != 0) return errno == EEXIST ? 0 : errno;
  return ::fsync(top) == 0 ? 0 : errno;
}

int rename_into(int from_dir, const std::string& from, int to_dir, const std::string& to_rel) noexcept {
  int err = rename_noreplace(from_dir, from, to_dir, to_rel);
  if (err != ENOENT || to_rel.size() < 3 || !is_bucket_name(std::string_view(to_rel).substr(0, 2))) return err;
  // The source is gone, or the bucket was missing. Not "the bucket exists
  // now, so the source is gone": another thread may have made the bucket
  // since our rename failed. Make sure it exists and try once more; ENOENT
  // now can only mean the source.
  const std::string bucket = to_rel.substr(0, 2);
  if (int merr = ensure_bucket(to_dir, static_cast<int>(std::strtol(bucket.c_str(), nullptr, 16)))) return merr;
  return rename_noreplace(from_dir, from, to_dir, to_rel);
}

std::vector<QueueId> list_hashed(int dirfd, std::string_view suffix) {
  std::vector<QueueId> ids;
  for (int b = 0; b < kBuckets; ++b) {
    Fd sub(::openat(dirfd, bucket_name(b).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!sub) continue;  // removed by an operator: nothing to list (the next open recreates it)
    append_ids(sub.get(), suffix, &ids);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

int fsync_bucket(int dirfd, int bucket) noexcept {
  Fd sub(::openat(dirfd, bucket_name(bucket).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!sub) return errno;
  return ::fsync(sub.get()) == 0 ? 0 : errno;
}

std::size_t migrate_flat(const Dirs& dirs, std::size_t* busy) {
  std::size_t moved = 0;
  if (busy) *busy = 0;
  // data/ first: after a crash between the two renames of an entry, its
  // envelope is still flat (invisible, moved by the next run), never in a
  // bucket whose data file is missing (which a claim would quarantine).
  for (int d : {static_cast<int>(Dirs::Data), static_cast<int>(Dirs::New), static_cast<int>(Dirs::Active),
                static_cast<int>(Dirs::Deferred), static_cast<int>(Dirs::Hold), static_cast<int>(Dirs::Failed),
                static_cast<int>(Dirs::Corrupt)}) {
    const int top = dirs.fd[static_cast<std::size_t>(d)];
    const auto suffixes = flat_suffixes(d);
    std::vector<std::string> names;
    if (list_names(top, &names) != 0) continue;
    std::set<int> touched;
    for (const auto& n : names) {
      auto id = id_of(n, suffixes);
      if (!id) continue;  // a bucket, or foreign junk: left alone
      const int b = bucket_index(*id);
      int err = rename_into(top, n, top, bucket_name(b) + "/" + n);
      if (err == 0) {
        ++moved;
        touched.insert(b);
      } else if (err != ENOENT && busy) {
        ++*busy;  // EEXIST (both names exist) or an I/O error: left for an operator
      }
    }
    for (int b : touched) (void)fsync_bucket(top, b);
    if (!touched.empty()) (void)::fsync(top);
  }
  return moved;
}

}  // namespace relay::spool::detail
