// Bindings of the sans-IO HTTP request parser, Range parser, response planner and head builders
// (cpp/http.hpp, cpp/range.hpp). Private, for the tests: the SeekServer uses them in C++.
#include <pybind11/pybind11.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "bind.hpp"
#include "convert.hpp"
#include "http.hpp"
#include "range.hpp"

namespace qltx {
namespace bind {

namespace {

std::vector<qltx::http::Header> headers_from_python(const py::iterable& items) {
  std::vector<qltx::http::Header> out;
  for (const py::handle item : items) {
    auto t = item.cast<std::pair<std::string, std::string>>();
    out.push_back({qltx::http::lower(t.first), t.second});
  }
  return out;
}

py::list fields_to_python(const qltx::http::Fields& fields) {
  py::list out;
  for (const auto& f : fields) out.append(py::make_tuple(f.first, f.second));
  return out;
}

py::list ranges_to_python(const std::vector<qltx::http::ByteRange>& ranges) {
  py::list out;
  for (const auto& r : ranges) out.append(py::make_tuple(r.first, r.last));
  return out;
}


}  // namespace

void bind_http(py::module_& m) {
  namespace http = qltx::http;
  m.def(
      "_http_parse_request",
      [](const py::buffer& buf, const py::object& max_request_line, const py::object& max_header_line,
         const py::object& max_header_bytes, const py::object& max_body) -> py::tuple {
        http::Limits lim;
        lim.max_request_line = static_cast<size_t>(as_uint(max_request_line, "max_request_line", 1u << 30));
        lim.max_header_line = static_cast<size_t>(as_uint(max_header_line, "max_header_line", 1u << 30));
        lim.max_header_bytes = static_cast<size_t>(as_uint(max_header_bytes, "max_header_bytes", 1u << 30));
        lim.max_body = as_uint(max_body, "max_body");
        http::ParseResult r;
        {
          BufferView b(buf, false, "buf");
          r = http::parse_request(b.data(), b.size(), lim);
        }
        if (r.kind == http::Parse::NeedMore) return py::make_tuple("need_more");
        if (r.kind == http::Parse::Error)
          return py::make_tuple("error", r.error.status, r.error.reason);
        const http::Request& q = r.request;
        py::list headers;
        for (const auto& h : q.headers) headers.append(py::make_tuple(h.name, py::bytes(h.value)));
        py::dict d;
        d["method"] = q.method;
        d["target"] = py::bytes(q.target);
        d["version"] = q.version;
        d["headers"] = headers;
        d["consumed"] = q.consumed;
        d["body_length"] = q.body_length;
        d["keep_alive"] = q.keep_alive;
        return py::make_tuple("request", d);
      },
      py::arg("buf"), py::arg("max_request_line") = 8192, py::arg("max_header_line") = 8192,
      py::arg("max_header_bytes") = 32768, py::arg("max_body") = 65536);
  m.def(
      "_http_parse_range",
      [](const std::string& value, const py::object& size, const py::object& max_ranges,
         const py::object& max_overlaps) {
        http::RangeResult r =
            http::parse_range(value, as_uint(size, "size"), range_limits(max_ranges, max_overlaps));
        const char* kind = r.kind == http::RangeKind::Ignore          ? "ignore"
                           : r.kind == http::RangeKind::Unsatisfiable ? "unsatisfiable"
                                                                      : "ranges";
        return py::make_tuple(kind, ranges_to_python(r.ranges));
      },
      py::arg("value"), py::arg("size"), py::arg("max_ranges") = 16, py::arg("max_overlaps") = 2);
  m.def(
      "_http_plan",
      [](const std::string& method, const py::iterable& headers, const py::object& size,
         const std::string& etag, const py::object& last_modified, const std::string& content_type,
         const std::string& boundary, const py::object& max_ranges, const py::object& max_overlaps) {
        http::Resource res;
        res.size = as_uint(size, "size");
        res.etag = etag;
        res.last_modified = last_modified.is_none()
                                ? -1
                                : static_cast<int64_t>(as_uint(last_modified, "last_modified",
                                                               std::numeric_limits<int64_t>::max()));
        res.content_type = content_type;
        http::Plan p = http::plan_response(method, headers_from_python(headers), res, boundary,
                                           range_limits(max_ranges, max_overlaps));
        py::dict d;
        d["status"] = p.status;
        d["fields"] = fields_to_python(p.fields);
        d["ranges"] = ranges_to_python(p.ranges);
        d["multipart"] = p.multipart;
        d["content_length"] = p.content_length;
        d["send_body"] = p.send_body;
        d["static_body"] = py::bytes(p.static_body);
        return d;
      },
      py::arg("method"), py::arg("headers"), py::arg("size"), py::arg("etag") = "",
      py::arg("last_modified") = py::none(), py::arg("content_type") = "application/octet-stream",
      py::arg("boundary") = "qeltrix-boundary", py::arg("max_ranges") = 16, py::arg("max_overlaps") = 2);
  m.def("_http_format_date", [](int64_t t) { return http::format_date(t); }, py::arg("t"));
  m.def(
      "_http_parse_date",
      [](const std::string& s) -> py::object {
        int64_t t = http::parse_date(s);
        return t < 0 ? py::object(py::none()) : py::object(py::int_(t));
      },
      py::arg("s"));
  m.def(
      "_http_build_head",
      [](int status, const py::iterable& items) {
        http::Fields fields;
        for (const py::handle item : items) fields.push_back(item.cast<std::pair<std::string, std::string>>());
        return py::bytes(http::build_head(status, fields));
      },
      py::arg("status"), py::arg("fields"));
  m.def(
      "_http_multipart_part",
      [](const std::string& boundary, const std::string& content_type, const py::object& first,
         const py::object& last, const py::object& size) {
        http::ByteRange r{as_uint(first, "first"), as_uint(last, "last")};
        return py::bytes(http::multipart_part_header(boundary, content_type, r, as_uint(size, "size")));
      },
      py::arg("boundary"), py::arg("content_type"), py::arg("first"), py::arg("last"), py::arg("size"));
  m.def(
      "_http_multipart_close", [](const std::string& b) { return py::bytes(http::multipart_close(b)); },
      py::arg("boundary"));
}

}  // namespace bind
}  // namespace qltx
