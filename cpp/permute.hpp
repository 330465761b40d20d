// The keyed block permutation of spec/qeltrix_v6.ksy ("Permutation"), in place.
//
// K is the 72-byte permutation key (HKDF-Expand(CDK, "qeltrix-v6 permutation", 72)).
// T: the identity on 0..63 shuffled by Fisher-Yates with K[0..63]; for a block of n bytes,
// c = n / 64 chunks, s = big-endian u64 of K[64..71], a coprime step and b an offset derived from
// s. Output chunk m takes input chunk q = (a*m + b) mod c, byte k of it from byte T[k] of that
// chunk; the last n mod 64 bytes stay in place. unpermute() is the inverse.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qltx {

inline constexpr size_t PERMUTATION_KEY_SIZE = 72;
inline constexpr size_t PERMUTATION_CHUNK = 64;

// The 64-entry byte table T. std::invalid_argument unless key_size == 72.
std::array<uint8_t, PERMUTATION_CHUNK> permutation_table(const uint8_t* key, size_t key_size);

// The chunk map of a block of n bytes: chunk m takes chunk (a*m + b) mod c. a = 1, b = 0 when c = 0.
struct ChunkMap {
  uint64_t a = 1, b = 0, c = 0;
};
ChunkMap chunk_map(const uint8_t* key, size_t key_size, uint64_t n);

// Gather kernels. "auto" picks the fastest one this CPU runs; the others exist to be tested and
// benchmarked against each other. Every kernel gives the same bytes.
enum class PermuteKernel { Auto, Portable, Ssse3 };
std::vector<std::string> permute_kernels();  // names of the kernels this CPU can run, best first
PermuteKernel permute_kernel_by_name(const std::string& name);  // std::invalid_argument if unknown

// In place over buf[0, n). std::invalid_argument unless key_size == 72 (or the kernel is not
// available on this CPU).
void permute(uint8_t* buf, size_t n, const uint8_t* key, size_t key_size,
             PermuteKernel kernel = PermuteKernel::Auto);
void unpermute(uint8_t* buf, size_t n, const uint8_t* key, size_t key_size,
               PermuteKernel kernel = PermuteKernel::Auto);

}  // namespace qltx
