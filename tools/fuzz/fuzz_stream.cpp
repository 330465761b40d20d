// Fuzz target of the gateway's one-pass V6 stream decoder (cpp/stream.cpp; 6.0 and 6.1), driven as
// gateway.cpp's read_container drives it: the buffer holds the bytes received since the last
// item, and at most what the decoder asked for. Byte 0 picks the chunk sizes the bytes arrive in
// (1 byte at a time, small, large, or all at once); the rest is the stream. Invariants:
//   - NeedMore asks for more than it was given, and never more than the structure's bound
//     (416 for the header, block_size + 220 for a block, 64 + 56 * blocks seen + 1070 for the
//     footer; 6.1: 2 * the keyring copy of the header's slot count, 16 + 56 * E for a page,
//     64 + 48 * pages seen + 1070 for the footer), so a hostile size cannot make the gateway
//     buffer more than one block;
//   - a complete item fits in what was given; block sizes add up to plaintext_size;
//   - the same bytes in different pieces give the same items and the same outcome.
#include <algorithm>
#include <string>
#include <typeinfo>
#include <vector>

#include "common.hpp"
#include "stream.hpp"

using qltx_fuzz::check;
using namespace qltx;

namespace {

struct Outcome {
  std::vector<std::pair<int, size_t>> items;
  std::string error;  // empty: the trailer was read and nothing followed
};

size_t bound(const StreamDecoder& dec, bool header_seen) {
  if (!header_seen) return HEADER_SIZE;
  const uint64_t block = uint64_t{dec.block_size()} + BLOCK_OVERHEAD;
  if (dec.version() == VERSION_6_1) {
    const Header61& h = dec.header61();
    const uint64_t keyring = 2 * h.keyring_copy_size();
    const uint64_t page = PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE * h.page_entries();
    const uint64_t footer = FOOTER_HEAD_SIZE + TOP_ENTRY_SIZE * dec.num_pages() + MAX_INFO_SIZE;
    return static_cast<size_t>(std::max({block, keyring, page, footer}));
  }
  const uint64_t footer = FOOTER_HEAD_SIZE + FOOTER_ENTRY_SIZE * dec.num_blocks() + MAX_INFO_SIZE;
  return static_cast<size_t>(block > footer ? block : footer);
}

// chunk == 0: the whole rest at once (the decoder gets more than one item's bytes).
Outcome drive(const uint8_t* d, size_t n, size_t chunk) {
  Outcome out;
  StreamDecoder dec;
  std::vector<uint8_t> stage;
  size_t pos = 0;
  bool header_seen = false;
  uint64_t plain = 0;
  try {
    for (int guard = 0;; ++guard) {
      check(guard < 10000000, "the decoder makes progress");
      const StreamStep st = dec.next({stage.data(), stage.size()});
      if (st.item == StreamItem::NeedMore) {
        check(st.size > stage.size(), "NeedMore asks for more than given");
        check(st.size <= bound(dec, header_seen), "NeedMore within the structure's bound");
        if (pos == n) {
          dec.end(stage.size());
          check(dec.done() && stage.empty(), "end() accepts only a complete stream");
          return out;
        }
        size_t take = chunk ? std::min(chunk, st.size - stage.size()) : n - pos;
        take = std::min(take, n - pos);
        stage.insert(stage.end(), d + pos, d + pos + take);
        pos += take;
        continue;
      }
      check(st.size > 0 && st.size <= stage.size(), "an item fits in what was given");
      out.items.push_back({static_cast<int>(st.item), st.size});
      if (st.item == StreamItem::Header) header_seen = true;
      if (st.item == StreamItem::Page)
        check(dec.last_page_entries() >= 1 &&
                  dec.last_page_first_block() + dec.last_page_entries() == dec.num_blocks(),
              "a page lists the blocks since the last page");
      if (st.item == StreamItem::Block) {
        check(dec.last_block().plain_size + BLOCK_OVERHEAD == st.size, "block size");
        check(dec.last_block().plain_offset == plain, "block offset");
        plain += dec.last_block().plain_size;
        check(dec.plaintext_size() == plain, "plaintext size adds up");
      }
      stage.erase(stage.begin(), stage.begin() + static_cast<long>(st.size));
    }
  } catch (const FormatError& e) {
    out.error = typeid(e).name();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const size_t chunks[] = {1, 7, 28, 64, 416, 4096, 65536, 0};
  size_t a = chunks[data[0] & 7], b = chunks[(data[0] >> 3) & 7];
  // Byte by byte is quadratic in this driver: for long inputs, 97-byte pieces instead.
  if (size > 1024) {
    if (a == 1) a = 97;
    if (b == 1) b = 97;
  }
  const Outcome x = drive(data + 1, size - 1, a);
  const Outcome y = drive(data + 1, size - 1, b);
  check(x.items == y.items, "the same items whatever the pieces");
  check(x.error == y.error, "the same outcome whatever the pieces");
  return 0;
}
