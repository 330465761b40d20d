// qeltrix._core (contract: qeltrix/_core.pyi): the module, made of one bind_*.cpp per area.
// This directory is the only code that includes pybind11; everything it binds is plain C++ in
// cpp/. C++ errors are translated once (translate.hpp), Python errors in callbacks once
// (callback.hpp), arguments converted by convert.hpp.
#include <pybind11/pybind11.h>

#include "bind.hpp"
#include "translate.hpp"

PYBIND11_MODULE(_core, m) {
  namespace b = qltx::bind;
  m.doc() = "Private native core of Qeltrix: framing, permutation, seek arithmetic and the servers.";
  b::register_translator();
  b::bind_format(m);
  b::bind_seek(m);
  b::bind_permute(m);
  b::bind_sha256(m);
  b::bind_stream(m);
  b::bind_gateway(m);
  b::bind_format61(m);
  b::bind_http(m);
  b::bind_server(m);
}
