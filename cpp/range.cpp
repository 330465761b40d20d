// Range parsing, preconditions and response plans. See range.hpp.
#include "range.hpp"

#include <stdexcept>
#include <utility>

namespace qltx {
namespace http {

namespace {

const uint64_t kMaxNumber = 0x7fffffffffffffffULL;  // numbers saturate here: no overflow, ever

uint64_t checked_add(uint64_t a, uint64_t b) {
  if (a > UINT64_MAX - b) throw std::overflow_error("response length overflows 64 bits");
  return a + b;
}

// All values of the fields named ``lname``, joined as one list (RFC 9110 §5.3).
bool joined(const std::vector<Header>& headers, const std::string& lname, std::string* out) {
  bool any = false;
  out->clear();
  for (const Header& h : headers) {
    if (h.name != lname) continue;
    if (any) *out += ",";
    *out += h.value;
    any = true;
  }
  return any;
}

const std::string* first(const std::vector<Header>& headers, const std::string& lname) {
  for (const Header& h : headers)
    if (h.name == lname) return &h.value;
  return nullptr;
}

// Entity tags of an If-Match / If-None-Match list: commas inside quotes do not split.
std::vector<std::string> etag_list(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : v) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  std::vector<std::string> trimmed;
  for (std::string& s : out) {
    size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
    if (a != std::string::npos) trimmed.push_back(s.substr(a, b - a + 1));
  }
  return trimmed;
}

bool list_matches(const std::string& ours, const std::string& list, bool weak) {
  for (const std::string& t : etag_list(list)) {
    if (t == "*") return true;  // the resource exists
    if (etag_matches(ours, t, weak)) return true;
  }
  return false;
}

std::string range_text(const ByteRange& r, uint64_t size) {
  return "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" + std::to_string(size);
}

void error_plan(Plan& p, int status, const std::string& body) {
  p.status = status;
  p.static_body = body;
  p.fields.push_back({"Content-Type", "text/plain; charset=utf-8"});
  p.fields.push_back({"Content-Length", std::to_string(body.size())});
  p.content_length = body.size();
}

}  // namespace

bool etag_matches(const std::string& ours, const std::string& theirs, bool weak) {
  auto opaque = [](const std::string& t, bool* is_weak) {
    *is_weak = t.size() >= 2 && t[0] == 'W' && t[1] == '/';
    return *is_weak ? t.substr(2) : t;
  };
  bool ow, tw;
  const std::string a = opaque(ours, &ow), b = opaque(theirs, &tw);
  if (a.size() < 2 || a.front() != '"' || a.back() != '"') return false;
  if (a != b) return false;
  return weak || (!ow && !tw);
}

RangeResult parse_range(const std::string& v, uint64_t size, const RangeLimits& limits) {
  RangeResult out;
  if (v.size() < 7 || !iequals(v.substr(0, 6), "bytes=")) return out;  // Ignore, as nginx
  const size_t n = v.size();
  size_t i = 6;
  uint64_t sum = 0;
  bool sum_overflow = false;  // Σlen above 2^64: more than any size
  auto at_end = [&] { return i >= n; };
  auto digit = [&] { return i < n && v[i] >= '0' && v[i] <= '9'; };
  auto spaces = [&] {
    while (i < n && v[i] == ' ') ++i;
  };
  auto number = [&] {
    uint64_t x = 0;
    while (digit()) {
      const uint64_t d = static_cast<uint64_t>(v[i++] - '0');
      x = x > (kMaxNumber - d) / 10 ? kMaxNumber : x * 10 + d;
    }
    return x;
  };
  auto unsatisfiable = [&] {
    out.kind = RangeKind::Unsatisfiable;
    out.ranges.clear();
    return out;
  };
  auto ignore = [&] {
    out.kind = RangeKind::Ignore;
    out.ranges.clear();
    return out;
  };

  for (;;) {
    spaces();
    if (at_end()) break;  // an empty last element (after a comma)
    if (v[i] == ',') {    // an empty element
      ++i;
      continue;
    }
    uint64_t start = 0, end = 0;
    bool open_end = false;
    if (v[i] != '-') {
      if (!digit()) return unsatisfiable();
      start = number();
      spaces();
      if (at_end() || v[i] != '-') return unsatisfiable();
      ++i;
      spaces();
      if (at_end() || v[i] == ',') {
        end = size;
        open_end = true;
      }
    } else {
      ++i;
      if (!digit()) return unsatisfiable();
      const uint64_t suffix = number();
      spaces();
      if (!at_end() && v[i] != ',') return unsatisfiable();
      start = suffix < size ? size - suffix : 0;
      end = size;
      open_end = true;
    }
    if (!open_end) {
      if (!digit()) return unsatisfiable();
      const uint64_t last = number();
      spaces();
      if (!at_end() && v[i] != ',') return unsatisfiable();
      end = last >= size ? size : last + 1;  // last <= 2^63-1: no overflow
    }
    if (start < end) {
      out.ranges.push_back({start, end - 1});
      const uint64_t len = end - start;
      if (sum > UINT64_MAX - len) sum_overflow = true;
      else sum += len;
      if (limits.max_ranges && out.ranges.size() > limits.max_ranges) return ignore();
    } else if (start == 0) {
      return ignore();  // an empty resource: nginx serves it whole
    }
    if (at_end()) break;
    ++i;  // the ','
  }
  if (out.ranges.empty()) return unsatisfiable();
  if (sum_overflow || sum > size) return ignore();
  size_t overlaps = 0;
  for (size_t a = 1; a < out.ranges.size(); ++a) {
    for (size_t b = 0; b < a; ++b) {
      if (out.ranges[a].first <= out.ranges[b].last && out.ranges[b].first <= out.ranges[a].last) {
        ++overlaps;
        break;
      }
    }
  }
  if (overlaps > limits.max_overlaps) return ignore();
  out.kind = RangeKind::Ranges;
  return out;
}

std::string multipart_part_header(const std::string& boundary, const std::string& content_type,
                                  const ByteRange& r, uint64_t size) {
  return "\r\n--" + boundary + "\r\nContent-Type: " + content_type + "\r\nContent-Range: " +
         range_text(r, size) + "\r\n\r\n";
}

std::string multipart_close(const std::string& boundary) { return "\r\n--" + boundary + "--\r\n"; }

namespace {

enum class Precondition { Proceed, Failed, NotModified };

// RFC 9110 §13.2.2: If-Match (412), else If-Unmodified-Since (412); If-None-Match (304), else
// If-Modified-Since (304).
Precondition evaluate_preconditions(const std::vector<Header>& headers, const Resource& res) {
  const int64_t lm = res.last_modified;
  std::string v;
  if (joined(headers, "if-match", &v)) {
    if (!list_matches(res.etag, v, false)) return Precondition::Failed;
  } else if (const std::string* ius = first(headers, "if-unmodified-since")) {
    const int64_t t = parse_date(*ius);
    if (t >= 0 && lm >= 0 && lm > t) return Precondition::Failed;
  }
  bool not_modified = false;
  if (joined(headers, "if-none-match", &v)) {
    not_modified = list_matches(res.etag, v, true);
  } else if (const std::string* ims = first(headers, "if-modified-since")) {
    const int64_t t = parse_date(*ims);
    not_modified = t >= 0 && lm >= 0 && lm <= t;
  }
  return not_modified ? Precondition::NotModified : Precondition::Proceed;
}

// If-Range (§13.1.5): the Range applies to this representation (strong ETag or exact date).
bool if_range_holds(const std::vector<Header>& headers, const Resource& res) {
  const std::string* ifr = first(headers, "if-range");
  if (!ifr) return true;
  if (ifr->size() >= 2 && ifr->back() == '"') return !res.etag.empty() && *ifr == res.etag;  // W/"x" never matches
  return res.last_modified >= 0 && parse_date(*ifr) == res.last_modified;
}

// A 206 of the ranges: one part, or multipart/byteranges with ``boundary``.
void partial_plan(Plan& p, std::vector<ByteRange> ranges, const Resource& res, const std::string& boundary) {
  p.status = 206;
  p.ranges = std::move(ranges);
  if (p.ranges.size() == 1) {
    const ByteRange& r = p.ranges[0];
    p.content_length = r.last - r.first + 1;
    p.fields.push_back({"Content-Type", res.content_type});
    p.fields.push_back({"Content-Length", std::to_string(p.content_length)});
    p.fields.push_back({"Content-Range", range_text(r, res.size)});
    return;
  }
  if (boundary.empty() || boundary.find_first_of("\r\n\" ") != std::string::npos)
    throw std::invalid_argument("a multipart boundary must be a non-empty token");
  p.multipart = true;
  p.boundary = boundary;
  uint64_t total = multipart_close(boundary).size();
  for (const ByteRange& r : p.ranges) {
    total = checked_add(total, multipart_part_header(boundary, res.content_type, r, res.size).size());
    total = checked_add(total, r.last - r.first + 1);
  }
  p.content_length = total;
  p.fields.push_back({"Content-Type", "multipart/byteranges; boundary=" + boundary});
  p.fields.push_back({"Content-Length", std::to_string(total)});
}

}  // namespace

Plan plan_response(const std::string& method, const std::vector<Header>& headers, const Resource& res,
                   const std::string& boundary, const RangeLimits& limits) {
  Plan p;
  const bool head = method == "HEAD";
  p.send_body = !head;
  Fields validators;
  if (!res.etag.empty()) validators.push_back({"ETag", res.etag});
  if (res.last_modified >= 0) validators.push_back({"Last-Modified", format_date(res.last_modified)});

  switch (evaluate_preconditions(headers, res)) {
    case Precondition::Failed:
      error_plan(p, 412, "412 Precondition Failed\n");
      return p;
    case Precondition::NotModified:
      p.status = 304;
      p.fields = validators;
      p.send_body = false;
      return p;
    case Precondition::Proceed:
      break;
  }

  // Range, for GET only (nginx uses the first of several Range fields)
  const std::string* range = first(headers, "range");
  if (!head && range && if_range_holds(headers, res)) {
    RangeResult rr = parse_range(*range, res.size, limits);
    if (rr.kind == RangeKind::Unsatisfiable) {
      error_plan(p, 416, "416 Range Not Satisfiable\n");
      p.fields.push_back({"Content-Range", "bytes */" + std::to_string(res.size)});
      return p;
    }
    if (rr.kind == RangeKind::Ranges) {
      partial_plan(p, std::move(rr.ranges), res, boundary);
      for (const auto& f : validators) p.fields.push_back(f);
      p.fields.push_back({"Accept-Ranges", "bytes"});
      return p;
    }
  }

  // the whole representation
  p.status = 200;
  p.content_length = res.size;
  if (res.size > 0) p.ranges.push_back({0, res.size - 1});
  p.fields.push_back({"Content-Type", res.content_type});
  p.fields.push_back({"Content-Length", std::to_string(res.size)});
  for (const auto& f : validators) p.fields.push_back(f);
  p.fields.push_back({"Accept-Ranges", "bytes"});
  return p;
}

}  // namespace http
}  // namespace qltx
