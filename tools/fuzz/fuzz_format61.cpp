// Fuzz target of the 6.1 codecs (cpp/format61.hpp, no Python). The first input byte picks what
// to exercise: 0 header, 1 keyring copy (next byte: slot count), 2 index page (the arguments are
// what the page's own first entry claims), 3 footer head, 4 footer + top table (footer offset:
// where the table's last page claims to end), 5 trailer, 6 header_version. Every decoder must
// either succeed or throw one of the library's exceptions; what it accepts must re-encode to
// the same bytes, and the lookups (Page.locate, TopTable.locate/span/block_page/page) must agree
// with the table. Arguments are always valid, so std::invalid_argument or std::out_of_range
// (an encoder refusing what its decoder accepted, a lookup out of range) is a crash.
//   tools/fuzz/run.sh (FUZZ_HARNESSES=format61)
#include <algorithm>
#include <cstring>
#include <vector>

#include "common.hpp"
#include "format61.hpp"

using qltx_fuzz::check;
using namespace qltx;

namespace {

uint64_t u64_at(const uint8_t* d, size_t n, size_t at) {
  uint8_t b[8] = {};
  for (size_t i = 0; i < 8 && at + i < n; ++i) b[i] = d[at + i];
  return load_be64(b);
}

void exercise_page(const uint8_t* d, size_t n, uint8_t knobs) {
  // Arguments as a reader derives them: the count from the length, the start from entry 0.
  if (n < PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE) {
    decode_page({d, n}, 0, 1, MIN_BLOCK_SIZE, 0, 0, true);
    return;
  }
  const uint64_t count = std::min<uint64_t>((n - PAGE_HEAD_SIZE) / PAGE_ENTRY_SIZE, MAX_PAGE_ENTRIES);
  const uint64_t first = u64_at(d, n, 8) % (MAX_BLOCKS - count + 1);
  const uint64_t plain = u64_at(d, n, 16) & MAX_PLAINTEXT_SIZE;
  const uint64_t block = u64_at(d, n, 24) & ((uint64_t{1} << 62) - 1);
  const uint64_t bs = (knobs & 1) ? MAX_BLOCK_SIZE : MIN_BLOCK_SIZE;
  const bool last = (knobs & 2) != 0;
  const Page p = decode_page({d, n}, first, static_cast<uint32_t>(count), bs, plain, block, last);
  std::vector<Entry> es;
  uint64_t sum = 0;
  for (uint32_t j = 0; j < p.size(); ++j) {
    es.push_back(p.entry(j));
    sum += es.back().plain_size;
    check(es.back().plain_size <= bs, "page entry within the block size");
  }
  check(p.plain_end() == plain + sum, "page plaintext adds up");
  check(p.block_end() == es.back().block_offset + es.back().block_size, "page blocks add up");
  const Bytes again = encode_page(first, es);
  check(again.size() == n && std::memcmp(again.data(), d, n) == 0, "page re-encodes");
  for (uint64_t off : {p.plain_offset(), p.plain_offset() + sum / 2, p.plain_end() - 1}) {
    if (off < p.plain_offset() || off >= p.plain_end()) continue;
    const Entry e = p.entry(p.locate(off));
    check(e.plain_offset <= off && off < e.plain_offset + e.plain_size, "page locate");
  }
}

void exercise_footer(const uint8_t* d, size_t n, uint8_t knobs) {
  const unsigned shift = MIN_PAGE_SHIFT + knobs % (MAX_PAGE_SHIFT - MIN_PAGE_SHIFT + 1);
  const uint64_t bs = (knobs & 0x80) ? MAX_BLOCK_SIZE : MIN_BLOCK_SIZE;
  const uint64_t slots = 1 + (knobs >> 4) % 4;
  const uint64_t data_offset = HEADER61_SIZE + 2 * keyring_copy_size(slots);
  // The footer offset the table implies: its last page plus 16 + 56 * (entries of that page).
  uint64_t footer_offset = data_offset;
  const uint64_t blocks = u64_at(d, n, 8), pages = u64_at(d, n, 24) & 0xffffffffu;
  if (pages > 0 && pages <= (n - std::min<size_t>(n, FOOTER_HEAD_SIZE)) / TOP_ENTRY_SIZE &&
      blocks <= MAX_BLOCKS) {
    const uint64_t E = uint64_t{1} << shift;
    const uint64_t last = blocks > (pages - 1) * E ? blocks - (pages - 1) * E : 1;
    footer_offset = u64_at(d, n, FOOTER_HEAD_SIZE + TOP_ENTRY_SIZE * (pages - 1)) + PAGE_HEAD_SIZE +
                    PAGE_ENTRY_SIZE * std::min<uint64_t>(last, E);
  }
  const TopTable t = decode_footer61({d, n}, shift, bs, data_offset, footer_offset);
  std::vector<TopEntry> top;
  uint64_t listed = 0;
  for (uint64_t k = 0; k < t.num_pages(); ++k) {
    const PageRef r = t.page(k);
    check(r.first_block == listed, "pages list consecutive blocks");
    check(r.num_entries >= 1 && r.num_entries <= t.page_entries(), "page entry count");
    check(r.ofs_plaintext <= r.plain_end && r.plain_end <= t.plaintext_size(), "page plaintext");
    check(r.block_offset + (r.plain_end - r.ofs_plaintext) + BLOCK_OVERHEAD * r.num_entries == r.ofs_page,
          "page right after its blocks");
    check(t.block_page(r.first_block) == k, "block_page");
    if (r.plain_end > r.ofs_plaintext) check(t.locate(r.ofs_plaintext) == k, "locate");
    listed += r.num_entries;
    top.push_back({r.ofs_page, r.ofs_plaintext, r.hash});
  }
  check(listed == t.num_blocks(), "pages list every block");
  const uint64_t total = t.plaintext_size();
  const auto s = t.span(total / 3, total);
  check(s.first <= s.second && s.second <= t.num_pages(), "span");
  const Bytes again = encode_footer61(t.num_blocks(), total, top,
                                      {d + n - t.info_size(), t.info_size()}, {t.mac().data(), MAC_SIZE});
  check(again.size() == n && std::memcmp(again.data(), d, n) == 0, "footer re-encodes");
}

void exercise(uint8_t sel, const uint8_t* d, size_t n) {
  const ByteView b{d, n};
  switch (sel % 8) {
    case 0: {
      const Header61 h = decode_header61(b);
      const auto again = encode_header61(h);
      check(std::memcmp(again.data(), d, HEADER61_SIZE) == 0, "header re-encodes");
      const auto mac_in = header61_mac_input(b);
      check(std::memcmp(mac_in.data(), d, HEADER61_PATCHED_OFFSET) == 0, "mac input");
      break;
    }
    case 1: {
      if (n == 0) break;
      const uint32_t slots = 1 + d[0] % 8;
      const KeyringCopy k = decode_keyring_copy({d + 1, n - 1}, slots);
      const Bytes again = encode_keyring_copy(slots, k.generation, k.slots, {k.mac.data(), MAC_SIZE});
      check(again.size() == n - 1 && std::memcmp(again.data(), d + 1, n - 1) == 0, "keyring re-encodes");
      break;
    }
    case 2:
      if (n) exercise_page(d + 1, n - 1, d[0]);
      break;
    case 3:
      decode_footer61_head(b);
      break;
    case 4:
      if (n) exercise_footer(d + 1, n - 1, d[0]);
      break;
    case 5: {
      const Trailer t = decode_trailer61(b, u64_at(d, n, 0));
      check(t.footer_offset + t.footer_size + TRAILER_SIZE == u64_at(d, n, 0), "trailer sum");
      const auto again = encode_trailer61(t.footer_offset, t.footer_size);
      check(std::memcmp(again.data(), d + n - TRAILER_SIZE, TRAILER_SIZE) == 0, "trailer re-encodes");
      break;
    }
    case 6: {
      const uint16_t v = header_version(b);
      check(v == VERSION_6_0 || v == VERSION_6_1, "version");
      break;
    }
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // Only data errors are expected: the arguments above are always valid, an encoder must take
  // what its decoder gave, and the lookups are called in range. Anything else escapes and is
  // reported as a crash.
  try {
    exercise(data[0], data + 1, size - 1);
  } catch (const FormatError&) {
  }
  return 0;
}
