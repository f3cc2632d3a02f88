// relay::metrics text helpers — the Prometheus text exposition format
// (version 0.0.4) pieces shared by the processes that publish metrics and
// the admin endpoint that serves them.
//
// Does: escapes label values and HELP text, checks metric and label names,
// renders one sample line `name{k="v",...} value`, and parses such a line
// back, strictly (anything that is not exactly that shape is refused, so a
// corrupt or hostile metrics file can never inject text into a scrape).
// Does not: know which metrics exist (admin-cli/metrics_exposition does).
// Thread: pure functions.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

// Label value: backslash, double quote and line feed escaped (\\ \" \n).
std::string escape_label_value(std::string_view v);
// HELP text: backslash and line feed escaped.
std::string escape_help(std::string_view v);
bool valid_metric_name(std::string_view name);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_label_name(std::string_view name);   // [a-zA-Z_][a-zA-Z0-9_]*, not __reserved
// `name` or `name{k="v",...}` with the labels in the given order.
std::string series(std::string_view name, const Labels& labels);
// 3, 0.25, +Inf, -Inf, NaN (integers up to 2^53 without exponent).
std::string format_value(double v);
// The inverse of series() + " " + format_value(); nullopt unless the line
// is well-formed (valid names, properly escaped values, no duplicate label,
// a finite or +Inf/-Inf/NaN value, nothing after it).
std::optional<Sample> parse_sample(std::string_view line);

}  // namespace relay::metrics
