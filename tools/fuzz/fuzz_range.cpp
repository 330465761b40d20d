// Fuzz target of the Range parser and the response planner (cpp/range.cpp). Input: 8 bytes of
// resource size (hostile: up to 2^64-1), 1 byte of limits, 1 byte of flags (method, validators),
// then header lines "name: value\n" (the first is the Range value itself when it has no colon).
// Invariants: every range lies inside the resource with first <= last; no more ranges than the
// limit; a 206 plan's Content-Length equals what would be sent (multipart framing included);
// a 200 plan covers the whole resource; the planner never throws but std::overflow_error (a
// multipart length beyond 2^64).
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "range.hpp"

using qltx_fuzz::check;
namespace http = qltx::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qltx_fuzz::Reader in{data, size};
  uint64_t res_size = in.u64();
  const uint8_t lim_byte = in.u8(), flags = in.u8();
  if (flags & 1) res_size &= 0xffff;  // small resources too, so most ranges are satisfiable
  http::RangeLimits lim;
  lim.max_ranges = lim_byte & 15 ? (lim_byte & 15) * 4 : 0;  // 0: no limit
  lim.max_overlaps = lim_byte >> 4;
  const std::string rest(reinterpret_cast<const char*>(in.d), in.n);
  if (rest.size() > 4096 && lim.max_ranges == 0) return 0;  // the overlap count is quadratic

  // The Range parser alone, on the whole rest.
  const http::RangeResult rr = http::parse_range(rest, res_size, lim);
  if (rr.kind == http::RangeKind::Ranges) {
    check(!rr.ranges.empty(), "ranges present");
    check(lim.max_ranges == 0 || rr.ranges.size() <= lim.max_ranges, "range count limit");
    uint64_t sum = 0;
    for (const http::ByteRange& r : rr.ranges) {
      check(r.first <= r.last && r.last < res_size, "range inside the resource");
      sum += r.last - r.first + 1;
      check(sum <= res_size, "ranges sum to at most the size");
    }
  } else {
    check(rr.ranges.empty(), "no ranges unless Ranges");
  }

  // The planner, over header lines.
  std::vector<http::Header> headers;
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t nl = rest.find('\n', pos);
    if (nl == std::string::npos) nl = rest.size();
    const std::string line = rest.substr(pos, nl - pos);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) headers.push_back({"range", line});
    else headers.push_back({http::lower(line.substr(0, colon)), line.substr(colon + 1)});
    pos = nl + 1;
  }
  http::Resource res;
  res.size = res_size;
  if (flags & 2) res.etag = "\"e1\"";
  if (flags & 4) res.last_modified = 784111777;
  const std::string method = flags & 8 ? "HEAD" : "GET";
  http::Plan p;
  try {
    p = http::plan_response(method, headers, res, "BOUNDARY", lim);
  } catch (const std::overflow_error&) {
    return 0;
  }
  check(p.status == 200 || p.status == 206 || p.status == 304 || p.status == 412 || p.status == 416,
        "status");
  if (p.status == 206) {
    check(method == "GET" && !p.ranges.empty(), "206 for GET with ranges");
    uint64_t total = 0;
    for (const http::ByteRange& r : p.ranges) {
      check(r.first <= r.last && r.last < res_size, "planned range inside");
      total += r.last - r.first + 1;
      if (p.multipart) total += http::multipart_part_header(p.boundary, res.content_type, r, res_size).size();
    }
    if (p.multipart) total += http::multipart_close(p.boundary).size();
    check(total == p.content_length, "Content-Length matches the body");
  } else if (p.status == 200) {
    check(p.content_length == res_size, "200 covers the resource");
    check(p.ranges.size() == (res_size ? 1u : 0u), "200 range");
  } else if (p.status == 412 || p.status == 416) {
    check(p.ranges.empty() && p.content_length == p.static_body.size(), "error body");
  }
  try {
    http::build_head(p.status, p.fields);
  } catch (const std::invalid_argument&) {
    check(false, "a plan's fields split the head");
  }
  return 0;
}
