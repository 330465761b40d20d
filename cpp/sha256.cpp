#include "sha256.hpp"

#include <algorithm>
#include <stdexcept>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define QLTX_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define QLTX_HAVE_SHANI 0
#endif

namespace qltx {
namespace {

alignas(16) constexpr uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// The final one or two 64-byte blocks of a message: its last len % 64 bytes, 0x80, zeros and
// the bit length (FIPS 180-4, 5.1.1).
struct Tail {
  uint8_t bytes[128] = {};
  size_t blocks = 0;
  Tail(const ByteView& m) {
    const size_t full = m.size / 64 * 64, r = m.size - full;
    if (r) std::memcpy(bytes, m.data + full, r);
    bytes[r] = 0x80;
    blocks = r < 56 ? 1 : 2;
    store_be64(bytes + 64 * blocks - 8, static_cast<uint64_t>(m.size) * 8);
  }
};

void digest_out(const uint32_t st[8], uint8_t* out) {
  for (int i = 0; i < 8; ++i) store_be32(out + 4 * i, st[i]);
}

// ---- portable: one message at a time ----

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void compress_portable(uint32_t st[8], const uint8_t* p, size_t nblocks) {
  for (size_t b = 0; b < nblocks; ++b, p += 64) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) w[t] = load_be32(p + 4 * t);
    for (int t = 16; t < 64; ++t) {
      const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = st[0], bb = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int t = 0; t < 64; ++t) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
      h = g, g = f, f = e, e = d + t1, d = c, c = bb, bb = a, a = t1 + t2;
    }
    st[0] += a, st[1] += bb, st[2] += c, st[3] += d, st[4] += e, st[5] += f, st[6] += g, st[7] += h;
  }
}

void hash_portable(const ByteView& m, uint8_t* out) {
  uint32_t st[8];
  std::copy(H0, H0 + 8, st);
  compress_portable(st, m.data, m.size / 64);
  const Tail tail(m);
  compress_portable(st, tail.bytes, tail.blocks);
  digest_out(st, out);
}

#if QLTX_HAVE_SHANI
// ---- shani: up to 4 messages in interleaved lanes ----
// The state lives in two vectors as the SHA instructions want it: ABEF and CDGH.

#define QLTX_SHANI __attribute__((target("sha,sse4.1,ssse3")))

QLTX_SHANI void load_state(const uint32_t st[8], __m128i& abef, __m128i& cdgh) {
  const __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(st)), 0xB1);
  const __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(st + 4)), 0x1B);
  abef = _mm_alignr_epi8(dcba, efgh, 8);
  cdgh = _mm_blend_epi16(efgh, dcba, 0xF0);
}

QLTX_SHANI void store_state(__m128i abef, __m128i cdgh, uint32_t st[8]) {
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(st), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(st + 4), _mm_alignr_epi8(dchg, feba, 8));
}

// nblocks 64-byte blocks of each of N messages. The lanes' states are locals (not memory), so
// each lane's round chain never waits on a store; the lanes' chains are independent.
template <int N>
QLTX_SHANI void compress_shani(uint32_t (*st)[8], const uint8_t* const* p, size_t nblocks) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i abef[N], cdgh[N];
  for (int l = 0; l < N; ++l) load_state(st[l], abef[l], cdgh[l]);
  for (size_t b = 0; b < nblocks; ++b) {
    __m128i save0[N], save1[N], w[N][4];
    for (int l = 0; l < N; ++l) save0[l] = abef[l], save1[l] = cdgh[l];
#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {  // 4 rounds per group
      const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(K + 4 * g));
#pragma GCC unroll 4
      for (int l = 0; l < N; ++l) {
        __m128i x;
        if (g < 4) {
          x = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p[l] + 64 * b + 16 * g)), bswap);
        } else {  // W[t..t+3] from W[t-16..t-1]
          const __m128i w16 = w[l][g & 3], w12 = w[l][(g + 1) & 3], w8 = w[l][(g + 2) & 3], w4 = w[l][(g + 3) & 3];
          x = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w16, w12), _mm_alignr_epi8(w4, w8, 4)), w4);
        }
        w[l][g & 3] = x;
        const __m128i m = _mm_add_epi32(x, k);
        cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], m);
        abef[l] = _mm_sha256rnds2_epu32(abef[l], cdgh[l], _mm_shuffle_epi32(m, 0x0E));
      }
    }
    for (int l = 0; l < N; ++l) {
      abef[l] = _mm_add_epi32(abef[l], save0[l]);
      cdgh[l] = _mm_add_epi32(cdgh[l], save1[l]);
    }
  }
  for (int l = 0; l < N; ++l) store_state(abef[l], cdgh[l], st[l]);
}

template <int N>
void hash_lanes(const ByteView* m, uint8_t (*out)[SHA256_DIGEST_SIZE]) {
  uint32_t st[N][8];
  const uint8_t* p[N];
  size_t common = SIZE_MAX;
  for (int l = 0; l < N; ++l) {
    std::copy(H0, H0 + 8, st[l]);
    p[l] = m[l].data;
    common = std::min(common, m[l].size / 64);
  }
  compress_shani<N>(st, p, common);  // in lockstep while every lane has a full block
  for (int l = 0; l < N; ++l) {      // then each lane alone: the rest of its blocks, its tail
    const uint8_t* rest = m[l].data + 64 * common;
    compress_shani<1>(&st[l], &rest, m[l].size / 64 - common);
    const Tail tail(m[l]);
    const uint8_t* t = tail.bytes;
    compress_shani<1>(&st[l], &t, tail.blocks);
    digest_out(st[l], out[l]);
  }
}

// Code that ran before us (OpenSSL's AVX-512 ChaCha20, for one) may leave the upper halves of
// the vector registers "dirty"; then every legacy-SSE instruction (and the SHA instructions have
// no other encoding) pays a merge with them: measured 3.4x slower hashing after one
// ChaCha20-Poly1305 call. VZEROUPPER first restores the full speed (and the registers are ours:
// the ABI has no callee-saved vector registers on System V, and none above 128 bits on Windows).
__attribute__((target("avx"))) void vzeroupper() { _mm256_zeroupper(); }

void clean_upper() {
  static const bool avx = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") != 0;
  }();
  if (avx) vzeroupper();
}

bool cpu_has_shani() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return ssse3 && sse41 && ((b >> 29) & 1);  // CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29]
  }();
  return has;
}
#else
// Code that ran before us (OpenSSL's AVX-512 ChaCha20, for one) may leave the upper halves of
// the vector registers "dirty"; then every legacy-SSE instruction, and the SHA instructions have
// no other encoding, pays a merge with them: measured 3.4x slower hashing after one
// ChaCha20-Poly1305 call. Zeroing the upper state first (VZEROUPPER; with AVX-512, also the
// registers VZEROUPPER does not reach) restores the full speed.
__attribute__((target("avx"))) void clean_upper_avx() { _mm256_zeroupper(); }

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void clean_upper_avx512() {
  __asm__ volatile(
      "vpxord %%xmm16, %%xmm16, %%xmm16\n\tvpxord %%xmm17, %%xmm17, %%xmm17\n\t"
      "vpxord %%xmm18, %%xmm18, %%xmm18\n\tvpxord %%xmm19, %%xmm19, %%xmm19\n\t"
      "vpxord %%xmm20, %%xmm20, %%xmm20\n\tvpxord %%xmm21, %%xmm21, %%xmm21\n\t"
      "vpxord %%xmm22, %%xmm22, %%xmm22\n\tvpxord %%xmm23, %%xmm23, %%xmm23\n\t"
      "vpxord %%xmm24, %%xmm24, %%xmm24\n\tvpxord %%xmm25, %%xmm25, %%xmm25\n\t"
      "vpxord %%xmm26, %%xmm26, %%xmm26\n\tvpxord %%xmm27, %%xmm27, %%xmm27\n\t"
      "vpxord %%xmm28, %%xmm28, %%xmm28\n\tvpxord %%xmm29, %%xmm29, %%xmm29\n\t"
      "vpxord %%xmm30, %%xmm30, %%xmm30\n\tvpxord %%xmm31, %%xmm31, %%xmm31"
      ::: "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
          "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}
#endif

enum class Upper { None, Avx, Avx512 };

Upper cpu_upper() {
  static const Upper u = [] {
    __builtin_cpu_init();
#if defined(__x86_64__)
    if (std::getenv("QLTX_SHA_NOCLEAN")) return Upper::None;
    if (std::getenv("QLTX_SHA_AVXONLY")) return Upper::Avx;
    if (__builtin_cpu_supports("avx512f")) return Upper::Avx512;
#endif
    return __builtin_cpu_supports("avx") ? Upper::Avx : Upper::None;
  }();
  return u;
}

void clean_upper() {
  switch (cpu_upper()) {
#if defined(__x86_64__)
    case Upper::Avx512: clean_upper_avx512(); clean_upper_avx(); break;
#endif
    case Upper::Avx: clean_upper_avx(); break;
    default: break;
  }
}

bool cpu_has_shani() { return false; }
#endif

Sha256Kernel resolve(Sha256Kernel k) {
  if (k == Sha256Kernel::Auto) return cpu_has_shani() ? Sha256Kernel::ShaNi : Sha256Kernel::Portable;
  if (k == Sha256Kernel::ShaNi && !cpu_has_shani())
    throw std::invalid_argument("sha256 kernel shani is not available on this CPU");
  return k;
}

}  // namespace

std::vector<std::string> sha256_kernels() {
  std::vector<std::string> names;
  if (cpu_has_shani()) names.emplace_back("shani");
  names.emplace_back("portable");
  return names;
}

Sha256Kernel sha256_kernel_by_name(const std::string& name) {
  if (name == "auto") return Sha256Kernel::Auto;
  if (name == "portable") return Sha256Kernel::Portable;
  if (name == "shani") return Sha256Kernel::ShaNi;
  throw std::invalid_argument("unknown sha256 kernel: " + name);
}

bool sha256_accelerated() { return cpu_has_shani(); }

void sha256_many(const ByteView* msgs, size_t n, uint8_t (*out)[SHA256_DIGEST_SIZE], Sha256Kernel kernel) {
  kernel = resolve(kernel);
#if QLTX_HAVE_SHANI
  if (kernel == Sha256Kernel::ShaNi) {
    clean_upper();
    size_t i = 0;
    for (; n - i >= 4; i += 4) hash_lanes<4>(msgs + i, out + i);
    switch (n - i) {
      case 3: hash_lanes<3>(msgs + i, out + i); break;
      case 2: hash_lanes<2>(msgs + i, out + i); break;
      case 1: hash_lanes<1>(msgs + i, out + i); break;
      default: break;
    }
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) hash_portable(msgs[i], out[i]);
}

}  // namespace qltx
