// Conversions between Python objects and the native core's types, shared by every bind_*.cpp:
// buffers, bounded integers, indexes, bytes, struct fields, footer entries. Each raises the
// Python exception a caller can act on (TypeError for a wrong type, ValueError for a value out
// of range, IndexError for an index), never a C++ one.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bytes.hpp"
#include "format.hpp"
#include "range.hpp"

namespace qltx {
namespace bind {

namespace py = pybind11;

// A contiguous byte view of any buffer-protocol object (bytes, bytearray, memoryview, mmap...),
// held for the lifetime of this object: the exporter cannot resize or free it meanwhile (so the
// view may be used with the GIL released).
class BufferView {
 public:
  BufferView(const py::handle& obj, bool writable, const char* name);
  ~BufferView() { PyBuffer_Release(&view_); }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;

  uint8_t* data() const { return static_cast<uint8_t*>(view_.buf); }
  size_t size() const { return static_cast<size_t>(view_.len); }
  ByteView bytes() const { return {data(), size()}; }

 private:
  Py_buffer view_{};
};

// An integer argument in 0..max (any object with __index__). Negative or too large: ValueError.
uint64_t as_uint(const py::handle& obj, const char* name,
                 uint64_t max = std::numeric_limits<uint64_t>::max());

// An index into a sequence of n: negative counts from the end; IndexError outside.
uint64_t seq_index(const py::handle& i, uint64_t n, const char* what);

// A non-negative integer below `end`; IndexError at or after it (ValueError when negative).
uint64_t below(const py::handle& v, uint64_t end, const char* name);

inline py::bytes to_bytes(const uint8_t* p, size_t n) {
  return py::bytes(reinterpret_cast<const char*>(p), n);
}
template <class C>
py::bytes to_bytes(const C& c) {
  return to_bytes(c.data(), c.size());
}

// The first bytes of b in hex, for a __repr__ ("0a1b2c3d...").
std::string hex_prefix(const Bytes& b);

// A 32-byte hash argument (a buffer): TypeError when no buffer, ValueError for another length.
void hash_from_python(const py::handle& obj, const std::string& where, Hash& out);

// Footer or page entries: Entry objects or (plain_offset, block_offset, plain_size, block_size,
// hash) tuples; `i` names the entry in errors.
Entry entry_from_python(const py::handle& item, size_t i);
std::vector<Entry> entries_from_python(const py::iterable& entries);
py::list entries_to_python(const std::vector<Entry>& entries);  // as tuples

// The Range limits of the HTTP bindings and the SeekServer.
http::RangeLimits range_limits(const py::handle& max_ranges, const py::handle& max_overlaps);

// ---- struct fields ------------------------------------------------------------------------------

// An unsigned integer field: assigning a value that does not fit the field raises ValueError.
template <class T, class F>
void int_field(py::class_<T>& cls, const char* name, F T::*member) {
  cls.def_property(
      name, [member](const T& self) { return static_cast<uint64_t>(self.*member); },
      [member, name](T& self, const py::object& v) {
        self.*member = static_cast<F>(as_uint(v, name, std::numeric_limits<F>::max()));
      });
}

// A bytes field. Any length can be assigned; the encoder checks it.
template <class T>
void bytes_field(py::class_<T>& cls, const char* name, Bytes T::*member) {
  cls.def_property(
      name, [member](const T& self) { return to_bytes(self.*member); },
      [member, name](T& self, const py::buffer& v) {
        BufferView b(v, false, name);
        (self.*member).assign(b.data(), b.data() + b.size());
      });
}

}  // namespace bind
}  // namespace qltx
