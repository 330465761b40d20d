// Bindings of the one-pass stream decoder (cpp/stream.hpp). Private: the gateway uses it in C++;
// the tests drive it from Python.
#include <pybind11/pybind11.h>

#include "bind.hpp"
#include "convert.hpp"
#include "stream.hpp"

namespace qltx {
namespace bind {

void bind_stream(py::module_& m) {
  py::class_<qltx::StreamDecoder>(m, "_StreamDecoder")
      .def(py::init<>())
      .def(
          "next",
          [](qltx::StreamDecoder& d, const py::buffer& buf) {
            const qltx::StreamStep st = d.next(BufferView(buf, false, "buf").bytes());
            static const char* names[] = {"need", "header", "block", "footer", "trailer", "keyring", "page"};
            return py::make_tuple(names[static_cast<int>(st.item)], st.size);
          },
          py::arg("buf"))
      .def("end", &qltx::StreamDecoder::end, py::arg("pending"))
      .def_property_readonly("done", &qltx::StreamDecoder::done)
      .def_property_readonly("version", &qltx::StreamDecoder::version)
      .def_property_readonly("num_pages", &qltx::StreamDecoder::num_pages)
      .def_property_readonly("last_page", [](const qltx::StreamDecoder& d) {
        return py::make_tuple(d.last_page_first_block(), d.last_page_entries());
      })
      .def_property_readonly("offset", &qltx::StreamDecoder::offset)
      .def_property_readonly("num_blocks", &qltx::StreamDecoder::num_blocks)
      .def_property_readonly("plaintext_size", &qltx::StreamDecoder::plaintext_size)
      .def_property_readonly("last_block", [](const qltx::StreamDecoder& d) {
        const qltx::StreamBlock& b = d.last_block();
        return py::make_tuple(b.index, b.plain_offset, b.plain_size, b.final);
      });
}

}  // namespace bind
}  // namespace qltx
