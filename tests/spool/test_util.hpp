// Helpers for the spool tests: a self-removing temporary spool, entry
// builders and small file utilities. Test-only; single-threaded.
#pragma once
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "spool/layout.hpp"
#include "spool/spool.hpp"

namespace relay::spool::test {

namespace fs = std::filesystem;

// A fresh spool under $TMPDIR (default /tmp), removed at scope exit.
struct TempSpool {
  fs::path root;
  std::optional<Spool> spool;
  explicit TempSpool(SyncMode mode = SyncMode::Files) {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/relay-spool-test.XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    root = tmpl;
    std::string err;
    spool = Spool::open(root / "spool", &err, mode);
    REQUIRE_MESSAGE(spool, err);
  }
  ~TempSpool() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  Spool& operator*() { return *spool; }
  Spool* operator->() { return &*spool; }
  fs::path dir(std::string_view d) const { return root / "spool" / d; }
  // Files in a spool directory, its buckets included (the buckets
  // themselves are not counted).
  std::size_t count(std::string_view d) const {
    std::size_t n = 0;
    for (auto& e : fs::recursive_directory_iterator(dir(d)))
      if (!e.is_directory()) ++n;
    return n;
  }
  // Where <id><ext> sits in a hashed directory: dir/<bucket>/<id><ext>.
  fs::path in(std::string_view d, const QueueId& id, std::string_view ext) const {
    return dir(d) / detail::bucket_name(detail::bucket_index(id)) / (id.str() + std::string(ext));
  }
};

inline Envelope sample_envelope() {
  Envelope e;
  e.received_at = 1700000000;
  e.client_addr = "192.0.2.7";
  e.client_helo = "scanner.example.com";
  e.mail_from = "scan@example.com";
  e.mail_params = "SIZE=10 BODY=8BITMIME";
  e.rcpts.push_back({"a@example.org", "", RcptState::Pending, ""});
  e.rcpts.push_back({"b@example.org", "NOTIFY=NEVER", RcptState::Pending, ""});
  return e;
}

inline std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// create + append + prepare + commit; returns the id (CHECKs each step).
inline QueueId put(Spool& sp, std::string_view data, Envelope env = sample_envelope()) {
  Status st;
  auto e = sp.create(std::move(env), &st);
  REQUIRE_MESSAGE(e, st.message);
  REQUIRE(e->append(data).ok());
  REQUIRE(e->prepare().ok());
  Status c = sp.commit(*e);
  REQUIRE_MESSAGE(c.ok(), c.message);
  return e->id();
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void spit(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Sets a file's mtime `age` seconds into the past.
inline void age_file(const fs::path& p, int age) {
  fs::last_write_time(p, fs::last_write_time(p) - std::chrono::seconds(age));
}

}  // namespace relay::spool::test
