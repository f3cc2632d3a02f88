// Server: password checks in flight count toward the AUTH failure limit, and
// only kMaxHashJobs of them use the thread pool at once (issue 9 item 6).
#include <ctime>
#include <vector>

#include "common/log.hpp"
#include "receiver/server/connection.hpp"
#include "receiver/server/server.hpp"

namespace relay::receiver {

void Server::auth_request(Connection* c) {
  auth_waiting_.push_back(c);
  auth_pump();
}

void Server::auth_cancel(Connection* c) {
  for (auto it = auth_waiting_.begin(); it != auth_waiting_.end(); ++it) {
    if (*it == c) {
      auth_waiting_.erase(it);
      return;
    }
  }
}

void Server::auth_finished(const std::string& key, bool ok) {
  if (!ok) throttle_.failure(key, static_cast<std::int64_t>(std::time(nullptr)));
  --auth_running_total_;
  auto it = auth_running_.find(key);
  if (it != auth_running_.end() && --it->second <= 0) auth_running_.erase(it);
  auth_pump();
}

// Starts what may start, in arrival order. A client whose failures alone
// reached the limit gets its waiting attempts refused unverified; one whose
// failures plus checks in flight reached it waits for those to end (they
// may succeed: parallel logins of a legitimate client are only serialized).
void Server::auth_pump() {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  std::vector<Connection*> start, refuse;  // acted on after the scan: both may re-enter auth_request()
  std::unordered_map<std::string, int> running = auth_running_;
  int total = auth_running_total_;
  for (auto it = auth_waiting_.begin(); it != auth_waiting_.end();) {
    Connection* c = *it;
    int& mine = running[c->key()];
    if (throttle_.blocked(c->key(), now)) {
      refuse.push_back(c);
    } else if (!throttle_.blocked(c->key(), now, mine) && total < kMaxHashJobs) {
      ++mine;
      ++total;
      start.push_back(c);
    } else {
      ++it;
      continue;
    }
    it = auth_waiting_.erase(it);
  }
  for (Connection* c : start) {
    ++auth_running_[c->key()];
    ++auth_running_total_;
    c->auth_start();
  }
  for (Connection* c : refuse) c->auth_refused();
}

}  // namespace relay::receiver
