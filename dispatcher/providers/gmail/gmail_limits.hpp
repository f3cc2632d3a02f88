// relay::provider::gmail limits — what the Gmail API refuses up front.
//
// Does: lists the recipients Gmail will see (the addresses in the To, Cc
// and Bcc fields of the prepared header — Gmail takes recipients from the
// header only), and checks the documented per-message limits: size
// (max_message_size, 35 MB) and recipients (max_recipients, 100). Over a
// limit = Permanent (552 5.3.4 size, 550 5.5.3 recipients) with a clear
// reason; relay does not split a message (To/Cc are seen by every
// recipient, so a split could not keep the header intact).
// Does not: I/O. Runs on: any thread; pure. Fails: never.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatcher/providers/provider.hpp"

namespace relay::provider::gmail {

// Distinct (case-insensitive) addresses of To/Cc/Bcc in a header block.
std::vector<std::string> header_recipients(std::string_view head);

std::optional<Result> check_limits(std::uint64_t size, std::size_t recipients, std::uint64_t max_size,
                                   int max_recipients);

}  // namespace relay::provider::gmail
