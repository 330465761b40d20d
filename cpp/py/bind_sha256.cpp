// Bindings of SHA-256 over several buffers at once (cpp/sha256.hpp) and its kernels.
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "bind.hpp"
#include "convert.hpp"
#include "sha256.hpp"

namespace qltx {
namespace bind {

namespace {

// SHA-256 of each buffer of a sequence, the GIL released while hashing (see sha256.hpp).
py::list sha256_many_py(const py::sequence& bufs, qltx::Sha256Kernel kernel) {
  std::vector<std::unique_ptr<BufferView>> views;
  std::vector<qltx::ByteView> msgs;
  views.reserve(bufs.size());
  msgs.reserve(bufs.size());
  for (const py::handle& b : bufs) {
    views.push_back(std::make_unique<BufferView>(b, false, "buffer"));
    msgs.push_back(views.back()->bytes());
  }
  std::vector<uint8_t> out(msgs.size() * qltx::SHA256_DIGEST_SIZE);
  {
    py::gil_scoped_release nogil;  // the views keep every buffer exported meanwhile
    qltx::sha256_many(msgs.data(), msgs.size(),
                      reinterpret_cast<uint8_t(*)[qltx::SHA256_DIGEST_SIZE]>(out.data()), kernel);
  }
  py::list digests;
  for (size_t i = 0; i < msgs.size(); ++i)
    digests.append(py::bytes(reinterpret_cast<const char*>(out.data() + i * qltx::SHA256_DIGEST_SIZE),
                             qltx::SHA256_DIGEST_SIZE));
  return digests;
}

}  // namespace

void bind_sha256(py::module_& m) {
  // Up to four buffers hashed side by side in SHA-NI lanes where the CPU has the SHA extensions.
  m.def(
      "sha256_many", [](const py::sequence& bufs) { return sha256_many_py(bufs, qltx::Sha256Kernel::Auto); },
      py::arg("buffers"));
  m.attr("SHA256_ACCELERATED") = qltx::sha256_accelerated();
  // Private, for tests and tools/bench/bench_sha256.py: every kernel must give hashlib's digests.
  m.def("_sha256_kernels", [] {
    py::list names;
    for (const std::string& name : qltx::sha256_kernels()) names.append(name);
    return names;
  });
  m.def(
      "_sha256_many_with",
      [](const py::sequence& bufs, const std::string& kernel) {
        return sha256_many_py(bufs, qltx::sha256_kernel_by_name(kernel));
      },
      py::arg("buffers"), py::arg("kernel"));
}

}  // namespace bind
}  // namespace qltx
