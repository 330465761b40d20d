// Bindings of the GatewayServer (cpp/gateway.hpp): its crypto callbacks into Python (the sealing
// and opening sessions of qeltrix.gateway). Private: qeltrix.gateway is the API.
#include <pybind11/pybind11.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bind.hpp"
#include "callback.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "gateway.hpp"

namespace qltx {
namespace bind {

namespace {

// One sealing or opening session of qeltrix.gateway, called from the gateway's threads.
class PyCodec : public qltx::Codec {
 public:
  // Constructed with the GIL held: the optional 6.1 methods are looked up once.
  explicit PyCodec(py::object session) : s_(std::move(session)) {
    if (py::hasattr(s_, "page")) {
      page_entries_ = as_uint(s_.attr("page_entries"), "page_entries", qltx::MAX_PAGE_ENTRIES);
      if (page_entries_ == 0) throw py::value_error("page_entries must be at least 1");
    }
    checks_pages_ = py::hasattr(s_, "check_page");
  }
  ~PyCodec() override {
    py::gil_scoped_acquire gil;
    s_ = py::object();
  }

  qltx::Bytes header() override {
    return call_python([&] { return bytes_of(s_.attr("header_bytes")); });
  }
  void seal(const qltx::StreamBlock& b, qltx::ByteView plain, uint8_t* out, size_t out_size,
            qltx::Hash& digest) override {
    call_python([&] {
      py::memoryview in = py::memoryview::from_memory(plain.data, static_cast<py::ssize_t>(plain.size));
      py::memoryview o = py::memoryview::from_memory(out, static_cast<py::ssize_t>(out_size), false);
      py::object d = s_.attr("seal")(b.index, b.plain_offset, in, b.final, o);
      in.attr("release")();
      o.attr("release")();
      qltx::Bytes h = bytes_of(d);
      if (h.size() != digest.size()) throw std::runtime_error("seal returned a wrong-sized hash");
      std::memcpy(digest.data(), h.data(), h.size());
      return 0;
    });
  }
  qltx::Bytes finish(const std::vector<qltx::Entry>& entries, uint64_t plaintext_size) override {
    return call_python([&] { return bytes_of(s_.attr("finish")(entries_to_python(entries), plaintext_size)); });
  }
  void open(const qltx::StreamBlock& b, qltx::ByteView stored, uint8_t* out) override {
    call_python([&] {
      py::memoryview in = py::memoryview::from_memory(stored.data, static_cast<py::ssize_t>(stored.size));
      py::memoryview o = py::memoryview::from_memory(out, static_cast<py::ssize_t>(b.plain_size), false);
      s_.attr("open")(b.index, b.plain_offset, b.plain_size, b.final, in, o);
      in.attr("release")();
      o.attr("release")();
      return 0;
    });
  }
  void check_footer(qltx::ByteView footer, uint64_t footer_offset) override {
    call_python([&] {
      s_.attr("check_footer")(to_bytes(footer.data, footer.size), footer_offset);
      return 0;
    });
  }
  uint64_t page_entries() override { return page_entries_; }
  qltx::Bytes page(const std::vector<qltx::Entry>& entries) override {
    return call_python([&] { return bytes_of(s_.attr("page")(entries_to_python(entries))); });
  }
  bool checks_pages() override { return checks_pages_; }
  void check_page(qltx::ByteView page, uint64_t offset) override {
    call_python([&] {
      s_.attr("check_page")(to_bytes(page.data, page.size), offset);
      return 0;
    });
  }

 private:
  static qltx::Bytes bytes_of(const py::handle& obj) {
    BufferView v(obj, false, "result");
    return qltx::Bytes(v.data(), v.data() + v.size());
  }
  py::object s_;
  uint64_t page_entries_ = 0;
  bool checks_pages_ = false;
};

// Makes a session per connection (make_sealer(), make_opener(header)) and logs through Python.
class PyCodecFactory : public qltx::CodecFactory {
 public:
  PyCodecFactory(py::object make_sealer, py::object make_opener, py::object log)
      : make_sealer_(std::move(make_sealer)), make_opener_(std::move(make_opener)), log_(std::move(log)) {}
  ~PyCodecFactory() override {
    py::gil_scoped_acquire gil;
    make_sealer_ = make_opener_ = log_ = py::object();
  }
  std::unique_ptr<qltx::Codec> sealer() override {
    return call_python([&] { return std::make_unique<PyCodec>(make_sealer_()); });
  }
  std::unique_ptr<qltx::Codec> opener(qltx::ByteView header) override {
    return call_python([&] { return std::make_unique<PyCodec>(make_opener_(to_bytes(header.data, header.size))); });
  }
  void log(int level, const std::string& msg) override {
    NativeGil gil;
    try {
      log_(level, msg);
    } QLTX_RETHROW_FORCED_UNWIND catch (...) {  // logging must not fail the connection
    }
  }

 private:
  py::object make_sealer_, make_opener_, log_;
};

// Owns the gateway; stops it (joining threads that may wait for the GIL) with the GIL released.
struct PyGateway {
  std::unique_ptr<qltx::Gateway> gw;
  ~PyGateway() {
    py::gil_scoped_release nogil;
    gw.reset();
  }
};

}  // namespace

void bind_gateway(py::module_& m) {
  m.def("_flush_deadline", &qltx::flush_deadline, py::arg("first_byte"), py::arg("last_byte"),
        py::arg("flush_after"), py::arg("max_delay"));
  // Test-only: the sans-IO chunker of the gateway's plaintext reader.
  py::class_<qltx::Chunker>(m, "_Chunker")
      .def(py::init<size_t, int, int>(), py::arg("block_size"), py::arg("flush_after"), py::arg("max_delay"))
      .def_property_readonly("fill", &qltx::Chunker::fill)
      .def_property_readonly("room", &qltx::Chunker::room)
      .def("arrived", &qltx::Chunker::arrived, py::arg("n"), py::arg("now"))
      .def("deadline", &qltx::Chunker::deadline)
      .def("due", &qltx::Chunker::due, py::arg("now"))
      .def("wait_ms", &qltx::Chunker::wait_ms, py::arg("now"), py::arg("slice"))
      .def("take", &qltx::Chunker::take);
  py::class_<PyGateway>(m, "_Gateway")
      .def(py::init([](const std::string& listen_host, int listen_port, const std::string& dest_host,
                       int dest_port, bool decrypt, const py::object& block_size, int flush_after_ms,
                       int max_delay_ms, unsigned workers, unsigned window, unsigned max_connections,
                       int connect_timeout_ms, py::object make_sealer, py::object make_opener,
                       py::object log, int idle_timeout_ms) {
             if (listen_port < 0 || listen_port > 65535 || dest_port < 0 || dest_port > 65535)
               throw py::value_error("a port must be in 0..65535");
             qltx::GatewayConfig c;
             c.listen_host = listen_host;
             c.listen_port = static_cast<uint16_t>(listen_port);
             c.dest_host = dest_host;
             c.dest_port = static_cast<uint16_t>(dest_port);
             c.decrypt = decrypt;
             c.block_size = static_cast<uint32_t>(as_uint(block_size, "block_size", qltx::MAX_BLOCK_SIZE));
             c.flush_after_ms = flush_after_ms;
             c.max_delay_ms = max_delay_ms;
             c.workers = workers;
             c.window = window;
             c.max_connections = max_connections;
             c.connect_timeout_ms = connect_timeout_ms;
             c.idle_timeout_ms = idle_timeout_ms;
             auto f = std::make_shared<PyCodecFactory>(std::move(make_sealer), std::move(make_opener),
                                                       std::move(log));
             auto g = std::make_unique<PyGateway>();
             g->gw = std::make_unique<qltx::Gateway>(c, std::move(f));
             return g;
           }),
           py::arg("listen_host"), py::arg("listen_port"), py::arg("dest_host"), py::arg("dest_port"),
           py::arg("decrypt"), py::arg("block_size"), py::arg("flush_after_ms"),
           py::arg("max_delay_ms"), py::arg("workers"), py::arg("window"),
           py::arg("max_connections"), py::arg("connect_timeout_ms"), py::arg("make_sealer"),
           py::arg("make_opener"), py::arg("log"), py::arg("idle_timeout_ms") = 300000)
      .def("start", [](PyGateway& g) {
        py::gil_scoped_release nogil;
        g.gw->start();
      })
      .def(
          "stop",
          [](PyGateway& g, int grace_ms) {
            py::gil_scoped_release nogil;
            g.gw->stop(grace_ms);
          },
          py::arg("grace_ms"))
      .def_property_readonly("port", [](const PyGateway& g) { return g.gw->port(); })
      .def_property_readonly("running", [](const PyGateway& g) { return g.gw->running(); })
      .def("stats", [](const PyGateway& g) {
        const qltx::GatewayStats s = g.gw->stats();
        py::dict d;
        d["accepted"] = s.accepted;
        d["active"] = s.active;
        d["completed"] = s.completed;
        d["failed"] = s.failed;
        d["bytes_in"] = s.bytes_in;
        d["bytes_out"] = s.bytes_out;
        d["buffered"] = s.buffered;
        d["peak_buffered"] = s.peak_buffered;
        return d;
      });
}

}  // namespace bind
}  // namespace qltx
