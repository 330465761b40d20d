// Framing of the Qeltrix V6 container (spec/qeltrix_v6.ksy): header, block prefix, block
// metadata, footer and trailer. Pure functions over byte spans, big-endian, no I/O, no Python.
//
// Decoders validate every field they read and never trust a size from their input:
//   NotAContainer  wrong magic (checked on the bytes present, even in a short input)
//   Unsupported    a format version other than 6
//   Truncated      input shorter than the structure
//   Damaged        a field out of range or inconsistent with another
// Encoders check their argument against the same rules and throw std::invalid_argument, so what
// an encoder writes its decoder accepts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bytes.hpp"
#include "errors.hpp"

namespace qltx {

inline constexpr uint16_t VERSION = 6;
inline constexpr size_t HEADER_SIZE = 416;
inline constexpr size_t HEADER_MAC_OFFSET = 108;  // header_mac covers bytes [0, 108)
inline constexpr size_t PREFIX_SIZE = 28;
inline constexpr size_t META_IV_SIZE = 12;
inline constexpr size_t META_PLAIN_SIZE = 148;
inline constexpr size_t TAG_SIZE = 16;
inline constexpr size_t META_SEALED_SIZE = META_PLAIN_SIZE + TAG_SIZE;                      // 164
inline constexpr size_t BLOCK_OVERHEAD = PREFIX_SIZE + META_IV_SIZE + META_SEALED_SIZE + TAG_SIZE;  // 220
inline constexpr size_t FOOTER_HEAD_SIZE = 64;
inline constexpr size_t FOOTER_MAC_OFFSET = 32;  // footer_mac is footer bytes [32, 64)
inline constexpr size_t FOOTER_ENTRY_SIZE = 56;
inline constexpr size_t TRAILER_SIZE = 24;
inline constexpr uint32_t MIN_BLOCK_SIZE = 4096;
inline constexpr uint32_t MAX_BLOCK_SIZE = 64u << 20;
inline constexpr uint64_t MAX_BLOCKS = uint64_t{1} << 31;
inline constexpr uint64_t MAX_PLAINTEXT_SIZE = (uint64_t{1} << 63) - 1;  // plaintext size < 2^63
inline constexpr uint8_t CIPHER_AES256_GCM = 1;
inline constexpr uint8_t CIPHER_CHACHA20_POLY1305 = 2;
inline constexpr uint8_t KDF_NONE = 0;
inline constexpr uint8_t KDF_ARGON2ID = 1;
inline constexpr uint8_t KDF_SCRYPT = 2;
inline constexpr uint32_t FLAG_PERMUTED = 1;  // header flags bit 0
inline constexpr uint32_t FLAG_FINAL = 1;     // block prefix flags bit 0
// Footer file info: info_iv (12) || info_sealed (18 + name + 16 tag), name at most 1024 bytes.
inline constexpr size_t MIN_INFO_SIZE = 46;
inline constexpr size_t MAX_INFO_SIZE = 46 + 1024;
inline constexpr size_t HASH_SIZE = 32;
inline constexpr size_t MAC_SIZE = 32;

using Bytes = std::vector<uint8_t>;
using Hash = std::array<uint8_t, HASH_SIZE>;

// ---- header (416 bytes) ----------------------------------------------------------------------

struct Header {
  uint8_t cipher_id = 0;
  uint8_t kdf_id = 0;
  uint32_t flags = 0;
  uint32_t block_size = 0;
  Bytes container_id;    // 32
  Bytes kdf_salt;        // 16
  uint32_t kdf_t = 0;
  uint32_t kdf_m = 0;
  uint32_t kdf_p = 0;
  Bytes key_commitment;  // 32
  Bytes header_mac;      // 32
  // Mutable fields: all zero in a streamed header, the footer's values once patched.
  uint64_t num_blocks = 0;
  uint64_t plaintext_size = 0;
  uint64_t footer_offset = 0;
  uint64_t footer_size = 0;

  bool permuted() const { return (flags & FLAG_PERMUTED) != 0; }
  bool streamed() const {
    return num_blocks == 0 && plaintext_size == 0 && footer_offset == 0 && footer_size == 0;
  }
};

std::array<uint8_t, HEADER_SIZE> encode_header(const Header& h);
Header decode_header(ByteView buf);  // reads the first 416 bytes

// ---- block prefix (28 bytes) -----------------------------------------------------------------

struct Prefix {
  uint64_t index = 0;
  uint32_t meta_size = static_cast<uint32_t>(META_SEALED_SIZE);
  uint64_t payload_size = TAG_SIZE;
  uint32_t flags = 0;

  bool final() const { return (flags & FLAG_FINAL) != 0; }
};

std::array<uint8_t, PREFIX_SIZE> encode_prefix(const Prefix& p);
// Reads the first 28 bytes; payload_size is checked against block_size (the header's).
Prefix decode_prefix(ByteView buf, uint64_t block_size);

// ---- block metadata (148 bytes, stored sealed) -----------------------------------------------

struct Meta {
  uint64_t plain_offset = 0;
  uint32_t plain_size = 0;
  Bytes payload_iv;        // 12
  Bytes block_salt;        // 32
  Bytes wrap_iv;           // 12
  Bytes wrapped_cdk;       // 48
  Bytes plaintext_sha256;  // 32
};

std::array<uint8_t, META_PLAIN_SIZE> encode_meta(const Meta& m);
Meta decode_meta(ByteView buf);  // reads the first 148 bytes

// ---- footer (64 + 56 * n + info_size bytes) --------------------------------------------------------------

struct FooterHead {
  uint64_t num_blocks = 0;
  uint64_t plaintext_size = 0;
  uint32_t info_size = 0;  // len_info: info_iv and info_sealed, 46..1070 bytes
  std::array<uint8_t, MAC_SIZE> mac{};
};

struct Entry {
  uint64_t plain_offset = 0;
  uint64_t block_offset = 0;
  uint32_t plain_size = 0;
  uint32_t block_size = 0;  // stored bytes = plain_size + 220
  Hash hash{};
};

// The decoded and structurally validated footer. Entries live in flat vectors (no per-entry
// objects); block_offset and block_size are derived from the validated plaintext sizes.
class Index {
 public:
  Index() = default;

  uint64_t num_blocks() const { return plain_offset_.size(); }
  uint64_t plaintext_size() const { return plaintext_size_; }
  uint32_t block_size() const { return block_size_; }
  const std::array<uint8_t, MAC_SIZE>& mac() const { return mac_; }
  // Bytes of info_iv || info_sealed, the last bytes of the footer.
  uint32_t info_size() const { return info_size_; }
  // Every block but the last holds exactly block_size bytes.
  bool uniform() const { return uniform_; }

  Entry entry(uint64_t i) const;  // std::out_of_range if i >= num_blocks
  // Block holding plaintext byte `offset`; std::out_of_range if offset >= plaintext_size.
  uint64_t locate(uint64_t offset) const;
  // Blocks [first, last) covering plaintext [offset, offset + length) clamped to the size;
  // (n, n) when that range is empty.
  std::pair<uint64_t, uint64_t> span(uint64_t offset, uint64_t length) const;

 private:
  friend Index decode_footer(ByteView, uint64_t, uint64_t);
  std::vector<uint64_t> plain_offset_;
  std::vector<uint32_t> plain_size_;
  std::vector<uint8_t> hashes_;  // 32 bytes per entry
  uint64_t plaintext_size_ = 0;
  uint32_t block_size_ = 0;
  uint32_t info_size_ = 0;
  bool uniform_ = true;
  std::array<uint8_t, MAC_SIZE> mac_{};
};

// The first 64 bytes of a footer: magic "QLTXFOOT", block count, total size and info size
// within limits, reserved field zero.
FooterHead decode_footer_head(ByteView buf);
// The whole footer (exactly 64 + 56 * n + info_size bytes), every entry checked against its
// predecessors, the header's block_size and the footer's offset in the container.
Index decode_footer(ByteView buf, uint64_t block_size, uint64_t footer_offset);
// info is info_iv || info_sealed (46..1070 bytes), mac the 32-byte footer_mac (callers usually
// encode with a zero MAC, compute it over the result and patch bytes [32, 64)).
Bytes encode_footer(const std::vector<Entry>& entries, uint64_t plaintext_size, ByteView info,
                    ByteView mac);

// ---- trailer (24 bytes) ----------------------------------------------------------------------

struct Trailer {
  uint64_t footer_offset = 0;
  uint64_t footer_size = 0;
};

std::array<uint8_t, TRAILER_SIZE> encode_trailer(uint64_t footer_offset, uint64_t footer_size);
// The last 24 bytes of buf, the end of a container of container_size bytes.
Trailer decode_trailer(ByteView buf, uint64_t container_size);

// Empty when n blocks of at most block_size bytes can hold `plaintext` bytes under the format's
// limits, else what is wrong (for the 6.0 and 6.1 decoders alike).
std::string totals_problem(uint64_t n, uint64_t plaintext, uint64_t block_size);

// Throws std::invalid_argument unless MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE.
void check_block_size_arg(uint64_t block_size);

}  // namespace qltx
