#include "permute.hpp"

#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>

#include "bytes.hpp"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define QLTX_HAVE_SSSE3 1
#include <immintrin.h>
#else
#define QLTX_HAVE_SSSE3 0
#endif

namespace qltx {
namespace {

constexpr size_t C = PERMUTATION_CHUNK;
using Table = std::array<uint8_t, C>;

void check_key(size_t key_size) {
  if (key_size != PERMUTATION_KEY_SIZE)
    throw std::invalid_argument("permutation key must be 72 bytes, not " +
                                std::to_string(key_size));
}

Table inverse(const Table& t) {
  Table inv{};
  for (size_t k = 0; k < C; ++k) inv[t[k]] = static_cast<uint8_t>(k);
  return inv;
}

// ---- portable kernel: dst[k] = src[t[k]], eight bytes assembled per store ----

struct PortableTable {
  Table t;
};

inline void gather_portable(uint8_t* __restrict dst, const uint8_t* __restrict src,
                            const PortableTable& pt) {
  const uint8_t* t = pt.t.data();
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (size_t w = 0; w < C; w += 8) {
    const uint8_t* tw = t + w;
    uint64_t v = uint64_t{src[tw[0]]} | uint64_t{src[tw[1]]} << 8 | uint64_t{src[tw[2]]} << 16 |
                 uint64_t{src[tw[3]]} << 24 | uint64_t{src[tw[4]]} << 32 |
                 uint64_t{src[tw[5]]} << 40 | uint64_t{src[tw[6]]} << 48 |
                 uint64_t{src[tw[7]]} << 56;
    std::memcpy(dst + w, &v, 8);
  }
#else
  for (size_t k = 0; k < C; ++k) dst[k] = src[t[k]];
#endif
}

// ---- SSSE3 kernel: output vector j = OR over input vectors i of pshufb(in_i, mask[j][i]) ----

#if QLTX_HAVE_SSSE3
struct alignas(16) ShuffleMasks {
  uint8_t m[4][4][16];  // [output vector][input vector][lane]; 0x80 zeroes the lane
};

ShuffleMasks make_masks(const Table& t) {
  ShuffleMasks sm;
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 4; ++i)
      for (int l = 0; l < 16; ++l) {
        const int src = t[16 * j + l];
        sm.m[j][i][l] = (src / 16 == i) ? static_cast<uint8_t>(src % 16) : uint8_t{0x80};
      }
  return sm;
}

__attribute__((target("ssse3"))) void run_ssse3(uint8_t* dst, const uint8_t* src,
                                                 const ChunkMap& cm, const Table& t,
                                                 bool inverse_map) {
  const ShuffleMasks sm = make_masks(t);
  __m128i mask[4][4];
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 4; ++i)
      mask[j][i] = _mm_load_si128(reinterpret_cast<const __m128i*>(sm.m[j][i]));
  uint64_t q = cm.b;
  for (uint64_t m = 0; m < cm.c; ++m) {
    // permute: out chunk m <- in chunk q; unpermute: out chunk q <- in chunk m.
    const uint8_t* s = src + C * (inverse_map ? m : q);
    uint8_t* d = dst + C * (inverse_map ? q : m);
    const __m128i i0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    const __m128i i1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16));
    const __m128i i2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32));
    const __m128i i3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 48));
    for (int j = 0; j < 4; ++j) {
      const __m128i o = _mm_or_si128(
          _mm_or_si128(_mm_shuffle_epi8(i0, mask[j][0]), _mm_shuffle_epi8(i1, mask[j][1])),
          _mm_or_si128(_mm_shuffle_epi8(i2, mask[j][2]), _mm_shuffle_epi8(i3, mask[j][3])));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 16 * j), o);
    }
    q += cm.a;  // a < c, so one subtraction keeps q in [0, c)
    if (q >= cm.c) q -= cm.c;
  }
}

bool cpu_has_ssse3() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("ssse3") != 0;
  }();
  return has;
}
#else
bool cpu_has_ssse3() { return false; }
#endif

void run_portable(uint8_t* dst, const uint8_t* src, const ChunkMap& cm, const Table& t,
                  bool inverse_map) {
  const PortableTable pt{t};
  uint64_t q = cm.b;
  for (uint64_t m = 0; m < cm.c; ++m) {
    if (inverse_map)
      gather_portable(dst + C * q, src + C * m, pt);
    else
      gather_portable(dst + C * m, src + C * q, pt);
    q += cm.a;
    if (q >= cm.c) q -= cm.c;
  }
}

PermuteKernel resolve(PermuteKernel k) {
  if (k == PermuteKernel::Auto) return cpu_has_ssse3() ? PermuteKernel::Ssse3 : PermuteKernel::Portable;
  if (k == PermuteKernel::Ssse3 && !cpu_has_ssse3())
    throw std::invalid_argument("permute kernel ssse3 is not available on this CPU");
  return k;
}

void apply(uint8_t* buf, size_t n, const uint8_t* key, size_t key_size, PermuteKernel kernel,
           bool inverse_map) {
  check_key(key_size);
  kernel = resolve(kernel);
  const ChunkMap cm = chunk_map(key, key_size, n);
  if (cm.c == 0) return;
  const Table t = permutation_table(key, key_size);
  // permute gathers with T (out[k] = in[T[k]]); unpermute scatters it back, a gather with T^-1.
  const Table table = inverse_map ? inverse(t) : t;
  const size_t bytes = static_cast<size_t>(cm.c) * C;
  std::unique_ptr<uint8_t[]> scratch(new uint8_t[bytes]);
  std::memcpy(scratch.get(), buf, bytes);
#if QLTX_HAVE_SSSE3
  if (kernel == PermuteKernel::Ssse3) {
    run_ssse3(buf, scratch.get(), cm, table, inverse_map);
    return;
  }
#endif
  run_portable(buf, scratch.get(), cm, table, inverse_map);
}

}  // namespace

std::array<uint8_t, PERMUTATION_CHUNK> permutation_table(const uint8_t* key, size_t key_size) {
  check_key(key_size);
  Table t;
  for (size_t k = 0; k < C; ++k) t[k] = static_cast<uint8_t>(k);
  for (size_t k = C - 1; k >= 1; --k) {
    const size_t j = key[C - 1 - k] % (k + 1);
    std::swap(t[k], t[j]);
  }
  return t;
}

ChunkMap chunk_map(const uint8_t* key, size_t key_size, uint64_t n) {
  check_key(key_size);
  ChunkMap cm;
  cm.c = n / C;
  if (cm.c == 0) return cm;
  const uint64_t s = load_be64(key + 64);
  uint64_t a = s % cm.c;
  if (a == 0) a = 1;
  // Terminates: gcd(1, c) = 1, and the wrap is never reached since gcd(c - 1, c) = 1.
  while (std::gcd(a, cm.c) != 1) {
    a = a + 1;
    if (a == cm.c) a = 1;
  }
  cm.a = a;
  cm.b = (s >> 32) % cm.c;
  return cm;
}

std::vector<std::string> permute_kernels() {
  std::vector<std::string> names;
  if (cpu_has_ssse3()) names.push_back("ssse3");
  names.push_back("portable");
  return names;
}

PermuteKernel permute_kernel_by_name(const std::string& name) {
  if (name == "auto") return PermuteKernel::Auto;
  if (name == "portable") return PermuteKernel::Portable;
  if (name == "ssse3") return PermuteKernel::Ssse3;
  throw std::invalid_argument("unknown permute kernel \"" + name + "\"");
}

void permute(uint8_t* buf, size_t n, const uint8_t* key, size_t key_size, PermuteKernel kernel) {
  apply(buf, n, key, key_size, kernel, false);
}

void unpermute(uint8_t* buf, size_t n, const uint8_t* key, size_t key_size,
               PermuteKernel kernel) {
  apply(buf, n, key, key_size, kernel, true);
}

}  // namespace qltx
