// relay::spool::detail — the hashed directory layout (bounded directories).
//
// Does: names the bucket an entry lives in, lists ids across the buckets of
// a state directory, creates the buckets when a spool is opened, fsyncs the
// buckets a commit touched, and migrates entries of a flat spool (made by
// the previous version: files directly in new/, data/, ...) into their
// buckets.
//
// Why: ext4 directories never shrink. A flat new/ that once held a million
// entries keeps megabytes of (empty) blocks and a deep htree, and every
// create, rename and readdir pays for it until the directory is recreated.
// With kBuckets subdirectories per state (as Postfix's hash_queue_depth)
// no directory holds more than a fraction of a backlog.
//
// The bucket is taken from the id's *time* part (milliseconds >> 10), not
// its random part: entries committed in the same second share a bucket, so
// a group commit still fsyncs one data/ and one new/ subdirectory per batch
// (a random bucket per entry would cost two directory fsyncs, each a device
// flush, per message). The buckets rotate every ~1 s and cycle every
// ~4.4 minutes, so a backlog spreads over all of them.
//
// Does not: move entries between states (spool.cpp, claim.cpp do), lock.
// Thread-safety: stateless functions over the immutable Dirs.
// Fails: errno values / Status; listing skips a missing bucket.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "spool/file_util.hpp"

namespace relay::spool::detail {

inline constexpr int kBuckets = 256;
inline constexpr int kBucketShift = 10;  // milliseconds >> 10: a new bucket every 1.024 s

bool hashed(int dir_index) noexcept;         // data/ and the state directories; not tmp/ recycle/
int bucket_index(const QueueId& id) noexcept;
std::string bucket_name(int bucket);         // "00" .. "ff"
std::string env_rel(const QueueId& id);      // "3f/<id>.env", relative to a state directory
std::string data_rel(const QueueId& id);     // "3f/<id>.eml", relative to data/
std::string reason_rel(const QueueId& id);   // "3f/<id>.reason", relative to corrupt/

// Buckets are made when first needed (a fresh spool has none: 1,792
// mkdirs per spool cost seconds on a busy disk), by rename_into().
// check_buckets() refuses, at open, anything named like a bucket that is
// not a real directory (a symlink would lead renames out of the spool).
Status check_buckets(const Dirs& dirs);
// mkdir top/<bucket> unless it exists; when it made it, fsyncs `top` so an
// entry committed into it cannot outlive its directory in a power cut.
// 0 or errno.
int ensure_bucket(int top, int bucket) noexcept;
// rename_noreplace(from_dir/from -> to_dir/to_rel) where to_rel is
// "<bucket>/<name>": a missing bucket is made (ensure_bucket) and the
// rename tried once more. ENOENT afterwards means the source is gone.
int rename_into(int from_dir, const std::string& from, int to_dir, const std::string& to_rel) noexcept;
// Ids of the `<id><suffix>` files in all buckets of a hashed directory,
// sorted (oldest first).
std::vector<QueueId> list_hashed(int dirfd, std::string_view suffix);
// fsync(2) of one bucket of a hashed directory; 0 or errno.
// (new/'s buckets are all made by Spool::watch_dirs: a watcher needs them.)
int fsync_bucket(int dirfd, int bucket) noexcept;

// Moves entries a flat spool left directly in data/ and the state
// directories into their buckets: data files first (an envelope found in a
// bucket must find its data there), one rename each (idempotent: a rerun
// after a crash moves what is left), then fsyncs what it changed. Returns
// the number of files moved; `*busy` counts those it could not move.
std::size_t migrate_flat(const Dirs& dirs, std::size_t* busy);

}  // namespace relay::spool::detail
