#include "stream.hpp"

#include <cstring>
#include <limits>
#include <string>

namespace qltx {
namespace {

using std::to_string;

bool starts_with(ByteView b, const char* magic, size_t len) {
  return b.size >= len && std::memcmp(b.data, magic, len) == 0;
}

}  // namespace

StreamStep StreamDecoder::next(ByteView buf) {
  switch (state_) {
    case State::Header:
      return header(buf);
    case State::Keyring:
      return keyring(buf);
    case State::Blocks:
      return block_or_footer(buf);
    case State::Page:
      return page(buf);
    case State::FooterHead:
    case State::Footer:
      return version_ == VERSION_6_1 ? footer61(buf) : footer(buf);
    case State::Trailer:
      return trailer(buf);
    case State::Done:
      if (buf.size == 0) return {StreamItem::NeedMore, 1};
      throw Damaged("unexpected bytes after the trailer");
  }
  return {StreamItem::NeedMore, 1};  // unreachable
}

StreamStep StreamDecoder::header(ByteView buf) {
  if (version_ == 0) {
    // A wrong magic or version fails on the bytes present; the first 6 bytes tell the version
    // (and so the header's size: 416 or 256, the smaller asked for until then).
    if (buf.size < 6) {
      try {
        header_version(buf);
      } catch (const Truncated&) {
      }
      return {StreamItem::NeedMore, HEADER61_SIZE};
    }
    version_ = header_version(buf);
  }
  if (version_ == VERSION_6_0) {
    if (buf.size < HEADER_SIZE) return {StreamItem::NeedMore, HEADER_SIZE};
    header_ = decode_header(buf);
    block_size_ = header_.block_size;
    offset_ = HEADER_SIZE;
    state_ = State::Blocks;
    return {StreamItem::Header, HEADER_SIZE};
  }
  if (buf.size < HEADER61_SIZE) return {StreamItem::NeedMore, HEADER61_SIZE};
  header61_ = decode_header61(buf);
  block_size_ = header61_.block_size;
  offset_ = HEADER61_SIZE;
  state_ = State::Keyring;
  return {StreamItem::Header, HEADER61_SIZE};
}

StreamStep StreamDecoder::keyring(ByteView buf) {
  // keyring_slots <= 1024 (checked with the header): at most 2 * (56 + 128 * 1024) bytes.
  const size_t copy = static_cast<size_t>(header61_.keyring_copy_size());
  if (buf.size < 2 * copy) return {StreamItem::NeedMore, 2 * copy};
  // A copy whose structure is invalid is ignored (the other one may open); both: damage.
  std::string first_problem;
  bool valid = false;
  for (size_t c = 0; c < 2 && !valid; ++c) {
    try {
      decode_keyring_copy({buf.data + c * copy, copy}, header61_.keyring_slots);
      valid = true;
    } catch (const FormatError& e) {
      if (c == 0) first_problem = e.what();
    }
  }
  if (!valid) throw Damaged("both keyring copies are malformed (copy A: " + first_problem + ")");
  offset_ += 2 * copy;
  page_block_start_ = offset_;
  state_ = State::Blocks;
  return {StreamItem::Keyring, 2 * copy};
}

StreamStep StreamDecoder::block_or_footer(ByteView buf) {
  // A block prefix (28 bytes) and a footer head (64) both start with their magic; 8 bytes tell.
  if (buf.size < 8) {
    if (buf.size >= 4 && std::memcmp(buf.data, "QBLK", 4) != 0 &&
        std::memcmp(buf.data, "QLTX", 4) != 0)
      throw Damaged("unexpected bytes at offset " + to_string(offset_) +
                    ": neither a block nor the footer");
    return {StreamItem::NeedMore, 8};
  }
  if (starts_with(buf, "QLTXFOOT", 8)) {
    if (blocks_ && !final_seen_)
      throw Truncated("the stream ends without its final block");
    footer_offset_ = offset_;
    state_ = State::FooterHead;
    return version_ == VERSION_6_1 ? footer61(buf) : footer(buf);
  }
  const uint64_t i = blocks_;
  if (!starts_with(buf, "QBLK", 4))
    throw Damaged("unexpected bytes at offset " + to_string(offset_) +
                  ": neither a block nor the footer");
  if (buf.size < PREFIX_SIZE) return {StreamItem::NeedMore, PREFIX_SIZE};
  const Prefix p = decode_prefix(buf, block_size_);  // payload <= block_size + 16
  const int64_t where = static_cast<int64_t>(i);
  if (final_seen_) throw Damaged("block " + to_string(i) + " follows the final block", where);
  if (i >= MAX_BLOCKS) throw Damaged("more than 2^31 blocks", where);
  if (p.index != i)
    throw Damaged("block " + to_string(i) + ": found block " + to_string(p.index) +
                      " in its place",
                  where);
  const uint64_t n = p.payload_size - TAG_SIZE;
  if (n == 0 && !p.final()) throw Damaged("block " + to_string(i) + ": empty non-final block", where);
  if (plain_offset_ + n > MAX_PLAINTEXT_SIZE)
    throw Damaged("block " + to_string(i) + ": the plaintext size reaches 2^63", where);
  const size_t stored = static_cast<size_t>(n + BLOCK_OVERHEAD);  // <= 64 MiB + 220
  if (buf.size < stored) return {StreamItem::NeedMore, stored};
  block_ = {i, plain_offset_, static_cast<uint32_t>(n), p.final()};
  blocks_ += 1;
  plain_offset_ += n;
  offset_ += stored;
  final_seen_ = p.final();
  if (version_ == VERSION_6_0) {
    sizes_.push_back(static_cast<uint32_t>(n));
  } else {
    // 6.1: a page follows every E-th block and the final one.
    page_sizes_.push_back(static_cast<uint32_t>(n));
    if (page_sizes_.size() == header61_.page_entries() || final_seen_) state_ = State::Page;
  }
  return {StreamItem::Block, stored};
}

StreamStep StreamDecoder::page(ByteView buf) {
  const uint32_t count = static_cast<uint32_t>(page_sizes_.size());  // 1..E
  const size_t size = PAGE_HEAD_SIZE + PAGE_ENTRY_SIZE * size_t{count};
  if (buf.size >= 4 && std::memcmp(buf.data, "QPAG", 4) != 0)
    throw Damaged("unexpected bytes at offset " + to_string(offset_) +
                      ": not the index page of blocks " + to_string(page_first_block_) + ".." +
                      to_string(page_first_block_ + count - 1),
                  static_cast<int64_t>(page_first_block_));
  if (buf.size < size) return {StreamItem::NeedMore, size};
  const Page pg = decode_page({buf.data, size}, page_first_block_, count, block_size_,
                              page_plain_start_, page_block_start_, final_seen_);
  for (uint32_t j = 0; j < count; ++j)
    if (pg.entry(j).plain_size != page_sizes_[j])
      throw Damaged("block " + to_string(page_first_block_ + j) + " does not match its index page",
                    static_cast<int64_t>(page_first_block_ + j));
  page_offsets_.push_back(offset_);
  page_plain_.push_back(page_plain_start_);
  last_page_first_ = page_first_block_;
  last_page_entries_ = count;
  offset_ += size;
  page_first_block_ += count;
  page_plain_start_ = plain_offset_;
  page_block_start_ = offset_;
  page_sizes_.clear();
  state_ = State::Blocks;
  return {StreamItem::Page, size};
}

StreamStep StreamDecoder::footer(ByteView buf) {
  if (buf.size < FOOTER_HEAD_SIZE) return {StreamItem::NeedMore, FOOTER_HEAD_SIZE};
  const FooterHead head = decode_footer_head(buf);
  if (head.num_blocks != sizes_.size())
    throw Damaged("the footer lists " + to_string(head.num_blocks) + " blocks, the stream held " +
                  to_string(sizes_.size()));
  // num_blocks equals the blocks received: the footer's size is bounded by what arrived.
  const uint64_t size = FOOTER_HEAD_SIZE + FOOTER_ENTRY_SIZE * head.num_blocks + head.info_size;
  if (size > std::numeric_limits<size_t>::max()) throw Damaged("footer too large");
  state_ = State::Footer;
  if (buf.size < size) return {StreamItem::NeedMore, static_cast<size_t>(size)};
  const Index index = decode_footer({buf.data, static_cast<size_t>(size)}, block_size_,
                                    footer_offset_);
  for (uint64_t i = 0; i < sizes_.size(); ++i)
    if (index.entry(i).plain_size != sizes_[i])
      throw Damaged("block " + to_string(i) + " does not match the footer's index",
                    static_cast<int64_t>(i));
  footer_size_ = size;
  offset_ += size;
  state_ = State::Trailer;
  return {StreamItem::Footer, static_cast<size_t>(size)};
}

StreamStep StreamDecoder::footer61(ByteView buf) {
  if (buf.size < FOOTER_HEAD_SIZE) return {StreamItem::NeedMore, FOOTER_HEAD_SIZE};
  const Footer61Head head = decode_footer61_head(buf);
  if (head.num_blocks != blocks_)
    throw Damaged("the footer lists " + to_string(head.num_blocks) + " blocks, the stream held " +
                  to_string(blocks_));
  if (head.num_pages != page_offsets_.size())
    throw Damaged("the footer lists " + to_string(head.num_pages) + " pages, the stream held " +
                  to_string(page_offsets_.size()));
  // Both counts equal what arrived: the footer's size is bounded by it.
  const uint64_t size = footer61_size(head.num_pages, head.info_size);
  if (size > std::numeric_limits<size_t>::max()) throw Damaged("footer too large");
  state_ = State::Footer;
  if (buf.size < size) return {StreamItem::NeedMore, static_cast<size_t>(size)};
  const TopTable top = decode_footer61({buf.data, static_cast<size_t>(size)}, header61_.page_shift,
                                       block_size_, header61_.data_offset(), footer_offset_);
  for (uint64_t k = 0; k < top.num_pages(); ++k) {
    const PageRef r = top.page(k);
    if (r.ofs_page != page_offsets_[k] || r.ofs_plaintext != page_plain_[k])
      throw Damaged("page " + to_string(k) + " does not match the footer's top table",
                    static_cast<int64_t>(r.first_block));
  }
  footer_size_ = size;
  offset_ += size;
  state_ = State::Trailer;
  return {StreamItem::Footer, static_cast<size_t>(size)};
}

StreamStep StreamDecoder::trailer(ByteView buf) {
  if (buf.size < TRAILER_SIZE) return {StreamItem::NeedMore, TRAILER_SIZE};
  Trailer t;
  try {
    t = version_ == VERSION_6_1 ? decode_trailer61({buf.data, TRAILER_SIZE}, offset_ + TRAILER_SIZE)
                                : decode_trailer({buf.data, TRAILER_SIZE}, offset_ + TRAILER_SIZE);
  } catch (const NotAContainer& e) {
    throw Damaged(e.what());
  }
  if (t.footer_offset != footer_offset_ || t.footer_size != footer_size_)
    throw Damaged("the trailer does not point at the footer");
  offset_ += TRAILER_SIZE;
  state_ = State::Done;
  return {StreamItem::Trailer, TRAILER_SIZE};
}

void StreamDecoder::end(size_t pending) const {
  if (state_ == State::Done) {
    if (pending) throw Damaged("unexpected bytes after the trailer");
    return;
  }
  const char* what = "footer";
  if (state_ == State::Header) what = "header";
  if (state_ == State::Keyring) what = "keyring";
  if (state_ == State::Page) what = "index page";
  if (state_ == State::Trailer) what = "trailer";
  if (state_ == State::Blocks && !final_seen_) {
    if (blocks_ || pending)
      throw Truncated("the stream ends without its final block (offset " +
                      to_string(offset_ + pending) + ")");
    what = "next block or footer";
  }
  throw Truncated(std::string("the stream ends inside the ") + what + " (offset " +
                  to_string(offset_ + pending) + ")");
}

}  // namespace qltx
