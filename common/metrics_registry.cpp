// relay::metrics::Registry (see metrics_registry.hpp).
#include "common/metrics_registry.hpp"

namespace relay::metrics {

void Registry::add(std::string_view name, const Labels& labels, double n) {
  std::string key = series(name, labels);
  std::lock_guard lock(mu_);
  auto [it, fresh] = series_.try_emplace(std::move(key), Entry{'c', 0});
  it->second.value += n;
}

void Registry::set(std::string_view name, const Labels& labels, double value) {
  std::string key = series(name, labels);
  std::lock_guard lock(mu_);
  series_[std::move(key)] = Entry{'g', value};
}

void Registry::erase(std::string_view name, std::string_view key, std::string_view value) {
  std::lock_guard lock(mu_);
  for (auto it = series_.begin(); it != series_.end();) {
    auto s = it->second.type == 'g' ? parse_sample(it->first + " 0") : std::nullopt;
    bool match = false;
    if (s && s->name == name)
      for (const auto& [k, v] : s->labels) match = match || (k == key && v == value);
    it = match ? series_.erase(it) : std::next(it);
  }
}

const std::vector<double>& Registry::buckets() {
  static const std::vector<double> b{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  return b;
}

void Registry::observe(std::string_view name, const Labels& labels, double seconds) {
  const std::string base(name);
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  for (double b : buckets()) {
    with_le.back().second = format_value(b);
    add(base + "_bucket", with_le, seconds <= b ? 1 : 0);
  }
  with_le.back().second = "+Inf";
  add(base + "_bucket", with_le, 1);
  add(base + "_sum", labels, seconds);
  add(base + "_count", labels, 1);
}

std::string Registry::serialize() const {
  std::string out(kFileHeader);
  out += '\n';
  std::lock_guard lock(mu_);
  for (const auto& [key, e] : series_) {
    out += e.type;
    out += ' ';
    out += key;
    out += ' ';
    out += format_value(e.value);
    out += '\n';
  }
  return out;
}

int Registry::restore(std::string_view text) {
  int taken = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.size() < 3 || line.substr(0, 2) != "c ") continue;
    auto s = parse_sample(line.substr(2));
    if (!s || !(s->value >= 0) || s->value > 1e15) continue;
    add(s->name, s->labels, s->value);
    ++taken;
  }
  return taken;
}

double Registry::value(std::string_view name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(series(name, labels));
  return it == series_.end() ? 0 : it->second.value;
}

void Registry::clear() {
  std::lock_guard lock(mu_);
  series_.clear();
}

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace relay::metrics
