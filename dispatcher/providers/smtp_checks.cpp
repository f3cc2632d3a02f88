// See smtp_checks.hpp.
#include "dispatcher/providers/smtp_checks.hpp"

#include "dispatcher/providers/outcome_table.hpp"

namespace relay::provider {
namespace {

std::string offered(const SmtpCapabilities& caps) {
  return caps.keywords.empty() ? std::string("no extensions") : caps.keywords;
}

Result refuse(Cause c, int code, const char* enhanced, const std::string& detail) {
  Result r = make_result(c, detail);
  r.code = code;
  r.enhanced = enhanced;
  return r;
}

}  // namespace

bool needs_smtputf8(const std::string& address) {
  for (char c : address)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

std::optional<Result> check_before_mail(const SmtpCapabilities& caps, bool authenticated, const SmtpCheckInput& in) {
  if (in.credentials && !authenticated) {
    std::string why = caps.seen ? "credentials are configured, but the upstream does not offer AUTH (EHLO offered: " +
                                      offered(caps) + "); nothing was sent unauthenticated"
                                : "credentials are configured, but the upstream refused EHLO (no AUTH without it); "
                                  "nothing was sent unauthenticated";
    if (caps.starttls && !in.tls) why += "; it offers STARTTLS: AUTH may come only after it (tls: starttls-required)";
    return make_result(Cause::ConfigError, why);
  }
  if (!caps.seen || in.is_test) return std::nullopt;  // HELO fallback: nothing to check against
  if (caps.size > 0 && in.size > caps.size) {
    return refuse(Cause::MessageTooBig, 552, "5.3.4",
                  "message of " + std::to_string(in.size) + " bytes exceeds the upstream's SIZE limit of " +
                      std::to_string(caps.size) + " bytes; not sent");
  }
  if (!caps.smtputf8) {
    bool utf8 = needs_smtputf8(in.mail_from);
    for (const auto& r : in.rcpts) utf8 = utf8 || needs_smtputf8(r);
    if (utf8) {
      return refuse(Cause::UpstreamPermanent, 553, "5.6.7",
                    "a non-ASCII address needs SMTPUTF8, which the upstream does not offer (EHLO offered: " +
                        offered(caps) + "); not sent");
    }
  }
  if (!caps.eightbitmime && in.has_8bit && in.has_8bit()) {
    return refuse(Cause::BadContent, 554, "5.6.3",
                  "the message has 8-bit data and the upstream does not offer 8BITMIME (EHLO offered: " +
                      offered(caps) + "); relay does not convert to 7-bit; not sent");
  }
  return std::nullopt;
}

Result auth_mechanism_missing(const SmtpCapabilities& caps, const std::string& mechanism) {
  std::string why = caps.auth ? "the upstream offers AUTH " + caps.auth_mechs + ", not " + mechanism +
                                    " (providers.<name>.auth); nothing was sent"
                              : "the upstream does not offer AUTH " + mechanism + " (EHLO offered: " +
                                    offered(caps) + "); nothing was sent";
  return make_result(Cause::ConfigError, why);
}

}  // namespace relay::provider
