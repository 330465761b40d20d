// Bindings of the SeekServer (cpp/seek_server.hpp): its read, log and page callbacks into Python.
// qeltrix.server is the API.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "bind.hpp"
#include "callback.hpp"
#include "convert.hpp"
#include "range.hpp"
#include "seek_server.hpp"

namespace qltx {
namespace bind {

namespace {

// A read result shorter than this is copied with the GIL held: handing the GIL over and taking it
// back (futex calls, when other workers wait for it) costs more than copying a small range.
constexpr size_t kCopyWithGil = 64 << 10;

// Owns the C++ server and the Python callbacks. The callbacks run on the server's threads with
// the GIL taken only around them; stop() and the destructor release the GIL while the threads
// finish (they may be waiting for it), and the callbacks are released with the GIL held.
class PySeekServer {
 public:
  PySeekServer(qltx::seek::Config cfg, py::object read, py::object log, py::object page, py::object log_level) {
    auto read_fn = [read](uint32_t id, uint64_t offset, uint64_t length, std::string& out) {
      call_python([&] {
        py::object r = read(id, offset, length);
        BufferView b(r, false, "read() result");
        if (b.size() < kCopyWithGil) {
          out.assign(reinterpret_cast<const char*>(b.data()), b.size());
          return;
        }
        py::gil_scoped_release nogil;  // a whole block: other threads decrypt meanwhile
        out.assign(reinterpret_cast<const char*>(b.data()), b.size());
      });
    };
    // A batch of short reads: the GIL taken once for all, each result copied with it held.
    auto read_batch = [read](std::vector<qltx::seek::ReadReq>& reqs, const std::function<void(size_t)>& ready) {
      NativeGil gil;
      for (size_t k = 0; k < reqs.size(); ++k) {
        auto& q = reqs[k];
        try {
          py::object r = read(q.id, q.offset, q.length);
          BufferView b(r, false, "read() result");
          q.out.assign(reinterpret_cast<const char*>(b.data()), b.size());
          q.ok = true;
        } catch (py::error_already_set& e) {
          q.error = describe(e);
        } catch (const std::exception& e) {
          q.error = e.what();
        }
        ready(k);
      }
    };
    auto log_fn = [log, log_level](const qltx::seek::LogLines& lines) -> int {
      NativeGil gil;  // once for the batch
      for (const auto& l : lines) {
        try {
          log(l.first, l.second);
        } catch (py::error_already_set& e) {
          e.discard_as_unraisable("qeltrix SeekServer log callback");
        }
      }
      if (log_level.is_none()) return 0;
      try {
        return log_level().cast<int>();
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("qeltrix SeekServer log_level callback");
      } catch (const py::cast_error&) {
      }
      return 0;
    };
    qltx::seek::PageFn page_fn;
    if (!page.is_none()) {
      page_fn = [page](const qltx::seek::PageRequest& req, qltx::seek::Page& out) {
        call_python([&] {
          py::tuple t = page(req.method, py::bytes(req.path), req.query, req.accept);
          if (t.size() != 3) throw py::type_error("page() must return (status, fields, body)");
          out.status = static_cast<int>(as_uint(t[0], "status", 999));
          for (const py::handle f : t[1]) out.fields.push_back(f.cast<std::pair<std::string, std::string>>());
          BufferView b(t[2], false, "page() body");
          out.body.assign(reinterpret_cast<const char*>(b.data()), b.size());
        });
      };
    }
    server_.reset(new qltx::seek::Server(std::move(cfg), read_fn, log_fn, page_fn, read_batch));
  }
  ~PySeekServer() {
    if (server_) {
      {
        py::gil_scoped_release nogil;
        server_->stop();
      }
      server_.reset();  // drops the callbacks: with the GIL
    }
  }
  PySeekServer(const PySeekServer&) = delete;
  PySeekServer& operator=(const PySeekServer&) = delete;

  void start() {
    py::gil_scoped_release nogil;
    server_->start();
  }
  void stop() {
    py::gil_scoped_release nogil;
    server_->stop();
  }
  uint16_t port() const { return server_->port(); }
  bool running() const { return server_->running(); }
  py::dict stats() const {
    qltx::seek::Stats s;
    {
      py::gil_scoped_release nogil;
      s = server_->stats();
    }
    py::dict d;
    py::dict by_status;
    for (const auto& kv : s.responses) by_status[py::int_(kv.first)] = kv.second;
    d["responses"] = by_status;
    d["body_bytes"] = s.body_bytes;
    d["head_bytes"] = s.head_bytes;
    d["aborted"] = s.aborted;
    d["auth_failures"] = s.auth_failures;
    d["refused"] = s.refused;
    d["accepted"] = s.accepted;
    d["open_connections"] = s.open_connections;
    py::list bounds, counts;
    for (double b : qltx::seek::Stats::kBounds) bounds.append(b);
    for (uint64_t c : s.duration_counts) counts.append(c);
    d["duration_bounds"] = bounds;
    d["duration_counts"] = counts;
    d["duration_sum"] = s.duration_sum;
    return d;
  }

 private:
  std::unique_ptr<qltx::seek::Server> server_;
};

// Seconds as whole milliseconds (at least 1 when positive); -1 for what no int can hold (NaN,
// negative, huge): seek::check_config names the argument.
int ms_of(double seconds) {
  if (!(seconds > 0)) return seconds == 0 ? 0 : -1;
  if (seconds > 1e9) return -1;
  return std::max(1, static_cast<int>(seconds * 1000.0 + 0.5));
}

qltx::seek::Entry entry_from_python(const py::handle& item) {
  if (!py::isinstance<py::tuple>(item) || py::len(item) != 7)
    throw py::type_error("an entry is (path, id, size, etag, last_modified, content_type, chunk)");
  py::tuple t = py::reinterpret_borrow<py::tuple>(item);
  qltx::seek::Entry e;
  e.path = t[0].cast<std::string>();
  e.id = static_cast<uint32_t>(as_uint(t[1], "id", 0xffffffffu));
  e.resource.size = as_uint(t[2], "size");
  e.resource.etag = t[3].cast<std::string>();
  e.resource.last_modified = t[4].is_none() ? -1 : static_cast<int64_t>(as_uint(
      t[4], "last_modified", static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));
  e.resource.content_type = t[5].cast<std::string>();
  e.chunk = as_uint(t[6], "chunk");
  return e;
}

}  // namespace

void bind_server(py::module_& m) {
  py::class_<PySeekServer>(m, "SeekServer", "The native HTTP server behind qeltrix.SeekServer.")
      .def(py::init([](const py::iterable& entries, py::object read, py::object log, const std::string& host,
                       const py::object& port, const py::object& workers, const py::object& max_connections,
                       double header_timeout, double idle_timeout, double send_timeout, double stop_timeout,
                       const py::object& token, const std::string& boundary_prefix,
                       const py::object& max_ranges, const py::object& max_overlaps, const py::object& max_chunk,
                       py::object page, py::object log_level) {
             // Conversion only: seek::Server checks the values (seek::check_config).
             qltx::seek::Config cfg;
             cfg.host = host;
             cfg.port = static_cast<uint16_t>(as_uint(port, "port", 65535));
             cfg.workers = static_cast<unsigned>(as_uint(workers, "workers", 0xffffffffu));
             cfg.max_connections = static_cast<size_t>(as_uint(max_connections, "max_connections"));
             cfg.header_timeout_ms = ms_of(header_timeout);
             cfg.idle_timeout_ms = ms_of(idle_timeout);
             cfg.send_timeout_ms = ms_of(send_timeout);
             cfg.stop_timeout_ms = ms_of(stop_timeout);
             if (!token.is_none()) cfg.token = token.cast<std::string>();
             cfg.boundary_prefix = boundary_prefix;
             cfg.range_limits = range_limits(max_ranges, max_overlaps);
             cfg.max_chunk = as_uint(max_chunk, "max_chunk");
             for (const py::handle item : entries) cfg.entries.push_back(entry_from_python(item));
             cfg.pages = !page.is_none();
             return new PySeekServer(std::move(cfg), std::move(read), std::move(log), std::move(page),
                                     std::move(log_level));
           }),
           py::arg("entries"), py::arg("read"), py::arg("log"), py::arg("host") = "127.0.0.1",
           py::arg("port") = 7621, py::arg("workers") = 4, py::arg("max_connections") = 256,
           py::arg("header_timeout") = 10.0, py::arg("idle_timeout") = 15.0, py::arg("send_timeout") = 30.0,
           py::arg("stop_timeout") = 5.0, py::arg("token") = py::none(), py::arg("boundary_prefix") = "qeltrix",
           py::arg("max_ranges") = 16, py::arg("max_overlaps") = 2, py::arg("max_chunk") = 4u << 20,
           py::arg("page") = py::none(), py::arg("log_level") = py::none())
      .def("start", &PySeekServer::start)
      .def("stop", &PySeekServer::stop)
      .def_property_readonly("port", &PySeekServer::port)
      .def_property_readonly("running", &PySeekServer::running)
      .def("stats", &PySeekServer::stats);
}

}  // namespace bind
}  // namespace qltx
