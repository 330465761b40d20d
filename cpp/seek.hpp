// Seek arithmetic of packed (uniform) V6 containers: every block but the last holds exactly
// block_size plaintext bytes. Every argument is checked (std::invalid_argument): block_size in
// 4096..67108864, plaintext size below 2^63, at most 2^31 blocks; results never overflow.
#pragma once

#include <cstdint>
#include <utility>

namespace qltx {

// ceil(plaintext_size / block_size); 0 for an empty stream.
uint64_t block_count(uint64_t plaintext_size, uint64_t block_size);
// Total bytes of a packed container: header, blocks, footer (with info_size bytes of sealed file
// info, 46..1070: 46 + the length of the stored name), trailer.
uint64_t container_size(uint64_t plaintext_size, uint64_t block_size, uint64_t info_size);
// Container offset of block `index` (index < 2^31).
uint64_t block_offset(uint64_t index, uint64_t block_size);
// Blocks [first, last) covering plaintext [offset, offset + length) clamped to plaintext_size;
// (n, n) with n = block_count(...) when that range is empty.
std::pair<uint64_t, uint64_t> block_span(uint64_t offset, uint64_t length,
                                         uint64_t plaintext_size, uint64_t block_size);

}  // namespace qltx
