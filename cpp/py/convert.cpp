// Conversions between Python objects and the native core's types. See convert.hpp.
#include "convert.hpp"

#include <cstring>

namespace qltx {
namespace bind {

BufferView::BufferView(const py::handle& obj, bool writable, const char* name) {
  if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_SIMPLE) != 0) throw py::error_already_set();
  if (writable && view_.readonly) {
    PyBuffer_Release(&view_);
    throw py::type_error(std::string(name) + " must be a writable buffer (bytearray, memoryview, mmap)");
  }
}

uint64_t as_uint(const py::handle& obj, const char* name, uint64_t max) {
  py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  if (!index) throw py::error_already_set();  // TypeError: not an integer
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  uint64_t u;
  if (overflow < 0 || (overflow == 0 && v < 0)) {
    throw py::value_error(std::string(name) + " must not be negative");
  } else if (overflow > 0) {
    u = PyLong_AsUnsignedLongLong(index.ptr());
    if (u == static_cast<uint64_t>(-1) && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::value_error(std::string(name) + " is above " + std::to_string(max));
    }
  } else {
    u = static_cast<uint64_t>(v);
  }
  if (u > max) throw py::value_error(std::string(name) + " is above " + std::to_string(max));
  return u;
}

uint64_t seq_index(const py::handle& i_obj, uint64_t n, const char* what) {
  py::object io = py::reinterpret_steal<py::object>(PyNumber_Index(i_obj.ptr()));
  if (!io) throw py::error_already_set();
  int overflow = 0;
  long long i = PyLong_AsLongLongAndOverflow(io.ptr(), &overflow);
  if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
  const long long size = static_cast<long long>(n);
  if (overflow == 0 && i < 0) i += size;
  if (overflow != 0 || i < 0 || i >= size) throw py::index_error(std::string(what) + " out of range");
  return static_cast<uint64_t>(i);
}

uint64_t below(const py::handle& v, uint64_t end, const char* name) {
  const uint64_t u = as_uint(v, name);
  if (u >= end)
    throw py::index_error(std::string(name) + " " + std::to_string(u) + " is not below " + std::to_string(end));
  return u;
}

std::string hex_prefix(const Bytes& b) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < b.size() && i < 4; ++i) {
    s += digits[b[i] >> 4];
    s += digits[b[i] & 15];
  }
  if (b.size() > 4) s += "...";
  return s;
}

void hash_from_python(const py::handle& obj, const std::string& where, Hash& out) {
  if (!PyObject_CheckBuffer(obj.ptr())) throw py::type_error(where + ": hash must be bytes");
  BufferView h(obj, false, "hash");
  if (h.size() != HASH_SIZE)
    throw py::value_error(where + ": hash must be 32 bytes, not " + std::to_string(h.size()));
  std::memcpy(out.data(), h.data(), HASH_SIZE);
}

Entry entry_from_python(const py::handle& item, size_t i) {
  if (py::isinstance<Entry>(item)) return item.cast<Entry>();
  const std::string where = "entry " + std::to_string(i);
  py::tuple t;
  if (py::isinstance<py::tuple>(item)) {
    t = py::reinterpret_borrow<py::tuple>(item);
  } else if (py::isinstance<py::sequence>(item) && !py::isinstance<py::str>(item)) {
    t = py::tuple(py::reinterpret_borrow<py::sequence>(item));
  } else {
    throw py::type_error(where + ": expected a 5-tuple (plain_offset, block_offset, plain_size, "
                                 "block_size, hash)");
  }
  if (t.size() != 5)
    throw py::value_error(where + ": expected 5 fields, not " + std::to_string(t.size()));
  Entry e;
  const uint64_t u32max = std::numeric_limits<uint32_t>::max();
  e.plain_offset = as_uint(t[0], (where + " plain_offset").c_str());
  e.block_offset = as_uint(t[1], (where + " block_offset").c_str());
  e.plain_size = static_cast<uint32_t>(as_uint(t[2], (where + " plain_size").c_str(), u32max));
  e.block_size = static_cast<uint32_t>(as_uint(t[3], (where + " block_size").c_str(), u32max));
  hash_from_python(t[4], where, e.hash);
  return e;
}

std::vector<Entry> entries_from_python(const py::iterable& entries) {
  std::vector<Entry> es;
  if (py::isinstance<py::sequence>(entries)) es.reserve(py::len(entries));
  for (const py::handle item : entries) es.push_back(entry_from_python(item, es.size()));
  return es;
}

py::list entries_to_python(const std::vector<Entry>& entries) {
  py::list es;
  for (const auto& e : entries)
    es.append(py::make_tuple(e.plain_offset, e.block_offset, e.plain_size, e.block_size, to_bytes(e.hash)));
  return es;
}

http::RangeLimits range_limits(const py::handle& max_ranges, const py::handle& max_overlaps) {
  http::RangeLimits l;
  l.max_ranges = static_cast<size_t>(as_uint(max_ranges, "max_ranges", 1u << 30));
  l.max_overlaps = static_cast<size_t>(as_uint(max_overlaps, "max_overlaps", 1u << 30));
  return l;
}

}  // namespace bind
}  // namespace qltx
