// HTTP/1.x request parser and response-head builders. See http.hpp.
#include "http.hpp"

#include <cstring>
#include <stdexcept>
#include <utility>

namespace qltx {
namespace http {

namespace {

bool is_tchar(uint8_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

// field-value characters: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5)
bool is_value_char(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool is_target_char(uint8_t c) { return c > 0x20 && c != 0x7f; }

// Position of the next LF at or after ``from``, or n.
size_t find_lf(const uint8_t* d, size_t from, size_t n) {
  const void* p = from < n ? std::memchr(d + from, '\n', n - from) : nullptr;
  return p ? static_cast<size_t>(static_cast<const uint8_t*>(p) - d) : n;
}

// A line [start, lf) without its CR; a CR anywhere else in it is an error (bare CR).
bool line_end(const uint8_t* d, size_t start, size_t lf, size_t* end) {
  size_t e = lf;
  if (e > start && d[e - 1] == '\r') --e;
  for (size_t i = start; i < e; ++i)
    if (d[i] == '\r') return false;
  *end = e;
  return true;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return s.substr(a, b - a);
}

const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* kLongDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : n[m - 1];
}

// A tiny cursor over a date string.
struct Cursor {
  const std::string& s;
  size_t i = 0;
  bool lit(const char* t) {
    size_t n = std::strlen(t);
    if (s.compare(i, n, t) != 0) return false;
    i += n;
    return true;
  }
  bool digits(size_t min, size_t max, unsigned* out) {
    unsigned v = 0;
    size_t k = 0;
    while (k < max && i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
      ++k;
    }
    *out = v;
    return k >= min;
  }
  int month() {
    for (int k = 0; k < 12; ++k)
      if (lit(kMonths[k])) return k + 1;
    return 0;
  }
  bool time(unsigned* h, unsigned* mi, unsigned* se) {
    return digits(2, 2, h) && lit(":") && digits(2, 2, mi) && lit(":") && digits(2, 2, se);
  }
};

}  // namespace

// ---- helpers ------------------------------------------------------------------------------------

std::string lower(const std::string& s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && lower(a) == lower(b);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    std::string m = trim(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!m.empty()) out.push_back(m);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

const std::string* Request::get(const std::string& lname) const {
  for (const Header& h : headers)
    if (h.name == lname) return &h.value;
  return nullptr;
}

size_t Request::count(const std::string& lname) const {
  size_t n = 0;
  for (const Header& h : headers)
    if (h.name == lname) ++n;
  return n;
}

// ---- the parser ---------------------------------------------------------------------------------
// Each step either completes (Ok, with its position moved past what it read), asks for more
// bytes (NeedMore), or fails (Error, with the status and reason set).

namespace {

Parse failed(Error* err, int status, const char* reason) {
  err->status = status;
  err->reason = reason;
  return Parse::Error;
}

// method SP request-target SP HTTP-version CRLF (RFC 9112 §3).
Parse request_line(const uint8_t* d, size_t n, size_t* pos, const Limits& limits, Request& req, Error* err) {
  const size_t start = *pos;
  const size_t lf = find_lf(d, start, n);
  if (lf == n) {
    if (n - start > limits.max_request_line + 1) return failed(err, 414, "request line too long");
    return Parse::NeedMore;
  }
  size_t le;
  if (!line_end(d, start, lf, &le)) return failed(err, 400, "bare CR in the request line");
  if (le - start > limits.max_request_line) return failed(err, 414, "request line too long");

  size_t i = start;
  while (i < le && is_tchar(d[i])) ++i;
  if (i == start || i >= le || d[i] != ' ') return failed(err, 400, "bad method");
  req.method.assign(reinterpret_cast<const char*>(d + start), i - start);
  const size_t t0 = ++i;
  while (i < le && is_target_char(d[i])) ++i;
  if (i == t0) return failed(err, 400, "bad request target");
  req.target.assign(reinterpret_cast<const char*>(d + t0), i - t0);
  if (i == le) return failed(err, 400, "HTTP/0.9 requests are not supported");
  if (d[i] != ' ') return failed(err, 400, "bad request target");
  ++i;
  // "HTTP/" DIGIT "." DIGIT, exactly
  if (le - i != 8 || std::memcmp(d + i, "HTTP/", 5) != 0 || d[i + 6] != '.' ||
      d[i + 5] < '0' || d[i + 5] > '9' || d[i + 7] < '0' || d[i + 7] > '9')
    return failed(err, 400, "bad HTTP version");
  const int major = d[i + 5] - '0', minor = d[i + 7] - '0';
  if (major == 0) return failed(err, 400, "bad HTTP version");
  if (major > 1) return failed(err, 505, "HTTP version not supported");
  req.version = minor == 0 ? 10 : 11;
  *pos = lf + 1;
  return Parse::Ok;
}

// One field line [pos, le) without its CRLF: name ":" OWS value OWS (RFC 9112 §5).
Parse field_line(const uint8_t* d, size_t pos, size_t le, Request& req, Error* err) {
  if (d[pos] == ' ' || d[pos] == '\t') return failed(err, 400, "obsolete line folding");
  size_t c = pos;
  while (c < le && is_tchar(d[c])) ++c;
  if (c == pos || c >= le || d[c] != ':') return failed(err, 400, "bad header line");
  Header h;
  h.name = lower(std::string(reinterpret_cast<const char*>(d + pos), c - pos));
  for (size_t k = c + 1; k < le; ++k)
    if (!is_value_char(d[k])) return failed(err, 400, "bad character in a header value");
  h.value = trim(std::string(reinterpret_cast<const char*>(d + c + 1), le - c - 1));
  req.headers.push_back(std::move(h));
  return Parse::Ok;
}

// The field lines up to and including the empty line that ends the head.
Parse field_section(const uint8_t* d, size_t n, size_t* pos, const Limits& limits, Request& req, Error* err) {
  const size_t fields_start = *pos;
  size_t p = *pos;
  for (;;) {
    const size_t lf = find_lf(d, p, n);
    if (lf == n) {
      if (n - p > limits.max_header_line + 1 || n - fields_start > limits.max_header_bytes)
        return failed(err, 400, "request header too large");
      return Parse::NeedMore;
    }
    size_t le;
    if (!line_end(d, p, lf, &le)) return failed(err, 400, "bare CR in a header line");
    if (le - p > limits.max_header_line) return failed(err, 400, "request header too large");
    if (lf + 1 - fields_start > limits.max_header_bytes) return failed(err, 400, "request header too large");
    if (le == p) {  // the empty line: end of the head
      *pos = lf + 1;
      return Parse::Ok;
    }
    const Parse f = field_line(d, p, le, req, err);
    if (f != Parse::Ok) return f;
    p = lf + 1;
  }
}

// Host (RFC 9112 §3.2) and the message body's length (§6): Content-Length values parsed with
// saturation, all equal; Transfer-Encoding refused; above max_body 413.
Parse framing(const Request& req, const Limits& limits, uint64_t* body_length, Error* err) {
  const size_t hosts = req.count("host");
  if (req.version == 11 && hosts == 0) return failed(err, 400, "missing Host header");
  if (hosts > 1) return failed(err, 400, "more than one Host header");

  bool has_cl = false;
  uint64_t cl = 0;
  for (const Header& h : req.headers) {
    if (h.name != "content-length") continue;
    const std::vector<std::string> members = split_list(h.value);
    if (members.empty()) return failed(err, 400, "bad Content-Length");
    for (const std::string& m : members) {
      uint64_t v = 0;
      for (char ch : m) {
        if (ch < '0' || ch > '9') return failed(err, 400, "bad Content-Length");
        const uint64_t digit = static_cast<uint64_t>(ch - '0');
        v = v > (UINT64_MAX - digit) / 10 ? UINT64_MAX : v * 10 + digit;  // saturate
      }
      if (has_cl && v != cl) return failed(err, 400, "conflicting Content-Length");
      has_cl = true;
      cl = v;
    }
  }
  if (req.get("transfer-encoding")) {
    if (has_cl) return failed(err, 400, "both Content-Length and Transfer-Encoding");
    if (req.version == 10) return failed(err, 400, "Transfer-Encoding in an HTTP/1.0 request");
    // A GET or HEAD has no use for a body: chunked request bodies are refused, not decoded.
    return failed(err, 501, "request bodies with Transfer-Encoding are not supported");
  }
  if (cl > limits.max_body) return failed(err, 413, "request body too large");
  *body_length = cl;
  return Parse::Ok;
}

// Persistence (RFC 9112 §9.3): HTTP/1.1 by default, "close" wins over "keep-alive".
bool keep_alive(const Request& req) {
  bool keep = req.version == 11;
  for (const Header& h : req.headers) {
    if (h.name != "connection") continue;
    for (const std::string& tok : split_list(h.value)) {
      if (iequals(tok, "close")) return false;
      if (iequals(tok, "keep-alive")) keep = true;
    }
  }
  return keep;
}

}  // namespace

ParseResult parse_request(const uint8_t* d, size_t n, const Limits& limits) {
  // Empty lines before the request line are ignored (RFC 9112 §2.2), as nginx does.
  size_t pos = 0;
  while (pos < n && (d[pos] == '\r' || d[pos] == '\n')) ++pos;
  if (pos >= n) return ParseResult{};

  ParseResult r;
  Request& req = r.request;
  uint64_t body = 0;
  Parse p = request_line(d, n, &pos, limits, req, &r.error);
  if (p == Parse::Ok) p = field_section(d, n, &pos, limits, req, &r.error);
  if (p == Parse::Ok) p = framing(req, limits, &body, &r.error);
  if (p == Parse::Ok && body > n - pos) p = Parse::NeedMore;  // wait for the whole (small) body, then discard it
  if (p != Parse::Ok) {
    ParseResult out;
    out.kind = p;
    if (p == Parse::Error) out.error = std::move(r.error);
    return out;
  }
  req.body_length = body;
  req.consumed = pos + static_cast<size_t>(body);
  req.keep_alive = keep_alive(req);
  r.kind = Parse::Ok;
  return r;
}

// ---- response heads -----------------------------------------------------------------------------

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string build_head(int status, const Fields& fields) {
  if (status < 100 || status > 999) throw std::invalid_argument("status must be 100..999");
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  for (const auto& f : fields) {
    if (f.first.empty() || f.first.find_first_of("\r\n: ") != std::string::npos ||
        f.second.find_first_of("\r\n") != std::string::npos || f.second.find('\0') != std::string::npos)
      throw std::invalid_argument("header field " + f.first + " holds a forbidden character");
    h += f.first;
    h += ": ";
    h += f.second;
    h += "\r\n";
  }
  h += "\r\n";
  return h;
}

// ---- dates ----------------------------------------------------------------------------------------

std::string format_date(int64_t t) {
  int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
  int64_t secs = t - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  const int64_t wd = ((days % 7) + 11) % 7;  // 1970-01-01 was a Thursday
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02d:%02d:%02d GMT", kDays[wd], d, kMonths[m - 1],
                static_cast<long long>(y), static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60));
  return buf;
}

int64_t parse_date(const std::string& s) {
  Cursor c{s};
  unsigned day = 0, year = 0, h = 0, mi = 0, se = 0;
  int mon = 0;
  int wd = -1;
  for (int k = 0; k < 7 && wd < 0; ++k)
    if (c.lit(kLongDays[k])) wd = k;
  if (wd >= 0) {  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    if (!(c.lit(", ") && c.digits(2, 2, &day) && c.lit("-") && (mon = c.month()) && c.lit("-") &&
          c.digits(2, 2, &year) && c.lit(" ") && c.time(&h, &mi, &se) && c.lit(" GMT")))
      return -1;
    year += year < 70 ? 2000 : 1900;  // the RFC 9110 §5.6.7 50-year rule, as most servers apply it
  } else {
    for (int k = 0; k < 7 && wd < 0; ++k)
      if (c.lit(kDays[k])) wd = k;
    if (wd < 0) return -1;
    if (c.lit(", ")) {  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
      if (!(c.digits(2, 2, &day) && c.lit(" ") && (mon = c.month()) && c.lit(" ") &&
            c.digits(4, 4, &year) && c.lit(" ") && c.time(&h, &mi, &se) && c.lit(" GMT")))
        return -1;
    } else if (c.lit(" ")) {  // asctime: Sun Nov  6 08:49:37 1994
      if (!((mon = c.month()) && c.lit(" ")))
        return -1;
      if (!c.lit(" ") && !c.digits(2, 2, &day)) return -1;
      if (day == 0 && !c.digits(1, 1, &day)) return -1;
      if (!(c.lit(" ") && c.time(&h, &mi, &se) && c.lit(" ") && c.digits(4, 4, &year))) return -1;
    } else {
      return -1;
    }
  }
  if (c.i != s.size()) return -1;
  if (mon < 1 || day < 1 || day > days_in_month(year, static_cast<unsigned>(mon)) || h > 23 ||
      mi > 59 || se > 60)
    return -1;
  return days_from_civil(year, static_cast<unsigned>(mon), day) * 86400 + h * 3600 + mi * 60 +
         (se == 60 ? 59 : se);
}

}  // namespace http
}  // namespace qltx
