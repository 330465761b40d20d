// SHA-256 (FIPS 180-4) of several independent messages at once.
//
// V6 hashes every block twice when packing (the plaintext keys the block; the stored bytes are
// the keyless index hash) and once when unpacking. One SHA-256 stream is latency-bound: with the
// x86 SHA extensions a round waits for the one before it, and OpenSSL's single stream runs at
// about 2 GB/s per core. Independent messages have no such chain, so the "shani" kernel hashes up
// to four of them in interleaved lanes and keeps the SHA unit busy (measured 1.7x one stream with
// 4 lanes; tools/bench/bench_sha256.py). The portable kernel hashes one message at a time and
// exists so that every platform has an answer (callers prefer hashlib where it is faster).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bytes.hpp"

namespace qltx {

inline constexpr size_t SHA256_DIGEST_SIZE = 32;

enum class Sha256Kernel { Auto, Portable, ShaNi };
std::vector<std::string> sha256_kernels();  // names of the kernels this CPU can run, best first
Sha256Kernel sha256_kernel_by_name(const std::string& name);  // std::invalid_argument if unknown
bool sha256_accelerated();                  // the "shani" kernel runs here

// out[i] = SHA-256(msgs[i]) for i < n. Messages may have any lengths; lanes are filled with
// messages in order. std::invalid_argument if the kernel is not available on this CPU.
void sha256_many(const ByteView* msgs, size_t n, uint8_t (*out)[SHA256_DIGEST_SIZE],
                 Sha256Kernel kernel = Sha256Kernel::Auto);

}  // namespace qltx
