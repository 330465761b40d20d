#include "format61.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace qltx {
namespace {

using std::to_string;

constexpr char HEADER_MAGIC[] = "QLTX";
constexpr char KEYRING_MAGIC[] = "QKEY";
constexpr char PAGE_MAGIC[] = "QPAG";
constexpr char FOOTER_MAGIC[] = "QLTXFOOT";

// Header field offsets (spec/qeltrix_v6.ksy, type header_v6_1).
constexpr size_t H_VERSION = 4, H_CIPHER = 6, H_INDEX_HASH = 7, H_BLOCK_HASH = 8,
                 H_PAGE_SHIFT = 9, H_FLAGS = 10, H_BLOCK_SIZE = 12, H_CONTAINER_ID = 16,
                 H_KEYRING_SLOTS = 48, H_RESERVED_A = 52, H_KEY_COMMITMENT = 56,
                 H_NUM_BLOCKS = 88, H_PLAINTEXT = 96, H_FOOTER_OFFSET = 104, H_FOOTER_SIZE = 112,
                 H_RESERVED = 120, H_MAC = 224;
static_assert(H_MAC == HEADER61_MAC_OFFSET && H_MAC + MAC_SIZE == HEADER61_SIZE, "header layout");
static_assert(H_NUM_BLOCKS == HEADER61_PATCHED_OFFSET &&
                  H_RESERVED == HEADER61_PATCHED_OFFSET + HEADER61_PATCHED_SIZE,
              "patched fields");
constexpr size_t ID_SIZE = 32;
// Keyring copy: magic, num_slots, generation, reserved; slots; keyring_mac.
constexpr size_t K_NUM_SLOTS = 4, K_GENERATION = 8, K_RESERVED = 16;
static_assert(K_RESERVED + 8 == KEYRING_HEAD_SIZE, "keyring head");

// Wrong magic on the bytes present: a short input that already differs is not a container.
void check_magic(ByteView b, const char* magic, size_t len, const char* what) {
  const size_t have = std::min(len, b.size);
  if (have == 0) return;  // (and b.data may be null)
  if (std::memcmp(b.data, magic, have) != 0)
    throw NotAContainer(std::string(what) + ": bad magic (expected \"" + magic + "\")");
}

void need(ByteView b, uint64_t size, const char* what) {
  if (b.size < size)
    throw Truncated(std::string(what) + ": " + to_string(b.size) + " of " + to_string(size) +
                    " bytes");
}

// A structure of exactly `size` bytes: Truncated when shorter, Damaged when longer.
void exactly(ByteView b, uint64_t size, const std::string& what) {
  if (b.size < size)
    throw Truncated(what + ": " + to_string(b.size) + " of " + to_string(size) + " bytes");
  if (b.size > size)
    throw Damaged(what + ": " + to_string(b.size) + " bytes, not " + to_string(size));
}

bool known_hash(uint8_t h) { return h == HASH_SHA256 || h == HASH_BLAKE3; }

uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

// Stored bytes of n blocks holding `plaintext` bytes, and of their pages (n <= 2^31,
// plaintext < 2^63 checked against n * 2^26: below 2^58 in all).
uint64_t blocks_and_pages(uint64_t n, uint64_t plaintext, unsigned page_shift) {
  const uint64_t pages = ceil_div(n, uint64_t{1} << page_shift);
  return (BLOCK_OVERHEAD + PAGE_ENTRY_SIZE) * n + plaintext + PAGE_HEAD_SIZE * pages;
}

void check_field_size(const Bytes& field, size_t size, const char* what, const char* name) {
  if (field.size() != size)
    throw std::invalid_argument(std::string(what) + ": " + name + " must be " + to_string(size) +
                                " bytes, not " + to_string(field.size()));
}

std::string header_problem(const Header61& h) {
  if (h.cipher_id != CIPHER_AES256_GCM && h.cipher_id != CIPHER_CHACHA20_POLY1305)
    return "unknown cipher id " + to_string(h.cipher_id);
  if (!known_hash(h.index_hash)) return "unknown index hash id " + to_string(h.index_hash);
  if (!known_hash(h.block_hash)) return "unknown block hash id " + to_string(h.block_hash);
  if (h.page_shift < MIN_PAGE_SHIFT || h.page_shift > MAX_PAGE_SHIFT)
    return "page shift " + to_string(h.page_shift) + " outside 6..16";
  if (h.flags & ~FLAG61_PERMUTED) return "reserved flag bits set (" + to_string(h.flags) + ")";
  if (h.block_size < MIN_BLOCK_SIZE || h.block_size > MAX_BLOCK_SIZE)
    return "block size " + to_string(h.block_size) + " outside 4096..67108864";
  if (h.keyring_slots < MIN_KEYRING_SLOTS || h.keyring_slots > MAX_KEYRING_SLOTS)
    return "keyring slots " + to_string(h.keyring_slots) + " outside 1..1024";
  if (h.streamed()) return {};
  std::string p = totals_problem(h.num_blocks, h.plaintext_size, h.block_size);
  if (!p.empty()) return p;
  const uint64_t pages = ceil_div(h.num_blocks, h.page_entries());
  if (h.footer_size < footer61_size(pages, MIN_INFO_SIZE) ||
      h.footer_size > footer61_size(pages, MAX_INFO_SIZE))
    return "footer size " + to_string(h.footer_size) + " does not match " +
           to_string(h.num_blocks) + " blocks in " + to_string(pages) + " pages";
  if (h.footer_offset !=
      h.data_offset() + blocks_and_pages(h.num_blocks, h.plaintext_size, h.page_shift))
    return "footer offset " + to_string(h.footer_offset) + " does not match " +
           to_string(h.num_blocks) + " blocks holding " + to_string(h.plaintext_size) +
           " bytes and their pages";
  return {};
}

// Why the slot is malformed, or empty.
std::string slot_problem(uint8_t type, size_t len_body) {
  if (len_body > SLOT_BODY_MAX)
    return "body of " + to_string(len_body) + " bytes is above 124";
  if (type == SLOT_EMPTY) return len_body ? "an empty slot has a body" : "";
  const size_t want = slot_body_size(type);
  if (want && len_body != want)
    return "type " + to_string(type) + " needs a body of " + to_string(want) + " bytes, not " +
           to_string(len_body);
  return {};
}

// The number of pages some page size 2^6..2^16 gives for n blocks can be: between
// ceil(n / 2^16) and ceil(n / 2^6), and zero exactly when n is.
bool plausible_pages(uint64_t n, uint64_t pages) {
  return pages >= ceil_div(n, MAX_PAGE_ENTRIES) && pages <= ceil_div(n, uint64_t{1} << MIN_PAGE_SHIFT);
}

}  // namespace

size_t slot_body_size(uint8_t t) {
  switch (t) {
    case SLOT_RAW: return 48;
    case SLOT_ARGON2ID:
    case SLOT_SCRYPT: return 76;
    case SLOT_X25519: return 96;
    default: return 0;
  }
}

void check_page_shift_arg(uint64_t s) {
  if (s < MIN_PAGE_SHIFT || s > MAX_PAGE_SHIFT)
    throw std::invalid_argument("page_shift must be in 6..16, not " + to_string(s));
}

void check_keyring_slots_arg(uint64_t n) {
  if (n < MIN_KEYRING_SLOTS || n > MAX_KEYRING_SLOTS)
    throw std::invalid_argument("num_slots must be in 1..1024, not " + to_string(n));
}

uint64_t keyring_copy_size(uint64_t n) { return KEYRING_HEAD_SIZE + MAC_SIZE + SLOT_SIZE * n; }

uint64_t footer61_size(uint64_t pages, uint64_t info_size) {
  return FOOTER_HEAD_SIZE + TOP_ENTRY_SIZE * pages + info_size;  // pages < 2^32: no overflow
}

uint16_t header_version(ByteView b) {
  check_magic(b, HEADER_MAGIC, 4, "header");
  need(b, H_VERSION + 2, "header");
  const uint16_t v = load_be16(b.data + H_VERSION);
  if (v != VERSION_6_0 && v != VERSION_6_1)
    throw Unsupported("format version " + to_string(v) + " is not supported (only 6 and 0x0601)");
  return v;
}

// ---- header ----

std::array<uint8_t, HEADER61_SIZE> encode_header61(const Header61& h) {
  check_field_size(h.container_id, ID_SIZE, "header", "container_id");
  check_field_size(h.key_commitment, ID_SIZE, "header", "key_commitment");
  check_field_size(h.header_mac, MAC_SIZE, "header", "header_mac");
  std::string p = header_problem(h);
  if (!p.empty()) throw std::invalid_argument("header: " + p);
  std::array<uint8_t, HEADER61_SIZE> out{};
  uint8_t* o = out.data();
  std::memcpy(o, HEADER_MAGIC, 4);
  store_be16(o + H_VERSION, VERSION_6_1);
  o[H_CIPHER] = h.cipher_id;
  o[H_INDEX_HASH] = h.index_hash;
  o[H_BLOCK_HASH] = h.block_hash;
  o[H_PAGE_SHIFT] = h.page_shift;
  store_be16(o + H_FLAGS, h.flags);
  store_be32(o + H_BLOCK_SIZE, h.block_size);
  std::memcpy(o + H_CONTAINER_ID, h.container_id.data(), ID_SIZE);
  store_be32(o + H_KEYRING_SLOTS, h.keyring_slots);
  std::memcpy(o + H_KEY_COMMITMENT, h.key_commitment.data(), ID_SIZE);
  store_be64(o + H_NUM_BLOCKS, h.num_blocks);
  store_be64(o + H_PLAINTEXT, h.plaintext_size);
  store_be64(o + H_FOOTER_OFFSET, h.footer_offset);
  store_be64(o + H_FOOTER_SIZE, h.footer_size);
  std::memcpy(o + H_MAC, h.header_mac.data(), MAC_SIZE);
  return out;  // reserved bytes stay zero
}

Header61 decode_header61(ByteView b) {
  if (header_version(b) != VERSION_6_1)
    throw Unsupported("format version 6 where 0x0601 was expected");
  need(b, HEADER61_SIZE, "header");
  const uint8_t* d = b.data;
  if (load_be32(d + H_RESERVED_A) != 0 || !all_zero(d + H_RESERVED, H_MAC - H_RESERVED))
    throw Damaged("header: reserved bytes are not zero");
  Header61 h;
  h.cipher_id = d[H_CIPHER];
  h.index_hash = d[H_INDEX_HASH];
  h.block_hash = d[H_BLOCK_HASH];
  h.page_shift = d[H_PAGE_SHIFT];
  h.flags = load_be16(d + H_FLAGS);
  h.block_size = load_be32(d + H_BLOCK_SIZE);
  h.container_id.assign(d + H_CONTAINER_ID, d + H_CONTAINER_ID + ID_SIZE);
  h.keyring_slots = load_be32(d + H_KEYRING_SLOTS);
  h.key_commitment.assign(d + H_KEY_COMMITMENT, d + H_KEY_COMMITMENT + ID_SIZE);
  h.num_blocks = load_be64(d + H_NUM_BLOCKS);
  h.plaintext_size = load_be64(d + H_PLAINTEXT);
  h.footer_offset = load_be64(d + H_FOOTER_OFFSET);
  h.footer_size = load_be64(d + H_FOOTER_SIZE);
  h.header_mac.assign(d + H_MAC, d + H_MAC + MAC_SIZE);
  std::string p = header_problem(h);
  if (!p.empty()) throw Damaged("header: " + p);
  return h;
}

std::array<uint8_t, HEADER61_MAC_OFFSET> header61_mac_input(ByteView b) {
  if (header_version(b) != VERSION_6_1)
    throw Unsupported("format version 6 where 0x0601 was expected");
  need(b, HEADER61_SIZE, "header");
  std::array<uint8_t, HEADER61_MAC_OFFSET> out{};
  std::memcpy(out.data(), b.data, HEADER61_MAC_OFFSET);
  std::memset(out.data() + HEADER61_PATCHED_OFFSET, 0, HEADER61_PATCHED_SIZE);
  return out;
}

// ---- keyring copy ----

Bytes encode_keyring_copy(uint32_t num_slots, uint64_t generation, const std::vector<Slot>& slots,
                          ByteView mac) {
  check_keyring_slots_arg(num_slots);
  if (slots.size() > num_slots)
    throw std::invalid_argument("keyring: " + to_string(slots.size()) + " slots for " +
                                to_string(num_slots) + " places");
  if (mac.size != MAC_SIZE)
    throw std::invalid_argument("keyring: mac must be 32 bytes, not " + to_string(mac.size));
  Bytes out(keyring_copy_size(num_slots));
  std::memcpy(out.data(), KEYRING_MAGIC, 4);
  store_be32(out.data() + K_NUM_SLOTS, num_slots);
  store_be64(out.data() + K_GENERATION, generation);
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot& s = slots[i];
    std::string p = slot_problem(s.type, s.body.size());
    if (!p.empty()) throw std::invalid_argument("keyring slot " + to_string(i) + ": " + p);
    uint8_t* o = out.data() + KEYRING_HEAD_SIZE + SLOT_SIZE * i;
    o[0] = s.type;
    store_be16(o + 2, static_cast<uint16_t>(s.body.size()));
    if (!s.body.empty()) std::memcpy(o + 4, s.body.data(), s.body.size());
  }
  std::memcpy(out.data() + out.size() - MAC_SIZE, mac.data, MAC_SIZE);
  return out;
}

KeyringCopy decode_keyring_copy(ByteView b, uint32_t num_slots) {
  check_keyring_slots_arg(num_slots);
  exactly(b, keyring_copy_size(num_slots), "keyring copy");
  const uint8_t* d = b.data;
  if (std::memcmp(d, KEYRING_MAGIC, 4) != 0)
    throw Damaged("keyring copy: bad magic (expected \"QKEY\")");
  const uint32_t n = load_be32(d + K_NUM_SLOTS);
  if (n != num_slots)
    throw Damaged("keyring copy: " + to_string(n) + " slots where the header says " +
                  to_string(num_slots));
  if (load_be64(d + K_RESERVED) != 0) throw Damaged("keyring copy: reserved field is not zero");
  KeyringCopy k;
  k.generation = load_be64(d + K_GENERATION);
  k.slots.resize(num_slots);
  for (uint32_t i = 0; i < num_slots; ++i) {
    const uint8_t* s = d + KEYRING_HEAD_SIZE + SLOT_SIZE * i;
    auto fail = [i](const std::string& what) {
      return Damaged("keyring slot " + to_string(i) + ": " + what);
    };
    const uint8_t type = s[0];
    const size_t len = load_be16(s + 2);
    if (s[1] != 0) throw fail("reserved byte is not zero");
    std::string p = slot_problem(type, len);
    if (!p.empty()) throw fail(p);
    if (!all_zero(s + 4 + len, SLOT_BODY_MAX - len)) throw fail("padding is not zero");
    k.slots[i].type = type;
    k.slots[i].body.assign(s + 4, s + 4 + len);
  }
  std::memcpy(k.mac.data(), d + b.size - MAC_SIZE, MAC_SIZE);
  return k;
}

// ---- index page ----

Bytes encode_page(uint64_t first_block, const std::vector<Entry>& entries) {
  const uint64_t n = entries.size();
  if (n < 1 || n > MAX_PAGE_ENTRIES)
    throw std::invalid_argument("page: " + to_string(n) + " entries, not 1..65536");
  if (first_block > MAX_BLOCKS - n)
    throw std::invalid_argument("page: blocks " + to_string(first_block) + " + " + to_string(n) +
                                " go past 2^31");
  Bytes out(PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE * n);
  std::memcpy(out.data(), PAGE_MAGIC, 4);
  store_be32(out.data() + 4, static_cast<uint32_t>(n));
  store_be64(out.data() + 8, first_block);
  uint8_t* o = out.data() + PAGE_HEAD_SIZE;
  for (uint64_t j = 0; j < n; ++j, o += PAGE_ENTRY_SIZE) {
    const Entry& e = entries[j];
    auto fail = [j](const std::string& what) {
      return std::invalid_argument("page entry " + to_string(j) + ": " + what);
    };
    if (j > 0) {
      const Entry& p = entries[j - 1];
      if (e.plain_offset != p.plain_offset + p.plain_size)
        throw fail("plaintext offset does not follow the entry before");
      if (e.block_offset != p.block_offset + p.block_size)
        throw fail("block offset does not follow the entry before");
    }
    if (e.plain_size > MAX_BLOCK_SIZE) throw fail("plaintext size is above 67108864");
    if (e.plain_size == 0 && j + 1 < n) throw fail("empty block before the last");
    if (uint64_t{e.block_size} != uint64_t{e.plain_size} + BLOCK_OVERHEAD)
      throw fail("block size is not plaintext size + 220");
    if (e.plain_offset > MAX_PLAINTEXT_SIZE - e.plain_size)
      throw fail("plaintext offset + size reaches 2^63");
    if (j == 0 && e.block_offset > (uint64_t{1} << 62)) throw fail("block offset is above 2^62");
    store_be64(o, e.plain_offset);
    store_be64(o + 8, e.block_offset);
    store_be32(o + 16, e.plain_size);
    store_be32(o + 20, e.block_size);
    std::memcpy(o + 24, e.hash.data(), HASH_SIZE);
  }
  return out;
}

Page decode_page(ByteView b, uint64_t first_block, uint32_t num_entries, uint64_t block_size,
                 uint64_t plain_offset, uint64_t block_offset, bool last) {
  check_block_size_arg(block_size);
  if (num_entries < 1 || num_entries > MAX_PAGE_ENTRIES)
    throw std::invalid_argument("num_entries must be in 1..65536, not " + to_string(num_entries));
  if (first_block > MAX_BLOCKS - num_entries)
    throw std::invalid_argument("first_block + num_entries is above 2^31");
  if (plain_offset > MAX_PLAINTEXT_SIZE)
    throw std::invalid_argument("plain_offset is not below 2^63");
  if (block_offset > (uint64_t{1} << 62)) throw std::invalid_argument("block_offset is above 2^62");
  const std::string where = "page of block " + to_string(first_block);
  exactly(b, PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE * uint64_t{num_entries}, where);
  const uint8_t* d = b.data;
  const int64_t at = static_cast<int64_t>(first_block);
  if (std::memcmp(d, PAGE_MAGIC, 4) != 0)
    throw Damaged(where + ": bad magic (expected \"QPAG\")", at);
  const uint32_t count = load_be32(d + 4);
  const uint64_t first = load_be64(d + 8);
  if (count != num_entries)
    throw Damaged(where + ": lists " + to_string(count) + " blocks, not " + to_string(num_entries), at);
  if (first != first_block)
    throw Damaged(where + ": starts at block " + to_string(first), at);
  Page pg;
  pg.first_block_ = first_block;
  pg.plain_offset_ = plain_offset;
  pg.block_offset_ = block_offset;
  pg.starts_.resize(num_entries);
  pg.plain_size_.resize(num_entries);
  pg.hashes_.resize(size_t{num_entries} * HASH_SIZE);
  // Running sums: at most 2^16 entries of at most 2^26 + 220 bytes after offsets below 2^63.
  uint64_t plain_end = plain_offset, block_end = block_offset;
  const uint8_t* e = d + PAGE_HEAD_SIZE;
  for (uint32_t j = 0; j < num_entries; ++j, e += PAGE_ENTRY_SIZE) {
    const uint64_t i = first_block + j;
    auto fail = [i](const std::string& what) {
      return Damaged("index entry " + to_string(i) + ": " + what, static_cast<int64_t>(i));
    };
    const uint64_t po = load_be64(e), bo = load_be64(e + 8);
    const uint32_t ps = load_be32(e + 16), bs = load_be32(e + 20);
    if (po != plain_end)
      throw fail(j ? "plaintext offset does not follow block " + to_string(i - 1)
                   : "plaintext offset is not where the page's blocks start");
    if (bo != block_end)
      throw fail(j ? "block offset does not follow block " + to_string(i - 1)
                   : "block offset is not where the page's blocks start");
    if (ps > block_size)
      throw fail("plaintext size " + to_string(ps) + " is above the block size " +
                 to_string(block_size));
    if (ps == 0 && !(last && j + 1 == num_entries)) throw fail("empty block before the last");
    if (uint64_t{bs} != uint64_t{ps} + BLOCK_OVERHEAD)
      throw fail("stored size " + to_string(bs) + " is not plaintext size + 220");
    if (plain_end + ps > MAX_PLAINTEXT_SIZE) throw fail("the plaintext size reaches 2^63");
    pg.starts_[j] = po;
    pg.plain_size_[j] = ps;
    std::memcpy(pg.hashes_.data() + size_t{j} * HASH_SIZE, e + 24, HASH_SIZE);
    plain_end += ps;
    block_end += bs;
  }
  pg.plain_end_ = plain_end;
  pg.block_end_ = block_end;
  return pg;
}

Entry Page::entry(uint32_t j) const {
  if (j >= size())
    throw std::out_of_range("entry " + to_string(j) + " out of range (" + to_string(size()) +
                            " entries)");
  Entry e;
  e.plain_offset = starts_[j];
  e.plain_size = plain_size_[j];
  // Every entry stores plain_size + 220 bytes: block j starts 220 j + (its plaintext offset
  // within the page) after the page's first block.
  e.block_offset = block_offset_ + BLOCK_OVERHEAD * j + (starts_[j] - plain_offset_);
  e.block_size = e.plain_size + static_cast<uint32_t>(BLOCK_OVERHEAD);
  std::memcpy(e.hash.data(), hashes_.data() + size_t{j} * HASH_SIZE, HASH_SIZE);
  return e;
}

uint32_t Page::locate(uint64_t offset) const {
  if (offset < plain_offset_ || offset >= plain_end_)
    throw std::out_of_range("offset " + to_string(offset) + " is outside the page's plaintext " +
                            to_string(plain_offset_) + ".." + to_string(plain_end_));
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  return static_cast<uint32_t>(it - starts_.begin()) - 1;
}

// ---- footer 6.1 ----

Footer61Head decode_footer61_head(ByteView b) {
  check_magic(b, FOOTER_MAGIC, 8, "footer");
  need(b, FOOTER_HEAD_SIZE, "footer");
  Footer61Head f;
  f.num_blocks = load_be64(b.data + 8);
  f.plaintext_size = load_be64(b.data + 16);
  f.info_size = load_be32(b.data + 24);
  f.num_pages = load_be32(b.data + 28);
  std::memcpy(f.mac.data(), b.data + FOOTER_MAC_OFFSET, MAC_SIZE);
  std::string p = totals_problem(f.num_blocks, f.plaintext_size, MAX_BLOCK_SIZE);
  if (!p.empty()) throw Damaged("footer: " + p);
  if (f.info_size < MIN_INFO_SIZE || f.info_size > MAX_INFO_SIZE)
    throw Damaged("footer: file info size " + to_string(f.info_size) + " outside 46..1070");
  if (!plausible_pages(f.num_blocks, f.num_pages))
    throw Damaged("footer: " + to_string(f.num_pages) + " pages cannot list " +
                  to_string(f.num_blocks) + " blocks");
  return f;
}

TopTable decode_footer61(ByteView b, unsigned page_shift, uint64_t block_size,
                         uint64_t data_offset, uint64_t footer_offset) {
  check_page_shift_arg(page_shift);
  check_block_size_arg(block_size);
  if (data_offset < HEADER61_SIZE || (data_offset - HEADER61_SIZE) % 2 != 0 ||
      (data_offset - HEADER61_SIZE) / 2 < keyring_copy_size(MIN_KEYRING_SLOTS) ||
      (data_offset - HEADER61_SIZE) / 2 > keyring_copy_size(MAX_KEYRING_SLOTS) ||
      ((data_offset - HEADER61_SIZE) / 2 - KEYRING_HEAD_SIZE - MAC_SIZE) % SLOT_SIZE != 0)
    throw std::invalid_argument("data_offset " + to_string(data_offset) +
                                " is not 256 + two keyring copies");
  const Footer61Head head = decode_footer61_head(b);
  const uint64_t E = uint64_t{1} << page_shift;
  const uint64_t n = head.num_blocks, P = head.num_pages;
  if (P != ceil_div(n, E))
    throw Damaged("footer: " + to_string(P) + " pages, but " + to_string(n) + " blocks make " +
                  to_string(ceil_div(n, E)) + " pages of " + to_string(E));
  exactly(b, footer61_size(P, head.info_size), "footer");
  if (head.plaintext_size > n * block_size)
    throw Damaged("footer: " + to_string(n) + " blocks of at most " + to_string(block_size) +
                  " bytes cannot hold " + to_string(head.plaintext_size) + " plaintext bytes");

  TopTable t;
  t.num_blocks_ = n;
  t.plaintext_size_ = head.plaintext_size;
  t.data_offset_ = data_offset;
  t.info_size_ = head.info_size;
  t.page_shift_ = page_shift;
  t.mac_ = head.mac;
  t.ofs_page_.resize(P);
  t.ofs_plaintext_.resize(P);
  t.hashes_.resize(P * HASH_SIZE);
  const uint8_t* e = b.data + FOOTER_HEAD_SIZE;
  for (uint64_t k = 0; k < P; ++k, e += TOP_ENTRY_SIZE) {
    t.ofs_page_[k] = load_be64(e);
    t.ofs_plaintext_[k] = load_be64(e + 8);
    std::memcpy(t.hashes_.data() + k * HASH_SIZE, e + 16, HASH_SIZE);
  }
  if (P == 0) {
    if (data_offset != footer_offset)
      throw Damaged("footer: no block, but the footer is at " + to_string(footer_offset) +
                    ", not at " + to_string(data_offset));
    return t;
  }
  if (t.ofs_plaintext_[0] != 0) throw Damaged("footer: page 0 does not start at plaintext offset 0", 0);
  // blocks_start: where page k's first block is; all sums below 2^58 (checked spans).
  uint64_t blocks_start = data_offset;
  for (uint64_t k = 0; k < P; ++k) {
    const bool last = k + 1 == P;
    const uint64_t nk = last ? n - (P - 1) * E : E;
    const uint64_t start = t.ofs_plaintext_[k];
    const uint64_t end = last ? head.plaintext_size : t.ofs_plaintext_[k + 1];
    const int64_t at = static_cast<int64_t>(k * E);
    auto fail = [k, at](const std::string& what) {
      return Damaged("footer: page " + to_string(k) + ": " + what, at);
    };
    if (end < start)
      throw fail(last ? "starts after the end of the plaintext" : "plaintext offsets decrease");
    const uint64_t span = end - start;
    if (span < (last ? nk - 1 : nk) || span > nk * block_size)
      throw fail(to_string(nk) + " blocks cannot hold " + to_string(span) + " plaintext bytes");
    const uint64_t expected = blocks_start + span + BLOCK_OVERHEAD * nk;
    if (t.ofs_page_[k] != expected)
      throw fail("at offset " + to_string(t.ofs_page_[k]) + ", not right after its blocks at " +
                 to_string(expected));
    blocks_start = expected + PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE * nk;
  }
  if (blocks_start != footer_offset)
    throw Damaged("footer: the last page ends at " + to_string(blocks_start) +
                  ", not at the footer offset " + to_string(footer_offset));
  return t;
}

Bytes encode_footer61(uint64_t num_blocks, uint64_t plaintext_size,
                      const std::vector<TopEntry>& pages, ByteView info, ByteView mac) {
  if (mac.size != MAC_SIZE)
    throw std::invalid_argument("footer: mac must be 32 bytes, not " + to_string(mac.size));
  if (info.size < MIN_INFO_SIZE || info.size > MAX_INFO_SIZE)
    throw std::invalid_argument("footer: file info must be 46..1070 bytes, not " +
                                to_string(info.size));
  std::string p = totals_problem(num_blocks, plaintext_size, MAX_BLOCK_SIZE);
  if (!p.empty()) throw std::invalid_argument("footer: " + p);
  const uint64_t P = pages.size();
  if (!plausible_pages(num_blocks, P))
    throw std::invalid_argument("footer: " + to_string(P) + " pages cannot list " +
                                to_string(num_blocks) + " blocks");
  for (uint64_t k = 0; k < P; ++k) {
    const TopEntry& t = pages[k];
    if (k == 0 && t.ofs_plaintext != 0)
      throw std::invalid_argument("footer: page 0 must start at plaintext offset 0");
    if (k > 0 && (t.ofs_plaintext <= pages[k - 1].ofs_plaintext || t.ofs_page <= pages[k - 1].ofs_page))
      throw std::invalid_argument("footer: page " + to_string(k) + " does not follow page " +
                                  to_string(k - 1));
    if (t.ofs_plaintext > plaintext_size)
      throw std::invalid_argument("footer: page " + to_string(k) + " starts after the plaintext");
  }
  Bytes out(footer61_size(P, info.size));
  std::memcpy(out.data(), FOOTER_MAGIC, 8);
  store_be64(out.data() + 8, num_blocks);
  store_be64(out.data() + 16, plaintext_size);
  store_be32(out.data() + 24, static_cast<uint32_t>(info.size));
  store_be32(out.data() + 28, static_cast<uint32_t>(P));
  std::memcpy(out.data() + FOOTER_MAC_OFFSET, mac.data, MAC_SIZE);
  uint8_t* o = out.data() + FOOTER_HEAD_SIZE;
  for (const TopEntry& t : pages) {
    store_be64(o, t.ofs_page);
    store_be64(o + 8, t.ofs_plaintext);
    std::memcpy(o + 16, t.hash.data(), HASH_SIZE);
    o += TOP_ENTRY_SIZE;
  }
  std::memcpy(o, info.data, info.size);
  return out;
}

// ---- trailer ----

namespace {

constexpr uint64_t MAX_PAGES = MAX_BLOCKS >> MIN_PAGE_SHIFT;  // 2^25

std::string trailer61_problem(uint64_t footer_offset, uint64_t footer_size) {
  const uint64_t min_size = footer61_size(0, MIN_INFO_SIZE);
  const uint64_t max_size = footer61_size(MAX_PAGES, MAX_INFO_SIZE);
  if (footer_size < min_size || footer_size > max_size)
    return "footer size " + to_string(footer_size) + " outside " + to_string(min_size) + ".." +
           to_string(max_size);
  // Fewest and most pages a footer of this size can list; each page lists at least one block
  // (of 220 bytes at least, and 16 + 56 bytes of page), and all of them at most 2^31 blocks.
  const uint64_t fixed_max = footer61_size(0, MAX_INFO_SIZE);
  const uint64_t p_min =
      footer_size > fixed_max ? ceil_div(footer_size - fixed_max, TOP_ENTRY_SIZE) : 0;
  const uint64_t p_max = std::min((footer_size - min_size) / TOP_ENTRY_SIZE, MAX_PAGES);
  const uint64_t n_max = std::min(p_max << MAX_PAGE_SHIFT, MAX_BLOCKS);
  const uint64_t lo = HEADER61_SIZE + 2 * keyring_copy_size(MIN_KEYRING_SLOTS) +
                      (BLOCK_OVERHEAD + PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE) * p_min;
  // Below 2^58: no overflow.
  const uint64_t hi = HEADER61_SIZE + 2 * keyring_copy_size(MAX_KEYRING_SLOTS) +
                      (BLOCK_OVERHEAD + PAGE_ENTRY_SIZE + MAX_BLOCK_SIZE) * n_max +
                      PAGE_HEAD_SIZE * p_max;
  if (footer_offset < lo || footer_offset > hi)
    return "footer offset " + to_string(footer_offset) + " does not fit a footer of " +
           to_string(footer_size) + " bytes";
  return {};
}

}  // namespace

std::array<uint8_t, TRAILER_SIZE> encode_trailer61(uint64_t footer_offset, uint64_t footer_size) {
  std::string p = trailer61_problem(footer_offset, footer_size);
  if (!p.empty()) throw std::invalid_argument("trailer: " + p);
  std::array<uint8_t, TRAILER_SIZE> out{};
  store_be64(out.data(), footer_offset);
  store_be64(out.data() + 8, footer_size);
  std::memcpy(out.data() + 16, "QLTX-END", 8);
  return out;
}

Trailer decode_trailer61(ByteView b, uint64_t container_size) {
  need(b, TRAILER_SIZE, "trailer");
  const uint8_t* d = b.data + (b.size - TRAILER_SIZE);
  if (std::memcmp(d + 16, "QLTX-END", 8) != 0)
    throw NotAContainer("trailer: bad magic (expected \"QLTX-END\")");
  Trailer t;
  t.footer_offset = load_be64(d);
  t.footer_size = load_be64(d + 8);
  std::string p = trailer61_problem(t.footer_offset, t.footer_size);
  if (!p.empty()) throw Damaged("trailer: " + p);
  // Both are below 2^59 once checked: no overflow.
  if (t.footer_offset + t.footer_size + TRAILER_SIZE != container_size)
    throw Damaged("trailer: footer at " + to_string(t.footer_offset) + " of " +
                  to_string(t.footer_size) + " bytes does not end at the trailer of a " +
                  to_string(container_size) + "-byte container");
  return t;
}

// ---- TopTable ----

PageRef TopTable::page(uint64_t k) const {
  const uint64_t P = num_pages();
  if (k >= P)
    throw std::out_of_range("page " + to_string(k) + " out of range (" + to_string(P) + " pages)");
  const uint64_t E = page_entries();
  PageRef r;
  r.index = k;
  r.last = k + 1 == P;
  r.first_block = k * E;
  r.num_entries = static_cast<uint32_t>(r.last ? num_blocks_ - k * E : E);
  r.ofs_page = ofs_page_[k];
  r.len_page = PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE * uint64_t{r.num_entries};
  r.ofs_plaintext = ofs_plaintext_[k];
  r.plain_end = r.last ? plaintext_size_ : ofs_plaintext_[k + 1];
  // Every page but the last is full: the previous page ends where this page's blocks start.
  r.block_offset = k == 0 ? data_offset_ : ofs_page_[k - 1] + PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE * E;
  std::memcpy(r.hash.data(), hashes_.data() + k * HASH_SIZE, HASH_SIZE);
  return r;
}

uint64_t TopTable::locate(uint64_t offset) const {
  if (offset >= plaintext_size_)
    throw std::out_of_range("offset " + to_string(offset) + " is not below the plaintext size " +
                            to_string(plaintext_size_));
  // The last page starting at or before offset (offsets strictly increase; a last page that
  // holds only an empty block starts at plaintext_size, so is never found here).
  auto it = std::upper_bound(ofs_plaintext_.begin(), ofs_plaintext_.end(), offset);
  return static_cast<uint64_t>(it - ofs_plaintext_.begin()) - 1;
}

std::pair<uint64_t, uint64_t> TopTable::span(uint64_t offset, uint64_t length) const {
  const uint64_t P = num_pages();
  if (offset >= plaintext_size_ || length == 0) return {P, P};
  const uint64_t end = offset + std::min(length, plaintext_size_ - offset);
  return {locate(offset), locate(end - 1) + 1};
}

uint64_t TopTable::block_page(uint64_t i) const {
  if (i >= num_blocks_)
    throw std::out_of_range("block " + to_string(i) + " out of range (" + to_string(num_blocks_) +
                            " blocks)");
  return i >> page_shift_;
}

}  // namespace qltx
