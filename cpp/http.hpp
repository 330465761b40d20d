// Sans-IO HTTP/1.1 (and 1.0) request parsing and response-head building: pure functions over
// bytes, no sockets (as h11 and cpp-httplib's process_request). The servers are loops around them.
//
//   ParseResult r = parse_request(buf, n, limits);
//   NeedMore: read more bytes and call again with the whole buffer.
//   Ok:       r.request, which used r.request.consumed bytes (head and any Content-Length body).
//   Error:    answer r.error.status and close the connection.
//
// Limits follow nginx's defaults (large_client_header_buffers 4 8k): a request line above 8 KiB
// is 414, a header line above 8 KiB or a header section above 32 KiB is 400 (nginx's "Request
// Header Or Cookie Too Large"). No size read from the input is trusted: Content-Length is parsed
// with saturation and compared with max_body before any buffering.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qltx {
namespace http {

struct Limits {
  size_t max_request_line = 8192;   // bytes, without CRLF; above: 414
  size_t max_header_line = 8192;    // one field line, without CRLF; above: 400
  size_t max_header_bytes = 32768;  // the whole field section; above: 400
  uint64_t max_body = 65536;        // a Content-Length body is read and discarded; above: 413
};

struct Header {
  std::string name;  // lower case
  std::string value;  // without leading/trailing whitespace
};

struct Request {
  std::string method;
  std::string target;
  int version = 11;  // 10 or 11 (HTTP/1.x with x > 1 is treated as 1.1)
  std::vector<Header> headers;
  size_t consumed = 0;       // bytes of the input this request used, body included
  uint64_t body_length = 0;  // the Content-Length body (already inside consumed)
  bool keep_alive = true;    // from the version and the Connection header

  // The first field named ``lname`` (lower case), or nullptr.
  const std::string* get(const std::string& lname) const;
  size_t count(const std::string& lname) const;
};

struct Error {
  int status = 400;
  std::string reason;  // for the log and the error page
};

enum class Parse { NeedMore, Ok, Error };

struct ParseResult {
  Parse kind = Parse::NeedMore;
  Request request;  // when Ok
  Error error;      // when Error
};

ParseResult parse_request(const uint8_t* data, size_t n, const Limits& limits = Limits());

// "Partial Content" for 206 and so on; "Unknown" for codes this server never sends.
const char* reason_phrase(int status);

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") of a Unix time (seconds), and back. The parser
// also takes the obsolete RFC 850 and asctime forms (RFC 9110 §5.6.7); -1 when invalid.
std::string format_date(int64_t unix_seconds);
int64_t parse_date(const std::string& s);

using Fields = std::vector<std::pair<std::string, std::string>>;

// "HTTP/1.1 <status> <reason>\r\n" + "Name: value\r\n"... + "\r\n". Names and values must not
// hold CR or LF (std::invalid_argument otherwise): a response head can never be split.
std::string build_head(int status, const Fields& fields);

// Lower-case ASCII copy; case-insensitive comparison; comma-separated list members (trimmed,
// empty members skipped).
std::string lower(const std::string& s);
bool iequals(const std::string& a, const std::string& b);
std::vector<std::string> split_list(const std::string& s);

}  // namespace http
}  // namespace qltx
