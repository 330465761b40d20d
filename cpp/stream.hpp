// One-pass decoder of a V6 stream, sans I/O: format 6.0 (header, blocks, footer, trailer) and
// format 6.1 (header, keyring (both copies), blocks with an index page after every E-th block
// and after the final one, footer, trailer), told apart by the header's version. The caller
// hands it the bytes of the current item as they arrive and it answers "need n bytes in all" or
// "the item is complete: n bytes". It never trusts a size it reads: a block is at most the
// header's block_size + 220 bytes, the keyring's size comes from the header (at most 2 * (56 +
// 128 * 1024) bytes), a page lists exactly the blocks seen since the last page (at most 16 + 56 *
// E bytes), and the footer's size is only accepted once its block (and page) counts equal what
// was actually seen. Errors are those of format.hpp (Truncated at the end of input, Damaged or
// NotAContainer on bad bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format.hpp"
#include "format61.hpp"

namespace qltx {

enum class StreamItem { NeedMore, Header, Block, Footer, Trailer, Keyring, Page };

struct StreamStep {
  StreamItem item = StreamItem::NeedMore;
  // NeedMore: total bytes of the current item needed before calling again (more than given).
  // Otherwise: bytes of the complete item at the front of the buffer (the caller consumes them).
  size_t size = 0;
};

// What the decoder knows of the last complete block.
struct StreamBlock {
  uint64_t index = 0;
  uint64_t plain_offset = 0;
  uint32_t plain_size = 0;
  bool final = false;
};

class StreamDecoder {
 public:
  // `buf` holds the bytes received since the end of the last item (more is allowed: the step
  // reports how many belong to the item). Throws on bad bytes; after a throw the decoder is
  // unusable.
  StreamStep next(ByteView buf);
  // End of input: throws Truncated unless the trailer was decoded and nothing is pending.
  void end(size_t pending) const;

  bool done() const { return state_ == State::Done; }
  // VERSION_6_0 or VERSION_6_1 once the first 6 bytes were seen, 0 before.
  uint16_t version() const { return version_; }
  const Header& header() const { return header_; }           // 6.0: valid after the Header item
  const Header61& header61() const { return header61_; }     // 6.1: valid after the Header item
  uint32_t block_size() const { return block_size_; }        // valid after the Header item
  const StreamBlock& last_block() const { return block_; }   // valid after a Block item
  uint64_t offset() const { return offset_; }                // container offset of the current item
  uint64_t num_blocks() const { return blocks_; }
  uint64_t plaintext_size() const { return plain_offset_; }
  uint64_t num_pages() const { return page_offsets_.size(); }  // 6.1: pages seen
  // 6.1: the last complete page's first block and entry count (valid after a Page item).
  uint64_t last_page_first_block() const { return last_page_first_; }
  uint32_t last_page_entries() const { return last_page_entries_; }

 private:
  enum class State { Header, Keyring, Blocks, Page, FooterHead, Footer, Trailer, Done };
  StreamStep header(ByteView buf);
  StreamStep keyring(ByteView buf);
  StreamStep block_or_footer(ByteView buf);
  StreamStep page(ByteView buf);
  StreamStep footer(ByteView buf);
  StreamStep footer61(ByteView buf);
  StreamStep trailer(ByteView buf);

  State state_ = State::Header;
  uint16_t version_ = 0;
  uint32_t block_size_ = 0;
  Header header_;
  Header61 header61_;
  uint64_t blocks_ = 0;
  // 6.1: the current page (blocks since the last page) and where every page was.
  uint64_t page_first_block_ = 0, page_plain_start_ = 0, page_block_start_ = 0;
  std::vector<uint32_t> page_sizes_;
  std::vector<uint64_t> page_offsets_, page_plain_;
  uint64_t last_page_first_ = 0;
  uint32_t last_page_entries_ = 0;
  StreamBlock block_;
  std::vector<uint32_t> sizes_;  // 6.0: plaintext bytes of every block seen
  uint64_t offset_ = 0;          // container offset of the current item
  uint64_t plain_offset_ = 0;
  uint64_t footer_offset_ = 0;
  uint64_t footer_size_ = 0;
  bool final_seen_ = false;
};

}  // namespace qltx
