// Corpus replay: the plain main() a fuzz target is linked with when it is not
// built with libFuzzer (every build, any compiler). ctest runs it over the
// target's seed corpus (and any saved crash reproducers), so the normal suite
// and the sanitizer build check that no known input crashes a parser.
//
// Usage: <target>_replay PATH...   (files, or directories read recursively)
// Fails: exit 1 when a path is missing or holds no input at all (an empty
// corpus must not pass silently); a crash in the target is the test's crash.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

void collect(const fs::path& p, std::vector<fs::path>& out) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(p)) {
      if (e.is_regular_file()) out.push_back(e.path());
    }
  } else if (fs::is_regular_file(p, ec)) {
    out.push_back(p);
  } else {
    std::fprintf(stderr, "replay: no such file or directory: %s\n", p.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) collect(argv[i], files);
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs\n");
    return 1;
  }
  std::size_t bytes = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes += data.size();
    std::fprintf(stderr, "replay: %s\n", f.c_str());  // names the input a crash belongs to
    // A copy of exactly `size` bytes, as libFuzzer passes them (ASan sees overreads).
    std::vector<std::uint8_t> buf(data.begin(), data.end());
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("replay: %zu inputs, %zu bytes, no crash\n", files.size(), bytes);
  return 0;
}
