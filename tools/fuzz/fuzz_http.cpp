// Fuzz target of the sans-IO HTTP request parser (cpp/http.cpp). Byte 0 picks the limits (the
// defaults, or small ones so the limit paths are reached) and where to split the input; the rest
// is the request. Invariants (h11's "whole, in pieces, with trailing bytes"):
//   - a request accepted whole is NeedMore at every shorter prefix, and accepted again, with the
//     same consumed count, when more bytes follow it;
//   - what is accepted holds no CR or LF in names or values (build_head never throws on it),
//     lower-case names, version 10 or 11, consumed within the input;
//   - parse_date and format_date round-trip on every header value that parses as a date.
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "http.hpp"

using qltx_fuzz::check;
namespace http = qltx::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t sel = data[0];
  const uint8_t* d = data + 1;
  const size_t n = size - 1;
  http::Limits lim;
  if (sel & 1) {
    lim.max_request_line = 64;
    lim.max_header_line = 48;
    lim.max_header_bytes = 160;
    lim.max_body = 16;
  }
  const http::ParseResult r = http::parse_request(d, n, lim);
  if (r.kind == http::Parse::Error) {
    check(r.error.status >= 400 && r.error.status < 600, "error status");
    check(std::strcmp(http::reason_phrase(r.error.status), "Unknown") != 0, "known reason");
    return 0;
  }
  if (r.kind == http::Parse::NeedMore) return 0;
  const http::Request& q = r.request;
  check(q.consumed > 0 && q.consumed <= n, "consumed within the input");
  check(q.body_length <= lim.max_body, "body within the limit");
  check(q.version == 10 || q.version == 11, "version");
  check(!q.method.empty() && !q.target.empty(), "method and target");
  http::Fields fields;
  for (const http::Header& h : q.headers) {
    check(h.name == http::lower(h.name), "lower-case name");
    fields.push_back({h.name, h.value});
    const int64_t t = http::parse_date(h.value);
    if (t >= 0) check(http::parse_date(http::format_date(t)) == t, "date round trip");
    for (const std::string& m : http::split_list(h.value)) check(!m.empty(), "list member");
  }
  try {
    const std::string head = http::build_head(200, fields);
    check(head.size() > 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0, "head ends");
  } catch (const std::invalid_argument&) {
    check(false, "an accepted request makes a head that splits");
  }
  // Prefixes: NeedMore (a few split points chosen by the selector, and the one-short prefix).
  for (size_t k : {q.consumed - 1, (q.consumed * (sel >> 4)) / 16, (q.consumed * (sel & 14)) / 16}) {
    if (k >= q.consumed) continue;
    const http::ParseResult p = http::parse_request(d, k, lim);
    check(p.kind == http::Parse::NeedMore, "a prefix of an accepted request needs more");
  }
  // Exactly the request, then with the rest of the input after it: the same request.
  const http::ParseResult a = http::parse_request(d, q.consumed, lim);
  check(a.kind == http::Parse::Ok && a.request.consumed == q.consumed, "the request alone");
  std::vector<uint8_t> more(d, d + n);
  more.insert(more.end(), {'G', 'E', 'T', ' '});
  const http::ParseResult b = http::parse_request(more.data(), more.size(), lim);
  check(b.kind == http::Parse::Ok && b.request.consumed == q.consumed &&
            b.request.headers.size() == q.headers.size() && b.request.target == q.target,
        "trailing bytes change nothing");
  return 0;
}
