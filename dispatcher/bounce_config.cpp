// See bounce.hpp. This file: what the configuration says about bounces (the
// From address, each provider's diagnostic type and remote host).
#include "dispatcher/bounce.hpp"

namespace relay::dispatch {
namespace {

// "https://graph.microsoft.com/v1.0" -> "graph.microsoft.com" (port dropped).
std::string url_host(const std::string& url) {
  std::size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  std::size_t end = url.find_first_of("/?#", start);
  std::string host = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (auto at = host.rfind('@'); at != std::string::npos) host.erase(0, at + 1);
  if (!host.empty() && host[0] == '[') return host.substr(0, host.find(']') + 1);
  if (auto colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
  return host;
}

}  // namespace

std::map<std::string, BounceSource, std::less<>> bounce_sources(const config::Config& cfg) {
  std::map<std::string, BounceSource, std::less<>> out;
  for (const auto& p : cfg.providers) {
    BounceSource s;
    switch (p.type) {
      case config::ProviderType::Smtp: s = {"smtp", p.smtp.host}; break;
      case config::ProviderType::M365: s = {"X-relay-m365", url_host(p.m365.graph_url)}; break;
      case config::ProviderType::Gmail: s = {"X-relay-gmail", url_host(p.gmail.api_url)}; break;
      case config::ProviderType::Outbox: s = {"X-relay-outbox", ""}; break;
    }
    out[p.name] = std::move(s);
  }
  return out;
}

std::string bounce_from(const config::Config& cfg) {
  if (!cfg.dispatcher.bounce_from.empty()) return cfg.dispatcher.bounce_from;
  if (!cfg.senders.default_sender.empty()) return cfg.senders.default_sender;
  return "postmaster@" + cfg.receiver.hostname;
}

}  // namespace relay::dispatch
