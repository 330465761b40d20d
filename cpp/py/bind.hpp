// The areas of qeltrix._core, one bind_*.cpp each, called in this order by module.cpp (types
// first registered by an earlier area, e.g. Entry, are used by later ones).
#pragma once

#include <pybind11/pybind11.h>

namespace qltx {
namespace bind {

namespace py = pybind11;

void bind_format(py::module_& m);     // 6.0 constants, header, prefix, meta, footer, trailer
void bind_seek(py::module_& m);       // seek arithmetic of uniform containers (private, for tests)
void bind_permute(py::module_& m);    // the byte permutation and its kernels
void bind_sha256(py::module_& m);     // SHA-256 of several buffers at once and its kernels
void bind_stream(py::module_& m);     // the one-pass stream decoder (private, for tests)
void bind_gateway(py::module_& m);    // the GatewayServer (private: qeltrix.gateway is the API)
void bind_format61(py::module_& m);   // 6.1 header, keyring copies, index pages, top table
void bind_http(py::module_& m);       // sans-IO HTTP parsers and builders (private, for tests)
void bind_server(py::module_& m);     // the SeekServer (qeltrix.server is the API)

}  // namespace bind
}  // namespace qltx
