// Bindings of the seek arithmetic of uniform containers (cpp/seek.hpp). Private: the package reads
// the index of each container; these are checked against brute force by the tests.
#include <pybind11/pybind11.h>

#include "bind.hpp"
#include "convert.hpp"
#include "format.hpp"
#include "seek.hpp"

namespace qltx {
namespace bind {

void bind_seek(py::module_& m) {
  m.def(
      "block_count",
      [](const py::object& plaintext_size, const py::object& block_size) {
        return qltx::block_count(as_uint(plaintext_size, "plaintext_size"),
                                 as_uint(block_size, "block_size"));
      },
      py::arg("plaintext_size"), py::arg("block_size"));
  m.def(
      "_container_size",
      [](const py::object& plaintext_size, const py::object& block_size,
         const py::object& info_size) {
        return qltx::container_size(as_uint(plaintext_size, "plaintext_size"),
                                    as_uint(block_size, "block_size"),
                                    as_uint(info_size, "info_size"));
      },
      py::arg("plaintext_size"), py::arg("block_size"),
      py::arg("info_size") = qltx::MIN_INFO_SIZE);
  m.def(
      "_block_offset",
      [](const py::object& i, const py::object& block_size) {
        return qltx::block_offset(as_uint(i, "index"), as_uint(block_size, "block_size"));
      },
      py::arg("index"), py::arg("block_size"));
  m.def(
      "_block_span",
      [](const py::object& offset, const py::object& length, const py::object& plaintext_size,
         const py::object& block_size) {
        return qltx::block_span(as_uint(offset, "offset"), as_uint(length, "length"),
                                as_uint(plaintext_size, "plaintext_size"),
                                as_uint(block_size, "block_size"));
      },
      py::arg("offset"), py::arg("length"), py::arg("plaintext_size"), py::arg("block_size"));
}

}  // namespace bind
}  // namespace qltx
