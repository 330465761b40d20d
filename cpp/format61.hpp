// Framing of format 6.1 (spec/qeltrix_v6.ksy, version 0x0601): the 256-byte header, the keyring
// copies of 128-byte slots, the index pages and the footer's top table. Beside format.hpp (6.0),
// with the same rules: pure functions over byte spans, big-endian, no I/O, no Python; decoders
// check lengths before they allocate anything whose size they read, and throw the errors of
// errors.hpp (NotAContainer, Unsupported, Truncated, Damaged); encoders check their arguments
// against the same rules and throw std::invalid_argument, so what they write decodes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "format.hpp"

namespace qltx {

inline constexpr uint16_t VERSION_6_0 = 6;
inline constexpr uint16_t VERSION_6_1 = 0x0601;
inline constexpr size_t HEADER61_SIZE = 256;
inline constexpr size_t HEADER61_MAC_OFFSET = 224;   // header_mac is bytes [224, 256)
inline constexpr size_t HEADER61_PATCHED_OFFSET = 88;  // num_blocks .. len_footer: [88, 120)
inline constexpr size_t HEADER61_PATCHED_SIZE = 32;
inline constexpr size_t KEYRING_HEAD_SIZE = 24;
inline constexpr size_t SLOT_SIZE = 128;
inline constexpr size_t SLOT_BODY_MAX = 124;
inline constexpr uint32_t MIN_KEYRING_SLOTS = 1;
inline constexpr uint32_t MAX_KEYRING_SLOTS = 1024;
inline constexpr size_t PAGE_HEAD_SIZE = 16;
inline constexpr size_t PAGE_ENTRY_SIZE = 56;
inline constexpr size_t TOP_ENTRY_SIZE = 48;
inline constexpr unsigned MIN_PAGE_SHIFT = 6;
inline constexpr unsigned MAX_PAGE_SHIFT = 16;
inline constexpr uint32_t MAX_PAGE_ENTRIES = uint32_t{1} << MAX_PAGE_SHIFT;
inline constexpr uint8_t HASH_SHA256 = 1;
inline constexpr uint8_t HASH_BLAKE3 = 2;
inline constexpr uint8_t SLOT_EMPTY = 0;
inline constexpr uint8_t SLOT_RAW = 1;
inline constexpr uint8_t SLOT_ARGON2ID = 2;
inline constexpr uint8_t SLOT_SCRYPT = 3;
inline constexpr uint8_t SLOT_X25519 = 4;
inline constexpr uint16_t FLAG61_PERMUTED = 1;  // header flags (u16) bit 0

// Body length of a known slot type (1..4); 0 for the empty slot and unknown types.
size_t slot_body_size(uint8_t slot_type);

// The format version of a container from its first 6 bytes: VERSION_6_0 or VERSION_6_1.
// NotAContainer on a wrong magic (bytes present), Truncated under 6 bytes, Unsupported otherwise.
uint16_t header_version(ByteView buf);

// ---- header (256 bytes) ----------------------------------------------------------------------

struct Header61 {
  uint8_t cipher_id = 0;
  uint8_t index_hash = 0;
  uint8_t block_hash = 0;
  uint8_t page_shift = 0;
  uint16_t flags = 0;
  uint32_t block_size = 0;
  Bytes container_id;    // 32
  uint32_t keyring_slots = 0;
  Bytes key_commitment;  // 32
  // Patched fields: all zero in a streamed header, the footer's values once patched.
  uint64_t num_blocks = 0;
  uint64_t plaintext_size = 0;
  uint64_t footer_offset = 0;
  uint64_t footer_size = 0;
  Bytes header_mac;      // 32

  bool permuted() const { return (flags & FLAG61_PERMUTED) != 0; }
  bool streamed() const {
    return num_blocks == 0 && plaintext_size == 0 && footer_offset == 0 && footer_size == 0;
  }
  uint64_t keyring_copy_size() const { return KEYRING_HEAD_SIZE + 32 + SLOT_SIZE * uint64_t{keyring_slots}; }
  uint64_t data_offset() const { return HEADER61_SIZE + 2 * keyring_copy_size(); }
  uint64_t page_entries() const { return uint64_t{1} << page_shift; }
};

std::array<uint8_t, HEADER61_SIZE> encode_header61(const Header61& h);
Header61 decode_header61(ByteView buf);  // reads the first 256 bytes
// Bytes 0..223 of a 6.1 header with the patched fields (88..119) zeroed: what header_mac covers.
std::array<uint8_t, HEADER61_MAC_OFFSET> header61_mac_input(ByteView buf);

// Bytes of one keyring copy with n slots (56 + 128 n), of both copies, and where block 0 starts.
uint64_t keyring_copy_size(uint64_t num_slots);

// ---- keyring copy (56 + 128 * num_slots bytes) -----------------------------------------------

struct Slot {
  uint8_t type = SLOT_EMPTY;
  Bytes body;  // len_body bytes (<= 124)
};

struct KeyringCopy {
  uint64_t generation = 0;
  std::vector<Slot> slots;  // num_slots of them, empty ones as {0, {}}
  std::array<uint8_t, MAC_SIZE> mac{};
};

// slots: at most num_slots, padded with empty slots. mac: 32 bytes, placed at the end.
Bytes encode_keyring_copy(uint32_t num_slots, uint64_t generation, const std::vector<Slot>& slots,
                          ByteView mac);
// buf must be exactly one copy of num_slots slots (the header's keyring_slots).
KeyringCopy decode_keyring_copy(ByteView buf, uint32_t num_slots);

// ---- index page (16 + 56 * n bytes) ----------------------------------------------------------

// The decoded and validated entries of one index page (flat vectors, like Index).
class Page {
 public:
  Page() = default;
  uint32_t size() const { return static_cast<uint32_t>(plain_size_.size()); }
  uint64_t first_block() const { return first_block_; }
  uint64_t plain_offset() const { return plain_offset_; }
  uint64_t block_offset() const { return block_offset_; }
  uint64_t plain_end() const { return plain_end_; }
  uint64_t block_end() const { return block_end_; }
  Entry entry(uint32_t j) const;  // std::out_of_range if j >= size()
  // Entry holding plaintext byte `offset`; std::out_of_range outside [plain_offset, plain_end).
  uint32_t locate(uint64_t offset) const;

 private:
  friend Page decode_page(ByteView, uint64_t, uint32_t, uint64_t, uint64_t, uint64_t, bool);
  uint64_t first_block_ = 0, plain_offset_ = 0, block_offset_ = 0, plain_end_ = 0, block_end_ = 0;
  std::vector<uint64_t> starts_;      // plaintext offset of each entry
  std::vector<uint32_t> plain_size_;
  std::vector<uint8_t> hashes_;       // 32 bytes per entry
};

// entries: 1..65536, contiguous (each starts where the previous ends), block_size = plain_size
// + 220, plain_size <= 64 MiB, only the last may be empty; first_block + n <= 2^31.
Bytes encode_page(uint64_t first_block, const std::vector<Entry>& entries);
// buf exactly 16 + 56 * num_entries bytes; the page must list num_entries blocks from
// first_block, entry 0 at (plain_offset, block_offset), each next right after the previous,
// plain_size in 1..block_size (0 allowed for the last entry when `last`, the stream's last page).
Page decode_page(ByteView buf, uint64_t first_block, uint32_t num_entries, uint64_t block_size,
                 uint64_t plain_offset, uint64_t block_offset, bool last);

// ---- footer 6.1 (64 + 48 * num_pages + info_size bytes) --------------------------------------

struct TopEntry {
  uint64_t ofs_page = 0;
  uint64_t ofs_plaintext = 0;
  Hash hash{};
};

struct Footer61Head {
  uint64_t num_blocks = 0;
  uint64_t plaintext_size = 0;
  uint32_t info_size = 0;
  uint32_t num_pages = 0;
  std::array<uint8_t, MAC_SIZE> mac{};
};

// Where page k is and what it lists, derived from the validated top table.
struct PageRef {
  uint64_t index = 0;
  uint64_t ofs_page = 0;
  uint64_t len_page = 0;
  uint64_t ofs_plaintext = 0;
  uint64_t plain_end = 0;
  uint64_t first_block = 0;
  uint32_t num_entries = 0;
  uint64_t block_offset = 0;  // offset of the page's first block
  Hash hash{};
  bool last = false;
};

class TopTable {
 public:
  TopTable() = default;
  uint64_t num_blocks() const { return num_blocks_; }
  uint64_t plaintext_size() const { return plaintext_size_; }
  uint32_t info_size() const { return info_size_; }
  const std::array<uint8_t, MAC_SIZE>& mac() const { return mac_; }
  uint32_t num_pages() const { return static_cast<uint32_t>(ofs_page_.size()); }
  unsigned page_shift() const { return page_shift_; }
  uint64_t page_entries() const { return uint64_t{1} << page_shift_; }
  PageRef page(uint64_t k) const;  // std::out_of_range if k >= num_pages
  // Page holding plaintext byte `offset`; std::out_of_range if offset >= plaintext_size.
  uint64_t locate(uint64_t offset) const;
  // Pages [first, last) covering plaintext [offset, offset + length) clamped to the size;
  // (P, P) when that range is empty.
  std::pair<uint64_t, uint64_t> span(uint64_t offset, uint64_t length) const;
  // Page listing block i; std::out_of_range if i >= num_blocks.
  uint64_t block_page(uint64_t i) const;

 private:
  friend TopTable decode_footer61(ByteView, unsigned, uint64_t, uint64_t, uint64_t);
  uint64_t num_blocks_ = 0, plaintext_size_ = 0, data_offset_ = 0;
  uint32_t info_size_ = 0;
  unsigned page_shift_ = MIN_PAGE_SHIFT;
  std::array<uint8_t, MAC_SIZE> mac_{};
  std::vector<uint64_t> ofs_page_, ofs_plaintext_;
  std::vector<uint8_t> hashes_;
};

uint64_t footer61_size(uint64_t num_pages, uint64_t info_size);
// The first 64 bytes: magic "QLTXFOOT" (NotAContainer), totals within limits, info size
// 46..1070, and a page count some page size 2^6..2^16 could give for num_blocks.
Footer61Head decode_footer61_head(ByteView buf);
// The whole footer, exactly 64 + 48 * num_pages + info_size bytes, its pages tiling the space
// from data_offset to footer_offset (see _core.pyi).
TopTable decode_footer61(ByteView buf, unsigned page_shift, uint64_t block_size,
                         uint64_t data_offset, uint64_t footer_offset);
Bytes encode_footer61(uint64_t num_blocks, uint64_t plaintext_size,
                      const std::vector<TopEntry>& pages, ByteView info, ByteView mac);

// ---- trailer (24 bytes, as in 6.0; the bounds on its footer follow the 6.1 footer) ----------

std::array<uint8_t, TRAILER_SIZE> encode_trailer61(uint64_t footer_offset, uint64_t footer_size);
// The last 24 bytes of buf, the end of a 6.1 container of container_size bytes: magic
// "QLTX-END" (NotAContainer), footer_size = 64 + 48 * P + 46..1070 for some P <= 2^25, the footer
// after the header, both keyring copies and room for P pages and their blocks, and ending at
// the trailer.
Trailer decode_trailer61(ByteView buf, uint64_t container_size);

// Argument checks (std::invalid_argument).
void check_page_shift_arg(uint64_t page_shift);
void check_keyring_slots_arg(uint64_t num_slots);

}  // namespace qltx
