// Writes envelope seeds for the envelope fuzz target with the spool's own
// serialiser (run by make_seeds.py, not part of the build): what the
// receiver writes for a new message and what the dispatcher writes back
// after attempts. Usage: envelope_seeds DIR
#include <fstream>
#include <string>

#include "spool/envelope.hpp"

using namespace relay::spool;

static void write(const std::string& dir, const std::string& name, const Envelope& e) {
  std::ofstream(dir + "/" + name, std::ios::binary) << serialize(e);
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::string dir = argv[1];
  Envelope fresh;
  fresh.id = *QueueId::parse("06H3N2XD6C00000NVJCK");  // fixed: seeds do not change between runs
  fresh.received_at = 1700000000;
  fresh.client_addr = "127.0.0.1";
  fresh.client_helo = "app.example.com";
  fresh.mail_from = "app@example.com";
  fresh.mail_params = "BODY=8BITMIME SIZE=1234";
  fresh.rcpts = {{"user@example.org", "", RcptState::Pending, ""}};
  fresh.size = 1234;
  fresh.data_crc32 = crc32("message");
  write(dir, "new.env", fresh);

  Envelope full = fresh;
  full.client_addr = "2001:db8::1";
  full.client_helo = "weird helo with spaces %41\x01\x7f";
  full.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
  full.auth_user = "scanner1";
  full.mail_from = "jörg@exämple.com";
  full.mail_params = "SMTPUTF8 BODY=8BITMIME";
  full.rcpts = {{"a@example.org", "NOTIFY=NEVER", RcptState::Sent, "250 2.0.0 Ok: queued as 4F1"},
                {"b@example.org", "", RcptState::Failed, "550 5.1.1 <b@example.org>: User unknown\r\nsecond line"},
                {"c d@example.org", "ORCPT=rfc822;c@x", RcptState::Pending, "451 4.3.0 try later"}};
  full.attempts = 3;
  full.next_attempt = 1700000600;
  full.last_error = "graph: 429 ApplicationThrottled: Application is over its MailboxConcurrency limit.";
  full.provider = "m365";
  write(dir, "full.env", full);

  Envelope bounce = fresh;
  bounce.mail_from = "";
  bounce.mail_params = "";
  bounce.rcpts.clear();
  for (int i = 0; i < 20; ++i) bounce.rcpts.push_back({"r" + std::to_string(i) + "@example.org", "", RcptState::Pending, ""});
  write(dir, "many_rcpts_null_sender.env", bounce);
  return 0;
}
