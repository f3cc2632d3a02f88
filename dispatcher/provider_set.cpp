// See provider_set.hpp.
#include "dispatcher/provider_set.hpp"

namespace relay::dispatch {

ProviderFactory make_provider_factory(uv_loop_t* loop, net::CurlMulti* curl) {
  return [loop, curl](std::shared_ptr<const config::Config> cfg, std::string* error) -> std::unique_ptr<ProviderSet> {
    auto set = std::make_unique<ProviderSet>();
    set->config = std::move(cfg);
    provider::Context ctx{loop, curl, set->config.get()};
    try {
      for (const auto& pc : set->config->providers) {
        set->owned.push_back(provider::make(pc, ctx));
        set->map[pc.name] = set->owned.back().get();
      }
    } catch (const std::exception& e) {
      *error = e.what();
      return nullptr;
    }
    return set;
  };
}

}  // namespace relay::dispatch
