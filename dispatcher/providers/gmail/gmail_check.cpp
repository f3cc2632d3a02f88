// relay::provider::gmail::Adapter::test() — `relayctl provider test`.
//
// Does: (1) a token for the test user (`user`, else senders.default_sender
// for a service account; "me" for a refresh token): proves the credentials,
// domain-wide delegation and scope; (2) GET users/{u}/profile: the mailbox
// exists; (3) GET users/{u}/settings/sendAs: every fixed sender address
// relay may put in From (default_sender, full addresses in senders.allowed)
// is a verified send-as alias of the sending user — Gmail silently rewrites
// any other From, so that is reported as a warning. (2) needs a read scope
// (gmail.readonly, .metadata, .modify, .compose or mail.google.com; not
// gmail.settings.basic), (3) gmail.readonly, .modify, .settings.basic or
// mail.google.com. With only gmail.send Google answers 403
// insufficientPermissions, the check says it was skipped and names
// gmail.readonly, the one read scope both accept.
// Runs on: the loop thread. Fails: Result through Done (posted).
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/log.hpp"
#include "dispatcher/providers/gmail/gmail_adapter.hpp"
#include "dispatcher/providers/gmail/gmail_errors.hpp"
#include "dispatcher/providers/outcome_table.hpp"
#include "dispatcher/providers/post.hpp"

namespace relay::provider::gmail {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool insufficient_scope(const CallResult& cr) {
  return cr.token_ok && cr.resp.ok() && cr.resp.status == 403 &&
         parse_api_error(cr.resp.body).reason == "insufficientPermissions";
}

Result ok(std::string text) {
  Result r = make_result(Cause::Sent);
  r.code = 200;
  r.text = "ok: " + std::move(text);
  return r;
}

}  // namespace

void Adapter::test(Done done) {
  auto post_done = [loop = loop_, done = std::move(done)](Result r) {
    post(loop, [done, r = std::move(r)] { done(r); });
  };
  std::string who = cfg_.user.empty() ? senders_->default_sender : cfg_.user;
  if (sa_ && who.empty()) {
    Result r = make_result(Cause::ConfigError, "set user or senders.default_sender: the service account needs a "
                                               "Workspace user to impersonate");
    return post_done(r);
  }
  const Target t = target_for(who);
  tokens(t.subject).get([this, t, post_done](const cloud::TokenResult& tr) {
    if (!tr.ok) return post_done(tr.error);
    test_mailbox(t, post_done);
  });
}

void Adapter::test_mailbox(const Target& t, Done done) {
  cloud::Request req;
  req.url = api_.user_url(t.user_id, false) + "/profile";
  api_.call(t, std::move(req), [this, t, done](CallResult cr) {
    std::string summary = fmt::format("token acquired for {}", t.subject);
    if (insufficient_scope(cr)) {
      return done(ok(summary + "; profile and send-as not checked (the scope has no read access; add "
                               "https://www.googleapis.com/auth/gmail.readonly to scope and delegation)"));
    }
    if (!(cr.token_ok && cr.resp.ok() && cr.resp.status == 200)) return done(classify(cr, t.user_id));
    auto j = nlohmann::json::parse(cr.resp.body, nullptr, false);
    if (j.is_object() && j.contains("emailAddress") && j["emailAddress"].is_string()) {
      summary += ", mailbox " + j["emailAddress"].get<std::string>() + " found";
    }
    test_send_as(t, std::move(summary), done);
  });
}

void Adapter::test_send_as(const Target& t, std::string summary, Done done) {
  cloud::Request req;
  req.url = api_.user_url(t.user_id, false) + "/settings/sendAs";
  api_.call(t, std::move(req), [this, t, summary, done](CallResult cr) mutable {
    if (insufficient_scope(cr)) return done(ok(summary + "; send-as aliases not checked (needs gmail.settings.basic)"));
    if (!(cr.token_ok && cr.resp.ok() && cr.resp.status == 200)) return done(classify(cr, t.user_id));
    std::set<std::string> aliases;
    auto j = nlohmann::json::parse(cr.resp.body, nullptr, false);
    if (j.is_object() && j.contains("sendAs") && j["sendAs"].is_array()) {
      for (const auto& a : j["sendAs"]) {
        if (!a.is_object() || !a.contains("sendAsEmail") || !a["sendAsEmail"].is_string()) continue;
        const bool primary = a.value("isPrimary", false);
        if (primary || a.value("verificationStatus", "") == "accepted") {
          aliases.insert(lower(a["sendAsEmail"].get<std::string>()));
        }
      }
    }
    // Addresses relay may put in From for this user: with impersonation of
    // the From mailbox each sender is its own user; otherwise all fixed ones.
    std::set<std::string> wanted;
    if (!sa_ || !cfg_.user.empty()) {
      if (!senders_->default_sender.empty()) wanted.insert(lower(senders_->default_sender));
      for (const auto& a : senders_->allowed)
        if (a.find('@') != std::string::npos && a[0] != '@' && a.find('*') == std::string::npos) wanted.insert(lower(a));
    } else {
      wanted.insert(t.user_id);
    }
    std::string missing;
    for (const auto& w : wanted)
      if (!aliases.count(w) && w != "me") missing += (missing.empty() ? "" : ", ") + w;
    summary += fmt::format(", {} verified send-as address(es)", aliases.size());
    if (!missing.empty()) {
      summary += fmt::format("; WARNING: not a verified send-as alias of {}: {} (Gmail rewrites such a From to the "
                             "user's own address)", t.user_id, missing);
      log::warn("- provider={} event=gmail_send_as_missing user={} addresses={}", name_, t.user_id, log::quote(missing));
    }
    done(ok(summary));
  });
}

}  // namespace relay::provider::gmail
