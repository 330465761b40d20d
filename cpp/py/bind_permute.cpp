// Bindings of the byte permutation (cpp/permute.hpp) and its gather kernels.
#include <pybind11/pybind11.h>

#include <string>

#include "bind.hpp"
#include "convert.hpp"
#include "permute.hpp"

namespace qltx {
namespace bind {

namespace {

void permute_py(const py::buffer& buf, const py::buffer& key, qltx::PermuteKernel kernel,
                bool inverse) {
  BufferView k(key, false, "key");
  BufferView b(buf, true, "buf");
  if (k.size() != qltx::PERMUTATION_KEY_SIZE)
    throw py::value_error("permutation key must be 72 bytes, not " + std::to_string(k.size()));
  // Both views stay exported (and so alive and unresized) while the GIL is released.
  py::gil_scoped_release nogil;
  if (inverse)
    qltx::unpermute(b.data(), b.size(), k.data(), k.size(), kernel);
  else
    qltx::permute(b.data(), b.size(), k.data(), k.size(), kernel);
}

}  // namespace

void bind_permute(py::module_& m) {
  // Private, for tests: the 64-entry table T of a key.
  m.def(
      "_permutation_table",
      [](const py::buffer& key) {
        BufferView k(key, false, "key");
        auto t = qltx::permutation_table(k.data(), k.size());
        py::list out;
        for (uint8_t v : t) out.append(v);
        return out;
      },
      py::arg("key"));
  m.def(
      "permute",
      [](const py::buffer& buf, const py::buffer& key) {
        permute_py(buf, key, qltx::PermuteKernel::Auto, false);
      },
      py::arg("buf"), py::arg("key"));
  m.def(
      "unpermute",
      [](const py::buffer& buf, const py::buffer& key) {
        permute_py(buf, key, qltx::PermuteKernel::Auto, true);
      },
      py::arg("buf"), py::arg("key"));
  // Private, for tests and tools/bench/bench_permute.py: every gather kernel must give the same
  // bytes.
  m.def("_permute_kernels", [] {
    py::list names;
    for (const std::string& name : qltx::permute_kernels()) names.append(name);
    return names;
  });
  m.def(
      "_permute_with",
      [](const py::buffer& buf, const py::buffer& key, const std::string& kernel, bool inverse) {
        permute_py(buf, key, qltx::permute_kernel_by_name(kernel), inverse);
      },
      py::arg("buf"), py::arg("key"), py::arg("kernel"), py::arg("inverse") = false);
}

}  // namespace bind
}  // namespace qltx
