// See host_name.hpp.
#include "common/host_name.hpp"

#include <unistd.h>

#include "common/config.hpp"

namespace relay::config {

std::string host_name(const Config& cfg) {
  if (!cfg.cluster.host_name.empty()) return cfg.cluster.host_name;
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace relay::config
