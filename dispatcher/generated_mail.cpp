// See generated_mail.hpp.
#include "dispatcher/generated_mail.hpp"

#include <ctime>

namespace relay::dispatch {

spool::Status enqueue_generated(const spool::Spool& spool, const std::string& to, const std::string& text,
                                std::string* id) {
  spool::Envelope env;
  env.received_at = static_cast<std::int64_t>(std::time(nullptr));
  env.client_addr = "127.0.0.1";
  env.client_helo = "relay-dispatcher";
  env.mail_from = "";  // null sender: never answered by a notice or a bounce
  env.rcpts.push_back(spool::Recipient{to, "", spool::RcptState::Pending, ""});
  spool::Status st;
  auto entry = spool.create(std::move(env), &st);
  if (!entry) return st;
  *id = entry->id().str();
  if (st = entry->append(text); st.ok() && (st = entry->prepare()).ok()) st = spool.commit(*entry);
  if (!st.ok()) id->clear();  // rolled back: no entry of that id exists
  return st;
}

}  // namespace relay::dispatch
