// Fuzz target of the format library (no Python). The first input byte picks what to exercise:
// 0 header, 1 block prefix, 2 block metadata, 3 footer head, 4 footer + the index walk
// (Index.entry/locate/span at hostile offsets, checked against a linear scan), 5 trailer,
// 6 permutation round trip, 7 seek arithmetic with hostile sizes. Every decoder must either
// succeed or throw one of the library's exceptions, and what it accepts must re-encode to the
// same bytes.
//
//   libFuzzer:  tools/fuzz/run.sh (or: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined
//                 -Icpp tools/fuzz/fuzz_format.cpp cpp/format.cpp cpp/seek.cpp cpp/permute.cpp)
//   standalone: add -DQLTX_FUZZ_STANDALONE (g++ works): random and mutated-seed inputs, with
//               -fsanitize=address,undefined; argument = iterations.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <vector>

#include "format.hpp"
#include "permute.hpp"
#include "seek.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
    std::abort();
  }
}

uint64_t u64_at(const uint8_t* d, size_t n, size_t at) {
  uint8_t b[8] = {};
  for (size_t i = 0; i < 8 && at + i < n; ++i) b[i] = d[at + i];
  return qltx::load_be64(b);
}

void exercise(uint8_t sel, const uint8_t* d, size_t n) {
  using namespace qltx;
  const ByteView b{d, n};
  switch (sel % 8) {
    case 0: {
      Header h = decode_header(b);
      auto again = encode_header(h);
      check(std::memcmp(again.data(), d, HEADER_SIZE) == 0, "header re-encodes");
      break;
    }
    case 1: {
      Prefix p = decode_prefix(b, 4096);
      auto again = encode_prefix(p);
      check(std::memcmp(again.data(), d, PREFIX_SIZE) == 0, "prefix re-encodes");
      break;
    }
    case 2: {
      Meta m = decode_meta(b);
      auto again = encode_meta(m);
      check(std::memcmp(again.data(), d, META_PLAIN_SIZE) == 0, "meta re-encodes");
      break;
    }
    case 3:
      decode_footer_head(b);
      break;
    case 4: {  // footer, with the footer offset the entries imply when the head is readable
      uint64_t block_size = 4096;
      uint64_t footer_offset = HEADER_SIZE;
      const uint64_t count = u64_at(d, n, 8);
      if (count > 0 && count <= (n - std::min<size_t>(n, FOOTER_HEAD_SIZE)) / FOOTER_ENTRY_SIZE) {
        const uint8_t* last = d + FOOTER_HEAD_SIZE + FOOTER_ENTRY_SIZE * (count - 1);
        footer_offset = load_be64(last + 8) + load_be32(last + 20);  // what the entries claim
      }
      if (n > 0 && (d[0] & 1)) block_size = MAX_BLOCK_SIZE;
      Index idx = decode_footer(b, block_size, footer_offset);
      uint64_t sum = 0;
      std::vector<Entry> entries;
      for (uint64_t i = 0; i < idx.num_blocks(); ++i) {
        entries.push_back(idx.entry(i));
        sum += entries.back().plain_size;
      }
      check(sum == idx.plaintext_size(), "footer sizes add up");
      const uint64_t total = idx.plaintext_size();
      for (uint64_t off : {uint64_t{0}, total / 2, total ? total - 1 : 0}) {
        if (off < total) {
          uint64_t i = idx.locate(off);
          const Entry e = idx.entry(i);
          check(e.plain_offset <= off && off < e.plain_offset + e.plain_size, "locate");
        }
        auto s = idx.span(off, total);
        check(s.first <= s.second && s.second <= idx.num_blocks(), "span");
      }
      // Hostile offsets and lengths (the MAC is not checked here: any 16 bytes of it).
      const uint64_t hoff = load_be64(idx.mac().data()), hlen = load_be64(idx.mac().data() + 8);
      for (uint64_t off : {hoff, hoff % (total + 1), hlen % (total + 1)}) {
        const auto s = idx.span(off, hlen);
        check(s.first <= s.second && s.second <= idx.num_blocks(), "span bounds");
        if (off >= total || hlen == 0) {
          check(s.first == s.second, "empty span");
          continue;
        }
        const uint64_t i = idx.locate(off);
        check(i == s.first, "span starts at locate");
        // The linear scan: the first block whose end passes `off`.
        uint64_t j = 0;
        while (entries[j].plain_offset + entries[j].plain_size <= off) ++j;
        check(i == j, "locate agrees with a linear scan");
        const uint64_t last = off + std::min(hlen, total - off) - 1;
        check(entries[s.second - 1].plain_offset <= last &&
                  last < entries[s.second - 1].plain_offset + entries[s.second - 1].plain_size,
              "span ends at the block of the last byte");
      }
      for (uint64_t i = 0; i < idx.num_blocks(); ++i) {
        const Entry& e = entries[i];
        check(e.block_offset + e.block_size <= footer_offset, "blocks lie before the footer");
        if (i) check(entries[i - 1].block_offset + entries[i - 1].block_size == e.block_offset,
                     "blocks are contiguous");
      }
      const size_t info_at = n - idx.info_size();
      Bytes again = encode_footer(entries, total, ByteView{d + info_at, idx.info_size()},
                                  ByteView{idx.mac().data(), MAC_SIZE});
      check(again.size() == n && std::memcmp(again.data(), d, n) == 0, "footer re-encodes");
      break;
    }
    case 5: {
      Trailer t = decode_trailer(b, u64_at(d, n, 0));
      check(t.footer_offset + t.footer_size + TRAILER_SIZE == u64_at(d, n, 0), "trailer sum");
      break;
    }
    case 6: {  // permutation round trip; key = the first 72 bytes
      if (n < PERMUTATION_KEY_SIZE) break;
      std::vector<uint8_t> key(d, d + PERMUTATION_KEY_SIZE);
      std::vector<uint8_t> data(d + PERMUTATION_KEY_SIZE, d + n);
      const std::vector<uint8_t> original = data;
      for (const std::string& k : permute_kernels()) {
        permute(data.data(), data.size(), key.data(), key.size(), permute_kernel_by_name(k));
        unpermute(data.data(), data.size(), key.data(), key.size(), permute_kernel_by_name(k));
        check(data == original, "unpermute(permute(x)) == x");
      }
      break;
    }
    case 7: {  // seek arithmetic never overflows and stays consistent
      const uint64_t p = u64_at(d, n, 0), bs = u64_at(d, n, 8), off = u64_at(d, n, 16),
                     len = u64_at(d, n, 24);
      const uint64_t count = block_count(p, bs);
      const auto s = block_span(off, len, p, bs);
      check(s.first <= s.second && s.second <= count, "block_span range");
      check(container_size(p, bs, MIN_INFO_SIZE) > p, "container_size");
      if (count) check(block_offset(count - 1, bs) < container_size(p, bs, MIN_INFO_SIZE), "offset");
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    exercise(data[0], data + 1, size - 1);
  } catch (const qltx::FormatError&) {
  } catch (const std::invalid_argument&) {
  } catch (const std::out_of_range&) {
  }
  return 0;
}

#ifdef QLTX_FUZZ_STANDALONE
#include <random>

int main(int argc, char** argv) {
  using namespace qltx;
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  std::mt19937_64 rng(12345);
  // Valid seeds, each prefixed with its selector byte.
  std::vector<std::vector<uint8_t>> seeds;
  {
    Header h;
    h.cipher_id = 1;
    h.kdf_id = 1;
    h.flags = 1;
    h.block_size = 4096;
    h.container_id.assign(32, 7);
    h.kdf_salt.assign(16, 3);
    h.key_commitment.assign(32, 1);
    h.header_mac.assign(32, 2);
    h.num_blocks = 2;
    h.plaintext_size = 5000;
    h.footer_offset = 416 + 440 + 5000;
    h.footer_size = 64 + 112 + 50;
    auto raw = encode_header(h);
    std::vector<uint8_t> s{0};
    s.insert(s.end(), raw.begin(), raw.end());
    seeds.push_back(s);
    auto pr = encode_prefix(Prefix{3, 164, 100, 1});
    seeds.push_back({1});
    seeds.back().insert(seeds.back().end(), pr.begin(), pr.end());
    std::vector<Entry> es(3);
    uint64_t po = 0, bo = 416;
    for (int i = 0; i < 3; ++i) {
      es[i].plain_offset = po;
      es[i].block_offset = bo;
      es[i].plain_size = i < 2 ? 4096 : 9;
      es[i].block_size = es[i].plain_size + 220;
      po += es[i].plain_size;
      bo += es[i].block_size;
    }
    std::vector<uint8_t> info(50, 9), mac(32, 8);
    Bytes f = encode_footer(es, po, ByteView{info.data(), info.size()}, ByteView{mac.data(), 32});
    seeds.push_back({4});
    seeds.back().insert(seeds.back().end(), f.begin(), f.end());
    seeds.push_back({3});
    seeds.back().insert(seeds.back().end(), f.begin(), f.begin() + 64);
    auto t = encode_trailer(bo, f.size());
    std::vector<uint8_t> ts{5};
    for (int i = 7; i >= 0; --i) ts.push_back(static_cast<uint8_t>((bo + f.size() + 24) >> (8 * i)));
    ts.insert(ts.end(), t.begin(), t.end());
    seeds.push_back(ts);
  }
  for (const auto& s : seeds) exercise(s[0], s.data() + 1, s.size() - 1);  // valid: must not throw
  for (long it = 0; it < iterations; ++it) {
    std::vector<uint8_t> in;
    if (it % 3 == 0) {  // random bytes
      in.resize(rng() % 700);
      for (auto& c : in) c = static_cast<uint8_t>(rng());
    } else {  // a mutated seed, sometimes cut short or extended
      in = seeds[rng() % seeds.size()];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) in[1 + rng() % (in.size() - 1)] = static_cast<uint8_t>(rng());
      if (rng() % 8 == 0) in.resize(1 + rng() % in.size());
      if (rng() % 16 == 0) in.push_back(static_cast<uint8_t>(rng()));
    }
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  std::printf("%ld inputs ok\n", iterations);
  return 0;
}
#endif
