// relay::spool control — operator switches that live in the spool tree and
// every process honours: today one, the dispatch pause marker
//   <spool>/control/dispatch-paused
// While it exists no dispatcher claims a new entry (deliveries in flight
// finish; the receiver keeps accepting; sweeps go on). Its presence is the
// whole state (the metrics exporter reads exactly this path for
// relay_delivery_paused); its text ("paused-at: <unix seconds>\nby: ...")
// is for people.
//
// Does: creates control/ (0750) and the marker atomically (tmp file, fsync,
// rename, fsync of control/), removes it, tells whether it exists.
// Does not: signal anyone: dispatchers watch control/ (uv_fs_event) and
// also check the marker before each claim.
// Thread: pure functions over paths; blocking POSIX calls (dispatch_paused
// is a single stat(2), cheap enough for a loop thread).
// Fails: Status with errno and a message naming the path; never throws.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "spool/spool.hpp"

namespace relay::spool {

std::filesystem::path control_dir(const std::filesystem::path& root);
std::filesystem::path dispatch_pause_marker(const std::filesystem::path& root);

// mkdir <root>/control (0750) unless it exists. The root must exist.
Status ensure_control_dir(const std::filesystem::path& root);
// Creates (or rewrites) the marker; `by` says who paused (one line, for
// people: control characters become spaces).
Status pause_dispatch(const std::filesystem::path& root, std::string_view by);
// Removes the marker; not an error when it does not exist.
Status resume_dispatch(const std::filesystem::path& root);
// True when the marker exists (any file type: a marker someone made by
// hand with touch counts).
bool dispatch_paused(const std::filesystem::path& root) noexcept;

struct PauseInfo {
  std::int64_t since = 0;  // unix seconds (marker's paused-at, else its mtime)
  std::string by;          // "" when not recorded
};
// nullopt when not paused.
std::optional<PauseInfo> dispatch_pause_info(const std::filesystem::path& root);

}  // namespace relay::spool
