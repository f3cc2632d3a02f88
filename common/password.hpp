// relay::auth — SMTP AUTH password hashes for receiver.users[].password_hash.
//
// Does: hash_password() makes "$pbkdf2-sha256$i=<iterations>$<salt>$<hash>"
// (PBKDF2-HMAC-SHA256, 16-byte random salt, 32-byte key, salt and key in
// standard base64 without '=' padding); verify_password() checks a password
// against such a string with a constant-time compare; password_hash_valid()
// is the syntax check the config loader runs.
//
// Why PBKDF2 and this iteration count: OpenSSL has PBKDF2 everywhere we run
// (no extra library for scrypt/argon2 parameters across OpenSSL versions).
// The receiver verifies on every AUTH, on its event loop or a worker, so a
// verify must stay cheap enough for a fleet of scanners that authenticate on
// each connection: kIterations is chosen so one verify costs ~5-20 ms on a
// current server core (tests/common/password_test.cpp prints it; measured
// ~12 ms CPU at 50000 on the project's build machine). That is ~80 verifies
// per second per core: enough for AUTH bursts, and it keeps an offline
// guess against a leaked config file at 12 ms each. Online guessing is
// bounded by max_auth_failures_per_ip, not by the hash. (OWASP's 600000 for
// PBKDF2-SHA256 would cost ~150 ms per AUTH and stall the receiver; these
// are machine credentials that should be long and random anyway.)
// Verification honours the i= in the string, so the count can be raised
// later without invalidating existing hashes.
//
// Does not: store or log passwords. Thread-safe (pure functions).
// Fails: hash_password throws std::runtime_error only if the OpenSSL RNG
// fails (a broken system); verify_password returns false on any bad input.
#pragma once
#include <string>
#include <string_view>

namespace relay::auth {

inline constexpr int kIterations = 50000;
inline constexpr int kMinIterations = 1000;      // below: rejected as too weak
inline constexpr int kMaxIterations = 10000000;  // above: a verify DoS

std::string hash_password(std::string_view password, int iterations = kIterations);
[[nodiscard]] bool verify_password(std::string_view password, std::string_view hash);
// True when `hash` is a well-formed hash_password() string; *why says what
// is wrong otherwise.
bool password_hash_valid(std::string_view hash, std::string* why = nullptr);

}  // namespace relay::auth
