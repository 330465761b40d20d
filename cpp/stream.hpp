// One-pass decoder of a V6 stream (header, blocks, footer, trailer, in that order), sans I/O:
// the caller hands it the bytes of the current item as they arrive and it answers "need n bytes
// in all" or "the item is complete: n bytes". It never trusts a size it reads: a block is at most
// the header's block_size + 220 bytes, and the footer's size is only accepted once its entry
// count equals the blocks actually seen. Errors are those of format.hpp (Truncated at the end of
// input, Damaged or NotAContainer on bad bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format.hpp"

namespace qltx {

enum class StreamItem { NeedMore, Header, Block, Footer, Trailer };

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
  const Header& header() const { return header_; }           // valid after the Header item
  const StreamBlock& last_block() const { return block_; }   // valid after a Block item
  uint64_t offset() const { return offset_; }                // container offset of the current item
  uint64_t num_blocks() const { return sizes_.size(); }
  uint64_t plaintext_size() const { return plain_offset_; }

 private:
  enum class State { Header, Blocks, FooterHead, Footer, Trailer, Done };
  StreamStep block_or_footer(ByteView buf);
  StreamStep footer(ByteView buf);
  StreamStep trailer(ByteView buf);

  State state_ = State::Header;
  Header header_;
  StreamBlock block_;
  std::vector<uint32_t> sizes_;  // plaintext bytes of every block seen
  uint64_t offset_ = 0;          // container offset of the current item
  uint64_t plain_offset_ = 0;
  uint64_t footer_offset_ = 0;
  uint64_t footer_size_ = 0;
  bool final_seen_ = false;
  bool head_checked_ = false;  // the magic and version of a partial header passed
};

}  // namespace qltx
