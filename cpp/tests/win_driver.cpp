// Test driver of the native core without Python, built for Windows with MinGW-w64 and run under
// Wine by tools/check_windows.sh (and tests/test_windows.py), so that the Windows build is
// executed, not only compiled. It checks, against the files named on its command line:
//   *.qltxv   the test vectors (tests/vectors/): the 6.0 and 6.1 framing walked from header to
//             trailer (header, keyring copies, trailer, footer, index pages, every block prefix),
//             each structure re-encoded to the same bytes, the index hash of every block and page
//             recomputed with every SHA-256 kernel (in lanes), totals against `size:`, the uniform
//             6.0 layout against the seek arithmetic, and `perm_key` / `perm_table`; a vector
//             expected to fail as not a container, unsupported or truncated must fail so here.
//   *.txt     the tables of tests/tables/ (format: tests/tables.py) that the Linux tests read too:
//             HTTP requests and Range values, seek arithmetic, SHA-256, the permutation.
// Prints one line per mismatch and a summary; exits 0 when everything matched, 1 on a mismatch,
// 2 on a usage error or an unreadable or malformed input file (or when nothing was checked).
//   win_driver.exe tests/vectors/*.qltxv tests/tables/*.txt
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "format.hpp"
#include "format61.hpp"
#include "http.hpp"
#include "permute.hpp"
#include "range.hpp"
#include "seek.hpp"
#include "sha256.hpp"

namespace {

using qltx::Bytes;
using qltx::ByteView;

// ---- accounting -----------------------------------------------------------------------------

struct Malformed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

size_t g_checks = 0;
size_t g_failures = 0;
std::string g_where;  // the file (and line) being checked

void check(bool ok, const std::string& what) {
  ++g_checks;
  if (ok) return;
  ++g_failures;
  std::printf("FAIL %s: %s\n", g_where.c_str(), what.c_str());
}

// ---- small helpers --------------------------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Malformed("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

Bytes from_hex(const std::string& s) {
  if (s.size() % 2) throw Malformed("odd-length hex: " + s);
  Bytes out;
  for (size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(s.substr(i, 2).c_str(), "%2x", &v) != 1) throw Malformed("bad hex: " + s);
    out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

// The escapes of tests/tables.py: \r \n \t \\ \xHH.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 1 >= s.size()) throw Malformed("dangling escape");
    char e = s[++i];
    if (e == 'r')
      out += '\r';
    else if (e == 'n')
      out += '\n';
    else if (e == 't')
      out += '\t';
    else if (e == '\\')
      out += '\\';
    else if (e == 'x' && i + 2 < s.size()) {
      Bytes b = from_hex(s.substr(i + 1, 2));
      out += static_cast<char>(b[0]);
      i += 2;
    } else {
      throw Malformed(std::string("unknown escape \\") + e);
    }
  }
  return out;
}

uint64_t to_u64(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
    throw Malformed("not a number: " + s);
  uint64_t v = 0;
  for (char c : s) {
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) throw Malformed("number too large: " + s);
    v = v * 10 + d;
  }
  return v;
}

// `fields` space-separated fields after the keyword, then the rest of the line (maybe empty).
std::vector<std::string> split_record(const std::string& line, size_t fields) {
  std::vector<std::string> out;
  size_t pos = line.find(' ');
  if (pos == std::string::npos) throw Malformed("no fields");
  ++pos;
  for (size_t k = 0; k < fields; ++k) {
    size_t sp = line.find(' ', pos);
    if (sp == std::string::npos) {
      if (k + 1 != fields) throw Malformed("too few fields");
      out.push_back(line.substr(pos));
      pos = line.size();
      break;
    }
    out.push_back(line.substr(pos, sp - pos));
    pos = sp + 1;
  }
  out.push_back(pos < line.size() ? line.substr(pos) : std::string());
  return out;
}

ByteView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
ByteView view(const Bytes& b) { return {b.data(), b.size()}; }
ByteView sub(ByteView b, uint64_t at, uint64_t n) {
  if (at > b.size || n > b.size - at) throw qltx::Truncated("a structure runs past the end of the container");
  return {b.data + at, static_cast<size_t>(n)};
}
bool same(ByteView a, const uint8_t* b, size_t n) { return a.size == n && std::memcmp(a.data, b, n) == 0; }

std::vector<std::string> sha256_kernel_names() { return qltx::sha256_kernels(); }

// SHA-256 of every message with every kernel; a kernel that disagrees with the portable one is a
// mismatch. Returns the portable kernel's digests.
std::vector<std::array<uint8_t, 32>> hash_all(const std::vector<ByteView>& msgs) {
  std::vector<std::array<uint8_t, 32>> ref(msgs.size());
  if (msgs.empty()) return ref;
  qltx::sha256_many(msgs.data(), msgs.size(), reinterpret_cast<uint8_t(*)[32]>(ref.data()),
                    qltx::Sha256Kernel::Portable);
  for (const std::string& name : sha256_kernel_names()) {
    std::vector<std::array<uint8_t, 32>> got(msgs.size());
    qltx::sha256_many(msgs.data(), msgs.size(), reinterpret_cast<uint8_t(*)[32]>(got.data()),
                      qltx::sha256_kernel_by_name(name));
    check(got == ref, "sha256 kernel " + name + " disagrees with the portable kernel");
  }
  return ref;
}

// ---- the vectors ----------------------------------------------------------------------------

struct Walked {
  uint16_t version;
  uint64_t num_blocks;
  uint64_t plaintext_size;
  bool hashes_checked;  // false for a 6.1 index hashed with BLAKE3 (not in the native core)
};

void check_blocks(ByteView blob, const std::vector<qltx::Entry>& entries, uint64_t block_size,
                  uint64_t first_block, uint64_t total_blocks, bool hash_blocks) {
  std::vector<ByteView> stored;
  for (size_t j = 0; j < entries.size(); ++j) {
    const qltx::Entry& e = entries[j];
    const uint64_t i = first_block + j;
    ByteView block = sub(blob, e.block_offset, e.block_size);
    qltx::Prefix p = qltx::decode_prefix(block, block_size);
    if (p.index != i) throw qltx::Damaged("block prefix names another index", static_cast<int64_t>(i));
    if (p.final() != (i + 1 == total_blocks))
      throw qltx::Damaged("final flag misplaced", static_cast<int64_t>(i));
    if (p.payload_size != uint64_t{e.plain_size} + qltx::TAG_SIZE)
      throw qltx::Damaged("payload size differs from the index", static_cast<int64_t>(i));
    auto enc = qltx::encode_prefix(p);
    check(same(sub(block, 0, qltx::PREFIX_SIZE), enc.data(), enc.size()),
          "prefix " + std::to_string(i) + " re-encodes to other bytes");
    stored.push_back(block);
  }
  if (!hash_blocks) return;
  std::vector<std::array<uint8_t, 32>> digests = hash_all(stored);
  for (size_t j = 0; j < entries.size(); ++j)
    if (std::memcmp(digests[j].data(), entries[j].hash.data(), 32) != 0)
      throw qltx::Damaged("block does not match its index hash", static_cast<int64_t>(first_block + j));
}

Walked walk60(ByteView blob) {
  qltx::Header h = qltx::decode_header(blob);
  auto enc = qltx::encode_header(h);
  check(same(sub(blob, 0, qltx::HEADER_SIZE), enc.data(), enc.size()),
        "6.0 header re-encodes to other bytes");
  if (blob.size < qltx::HEADER_SIZE + qltx::FOOTER_HEAD_SIZE + qltx::TRAILER_SIZE)
    throw qltx::Truncated("shorter than a header, a footer and a trailer");
  qltx::Trailer t;
  try {
    t = qltx::decode_trailer(blob, blob.size);
  } catch (const qltx::NotAContainer&) {  // a container's header, but no end: as the readers
    throw qltx::Truncated("no trailer at the end");
  }
  if (t.footer_offset < qltx::HEADER_SIZE)
    throw qltx::Damaged("the trailer puts the footer inside the header");
  ByteView footer = sub(blob, t.footer_offset, t.footer_size);
  qltx::Index idx;
  try {
    idx = qltx::decode_footer(footer, h.block_size, t.footer_offset);
  } catch (const qltx::NotAContainer& e) {
    throw qltx::Damaged(e.what());
  }
  std::vector<qltx::Entry> entries;
  for (uint64_t i = 0; i < idx.num_blocks(); ++i) entries.push_back(idx.entry(i));
  ByteView info = sub(footer, footer.size - idx.info_size(), idx.info_size());
  Bytes re = qltx::encode_footer(entries, idx.plaintext_size(), info, {idx.mac().data(), idx.mac().size()});
  check(same(footer, re.data(), re.size()), "6.0 footer re-encodes to other bytes");
  auto tr = qltx::encode_trailer(t.footer_offset, t.footer_size);
  check(same(sub(blob, blob.size - qltx::TRAILER_SIZE, qltx::TRAILER_SIZE), tr.data(), tr.size()),
        "6.0 trailer re-encodes to other bytes");
  if (!h.streamed() && (h.num_blocks != idx.num_blocks() || h.plaintext_size != idx.plaintext_size() ||
                        h.footer_offset != t.footer_offset || h.footer_size != t.footer_size))
    throw qltx::Damaged("header totals differ from the footer's");
  check_blocks(blob, entries, h.block_size, 0, idx.num_blocks(), true);
  // The seek arithmetic of uniform containers, against the layout the writer made.
  const uint64_t n = idx.num_blocks(), size = idx.plaintext_size();
  if (idx.uniform()) {
    check(qltx::block_count(size, h.block_size) == n, "block_count differs from the footer's count");
    check(qltx::container_size(size, h.block_size, idx.info_size()) == blob.size,
          "container_size differs from the file");
    for (uint64_t i = 0; i < n; ++i)
      check(qltx::block_offset(i, h.block_size) == entries[i].block_offset,
            "block_offset of block " + std::to_string(i));
    const uint64_t probes[][2] = {{0, 1},
                                  {0, UINT64_MAX},
                                  {size / 2, 1},
                                  {size ? size - 1 : 0, 2},
                                  {size, 1},
                                  {h.block_size - 1, 2},
                                  {h.block_size, h.block_size},
                                  {UINT64_MAX, UINT64_MAX}};
    for (const auto& pr : probes)
      check(qltx::block_span(pr[0], pr[1], size, h.block_size) == idx.span(pr[0], pr[1]),
            "block_span and Index::span differ at " + std::to_string(pr[0]) + "+" + std::to_string(pr[1]));
  }
  for (uint64_t i = 0; i < n; ++i)
    if (entries[i].plain_size)
      check(idx.locate(entries[i].plain_offset) == i, "Index::locate of block " + std::to_string(i));
  return {qltx::VERSION_6_0, n, size, true};
}

Walked walk61(ByteView blob) {
  qltx::Header61 h = qltx::decode_header61(blob);
  auto enc = qltx::encode_header61(h);
  check(same(sub(blob, 0, qltx::HEADER61_SIZE), enc.data(), enc.size()),
        "6.1 header re-encodes to other bytes");
  const uint64_t start = h.data_offset();
  if (start + qltx::FOOTER_HEAD_SIZE + qltx::TRAILER_SIZE > blob.size)
    throw qltx::Truncated("the keyring alone ends past the end");
  // Keyring copies: readers survive one bad copy (and report it); at least one must decode.
  const uint64_t copy = h.keyring_copy_size();
  int good = 0;
  for (int c = 0; c < 2; ++c) {
    ByteView raw = sub(blob, qltx::HEADER61_SIZE + c * copy, copy);
    try {
      qltx::KeyringCopy k = qltx::decode_keyring_copy(raw, h.keyring_slots);
      ++good;
      Bytes re =
          qltx::encode_keyring_copy(h.keyring_slots, k.generation, k.slots, {k.mac.data(), k.mac.size()});
      check(same(raw, re.data(), re.size()),
            "keyring copy " + std::to_string(c) + " re-encodes to other bytes");
    } catch (const qltx::FormatError&) {
    }
  }
  if (!good) throw qltx::Damaged("keyring: neither copy decodes");
  qltx::Trailer t;
  try {
    t = qltx::decode_trailer61(blob, blob.size);
  } catch (const qltx::NotAContainer&) {
    throw qltx::Truncated("no trailer at the end");
  }
  if (t.footer_offset < start) throw qltx::Damaged("the trailer puts the footer inside the header");
  ByteView footer = sub(blob, t.footer_offset, t.footer_size);
  qltx::TopTable top;
  try {
    top = qltx::decode_footer61(footer, h.page_shift, h.block_size, start, t.footer_offset);
  } catch (const qltx::NotAContainer& e) {
    throw qltx::Damaged(e.what());
  }
  auto tr = qltx::encode_trailer61(t.footer_offset, t.footer_size);
  check(same(sub(blob, blob.size - qltx::TRAILER_SIZE, qltx::TRAILER_SIZE), tr.data(), tr.size()),
        "6.1 trailer re-encodes to other bytes");
  if (!h.streamed() && (h.num_blocks != top.num_blocks() || h.plaintext_size != top.plaintext_size() ||
                        h.footer_offset != t.footer_offset || h.footer_size != t.footer_size))
    throw qltx::Damaged("header totals differ from the footer's");
  const bool sha = h.index_hash == qltx::HASH_SHA256;  // (BLAKE3 is not in the native core)
  std::vector<qltx::TopEntry> tops;
  std::vector<ByteView> pages;
  for (uint64_t k = 0; k < top.num_pages(); ++k) {
    qltx::PageRef ref = top.page(k);
    pages.push_back(sub(blob, ref.ofs_page, ref.len_page));
    tops.push_back({ref.ofs_page, ref.ofs_plaintext, ref.hash});
  }
  ByteView info = sub(footer, footer.size - top.info_size(), top.info_size());
  Bytes re = qltx::encode_footer61(top.num_blocks(), top.plaintext_size(), tops, info,
                                   {top.mac().data(), top.mac().size()});
  check(same(footer, re.data(), re.size()), "6.1 footer re-encodes to other bytes");
  std::vector<std::array<uint8_t, 32>> page_digests;
  if (sha) page_digests = hash_all(pages);
  for (uint64_t k = 0; k < top.num_pages(); ++k) {
    qltx::PageRef ref = top.page(k);
    if (sha && std::memcmp(page_digests[k].data(), ref.hash.data(), 32) != 0)
      throw qltx::Damaged("index page " + std::to_string(k) + " does not match its hash in the footer");
    qltx::Page page = qltx::decode_page(pages[k], ref.first_block, ref.num_entries, h.block_size,
                                        ref.ofs_plaintext, ref.block_offset, ref.last);
    std::vector<qltx::Entry> entries;
    for (uint32_t j = 0; j < page.size(); ++j) entries.push_back(page.entry(j));
    Bytes pre = qltx::encode_page(ref.first_block, entries);
    check(same(pages[k], pre.data(), pre.size()),
          "index page " + std::to_string(k) + " re-encodes to other bytes");
    check_blocks(blob, entries, h.block_size, ref.first_block, top.num_blocks(), sha);
    for (uint32_t j = 0; j < page.size(); ++j)
      if (entries[j].plain_size) {
        check(page.locate(entries[j].plain_offset) == j, "Page::locate in page " + std::to_string(k));
        check(top.locate(entries[j].plain_offset) == k, "TopTable::locate of page " + std::to_string(k));
      }
  }
  return {qltx::VERSION_6_1, top.num_blocks(), top.plaintext_size(), sha};
}

Walked walk(ByteView blob) {
  return qltx::header_version(blob) == qltx::VERSION_6_0 ? walk60(blob) : walk61(blob);
}

// What the walk found ("ok", "not a container", "unsupported version", "truncated",
// "damaged (...)") and, when "ok", the totals.
struct Outcome {
  std::string kind;
  Walked walked{0, 0, 0, false};
};

Outcome outcome_of(ByteView blob) {
  try {
    return {"ok", walk(blob)};
  } catch (const qltx::NotAContainer&) {
    return {"not a container"};
  } catch (const qltx::Unsupported&) {
    return {"unsupported version"};
  } catch (const qltx::Truncated&) {
    return {"truncated"};
  } catch (const qltx::Damaged& e) {
    return {std::string("damaged (") + e.what() + ")"};
  }
}

void run_vector(const std::string& raw) {
  size_t split = raw.find("\n\n");
  if (split == std::string::npos) throw Malformed("no blank line after the vector's header");
  std::map<std::string, std::string> fields;
  std::istringstream head(raw.substr(0, split));
  for (std::string line; std::getline(head, line);) {
    size_t colon = line.find(": ");
    if (colon == std::string::npos) throw Malformed("bad header line: " + line);
    fields[line.substr(0, colon)] = line.substr(colon + 2);
  }
  if (!fields.count("expect")) throw Malformed("no expect:");
  const std::string expect = fields["expect"];
  ByteView blob{reinterpret_cast<const uint8_t*>(raw.data()) + split + 2, raw.size() - split - 2};
  const Outcome outcome = outcome_of(blob);
  const std::string& got = outcome.kind;
  const Walked& w = outcome.walked;
  if (std::getenv("WIN_DRIVER_VERBOSE"))
    std::printf("%s: %s -> %s\n", g_where.c_str(), expect.c_str(), got.c_str());
  if (expect == "success") {
    check(got == "ok", "expected a clean walk, got " + got);
    if (got == "ok" && fields.count("size"))
      check(w.plaintext_size == to_u64(fields["size"]),
            "plaintext size " + std::to_string(w.plaintext_size) + " differs from size: " + fields["size"]);
  } else if (expect == "not a container" || expect == "unsupported version" || expect == "truncated") {
    check(got == expect, "expected " + expect + ", got " + got);
  } else if (expect == "layout failure" && w.hashes_checked) {
    check(got.compare(0, 7, "damaged") == 0, "expected damaged, got " + got);
  } else {
    // Authentication failures (MACs, tags, keys) and limits are for the layers above the framing:
    // the walk may pass or find damage, but never a different kind of failure.
    check(got == "ok" || got.compare(0, 7, "damaged") == 0, "expected ok or damaged, got " + got);
  }
  if (fields.count("perm_key")) {
    Bytes key = from_hex(fields["perm_key"]);
    auto table = qltx::permutation_table(key.data(), key.size());
    check(to_hex(table.data(), table.size()) == fields["perm_table"],
          "permutation_table(perm_key) != perm_table");
  }
}

// ---- the tables -----------------------------------------------------------------------------

void request_record(const std::vector<std::string>& f) {
  // method target version keep|close bytes
  const std::string data = unescape(f[4]);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  qltx::http::ParseResult r = qltx::http::parse_request(p, data.size());
  check(r.kind == qltx::http::Parse::Ok, "not parsed as a request");
  if (r.kind != qltx::http::Parse::Ok) return;
  const qltx::http::Request& q = r.request;
  check(q.method == f[0], "method " + q.method);
  check(q.target == unescape(f[1]), "target " + q.target);
  check(q.version == static_cast<int>(to_u64(f[2])), "version " + std::to_string(q.version));
  check(q.keep_alive == (f[3] == "keep"), "keep-alive");
  check(q.consumed == data.size(), "consumed " + std::to_string(q.consumed));
  for (size_t k = 0; k < data.size(); ++k)
    check(qltx::http::parse_request(p, k).kind == qltx::http::Parse::NeedMore,
          "prefix of " + std::to_string(k) + " bytes does not need more");
  const std::string more = data + "GET / HTTP/1.1\r\n";
  qltx::http::ParseResult t =
      qltx::http::parse_request(reinterpret_cast<const uint8_t*>(more.data()), more.size());
  check(t.kind == qltx::http::Parse::Ok && t.request.consumed == data.size(),
        "trailing bytes change the result");
}

void reject_record(const std::vector<std::string>& f) {
  const int status = static_cast<int>(to_u64(f[0]));
  const std::string data = unescape(f[1]);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  qltx::http::ParseResult r = qltx::http::parse_request(p, data.size());
  check(r.kind == qltx::http::Parse::Error && r.error.status == status,
        "expected error " + f[0] + ", got " +
            (r.kind == qltx::http::Parse::Error ? std::to_string(r.error.status) : std::string("no error")));
  for (size_t k = 0; k < data.size(); ++k) {
    qltx::http::ParseResult q = qltx::http::parse_request(p, k);
    check(q.kind == qltx::http::Parse::NeedMore ||
              (q.kind == qltx::http::Parse::Error && q.error.status == status),
          "prefix of " + std::to_string(k) + " bytes gives another answer");
  }
}

void range_record(const std::vector<std::string>& f) {
  // size kind ranges value
  qltx::http::RangeResult r = qltx::http::parse_range(unescape(f[3]), to_u64(f[0]));
  const char* kinds[] = {"ignore", "unsatisfiable", "ranges"};
  std::string kind = kinds[static_cast<int>(r.kind)];
  std::string got;
  for (const auto& br : r.ranges)
    got += (got.empty() ? "" : ",") + std::to_string(br.first) + "-" + std::to_string(br.last);
  if (got.empty()) got = "-";
  check(kind == f[1] && got == f[2], "expected " + f[1] + " " + f[2] + ", got " + kind + " " + got);
}

std::vector<uint64_t> numbers(const std::string& s) {
  std::vector<uint64_t> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(to_u64(w));
  return out;
}

void seek_record(const std::string& kw, const std::string& rest) {
  if (kw == "misuse") {
    size_t sp = rest.find(' ');
    const std::string fn = rest.substr(0, sp);
    std::vector<uint64_t> a = numbers(rest.substr(sp + 1));
    bool threw = false;
    try {
      if (fn == "count" && a.size() == 2)
        qltx::block_count(a[0], a[1]);
      else if (fn == "size" && a.size() == 3)
        qltx::container_size(a[0], a[1], a[2]);
      else if (fn == "offset" && a.size() == 2)
        qltx::block_offset(a[0], a[1]);
      else if (fn == "span" && a.size() == 4)
        qltx::block_span(a[0], a[1], a[2], a[3]);
      else
        throw Malformed("bad misuse record");
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    check(threw, "misuse " + rest + " was accepted");
    return;
  }
  std::vector<uint64_t> a = numbers(rest);
  if (kw == "count" && a.size() == 3) {
    check(qltx::block_count(a[0], a[1]) == a[2], "block_count " + rest);
  } else if (kw == "size" && a.size() == 4) {
    check(qltx::container_size(a[0], a[1], a[2]) == a[3], "container_size " + rest);
  } else if (kw == "offset" && a.size() == 3) {
    check(qltx::block_offset(a[0], a[1]) == a[2], "block_offset " + rest);
  } else if (kw == "span" && a.size() == 6) {
    check(qltx::block_span(a[0], a[1], a[2], a[3]) == std::make_pair(a[4], a[5]), "block_span " + rest);
  } else {
    throw Malformed("bad seek record");
  }
}

// sha256 records are gathered and hashed together at the end of the file (lanes of mixed lengths).
struct ShaCase {
  std::string where;
  std::string message;
  std::string digest;
};

void sha256_file(const std::vector<ShaCase>& cases) {
  std::vector<ByteView> msgs;
  for (const ShaCase& c : cases) msgs.push_back(view(c.message));
  std::vector<std::array<uint8_t, 32>> together = hash_all(msgs);
  for (size_t i = 0; i < cases.size(); ++i) {
    g_where = cases[i].where;
    check(to_hex(together[i].data(), 32) == cases[i].digest,
          "SHA-256 in lanes: " + to_hex(together[i].data(), 32));
    std::vector<std::array<uint8_t, 32>> alone = hash_all({msgs[i]});
    check(to_hex(alone[0].data(), 32) == cases[i].digest, "SHA-256 alone: " + to_hex(alone[0].data(), 32));
  }
}

void permute_record(const std::string& kw, const std::vector<std::string>& f) {
  Bytes key = from_hex(f[0]);
  if (kw == "table") {
    auto t = qltx::permutation_table(key.data(), key.size());
    check(to_hex(t.data(), t.size()) == f[1], "permutation table");
    return;
  }
  const Bytes data = from_hex(f[2]);
  for (const std::string& name : qltx::permute_kernels()) {
    Bytes buf = data;
    qltx::permute(buf.data(), buf.size(), key.data(), key.size(), qltx::permute_kernel_by_name(name));
    std::array<uint8_t, 32> d{};
    ByteView v = view(buf);
    qltx::sha256_many(&v, 1, reinterpret_cast<uint8_t(*)[32]>(d.data()), qltx::Sha256Kernel::Portable);
    check(to_hex(d.data(), 32) == f[1], "permute with kernel " + name);
    qltx::unpermute(buf.data(), buf.size(), key.data(), key.size(), qltx::permute_kernel_by_name(name));
    check(buf == data, "unpermute with kernel " + name + " does not give the block back");
  }
}

void run_table(const std::string& path, const std::string& text) {
  std::istringstream in(text);
  std::vector<ShaCase> sha;
  size_t lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    g_where = path + ":" + std::to_string(lineno);
    const std::string kw = line.substr(0, line.find(' '));
    const std::string rest = line.size() > kw.size() ? line.substr(kw.size() + 1) : std::string();
    if (kw == "request")
      request_record(split_record(line, 4));
    else if (kw == "reject")
      reject_record(split_record(line, 1));
    else if (kw == "range")
      range_record(split_record(line, 3));
    else if (kw == "count" || kw == "size" || kw == "offset" || kw == "span" || kw == "misuse")
      seek_record(kw, rest);
    else if (kw == "table")
      permute_record(kw, split_record(line, 1));
    else if (kw == "permute")
      permute_record(kw, split_record(line, 2));
    else if (kw == "sha256") {
      std::vector<std::string> f = split_record(line, 2);
      const std::string unit = unescape(f[2]);
      std::string msg;
      for (uint64_t k = to_u64(f[1]); k > 0; --k) msg += unit;
      sha.push_back({g_where, msg, f[0]});
    } else
      throw Malformed("unknown record " + kw);
  }
  if (!sha.empty()) sha256_file(sha);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: win_driver FILE.qltxv|FILE.txt...\n");
    return 2;
  }
  size_t vectors = 0, tables = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string path = argv[i];
    g_where = path;
    const size_t before = g_checks;
    try {
      const std::string text = read_file(path);
      if (ends_with(path, ".qltxv")) {
        run_vector(text);
        ++vectors;
      } else if (ends_with(path, ".txt")) {
        run_table(path, text);
        ++tables;
      } else {
        throw Malformed("neither a .qltxv vector nor a .txt table");
      }
    } catch (const Malformed& e) {
      std::fprintf(stderr, "win_driver: %s: %s\n", g_where.c_str(), e.what());
      return 2;
    } catch (const std::exception& e) {  // an unexpected exception is a mismatch
      check(false, std::string("unexpected exception: ") + e.what());
    }
    if (g_checks == before) {
      std::fprintf(stderr, "win_driver: %s: nothing to check\n", path.c_str());
      return 2;
    }
  }
  std::string kernels;
  for (const std::string& k : qltx::sha256_kernels()) kernels += " " + k;
  kernels += "; permutation:";
  for (const std::string& k : qltx::permute_kernels()) kernels += " " + k;
  std::printf("win_driver: %zu vectors, %zu tables, %zu checks, %zu failed (sha256:%s)\n", vectors, tables,
              g_checks, g_failures, kernels.c_str());
  return g_failures ? 1 : 0;
}
