// A libFuzzer-compatible driver for compilers without libFuzzer (g++): runs every file given
// (or every file in a directory given), then `iterations` random mutations of them (bit flips,
// byte changes, insertions, deletions, truncation, splices). Build with
// -fsanitize=address,undefined; a sanitizer report or an invariant abort fails the run.
//   ./qeltrix_fuzz_http 200000 corpus_dir [more files or dirs]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <sys/stat.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void load(const std::string& path, std::vector<std::vector<uint8_t>>& out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* dir = opendir(path.c_str())) {
      while (dirent* e = readdir(dir))
        if (e->d_name[0] != '.') load(path + "/" + e->d_name, out);
      closedir(dir);
    }
    return;
  }
  std::ifstream f(path, std::ios::binary);
  out.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  std::vector<std::vector<uint8_t>> seeds;
  for (int i = 2; i < argc; ++i) load(argv[i], seeds);
  if (seeds.empty()) seeds.push_back({0});
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  std::mt19937_64 rng(12345);
  for (long it = 0; it < iterations; ++it) {
    std::vector<uint8_t> in = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < edits; ++k) {
      const size_t at = in.empty() ? 0 : rng() % in.size();
      switch (rng() % 6) {
        case 0: if (!in.empty()) in[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 1: if (!in.empty()) in[at] = static_cast<uint8_t>(rng()); break;
        case 2: in.insert(in.begin() + static_cast<long>(at), static_cast<uint8_t>(rng())); break;
        case 3: if (!in.empty()) in.erase(in.begin() + static_cast<long>(at)); break;
        case 4: in.resize(at); break;
        case 5: {  // splice the tail of another seed
          const auto& o = seeds[rng() % seeds.size()];
          if (!o.empty()) in.insert(in.end(), o.begin() + static_cast<long>(rng() % o.size()), o.end());
          break;
        }
      }
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  std::printf("%zu seeds and %ld mutated inputs ok\n", seeds.size(), iterations);
  return 0;
}
