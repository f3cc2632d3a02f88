// relay::provider mail utilities shared by adapters and the dispatcher's
// notices: reading a spooled message file whole, the RFC 5322 date, and the
// log-safe first line of a remote error text.
//
// Does not: touch the spool's locks or parse MIME. Pure/blocking helpers;
// read_file blocks, so call it where blocking is acceptable.
// Fails: read_file returns false on any I/O error.
#pragma once
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>

namespace relay::provider {

// Reads a whole file into *out; false when it cannot be opened or read.
bool read_file(const std::filesystem::path& path, std::string* out);

// RFC 5322 date-time in UTC, e.g. "Tue, 25 Nov 2026 12:00:00 +0000";
// locale-independent.
std::string rfc5322_date(std::time_t t);

// The first line of a text an API sent (error_description, error.message),
// at most 300 characters: what logs and delivery records quote.
std::string first_line(std::string_view s);

}  // namespace relay::provider
