#include "seek.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "format.hpp"

namespace qltx {
namespace {

uint64_t checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw std::invalid_argument("size overflows 64 bits");
  return r;
}

uint64_t checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw std::invalid_argument("size overflows 64 bits");
  return r;
}

}  // namespace

uint64_t block_count(uint64_t plaintext_size, uint64_t block_size) {
  check_block_size_arg(block_size);
  if (plaintext_size > MAX_PLAINTEXT_SIZE)
    throw std::invalid_argument("plaintext size " + std::to_string(plaintext_size) +
                                " is not below 2^63");
  const uint64_t n = plaintext_size / block_size + (plaintext_size % block_size != 0);
  if (n > MAX_BLOCKS)
    throw std::invalid_argument("plaintext size " + std::to_string(plaintext_size) +
                                " needs more than 2^31 blocks of " + std::to_string(block_size) +
                                " bytes");
  return n;
}

uint64_t container_size(uint64_t plaintext_size, uint64_t block_size, uint64_t info_size) {
  const uint64_t n = block_count(plaintext_size, block_size);
  if (info_size < MIN_INFO_SIZE || info_size > MAX_INFO_SIZE)
    throw std::invalid_argument("file info size " + std::to_string(info_size) +
                                " outside 46..1070");
  // With n <= 2^31 and plaintext < 2^63 this cannot overflow; checked all the same.
  uint64_t size = checked_add(HEADER_SIZE + FOOTER_HEAD_SIZE + TRAILER_SIZE + info_size,
                              plaintext_size);
  return checked_add(size, checked_mul(n, BLOCK_OVERHEAD + FOOTER_ENTRY_SIZE));
}

uint64_t block_offset(uint64_t index, uint64_t block_size) {
  check_block_size_arg(block_size);
  if (index >= MAX_BLOCKS)
    throw std::invalid_argument("block index " + std::to_string(index) +
                                " is above the limit 2^31 - 1");
  return checked_add(HEADER_SIZE, checked_mul(index, block_size + BLOCK_OVERHEAD));
}

std::pair<uint64_t, uint64_t> block_span(uint64_t offset, uint64_t length,
                                         uint64_t plaintext_size, uint64_t block_size) {
  const uint64_t n = block_count(plaintext_size, block_size);
  if (offset >= plaintext_size || length == 0) return {n, n};
  const uint64_t end = offset + std::min(length, plaintext_size - offset);  // <= plaintext_size
  return {offset / block_size, (end - 1) / block_size + 1};
}

}  // namespace qltx
