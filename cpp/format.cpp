#include "format.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace qltx {
namespace {

using std::to_string;

constexpr char HEADER_MAGIC[] = "QLTX";
constexpr char PREFIX_MAGIC[] = "QBLK";
constexpr char FOOTER_MAGIC[] = "QLTXFOOT";
constexpr char TRAILER_MAGIC[] = "QLTX-END";

// Header field offsets (spec/qeltrix_v6.ksy, type header).
constexpr size_t H_VERSION = 4, H_CIPHER = 6, H_KDF = 7, H_FLAGS = 8, H_BLOCK_SIZE = 12,
                 H_CONTAINER_ID = 16, H_KDF_SALT = 48, H_KDF_T = 64, H_KDF_M = 68, H_KDF_P = 72,
                 H_KEY_COMMITMENT = 76, H_MAC = 108, H_NUM_BLOCKS = 140, H_PLAINTEXT = 148,
                 H_FOOTER_OFFSET = 156, H_FOOTER_SIZE = 164, H_RESERVED = 172;
static_assert(H_MAC == HEADER_MAC_OFFSET, "header_mac offset");
static_assert(H_RESERVED + 30 * 8 + 4 == HEADER_SIZE, "header size");
constexpr size_t CONTAINER_ID_SIZE = 32, KDF_SALT_SIZE = 16, KEY_COMMITMENT_SIZE = 32;
// Block metadata field sizes.
constexpr size_t PAYLOAD_IV_SIZE = 12, BLOCK_SALT_SIZE = 32, WRAP_IV_SIZE = 12,
                 WRAPPED_CDK_SIZE = 48;
static_assert(8 + 4 + PAYLOAD_IV_SIZE + BLOCK_SALT_SIZE + WRAP_IV_SIZE + WRAPPED_CDK_SIZE +
                      HASH_SIZE == META_PLAIN_SIZE,
              "metadata size");
static_assert(BLOCK_OVERHEAD == 220, "block overhead");

std::string hex32(uint32_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s = "0x";
  bool started = false;
  for (int shift = 28; shift >= 0; shift -= 4) {
    unsigned d = (v >> shift) & 0xf;
    if (d || started || shift == 0) {
      s += digits[d];
      started = true;
    }
  }
  return s;
}

// Wrong magic on the bytes present: a short input that already differs is not a container.
void check_magic(ByteView b, size_t at, const char* magic, size_t len, const char* what) {
  if (b.size <= at) return;
  size_t have = std::min(len, b.size - at);
  if (std::memcmp(b.data + at, magic, have) != 0)
    throw NotAContainer(std::string(what) + ": bad magic (expected \"" + magic + "\")");
}

void need(ByteView b, size_t size, const char* what) {
  if (b.size < size)
    throw Truncated(std::string(what) + ": " + to_string(b.size) + " of " + to_string(size) +
                    " bytes");
}

uint64_t footer_size_for(uint64_t n, uint64_t info_size) {
  return FOOTER_HEAD_SIZE + FOOTER_ENTRY_SIZE * n + info_size;  // n <= 2^31: no overflow
}

// ---- header ----

std::string header_problem(const Header& h) {
  if (h.cipher_id != CIPHER_AES256_GCM && h.cipher_id != CIPHER_CHACHA20_POLY1305)
    return "unknown cipher id " + to_string(h.cipher_id);
  if (h.kdf_id != KDF_NONE && h.kdf_id != KDF_ARGON2ID && h.kdf_id != KDF_SCRYPT)
    return "unknown kdf id " + to_string(h.kdf_id);
  if (h.flags & ~FLAG_PERMUTED) return "reserved flag bits set (" + hex32(h.flags) + ")";
  if (h.block_size < MIN_BLOCK_SIZE || h.block_size > MAX_BLOCK_SIZE)
    return "block size " + to_string(h.block_size) + " outside 4096..67108864";
  if (h.kdf_id == KDF_NONE &&
      (h.kdf_t || h.kdf_m || h.kdf_p || !all_zero(h.kdf_salt.data(), h.kdf_salt.size())))
    return "kdf none with a non-zero kdf salt or cost";
  if (h.streamed()) return {};
  std::string p = totals_problem(h.num_blocks, h.plaintext_size, h.block_size);
  if (!p.empty()) return p;
  if (h.footer_size < footer_size_for(h.num_blocks, MIN_INFO_SIZE) ||
      h.footer_size > footer_size_for(h.num_blocks, MAX_INFO_SIZE))
    return "footer size " + to_string(h.footer_size) + " does not match " +
           to_string(h.num_blocks) + " blocks";
  // Blocks are contiguous from offset 416 and each stores plain_size + 220 bytes.
  if (h.footer_offset != HEADER_SIZE + BLOCK_OVERHEAD * h.num_blocks + h.plaintext_size)
    return "footer offset " + to_string(h.footer_offset) + " does not match " +
           to_string(h.num_blocks) + " blocks holding " + to_string(h.plaintext_size) + " bytes";
  return {};
}

void check_field_size(const Bytes& field, size_t size, const char* what, const char* name) {
  if (field.size() != size)
    throw std::invalid_argument(std::string(what) + ": " + name + " must be " + to_string(size) +
                                " bytes, not " + to_string(field.size()));
}

// ---- block prefix ----

std::string prefix_problem(const Prefix& p, uint64_t block_size) {
  if (p.index >= MAX_BLOCKS) return "index " + to_string(p.index) + " is above the limit 2^31 - 1";
  if (p.meta_size != META_SEALED_SIZE)
    return "metadata size " + to_string(p.meta_size) + " is not 164";
  if (p.payload_size < TAG_SIZE || p.payload_size > block_size + TAG_SIZE)
    return "payload size " + to_string(p.payload_size) + " outside 16.." +
           to_string(block_size + TAG_SIZE);
  if (p.flags & ~FLAG_FINAL) return "reserved flag bits set (" + hex32(p.flags) + ")";
  return {};
}

// ---- block metadata ----

std::string meta_problem(const Meta& m) {
  if (m.plain_size > MAX_BLOCK_SIZE)
    return "plaintext size " + to_string(m.plain_size) + " is above 67108864";
  if (m.plain_offset > MAX_PLAINTEXT_SIZE - m.plain_size)
    return "plaintext offset " + to_string(m.plain_offset) + " + size reaches 2^63";
  return {};
}

// ---- trailer ----

// The footer is 64 + 56 * n + info_size bytes with 46 <= info_size <= 1070 and n <= 2^31, and
// starts after the header and n blocks of 220..220 + 2^26 bytes.
std::string trailer_problem(uint64_t footer_offset, uint64_t footer_size) {
  const uint64_t min_size = footer_size_for(0, MIN_INFO_SIZE);
  const uint64_t max_size = footer_size_for(MAX_BLOCKS, MAX_INFO_SIZE);
  if (footer_size < min_size || footer_size > max_size)
    return "footer size " + to_string(footer_size) + " outside " + to_string(min_size) + ".." +
           to_string(max_size);
  // Fewest and most blocks a footer of this size can list.
  const uint64_t fixed_max = footer_size_for(0, MAX_INFO_SIZE);
  const uint64_t n_min =
      footer_size > fixed_max ? (footer_size - fixed_max + FOOTER_ENTRY_SIZE - 1) / FOOTER_ENTRY_SIZE : 0;
  const uint64_t n_max = std::min((footer_size - min_size) / FOOTER_ENTRY_SIZE, MAX_BLOCKS);
  // Both bounds are below 2^58: no overflow.
  if (footer_offset < HEADER_SIZE + BLOCK_OVERHEAD * n_min ||
      footer_offset > HEADER_SIZE + (BLOCK_OVERHEAD + MAX_BLOCK_SIZE) * n_max)
    return "footer offset " + to_string(footer_offset) + " does not fit a footer of " +
           to_string(footer_size) + " bytes";
  return {};
}

}  // namespace

// (format.hpp) Empty when n blocks of at most block_size bytes can hold `plaintext` bytes under the limits.
std::string totals_problem(uint64_t n, uint64_t plaintext, uint64_t block_size) {
  if (n > MAX_BLOCKS) return "num_blocks " + to_string(n) + " is above the limit 2^31";
  if (plaintext > MAX_PLAINTEXT_SIZE)
    return "plaintext size " + to_string(plaintext) + " is not below 2^63";
  if (plaintext > n * block_size)  // n <= 2^31, block_size <= 2^26: no overflow
    return to_string(n) + " blocks of at most " + to_string(block_size) + " bytes cannot hold " +
           to_string(plaintext) + " plaintext bytes";
  if (n > 1 && plaintext < n - 1)
    return to_string(n) + " blocks cannot hold only " + to_string(plaintext) +
           " plaintext bytes (every block but the last holds at least one)";
  return {};
}

void check_block_size_arg(uint64_t block_size) {
  if (block_size < MIN_BLOCK_SIZE || block_size > MAX_BLOCK_SIZE)
    throw std::invalid_argument("block size " + to_string(block_size) +
                                " outside 4096..67108864");
}

std::array<uint8_t, HEADER_SIZE> encode_header(const Header& h) {
  check_field_size(h.container_id, CONTAINER_ID_SIZE, "header", "container_id");
  check_field_size(h.kdf_salt, KDF_SALT_SIZE, "header", "kdf_salt");
  check_field_size(h.key_commitment, KEY_COMMITMENT_SIZE, "header", "key_commitment");
  check_field_size(h.header_mac, MAC_SIZE, "header", "header_mac");
  std::string p = header_problem(h);
  if (!p.empty()) throw std::invalid_argument("header: " + p);

  std::array<uint8_t, HEADER_SIZE> out{};
  std::memcpy(out.data(), HEADER_MAGIC, 4);
  store_be16(out.data() + H_VERSION, VERSION);
  out[H_CIPHER] = h.cipher_id;
  out[H_KDF] = h.kdf_id;
  store_be32(out.data() + H_FLAGS, h.flags);
  store_be32(out.data() + H_BLOCK_SIZE, h.block_size);
  std::memcpy(out.data() + H_CONTAINER_ID, h.container_id.data(), CONTAINER_ID_SIZE);
  std::memcpy(out.data() + H_KDF_SALT, h.kdf_salt.data(), KDF_SALT_SIZE);
  store_be32(out.data() + H_KDF_T, h.kdf_t);
  store_be32(out.data() + H_KDF_M, h.kdf_m);
  store_be32(out.data() + H_KDF_P, h.kdf_p);
  std::memcpy(out.data() + H_KEY_COMMITMENT, h.key_commitment.data(), KEY_COMMITMENT_SIZE);
  std::memcpy(out.data() + H_MAC, h.header_mac.data(), MAC_SIZE);
  store_be64(out.data() + H_NUM_BLOCKS, h.num_blocks);
  store_be64(out.data() + H_PLAINTEXT, h.plaintext_size);
  store_be64(out.data() + H_FOOTER_OFFSET, h.footer_offset);
  store_be64(out.data() + H_FOOTER_SIZE, h.footer_size);
  return out;  // reserved bytes stay zero
}

Header decode_header(ByteView b) {
  check_magic(b, 0, HEADER_MAGIC, 4, "header");
  if (b.size >= H_VERSION + 2) {
    uint16_t v = load_be16(b.data + H_VERSION);
    if (v != VERSION)
      throw Unsupported("format version " + to_string(v) + " is not supported (only 6)");
  }
  need(b, HEADER_SIZE, "header");
  const uint8_t* d = b.data;
  if (!all_zero(d + H_RESERVED, HEADER_SIZE - H_RESERVED))
    throw Damaged("header: reserved bytes are not zero");
  Header h;
  h.cipher_id = d[H_CIPHER];
  h.kdf_id = d[H_KDF];
  h.flags = load_be32(d + H_FLAGS);
  h.block_size = load_be32(d + H_BLOCK_SIZE);
  h.container_id.assign(d + H_CONTAINER_ID, d + H_CONTAINER_ID + CONTAINER_ID_SIZE);
  h.kdf_salt.assign(d + H_KDF_SALT, d + H_KDF_SALT + KDF_SALT_SIZE);
  h.kdf_t = load_be32(d + H_KDF_T);
  h.kdf_m = load_be32(d + H_KDF_M);
  h.kdf_p = load_be32(d + H_KDF_P);
  h.key_commitment.assign(d + H_KEY_COMMITMENT, d + H_KEY_COMMITMENT + KEY_COMMITMENT_SIZE);
  h.header_mac.assign(d + H_MAC, d + H_MAC + MAC_SIZE);
  h.num_blocks = load_be64(d + H_NUM_BLOCKS);
  h.plaintext_size = load_be64(d + H_PLAINTEXT);
  h.footer_offset = load_be64(d + H_FOOTER_OFFSET);
  h.footer_size = load_be64(d + H_FOOTER_SIZE);
  std::string p = header_problem(h);
  if (!p.empty()) throw Damaged("header: " + p);
  return h;
}

std::array<uint8_t, PREFIX_SIZE> encode_prefix(const Prefix& p) {
  std::string problem = prefix_problem(p, MAX_BLOCK_SIZE);
  if (!problem.empty()) throw std::invalid_argument("block prefix: " + problem);
  std::array<uint8_t, PREFIX_SIZE> out{};
  std::memcpy(out.data(), PREFIX_MAGIC, 4);
  store_be64(out.data() + 4, p.index);
  store_be32(out.data() + 12, p.meta_size);
  store_be64(out.data() + 16, p.payload_size);
  store_be32(out.data() + 24, p.flags);
  return out;
}

Prefix decode_prefix(ByteView b, uint64_t block_size) {
  check_block_size_arg(block_size);
  check_magic(b, 0, PREFIX_MAGIC, 4, "block prefix");
  need(b, PREFIX_SIZE, "block prefix");
  Prefix p;
  p.index = load_be64(b.data + 4);
  p.meta_size = load_be32(b.data + 12);
  p.payload_size = load_be64(b.data + 16);
  p.flags = load_be32(b.data + 24);
  std::string problem = prefix_problem(p, block_size);
  if (!problem.empty()) {
    if (p.index < MAX_BLOCKS)
      throw Damaged("block " + to_string(p.index) + " prefix: " + problem,
                    static_cast<int64_t>(p.index));
    throw Damaged("block prefix: " + problem);
  }
  return p;
}

std::array<uint8_t, META_PLAIN_SIZE> encode_meta(const Meta& m) {
  check_field_size(m.payload_iv, PAYLOAD_IV_SIZE, "block metadata", "payload_iv");
  check_field_size(m.block_salt, BLOCK_SALT_SIZE, "block metadata", "block_salt");
  check_field_size(m.wrap_iv, WRAP_IV_SIZE, "block metadata", "wrap_iv");
  check_field_size(m.wrapped_cdk, WRAPPED_CDK_SIZE, "block metadata", "wrapped_cdk");
  check_field_size(m.plaintext_sha256, HASH_SIZE, "block metadata", "plaintext_sha256");
  std::string problem = meta_problem(m);
  if (!problem.empty()) throw std::invalid_argument("block metadata: " + problem);
  std::array<uint8_t, META_PLAIN_SIZE> out{};
  uint8_t* o = out.data();
  store_be64(o, m.plain_offset);
  store_be32(o + 8, m.plain_size);
  o += 12;
  for (const Bytes* f : {&m.payload_iv, &m.block_salt, &m.wrap_iv, &m.wrapped_cdk,
                         &m.plaintext_sha256}) {
    std::memcpy(o, f->data(), f->size());
    o += f->size();
  }
  return out;
}

Meta decode_meta(ByteView b) {
  need(b, META_PLAIN_SIZE, "block metadata");
  const uint8_t* d = b.data;
  Meta m;
  m.plain_offset = load_be64(d);
  m.plain_size = load_be32(d + 8);
  d += 12;
  auto take = [&d](Bytes& f, size_t n) {
    f.assign(d, d + n);
    d += n;
  };
  take(m.payload_iv, PAYLOAD_IV_SIZE);
  take(m.block_salt, BLOCK_SALT_SIZE);
  take(m.wrap_iv, WRAP_IV_SIZE);
  take(m.wrapped_cdk, WRAPPED_CDK_SIZE);
  take(m.plaintext_sha256, HASH_SIZE);
  std::string problem = meta_problem(m);
  if (!problem.empty()) throw Damaged("block metadata: " + problem);
  return m;
}

FooterHead decode_footer_head(ByteView b) {
  check_magic(b, 0, FOOTER_MAGIC, 8, "footer");
  need(b, FOOTER_HEAD_SIZE, "footer");
  FooterHead f;
  f.num_blocks = load_be64(b.data + 8);
  f.plaintext_size = load_be64(b.data + 16);
  f.info_size = load_be32(b.data + 24);
  const uint32_t reserved = load_be32(b.data + 28);
  std::memcpy(f.mac.data(), b.data + FOOTER_MAC_OFFSET, MAC_SIZE);
  std::string p = totals_problem(f.num_blocks, f.plaintext_size, MAX_BLOCK_SIZE);
  if (!p.empty()) throw Damaged("footer: " + p);
  if (f.info_size < MIN_INFO_SIZE || f.info_size > MAX_INFO_SIZE)
    throw Damaged("footer: file info size " + to_string(f.info_size) + " outside 46..1070");
  if (reserved != 0) throw Damaged("footer: reserved field is not zero");
  return f;
}

Index decode_footer(ByteView b, uint64_t block_size, uint64_t footer_offset) {
  check_block_size_arg(block_size);
  FooterHead head = decode_footer_head(b);
  const uint64_t n = head.num_blocks;  // <= 2^31
  const uint64_t expected = footer_size_for(n, head.info_size);
  if (b.size < expected)
    throw Truncated("footer: " + to_string(b.size) + " of " + to_string(expected) + " bytes");
  if (b.size > expected)
    throw Damaged("footer: " + to_string(b.size) + " bytes, but " + to_string(n) +
                  " blocks and the file info make " + to_string(expected));

  Index idx;
  idx.plaintext_size_ = head.plaintext_size;
  idx.block_size_ = static_cast<uint32_t>(block_size);
  idx.info_size_ = head.info_size;
  idx.mac_ = head.mac;
  idx.plain_offset_.resize(n);
  idx.plain_size_.resize(n);
  idx.hashes_.resize(n * HASH_SIZE);

  // Running sums: at most 2^31 blocks of at most 2^26 + 220 bytes, far from overflow.
  uint64_t plain_end = 0;
  uint64_t block_end = HEADER_SIZE;
  bool uniform = true;
  const uint8_t* e = b.data + FOOTER_HEAD_SIZE;
  for (uint64_t i = 0; i < n; ++i, e += FOOTER_ENTRY_SIZE) {
    const uint64_t plain_offset = load_be64(e);
    const uint64_t block_offset = load_be64(e + 8);
    const uint32_t plain_size = load_be32(e + 16);
    const uint32_t stored_size = load_be32(e + 20);
    auto fail = [i](const std::string& what) -> Damaged {
      return Damaged("footer entry " + to_string(i) + ": " + what, static_cast<int64_t>(i));
    };
    if (plain_offset != plain_end)
      throw fail(i ? "plaintext offset does not follow block " + to_string(i - 1)
                   : "plaintext offset is not 0");
    if (block_offset != block_end)
      throw fail(i ? "block offset does not follow block " + to_string(i - 1)
                   : "block offset is not 416");
    if (plain_size > block_size)
      throw fail("plaintext size " + to_string(plain_size) + " is above the block size " +
                 to_string(block_size));
    if (plain_size == 0 && i + 1 < n) throw fail("empty block before the last");
    if (uint64_t{stored_size} != uint64_t{plain_size} + BLOCK_OVERHEAD)
      throw fail("stored size " + to_string(stored_size) + " is not plaintext size + 220");
    if (i + 1 < n && plain_size != block_size) uniform = false;
    idx.plain_offset_[i] = plain_offset;
    idx.plain_size_[i] = plain_size;
    std::memcpy(idx.hashes_.data() + i * HASH_SIZE, e + 24, HASH_SIZE);
    plain_end += plain_size;
    block_end += stored_size;
  }
  if (plain_end != head.plaintext_size)
    throw Damaged("footer: entries hold " + to_string(plain_end) + " plaintext bytes, not " +
                  to_string(head.plaintext_size));
  if (block_end != footer_offset)
    throw Damaged("footer: blocks end at " + to_string(block_end) + ", not at the footer offset " +
                  to_string(footer_offset));
  idx.uniform_ = uniform;
  return idx;
}

Bytes encode_footer(const std::vector<Entry>& entries, uint64_t plaintext_size, ByteView info,
                    ByteView mac) {
  if (mac.size != MAC_SIZE)
    throw std::invalid_argument("footer: mac must be 32 bytes, not " + to_string(mac.size));
  if (info.size < MIN_INFO_SIZE || info.size > MAX_INFO_SIZE)
    throw std::invalid_argument("footer: file info must be 46..1070 bytes, not " +
                                to_string(info.size));
  const uint64_t n = entries.size();
  std::string p = totals_problem(n, plaintext_size, MAX_BLOCK_SIZE);
  if (!p.empty()) throw std::invalid_argument("footer: " + p);

  Bytes out(footer_size_for(n, info.size));
  std::memcpy(out.data(), FOOTER_MAGIC, 8);
  store_be64(out.data() + 8, n);
  store_be64(out.data() + 16, plaintext_size);
  store_be32(out.data() + 24, static_cast<uint32_t>(info.size));
  store_be32(out.data() + 28, 0);
  std::memcpy(out.data() + FOOTER_MAC_OFFSET, mac.data, MAC_SIZE);
  std::memcpy(out.data() + FOOTER_HEAD_SIZE + FOOTER_ENTRY_SIZE * n, info.data, info.size);
  uint64_t plain_end = 0;
  uint64_t block_end = HEADER_SIZE;
  uint8_t* o = out.data() + FOOTER_HEAD_SIZE;
  for (uint64_t i = 0; i < n; ++i, o += FOOTER_ENTRY_SIZE) {
    const Entry& e = entries[i];
    auto fail = [i](const std::string& what) {
      return std::invalid_argument("footer entry " + to_string(i) + ": " + what);
    };
    if (e.plain_offset != plain_end) throw fail("plaintext offset does not follow the blocks before");
    if (e.block_offset != block_end) throw fail("block offset does not follow the blocks before");
    if (e.plain_size > MAX_BLOCK_SIZE) throw fail("plaintext size is above 67108864");
    if (e.plain_size == 0 && i + 1 < n) throw fail("empty block before the last");
    if (uint64_t{e.block_size} != uint64_t{e.plain_size} + BLOCK_OVERHEAD)
      throw fail("block size is not plaintext size + 220");
    store_be64(o, e.plain_offset);
    store_be64(o + 8, e.block_offset);
    store_be32(o + 16, e.plain_size);
    store_be32(o + 20, e.block_size);
    std::memcpy(o + 24, e.hash.data(), HASH_SIZE);
    plain_end += e.plain_size;
    block_end += e.block_size;
  }
  if (plain_end != plaintext_size)
    throw std::invalid_argument("footer: entries hold " + to_string(plain_end) +
                                " plaintext bytes, not " + to_string(plaintext_size));
  return out;
}

std::array<uint8_t, TRAILER_SIZE> encode_trailer(uint64_t footer_offset, uint64_t footer_size) {
  std::string p = trailer_problem(footer_offset, footer_size);
  if (!p.empty()) throw std::invalid_argument("trailer: " + p);
  std::array<uint8_t, TRAILER_SIZE> out{};
  store_be64(out.data(), footer_offset);
  store_be64(out.data() + 8, footer_size);
  std::memcpy(out.data() + 16, TRAILER_MAGIC, 8);
  return out;
}

Trailer decode_trailer(ByteView b, uint64_t container_size) {
  need(b, TRAILER_SIZE, "trailer");
  const uint8_t* d = b.data + (b.size - TRAILER_SIZE);
  if (std::memcmp(d + 16, TRAILER_MAGIC, 8) != 0)
    throw NotAContainer("trailer: bad magic (expected \"QLTX-END\")");
  Trailer t;
  t.footer_offset = load_be64(d);
  t.footer_size = load_be64(d + 8);
  std::string p = trailer_problem(t.footer_offset, t.footer_size);
  if (!p.empty()) throw Damaged("trailer: " + p);
  uint64_t end = 0;
  if (__builtin_add_overflow(t.footer_offset, t.footer_size, &end) ||
      __builtin_add_overflow(end, uint64_t{TRAILER_SIZE}, &end) || end != container_size)
    throw Damaged("trailer: footer at " + to_string(t.footer_offset) + " of " +
                  to_string(t.footer_size) + " bytes does not end at the trailer of a " +
                  to_string(container_size) + "-byte container");
  return t;
}

// ---- Index ----

Entry Index::entry(uint64_t i) const {
  if (i >= num_blocks())
    throw std::out_of_range("block " + to_string(i) + " out of range (" +
                            to_string(num_blocks()) + " blocks)");
  Entry e;
  e.plain_offset = plain_offset_[i];
  e.plain_size = plain_size_[i];
  e.block_offset = HEADER_SIZE + BLOCK_OVERHEAD * i + e.plain_offset;
  e.block_size = e.plain_size + static_cast<uint32_t>(BLOCK_OVERHEAD);
  std::memcpy(e.hash.data(), hashes_.data() + i * HASH_SIZE, HASH_SIZE);
  return e;
}

uint64_t Index::locate(uint64_t offset) const {
  if (offset >= plaintext_size_)
    throw std::out_of_range("offset " + to_string(offset) + " is not below the plaintext size " +
                            to_string(plaintext_size_));
  if (uniform_) return offset / block_size_;
  // The last block holding an offset <= `offset`: offsets strictly increase except for a
  // possible empty last block, which starts at plaintext_size and so is never found here.
  auto it = std::upper_bound(plain_offset_.begin(), plain_offset_.end(), offset);
  return static_cast<uint64_t>(it - plain_offset_.begin()) - 1;
}

std::pair<uint64_t, uint64_t> Index::span(uint64_t offset, uint64_t length) const {
  const uint64_t n = num_blocks();
  if (offset >= plaintext_size_ || length == 0) return {n, n};
  const uint64_t end = offset + std::min(length, plaintext_size_ - offset);
  return {locate(offset), locate(end - 1) + 1};
}

}  // namespace qltx
