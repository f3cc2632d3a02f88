// relay::provider::make — the adapter factory, and to_string(Outcome).
// Runs on: any thread (construction only). Fails: config::ConfigError for a
// provider type that cannot be built.
#include "dispatcher/providers/provider.hpp"

#include "dispatcher/providers/gmail/gmail_provider.hpp"
#include "dispatcher/providers/m365/m365_provider.hpp"
#include "dispatcher/providers/outbox_provider.hpp"
#include "dispatcher/providers/smtp_provider.hpp"

namespace relay::provider {

std::string_view to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::Sent: return "sent";
    case Outcome::Transient: return "transient";
    case Outcome::Permanent: return "permanent";
  }
  return "transient";
}

std::unique_ptr<Provider> make(const config::ProviderConfig& cfg, const Context& ctx) {
  switch (cfg.type) {
    case config::ProviderType::Outbox:
      return std::make_unique<OutboxProvider>(cfg.name, cfg.outbox, ctx);
    case config::ProviderType::Smtp:
      return std::make_unique<SmtpProvider>(cfg.name, cfg.smtp, ctx);
    case config::ProviderType::M365:
      return make_m365(cfg, ctx);
    case config::ProviderType::Gmail:
      return make_gmail(cfg, ctx);
  }
  throw config::ConfigError("provider " + cfg.name + ": unknown provider type");
}

}  // namespace relay::provider
