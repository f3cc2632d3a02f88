// relay::receiver jobs — the blocking work a connection hands to the libuv
// thread pool: a message commit (NewEntry::prepare, then the shared
// GroupCommit so concurrent sessions share directory fsyncs) and a password
// verification (PBKDF2 is deliberately slow).
//
// Does: runs the work off the loop and calls Connection::job_done() on the
// loop. A connection that closes meanwhile sets owner = nullptr; the job
// then just finishes (a committed message stays committed: at-least-once).
// Does not: reply to the client (the connection's session does).
// Thread: work() on a pool thread, after() on the loop thread.
// Fails: spool errors are a Status in the job, never exceptions.
#pragma once
#include <uv.h>

#include <optional>
#include <string>

#include "spool/group_commit.hpp"
#include "spool/spool.hpp"

namespace relay::receiver {

class Connection;
class Server;

struct Job {
  enum class Kind { Commit, Auth };
  uv_work_t req{};
  Kind kind = Kind::Commit;
  Connection* owner = nullptr;
  // commit
  std::optional<spool::NewEntry> entry;
  spool::GroupCommit* group = nullptr;
  spool::Status status;
  std::string queue_id;
  // auth
  std::string password;
  std::string hash;  // "" = unknown user
  bool ok = false;
  Server* server = nullptr;  // told when the check ends, even if the owner has gone
  std::string client_key;

  ~Job();
};

void queue_job(uv_loop_t* loop, Job* job);

}  // namespace relay::receiver
