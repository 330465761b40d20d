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
    case State::Header: {
      if (buf.size < HEADER_SIZE) {
        // A wrong magic or version fails on the bytes present: checked until the first 6 bytes
        // (magic and version) have passed once, not again for every piece of a trickled header
        // (each check of a short header throws and catches Truncated).
        if (!head_checked_) {
          try {
            decode_header(buf);
          } catch (const Truncated&) {
          }
          head_checked_ = buf.size >= 6;
        }
        return {StreamItem::NeedMore, HEADER_SIZE};
      }
      header_ = decode_header(buf);
      offset_ = HEADER_SIZE;
      state_ = State::Blocks;
      return {StreamItem::Header, HEADER_SIZE};
    }
    case State::Blocks:
      return block_or_footer(buf);
    case State::FooterHead:
    case State::Footer:
      return footer(buf);
    case State::Trailer:
      return trailer(buf);
    case State::Done:
      if (buf.size == 0) return {StreamItem::NeedMore, 1};
      throw Damaged("unexpected bytes after the trailer");
  }
  return {StreamItem::NeedMore, 1};  // unreachable
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
    if (!sizes_.empty() && !final_seen_)
      throw Truncated("the stream ends without its final block");
    footer_offset_ = offset_;
    state_ = State::FooterHead;
    return footer(buf);
  }
  const uint64_t i = sizes_.size();
  if (!starts_with(buf, "QBLK", 4))
    throw Damaged("unexpected bytes at offset " + to_string(offset_) +
                  ": neither a block nor the footer");
  if (buf.size < PREFIX_SIZE) return {StreamItem::NeedMore, PREFIX_SIZE};
  const Prefix p = decode_prefix(buf, header_.block_size);  // payload <= block_size + 16
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
  sizes_.push_back(static_cast<uint32_t>(n));
  plain_offset_ += n;
  offset_ += stored;
  final_seen_ = p.final();
  return {StreamItem::Block, stored};
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
  const Index index = decode_footer({buf.data, static_cast<size_t>(size)}, header_.block_size,
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

StreamStep StreamDecoder::trailer(ByteView buf) {
  if (buf.size < TRAILER_SIZE) return {StreamItem::NeedMore, TRAILER_SIZE};
  Trailer t;
  try {
    t = decode_trailer({buf.data, TRAILER_SIZE}, offset_ + TRAILER_SIZE);
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
  if (state_ == State::Trailer) what = "trailer";
  if (state_ == State::Blocks && !final_seen_) {
    if (!sizes_.empty() || pending)
      throw Truncated("the stream ends without its final block (offset " +
                      to_string(offset_ + pending) + ")");
    what = "next block or footer";
  }
  throw Truncated(std::string("the stream ends inside the ") + what + " (offset " +
                  to_string(offset_ + pending) + ")");
}

}  // namespace qltx
