// Byte ranges (RFC 9110 §14) with nginx 1.22's semantics, preconditions (§13.2.2) and the plan
// of a GET/HEAD response: pure functions, no sockets.
//
// parse_range follows ngx_http_range_parse exactly (spaces around numbers and '-' allowed, a
// unit other than "bytes=" or a value shorter than 7 bytes ignored, a lexical error → 416,
// inverted or unsatisfiable members dropped and 416 when none remain, Σlen > size → ignore), with
// these deliberate differences, each allowed by RFC 9110:
//   - numbers of any length never overflow: they saturate, so a huge last-pos or suffix is
//     clamped (§14.1.1: "arbitrarily large" values; nginx answers 416);
//   - empty list elements are accepted ("0-9,,20-29", §5.6.1 #rule; nginx answers 416);
//   - amplification limits (§14.2, "more than two overlapping ranges or many small ranges"):
//     more than max_ranges members or more than max_overlaps members that overlap an earlier one
//     → ignore Range (200), as Apache and nginx's max_ranges do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "http.hpp"

namespace qltx {
namespace http {

struct ByteRange {
  uint64_t first;  // inclusive
  uint64_t last;   // inclusive
};

enum class RangeKind { Ignore, Unsatisfiable, Ranges };

struct RangeLimits {
  size_t max_ranges = 16;   // 0: no limit
  size_t max_overlaps = 2;  // members overlapping an earlier member
};

struct RangeResult {
  RangeKind kind = RangeKind::Ignore;
  std::vector<ByteRange> ranges;  // in request order, when kind == Ranges
};

RangeResult parse_range(const std::string& value, uint64_t size, const RangeLimits& limits = RangeLimits());

// What is served, with its validators.
struct Resource {
  uint64_t size = 0;
  std::string etag;           // a strong entity tag with its quotes: "\"abc\""
  int64_t last_modified = -1;  // Unix seconds, -1 when unknown
  std::string content_type = "application/octet-stream";
};

// The answer to a GET or HEAD of a resource: status, representation header fields (the server
// adds Date, Server, Connection), and the ranges to send in order. For a 200 the one range is the
// whole resource (none when it is empty).
struct Plan {
  int status = 200;  // 200, 206, 304, 412 or 416
  Fields fields;
  std::vector<ByteRange> ranges;
  bool multipart = false;
  std::string boundary;
  uint64_t content_length = 0;  // of the GET body (HEAD sends the same fields and no body)
  bool send_body = true;        // false for HEAD and 304
  std::string static_body;      // the body of a 412 or 416 (no ranges then)
};

// Precedence of RFC 9110 §13.2.2: If-Match (412), else If-Unmodified-Since (412); If-None-Match
// (304), else If-Modified-Since (304); then If-Range and Range, for GET only (§14.2: a HEAD
// ignores Range and gets the 200 head). ``boundary`` is used when several ranges are served.
Plan plan_response(const std::string& method, const std::vector<Header>& headers, const Resource& res,
                   const std::string& boundary, const RangeLimits& limits = RangeLimits());

// multipart/byteranges framing, laid out as nginx does: each part is
// "\r\n--B\r\nContent-Type: T\r\nContent-Range: bytes F-L/N\r\n\r\n" + bytes, and the body ends
// with "\r\n--B--\r\n".
std::string multipart_part_header(const std::string& boundary, const std::string& content_type,
                                  const ByteRange& r, uint64_t size);
std::string multipart_close(const std::string& boundary);

// Entity-tag comparison (RFC 9110 §8.8.3.2) against a member of If-Match / If-None-Match.
bool etag_matches(const std::string& ours, const std::string& theirs, bool weak);

}  // namespace http
}  // namespace qltx
