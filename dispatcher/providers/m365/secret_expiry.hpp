// relay::provider::m365 client-secret expiry — what Provider::secret_status()
// reports and when to warn.
//
// Does: computes days left from a "YYYY-MM-DD" date (config
// client_secret_expires) or from Graph's
// GET /v1.0/applications(appId='{id}')?$select=passwordCredentials, where
// the credential in use is the one whose `hint` (first 3 characters of the
// secret) matches; state ok / warning (days_left <= the largest
// expiry_warn_days) / expired / unknown; and which warn threshold is
// crossed, so a warning is logged once per threshold.
// Does not: do I/O (the provider fetches and feeds it), send notice mails.
// Runs on: any thread; pure.
// Fails: unparseable input gives state "unknown".
#pragma once
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider::m365 {

// Days since 1970-01-01 of "YYYY-MM-DD" (a longer ISO date-time is cut to
// its date part); nullopt when malformed.
std::optional<long> parse_day(std::string_view date);

SecretStatus secret_status_from(std::string_view expires, std::string_view source, std::time_t now,
                                const std::vector<int>& warn_days);

// The smallest warn threshold that days_left has reached (for "warn once per
// threshold"); nullopt when none has.
std::optional<int> warn_threshold(long days_left, const std::vector<int>& warn_days);

// From the Graph applications answer: the endDateTime ("YYYY-MM-DD") of the
// credential whose hint matches the secret's first 3 characters; when no
// hint matches, the latest endDateTime. nullopt when none is listed.
std::optional<std::string> expiry_from_graph(std::string_view body, std::string_view client_secret);

}  // namespace relay::provider::m365
