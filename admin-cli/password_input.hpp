// relay::admin password input — how relayctl reads a password without it
// ever being on the command line (visible to every user in ps and
// /proc/PID/cmdline): a terminal prompt without echo, the first line of
// stdin, or the first line of a file.
// Does not: log or print the password; keep it longer than the caller.
// Runs on: the main thread of the CLI. Fails: nullopt and *error (naming
// the file, never its content).
#pragma once
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace relay::admin {

// The first line of stdin, without its CR/LF.
std::string read_line_stdin();
// Prints `text` to `err`, reads one line from the terminal on stdin with
// echo off, then prints a newline.
std::string prompt_no_echo(std::FILE* err, const char* text);
// The first line of a regular file of at most 4 KB, without CR/LF; an empty
// line is an error. Does not follow a FIFO or a device (O_NONBLOCK, fstat).
std::optional<std::string> read_password_file(const std::filesystem::path& p, std::string* error);

}  // namespace relay::admin
