// Shared helpers of the fuzz harnesses: an invariant check that aborts (libFuzzer and the
// standalone driver both report an abort as a crash) and big-endian reads that tolerate short
// input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace qltx_fuzz {

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
    std::abort();
  }
}

// Consumes bytes from the front of the input; reads past the end give zeros.
struct Reader {
  const uint8_t* d;
  size_t n;
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *d++;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | u8();
    return v;
  }
};

}  // namespace qltx_fuzz
