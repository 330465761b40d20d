// Python bindings of the native core: qeltrix._core (contract: qeltrix/_core.pyi).
// The only file that includes pybind11. C++ errors are translated here, once, into the classes
// of qeltrix.errors; misuse (std::invalid_argument, std::out_of_range) becomes ValueError.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "format.hpp"
#include "format61.hpp"
#include "gateway.hpp"
#include "http.hpp"
#include "net.hpp"
#include "range.hpp"
#include "permute.hpp"
#include "seek.hpp"
#include "seek_server.hpp"
#include "sha256.hpp"
#include "stream.hpp"

namespace py = pybind11;

namespace {

// ---- arguments ---------------------------------------------------------------------------------

// A contiguous byte view of any buffer-protocol object (bytes, bytearray, memoryview, mmap...),
// held for the lifetime of this object: the exporter cannot resize or free it meanwhile.
class BufferView {
 public:
  BufferView(const py::handle& obj, bool writable, const char* name) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    if (writable && view_.readonly) {
      PyBuffer_Release(&view_);
      throw py::type_error(std::string(name) + " must be a writable buffer (bytearray, memoryview, mmap)");
    }
  }
  ~BufferView() { PyBuffer_Release(&view_); }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;

  uint8_t* data() const { return static_cast<uint8_t*>(view_.buf); }
  size_t size() const { return static_cast<size_t>(view_.len); }
  qltx::ByteView bytes() const { return {data(), size()}; }

 private:
  Py_buffer view_{};
};

// An integer argument in 0..max (any object with __index__). Negative or too large: ValueError.
uint64_t as_uint(const py::handle& obj, const char* name,
                 uint64_t max = std::numeric_limits<uint64_t>::max()) {
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

py::bytes to_bytes(const uint8_t* p, size_t n) {
  return py::bytes(reinterpret_cast<const char*>(p), n);
}
template <class C>
py::bytes to_bytes(const C& c) {
  return to_bytes(c.data(), c.size());
}

// ---- struct fields -------------------------------------------------------------------------------

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
void bytes_field(py::class_<T>& cls, const char* name, qltx::Bytes T::*member) {
  cls.def_property(
      name, [member](const T& self) { return to_bytes(self.*member); },
      [member, name](T& self, const py::buffer& v) {
        BufferView b(v, false, name);
        (self.*member).assign(b.data(), b.data() + b.size());
      });
}

std::string hex_prefix(const qltx::Bytes& b) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < b.size() && i < 4; ++i) {
    s += digits[b[i] >> 4];
    s += digits[b[i] & 15];
  }
  if (b.size() > 4) s += "...";
  return s;
}

// ---- error translation ---------------------------------------------------------------------------

struct ErrorClasses {
  py::object not_a_container, unsupported, truncated, damaged;
};

py::gil_safe_call_once_and_store<ErrorClasses>& error_classes() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<ErrorClasses> storage;
  return storage;
}

void set_error(const py::object& cls, const qltx::FormatError& e, bool with_block) {
  try {
    py::object block = e.block() >= 0 ? py::object(py::int_(e.block())) : py::object(py::none());
    py::object exc = with_block ? cls(e.what(), block) : cls(e.what());
    PyErr_SetObject(cls.ptr(), exc.ptr());
  } catch (py::error_already_set& err) {
    err.restore();  // constructing the exception failed: report that instead
  }
}

void translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const qltx::NotAContainer& e) {
    set_error(error_classes().get_stored().not_a_container, e, false);
  } catch (const qltx::Unsupported& e) {
    set_error(error_classes().get_stored().unsupported, e, false);
  } catch (const qltx::Truncated& e) {
    set_error(error_classes().get_stored().truncated, e, true);
  } catch (const qltx::Damaged& e) {
    set_error(error_classes().get_stored().damaged, e, true);
  } catch (const qltx::net::NetError& e) {
    // OSError(errno, text): a port in use is OSError with errno EADDRINUSE, as from socket
    PyErr_SetObject(PyExc_OSError, py::make_tuple(e.code(), e.what()).ptr());
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  }
}

// ---- footer entries --------------------------------------------------------------------------------

qltx::Entry entry_from_python(const py::handle& item, size_t i) {
  if (py::isinstance<qltx::Entry>(item)) return item.cast<qltx::Entry>();
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
  qltx::Entry e;
  const uint64_t u32max = std::numeric_limits<uint32_t>::max();
  e.plain_offset = as_uint(t[0], (where + " plain_offset").c_str());
  e.block_offset = as_uint(t[1], (where + " block_offset").c_str());
  e.plain_size = static_cast<uint32_t>(as_uint(t[2], (where + " plain_size").c_str(), u32max));
  e.block_size = static_cast<uint32_t>(as_uint(t[3], (where + " block_size").c_str(), u32max));
  if (!PyObject_CheckBuffer(t[4].ptr()))
    throw py::type_error(where + ": hash must be bytes");
  BufferView h(t[4], false, "hash");
  if (h.size() != qltx::HASH_SIZE)
    throw py::value_error(where + ": hash must be 32 bytes, not " + std::to_string(h.size()));
  std::memcpy(e.hash.data(), h.data(), qltx::HASH_SIZE);
  return e;
}

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

// ---- gateway: the crypto callbacks into Python ------------------------------------------------------
// The gateway's threads run without the GIL; each call below takes it for the call only. Python
// exceptions become std::runtime_error("Type: message") (logged by the gateway).

std::string describe(py::error_already_set& e) {
  std::string s;
  try {
    s = py::str(e.type().attr("__name__")).cast<std::string>() + ": " +
        py::str(e.value()).cast<std::string>();
  } catch (...) {
    s = "error in a Python callback";
  }
  return s;
}

// ---- calls into Python from native threads ------------------------------------------------------
// pybind11 gives a thread without a Python thread state a new one in each outermost
// gil_scoped_acquire and deletes it at the end of it: per call a PyThreadState, and the mmap and
// munmap of its frame stack (a munmap interrupts every other core to flush its TLB). The servers'
// native threads call into Python block after block (measured: two mmap/munmap pairs per 4 KiB
// range served), so each keeps one thread state for its whole life (pybind11's inc_ref) and
// deletes it when it ends; during interpreter finalization it is left to the interpreter.
bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

class KeptThreadState {
 public:
  KeptThreadState() {
    if (PyGILState_GetThisThreadState() != nullptr) return;  // a Python thread: Python owns its state
    py::gil_scoped_acquire gil;
    gil.inc_ref();
    kept_ = true;
  }
  ~KeptThreadState() {
    if (!kept_ || !Py_IsInitialized() || interpreter_finalizing()) return;
    py::gil_scoped_acquire gil;
    gil.dec_ref();  // and gil's own dec_ref deletes it
  }
  KeptThreadState(const KeptThreadState&) = delete;
  KeptThreadState& operator=(const KeptThreadState&) = delete;

 private:
  bool kept_ = false;
};

struct KeepThreadState {
  KeepThreadState() {
    thread_local KeptThreadState kept;
    (void)kept;
  }
};

// Refuses a callback once the interpreter is shutting down: asking for the GIL then would end
// the thread from inside (pthread_exit); an error instead ends the request or connection.
struct NotFinalizing {
  NotFinalizing() {
    if (interpreter_finalizing()) throw std::runtime_error("the Python interpreter is shutting down");
  }
};

// The GIL, for a callback from a native thread (base classes first: the check, then the state
// is kept, then the GIL is taken).
class NativeGil : private NotFinalizing, private KeepThreadState {
  py::gil_scoped_acquire gil_;
};

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
    return call([&] { return bytes_of(s_.attr("header_bytes")); });
  }
  void seal(const qltx::StreamBlock& b, qltx::ByteView plain, uint8_t* out, size_t out_size,
            qltx::Hash& digest) override {
    call([&] {
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
    return call([&] { return bytes_of(s_.attr("finish")(entry_list(entries), plaintext_size)); });
  }
  void open(const qltx::StreamBlock& b, qltx::ByteView stored, uint8_t* out) override {
    call([&] {
      py::memoryview in = py::memoryview::from_memory(stored.data, static_cast<py::ssize_t>(stored.size));
      py::memoryview o = py::memoryview::from_memory(out, static_cast<py::ssize_t>(b.plain_size), false);
      s_.attr("open")(b.index, b.plain_offset, b.plain_size, b.final, in, o);
      in.attr("release")();
      o.attr("release")();
      return 0;
    });
  }
  void check_footer(qltx::ByteView footer, uint64_t footer_offset) override {
    call([&] {
      s_.attr("check_footer")(to_bytes(footer.data, footer.size), footer_offset);
      return 0;
    });
  }
  uint64_t page_entries() override { return page_entries_; }
  qltx::Bytes page(const std::vector<qltx::Entry>& entries) override {
    return call([&] { return bytes_of(s_.attr("page")(entry_list(entries))); });
  }
  bool checks_pages() override { return checks_pages_; }
  void check_page(qltx::ByteView page, uint64_t offset) override {
    call([&] {
      s_.attr("check_page")(to_bytes(page.data, page.size), offset);
      return 0;
    });
  }

 private:
  static py::list entry_list(const std::vector<qltx::Entry>& entries) {
    py::list es;
    for (const auto& e : entries)
      es.append(py::make_tuple(e.plain_offset, e.block_offset, e.plain_size, e.block_size,
                               to_bytes(e.hash)));
    return es;
  }
  static qltx::Bytes bytes_of(const py::handle& obj) {
    BufferView v(obj, false, "result");
    return qltx::Bytes(v.data(), v.data() + v.size());
  }
  template <class F>
  auto call(F f) -> decltype(f()) {
    NativeGil gil;
    try {
      return f();
    } catch (py::error_already_set& e) {
      throw std::runtime_error(describe(e));
    }
  }
  py::object s_;
  uint64_t page_entries_ = 0;
  bool checks_pages_ = false;
};

class PyCodecFactory : public qltx::CodecFactory {
 public:
  PyCodecFactory(py::object make_sealer, py::object make_opener, py::object log)
      : make_sealer_(std::move(make_sealer)), make_opener_(std::move(make_opener)), log_(std::move(log)) {}
  ~PyCodecFactory() override {
    py::gil_scoped_acquire gil;
    make_sealer_ = make_opener_ = log_ = py::object();
  }
  std::unique_ptr<qltx::Codec> sealer() override {
    NativeGil gil;
    try {
      return std::make_unique<PyCodec>(make_sealer_());
    } catch (py::error_already_set& e) {
      throw std::runtime_error(describe(e));
    }
  }
  std::unique_ptr<qltx::Codec> opener(qltx::ByteView header) override {
    NativeGil gil;
    try {
      return std::make_unique<PyCodec>(make_opener_(to_bytes(header.data, header.size)));
    } catch (py::error_already_set& e) {
      throw std::runtime_error(describe(e));
    }
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
uint16_t trailer_version(const py::object& version) {
  const uint64_t v = as_uint(version, "version", 0xffff);
  if (v != qltx::VERSION_6_0 && v != qltx::VERSION_6_1)
    throw py::value_error("version must be VERSION_6_0 or VERSION_6_1");
  return static_cast<uint16_t>(v);
}

// ---- format 6.1: header, keyring copies, index pages, top table (cpp/format61.hpp) --------------

// An index into a sequence of n: negative counts from the end; IndexError outside.
uint64_t seq_index(const py::object& i_obj, uint64_t n, const char* what) {
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

// A non-negative integer below `end`; IndexError at or after it (ValueError when negative).
uint64_t below(const py::object& v, uint64_t end, const char* name) {
  const uint64_t u = as_uint(v, name);
  if (u >= end)
    throw py::index_error(std::string(name) + " " + std::to_string(u) + " is not below " + std::to_string(end));
  return u;
}

qltx::TopEntry top_entry_from_python(const py::handle& item, size_t k) {
  const std::string where = "page " + std::to_string(k);
  if (!py::isinstance<py::sequence>(item) || py::isinstance<py::str>(item))
    throw py::type_error(where + ": expected a 3-tuple (ofs_page, ofs_plaintext, hash)");
  py::tuple t(py::reinterpret_borrow<py::sequence>(item));
  if (t.size() != 3) throw py::value_error(where + ": expected 3 fields, not " + std::to_string(t.size()));
  qltx::TopEntry e;
  e.ofs_page = as_uint(t[0], (where + " ofs_page").c_str());
  e.ofs_plaintext = as_uint(t[1], (where + " ofs_plaintext").c_str());
  if (!PyObject_CheckBuffer(t[2].ptr())) throw py::type_error(where + ": hash must be bytes");
  BufferView h(t[2], false, "hash");
  if (h.size() != qltx::HASH_SIZE)
    throw py::value_error(where + ": hash must be 32 bytes, not " + std::to_string(h.size()));
  std::memcpy(e.hash.data(), h.data(), qltx::HASH_SIZE);
  return e;
}

std::vector<qltx::Entry> entries_from_python(const py::iterable& entries) {
  std::vector<qltx::Entry> es;
  if (py::isinstance<py::sequence>(entries)) es.reserve(py::len(entries));
  for (const py::handle item : entries) es.push_back(entry_from_python(item, es.size()));
  return es;
}

void bind_format61(py::module_& m) {
  m.attr("VERSION_6_0") = qltx::VERSION_6_0;
  m.attr("VERSION_6_1") = qltx::VERSION_6_1;
  m.attr("HEADER61_SIZE") = qltx::HEADER61_SIZE;
  m.attr("HEADER61_MAC_OFFSET") = qltx::HEADER61_MAC_OFFSET;
  m.attr("KEYRING_HEAD_SIZE") = qltx::KEYRING_HEAD_SIZE;
  m.attr("SLOT_SIZE") = qltx::SLOT_SIZE;
  m.attr("SLOT_BODY_MAX") = qltx::SLOT_BODY_MAX;
  m.attr("MIN_KEYRING_SLOTS") = qltx::MIN_KEYRING_SLOTS;
  m.attr("MAX_KEYRING_SLOTS") = qltx::MAX_KEYRING_SLOTS;
  m.attr("PAGE_HEAD_SIZE") = qltx::PAGE_HEAD_SIZE;
  m.attr("TOP_ENTRY_SIZE") = qltx::TOP_ENTRY_SIZE;
  m.attr("MIN_PAGE_SHIFT") = qltx::MIN_PAGE_SHIFT;
  m.attr("MAX_PAGE_SHIFT") = qltx::MAX_PAGE_SHIFT;
  m.attr("HASH_SHA256") = qltx::HASH_SHA256;
  m.attr("HASH_BLAKE3") = qltx::HASH_BLAKE3;
  m.attr("SLOT_EMPTY") = qltx::SLOT_EMPTY;
  m.attr("SLOT_RAW") = qltx::SLOT_RAW;
  m.attr("SLOT_ARGON2ID") = qltx::SLOT_ARGON2ID;
  m.attr("SLOT_SCRYPT") = qltx::SLOT_SCRYPT;
  m.attr("SLOT_X25519") = qltx::SLOT_X25519;
  py::dict body_sizes;
  for (uint8_t t : {qltx::SLOT_RAW, qltx::SLOT_ARGON2ID, qltx::SLOT_SCRYPT, qltx::SLOT_X25519})
    body_sizes[py::int_(t)] = qltx::slot_body_size(t);
  m.attr("SLOT_BODY_SIZES") = body_sizes;

  m.def(
      "header_version",
      [](const py::buffer& buf) { return qltx::header_version(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));

  // ---- header ----
  py::class_<qltx::Header61> header(m, "Header61", "The 256-byte header of format 6.1.");
  header.def(py::init<>());
  int_field(header, "cipher_id", &qltx::Header61::cipher_id);
  int_field(header, "index_hash", &qltx::Header61::index_hash);
  int_field(header, "block_hash", &qltx::Header61::block_hash);
  int_field(header, "page_shift", &qltx::Header61::page_shift);
  int_field(header, "flags", &qltx::Header61::flags);
  int_field(header, "block_size", &qltx::Header61::block_size);
  bytes_field(header, "container_id", &qltx::Header61::container_id);
  int_field(header, "keyring_slots", &qltx::Header61::keyring_slots);
  bytes_field(header, "key_commitment", &qltx::Header61::key_commitment);
  int_field(header, "num_blocks", &qltx::Header61::num_blocks);
  int_field(header, "plaintext_size", &qltx::Header61::plaintext_size);
  int_field(header, "footer_offset", &qltx::Header61::footer_offset);
  int_field(header, "footer_size", &qltx::Header61::footer_size);
  bytes_field(header, "header_mac", &qltx::Header61::header_mac);
  header.def_property_readonly("permuted", &qltx::Header61::permuted);
  header.def_property_readonly("streamed", &qltx::Header61::streamed);
  header.def_property_readonly("keyring_copy_size", &qltx::Header61::keyring_copy_size);
  header.def_property_readonly("data_offset", &qltx::Header61::data_offset);
  header.def_property_readonly("page_entries", [](const qltx::Header61& h) {
    // Python's shift: any u8 page_shift of an unchecked object gives a number, not UB.
    return py::int_(1).attr("__lshift__")(py::int_(h.page_shift));
  });
  header.def("__repr__", [](const qltx::Header61& h) {
    return "<Header61 cipher_id=" + std::to_string(h.cipher_id) +
           " index_hash=" + std::to_string(h.index_hash) + " block_hash=" + std::to_string(h.block_hash) +
           " page_shift=" + std::to_string(h.page_shift) + " flags=" + std::to_string(h.flags) +
           " block_size=" + std::to_string(h.block_size) + " container_id=" + hex_prefix(h.container_id) +
           " keyring_slots=" + std::to_string(h.keyring_slots) +
           " num_blocks=" + std::to_string(h.num_blocks) +
           " plaintext_size=" + std::to_string(h.plaintext_size) +
           " footer_offset=" + std::to_string(h.footer_offset) +
           " footer_size=" + std::to_string(h.footer_size) + ">";
  });
  m.def(
      "encode_header61", [](const qltx::Header61& h) { return to_bytes(qltx::encode_header61(h)); },
      py::arg("h"));
  m.def(
      "decode_header61",
      [](const py::buffer& buf) { return qltx::decode_header61(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));
  m.def(
      "header61_mac_input",
      [](const py::buffer& buf) { return to_bytes(qltx::header61_mac_input(BufferView(buf, false, "buf").bytes())); },
      py::arg("buf"));

  // ---- keyring copy ----
  m.def(
      "encode_keyring_copy",
      [](const py::object& num_slots, const py::object& generation, const py::iterable& slots,
         const py::buffer& mac) {
        const uint32_t n = static_cast<uint32_t>(as_uint(num_slots, "num_slots", qltx::MAX_KEYRING_SLOTS));
        std::vector<qltx::Slot> ss;
        for (const py::handle item : slots) {
          const std::string where = "slot " + std::to_string(ss.size());
          if (ss.size() >= n) throw py::value_error("more than " + std::to_string(n) + " slots");
          if (!py::isinstance<py::sequence>(item) || py::isinstance<py::str>(item))
            throw py::type_error(where + ": expected a (slot_type, body) pair");
          py::tuple t(py::reinterpret_borrow<py::sequence>(item));
          if (t.size() != 2) throw py::value_error(where + ": expected (slot_type, body)");
          qltx::Slot s;
          s.type = static_cast<uint8_t>(as_uint(t[0], (where + " slot_type").c_str(), 255));
          if (!PyObject_CheckBuffer(t[1].ptr())) throw py::type_error(where + ": body must be bytes");
          BufferView body(t[1], false, "body");
          s.body.assign(body.data(), body.data() + body.size());
          ss.push_back(std::move(s));
        }
        BufferView mv(mac, false, "mac");
        return to_bytes(qltx::encode_keyring_copy(n, as_uint(generation, "generation"), ss, mv.bytes()));
      },
      py::arg("num_slots"), py::arg("generation"), py::arg("slots"), py::arg("mac"));
  m.def(
      "decode_keyring_copy",
      [](const py::buffer& buf, const py::object& num_slots) {
        const uint64_t n = as_uint(num_slots, "num_slots");
        qltx::check_keyring_slots_arg(n);
        const qltx::KeyringCopy k =
            qltx::decode_keyring_copy(BufferView(buf, false, "buf").bytes(), static_cast<uint32_t>(n));
        py::list slots;
        for (const qltx::Slot& s : k.slots) slots.append(py::make_tuple(s.type, to_bytes(s.body)));
        return py::make_tuple(k.generation, slots, to_bytes(k.mac));
      },
      py::arg("buf"), py::arg("num_slots"));

  // ---- index pages ----
  py::class_<qltx::Page>(m, "Page", "One decoded and validated index page of format 6.1.")
      .def_property_readonly("first_block", &qltx::Page::first_block)
      .def_property_readonly("plain_offset", &qltx::Page::plain_offset)
      .def_property_readonly("block_offset", &qltx::Page::block_offset)
      .def_property_readonly("plain_end", &qltx::Page::plain_end)
      .def_property_readonly("block_end", &qltx::Page::block_end)
      .def("__len__", &qltx::Page::size)
      .def(
          "__getitem__",
          [](const qltx::Page& p, const py::object& j) {
            return p.entry(static_cast<uint32_t>(seq_index(j, p.size(), "entry index")));
          },
          py::arg("j"))
      .def(
          "locate",
          [](const qltx::Page& p, const py::object& offset) {
            const uint64_t o = as_uint(offset, "offset");
            if (o < p.plain_offset() || o >= p.plain_end())
              throw py::index_error("offset " + std::to_string(o) + " is outside the page's plaintext");
            return p.locate(o);
          },
          py::arg("offset"))
      .def("__repr__", [](const qltx::Page& p) {
        return "<Page first_block=" + std::to_string(p.first_block()) + " entries=" + std::to_string(p.size()) +
               " plain=" + std::to_string(p.plain_offset()) + ".." + std::to_string(p.plain_end()) + ">";
      });
  m.def(
      "encode_page",
      [](const py::object& first_block, const py::iterable& entries) {
        return to_bytes(qltx::encode_page(as_uint(first_block, "first_block"), entries_from_python(entries)));
      },
      py::arg("first_block"), py::arg("entries"));
  m.def(
      "decode_page",
      [](const py::buffer& buf, const py::object& first_block, const py::object& num_entries,
         const py::object& block_size, const py::object& plain_offset, const py::object& block_offset,
         bool last) {
        const uint64_t fb = as_uint(first_block, "first_block");
        const uint64_t ne = as_uint(num_entries, "num_entries", qltx::MAX_PAGE_ENTRIES);
        const uint64_t bs = as_uint(block_size, "block_size");
        const uint64_t po = as_uint(plain_offset, "plain_offset");
        const uint64_t bo = as_uint(block_offset, "block_offset");
        BufferView b(buf, false, "buf");
        py::gil_scoped_release nogil;  // up to 65536 entries to check
        return qltx::decode_page(b.bytes(), fb, static_cast<uint32_t>(ne), bs, po, bo, last);
      },
      py::arg("buf"), py::arg("first_block"), py::arg("num_entries"), py::arg("block_size"),
      py::arg("plain_offset"), py::arg("block_offset"), py::arg("last"));

  // ---- footer 6.1 ----
  py::class_<qltx::PageRef>(m, "PageRef", "Where one index page is, from the footer's top table.")
      .def_readonly("index", &qltx::PageRef::index)
      .def_readonly("ofs_page", &qltx::PageRef::ofs_page)
      .def_readonly("len_page", &qltx::PageRef::len_page)
      .def_readonly("ofs_plaintext", &qltx::PageRef::ofs_plaintext)
      .def_readonly("plain_end", &qltx::PageRef::plain_end)
      .def_readonly("first_block", &qltx::PageRef::first_block)
      .def_readonly("num_entries", &qltx::PageRef::num_entries)
      .def_readonly("block_offset", &qltx::PageRef::block_offset)
      .def_property_readonly("hash", [](const qltx::PageRef& r) { return to_bytes(r.hash); })
      .def_readonly("last", &qltx::PageRef::last)
      .def("__repr__", [](const qltx::PageRef& r) {
        return "<PageRef index=" + std::to_string(r.index) + " ofs_page=" + std::to_string(r.ofs_page) +
               " first_block=" + std::to_string(r.first_block) + " num_entries=" +
               std::to_string(r.num_entries) + " plain=" + std::to_string(r.ofs_plaintext) + ".." +
               std::to_string(r.plain_end) + (r.last ? " last" : "") + ">";
      });
  py::class_<qltx::TopTable>(m, "TopTable", "The decoded and validated footer of format 6.1.")
      .def_property_readonly("num_blocks", &qltx::TopTable::num_blocks)
      .def_property_readonly("plaintext_size", &qltx::TopTable::plaintext_size)
      .def_property_readonly("info_size", &qltx::TopTable::info_size)
      .def_property_readonly("mac", [](const qltx::TopTable& t) { return to_bytes(t.mac()); })
      .def_property_readonly("num_pages", &qltx::TopTable::num_pages)
      .def_property_readonly("page_shift", &qltx::TopTable::page_shift)
      .def_property_readonly("page_entries", &qltx::TopTable::page_entries)
      .def("__len__", &qltx::TopTable::num_pages)
      .def(
          "page",
          [](const qltx::TopTable& t, const py::object& k) { return t.page(seq_index(k, t.num_pages(), "page index")); },
          py::arg("k"))
      .def(
          "locate",
          [](const qltx::TopTable& t, const py::object& offset) {
            return t.locate(below(offset, t.plaintext_size(), "offset"));
          },
          py::arg("offset"))
      .def(
          "span",
          [](const qltx::TopTable& t, const py::object& offset, const py::object& length) {
            return t.span(as_uint(offset, "offset"), as_uint(length, "length"));
          },
          py::arg("offset"), py::arg("length"))
      .def(
          "block_page",
          [](const qltx::TopTable& t, const py::object& i) { return t.block_page(below(i, t.num_blocks(), "block")); },
          py::arg("i"))
      .def("__repr__", [](const qltx::TopTable& t) {
        return "<TopTable num_blocks=" + std::to_string(t.num_blocks()) + " plaintext_size=" +
               std::to_string(t.plaintext_size()) + " num_pages=" + std::to_string(t.num_pages()) + ">";
      });
  m.def(
      "decode_footer61_head",
      [](const py::buffer& buf) {
        const qltx::Footer61Head f = qltx::decode_footer61_head(BufferView(buf, false, "buf").bytes());
        return py::make_tuple(f.num_blocks, f.plaintext_size, f.info_size, f.num_pages, to_bytes(f.mac));
      },
      py::arg("buf"));
  m.def(
      "decode_footer61",
      [](const py::buffer& buf, const py::object& page_shift, const py::object& block_size,
         const py::object& data_offset, const py::object& footer_offset) {
        const uint64_t ps = as_uint(page_shift, "page_shift");
        qltx::check_page_shift_arg(ps);
        const uint64_t bs = as_uint(block_size, "block_size");
        const uint64_t dof = as_uint(data_offset, "data_offset");
        const uint64_t fo = as_uint(footer_offset, "footer_offset");
        BufferView b(buf, false, "buf");
        py::gil_scoped_release nogil;  // up to 2^25 pages to check
        return qltx::decode_footer61(b.bytes(), static_cast<unsigned>(ps), bs, dof, fo);
      },
      py::arg("buf"), py::arg("page_shift"), py::arg("block_size"), py::arg("data_offset"),
      py::arg("footer_offset"));
  m.def(
      "encode_footer61",
      [](const py::object& num_blocks, const py::object& plaintext_size, const py::iterable& pages,
         const py::buffer& info, const py::buffer& mac) {
        std::vector<qltx::TopEntry> ps;
        for (const py::handle item : pages) {
          if (ps.size() >= 0xffffffffu) throw py::value_error("more than 2^32 - 1 pages");
          ps.push_back(top_entry_from_python(item, ps.size()));
        }
        BufferView iv(info, false, "info");
        BufferView mv(mac, false, "mac");
        return to_bytes(qltx::encode_footer61(as_uint(num_blocks, "num_blocks"),
                                              as_uint(plaintext_size, "plaintext_size"), ps, iv.bytes(),
                                              mv.bytes()));
      },
      py::arg("num_blocks"), py::arg("plaintext_size"), py::arg("pages"), py::arg("info"), py::arg("mac"));
}

// ---- HTTP (sans-IO parsers and builders; private, for tests and the SeekServer) ----------------

std::vector<qltx::http::Header> headers_from_python(const py::iterable& items) {
  std::vector<qltx::http::Header> out;
  for (const py::handle item : items) {
    auto t = item.cast<std::pair<std::string, std::string>>();
    out.push_back({qltx::http::lower(t.first), t.second});
  }
  return out;
}

py::list fields_to_python(const qltx::http::Fields& fields) {
  py::list out;
  for (const auto& f : fields) out.append(py::make_tuple(f.first, f.second));
  return out;
}

py::list ranges_to_python(const std::vector<qltx::http::ByteRange>& ranges) {
  py::list out;
  for (const auto& r : ranges) out.append(py::make_tuple(r.first, r.last));
  return out;
}

qltx::http::RangeLimits range_limits(const py::object& max_ranges, const py::object& max_overlaps) {
  qltx::http::RangeLimits l;
  l.max_ranges = static_cast<size_t>(as_uint(max_ranges, "max_ranges", 1u << 30));
  l.max_overlaps = static_cast<size_t>(as_uint(max_overlaps, "max_overlaps", 1u << 30));
  return l;
}

void bind_http(py::module_& m) {
  namespace http = qltx::http;
  m.def(
      "http_parse_request",
      [](const py::buffer& buf, const py::object& max_request_line, const py::object& max_header_line,
         const py::object& max_header_bytes, const py::object& max_body) -> py::tuple {
        http::Limits lim;
        lim.max_request_line = static_cast<size_t>(as_uint(max_request_line, "max_request_line", 1u << 30));
        lim.max_header_line = static_cast<size_t>(as_uint(max_header_line, "max_header_line", 1u << 30));
        lim.max_header_bytes = static_cast<size_t>(as_uint(max_header_bytes, "max_header_bytes", 1u << 30));
        lim.max_body = as_uint(max_body, "max_body");
        http::ParseResult r;
        {
          BufferView b(buf, false, "buf");
          r = http::parse_request(b.data(), b.size(), lim);
        }
        if (r.kind == http::Parse::NeedMore) return py::make_tuple("need_more");
        if (r.kind == http::Parse::Error)
          return py::make_tuple("error", r.error.status, r.error.reason);
        const http::Request& q = r.request;
        py::list headers;
        for (const auto& h : q.headers) headers.append(py::make_tuple(h.name, py::bytes(h.value)));
        py::dict d;
        d["method"] = q.method;
        d["target"] = py::bytes(q.target);
        d["version"] = q.version;
        d["headers"] = headers;
        d["consumed"] = q.consumed;
        d["body_length"] = q.body_length;
        d["keep_alive"] = q.keep_alive;
        return py::make_tuple("request", d);
      },
      py::arg("buf"), py::arg("max_request_line") = 8192, py::arg("max_header_line") = 8192,
      py::arg("max_header_bytes") = 32768, py::arg("max_body") = 65536);
  m.def(
      "http_parse_range",
      [](const std::string& value, const py::object& size, const py::object& max_ranges,
         const py::object& max_overlaps) {
        http::RangeResult r =
            http::parse_range(value, as_uint(size, "size"), range_limits(max_ranges, max_overlaps));
        const char* kind = r.kind == http::RangeKind::Ignore          ? "ignore"
                           : r.kind == http::RangeKind::Unsatisfiable ? "unsatisfiable"
                                                                      : "ranges";
        return py::make_tuple(kind, ranges_to_python(r.ranges));
      },
      py::arg("value"), py::arg("size"), py::arg("max_ranges") = 16, py::arg("max_overlaps") = 2);
  m.def(
      "http_plan",
      [](const std::string& method, const py::iterable& headers, const py::object& size,
         const std::string& etag, const py::object& last_modified, const std::string& content_type,
         const std::string& boundary, const py::object& max_ranges, const py::object& max_overlaps) {
        http::Resource res;
        res.size = as_uint(size, "size");
        res.etag = etag;
        res.last_modified = last_modified.is_none()
                                ? -1
                                : static_cast<int64_t>(as_uint(last_modified, "last_modified",
                                                               std::numeric_limits<int64_t>::max()));
        res.content_type = content_type;
        http::Plan p = http::plan_response(method, headers_from_python(headers), res, boundary,
                                           range_limits(max_ranges, max_overlaps));
        py::dict d;
        d["status"] = p.status;
        d["fields"] = fields_to_python(p.fields);
        d["ranges"] = ranges_to_python(p.ranges);
        d["multipart"] = p.multipart;
        d["content_length"] = p.content_length;
        d["send_body"] = p.send_body;
        d["static_body"] = py::bytes(p.static_body);
        return d;
      },
      py::arg("method"), py::arg("headers"), py::arg("size"), py::arg("etag") = "",
      py::arg("last_modified") = py::none(), py::arg("content_type") = "application/octet-stream",
      py::arg("boundary") = "qeltrix-boundary", py::arg("max_ranges") = 16, py::arg("max_overlaps") = 2);
  m.def("http_format_date", [](int64_t t) { return http::format_date(t); }, py::arg("t"));
  m.def(
      "http_parse_date",
      [](const std::string& s) -> py::object {
        int64_t t = http::parse_date(s);
        return t < 0 ? py::object(py::none()) : py::object(py::int_(t));
      },
      py::arg("s"));
  m.def(
      "http_build_head",
      [](int status, const py::iterable& items) {
        http::Fields fields;
        for (const py::handle item : items) fields.push_back(item.cast<std::pair<std::string, std::string>>());
        return py::bytes(http::build_head(status, fields));
      },
      py::arg("status"), py::arg("fields"));
  m.def(
      "http_multipart_part",
      [](const std::string& boundary, const std::string& content_type, const py::object& first,
         const py::object& last, const py::object& size) {
        http::ByteRange r{as_uint(first, "first"), as_uint(last, "last")};
        return py::bytes(http::multipart_part_header(boundary, content_type, r, as_uint(size, "size")));
      },
      py::arg("boundary"), py::arg("content_type"), py::arg("first"), py::arg("last"), py::arg("size"));
  m.def(
      "http_multipart_close", [](const std::string& b) { return py::bytes(http::multipart_close(b)); },
      py::arg("boundary"));
}

// ---- SeekServer ------------------------------------------------------------------------------------

// Owns the C++ server and the Python callbacks. The callbacks run on the server's threads with
// the GIL taken only around them; stop() and the destructor release the GIL while the threads
// finish (they may be waiting for it), and the callbacks are released with the GIL held.
class PySeekServer {
 public:
  PySeekServer(qltx::seek::Config cfg, py::object read, py::object log, py::object page) {
    auto read_fn = [read](uint32_t id, uint64_t offset, uint64_t length, std::string& out) {
      NativeGil gil;
      std::string error;
      try {
        py::object r = read(id, offset, length);
        BufferView b(r, false, "read() result");
        {
          py::gil_scoped_release nogil;  // a whole block: other threads decrypt meanwhile
          out.assign(reinterpret_cast<const char*>(b.data()), b.size());
        }
        return;
      } catch (py::error_already_set& e) {
        error = e.what();
      } catch (const std::exception& e) {
        error = e.what();
      }
      throw std::runtime_error(error);
    };
    auto log_fn = [log](const qltx::seek::LogLines& lines) {
      NativeGil gil;  // once for the batch
      for (const auto& l : lines) {
        try {
          log(l.first, l.second);
        } catch (py::error_already_set& e) {
          e.discard_as_unraisable("qeltrix SeekServer log callback");
        }
      }
    };
    qltx::seek::PageFn page_fn;
    if (!page.is_none()) {
      page_fn = [page](const qltx::seek::PageRequest& req, qltx::seek::Page& out) {
        NativeGil gil;
        std::string error;
        try {
          py::tuple t = page(req.method, py::bytes(req.path), req.query, req.accept);
          if (t.size() != 3) throw py::type_error("page() must return (status, fields, body)");
          out.status = static_cast<int>(as_uint(t[0], "status", 999));
          for (const py::handle f : t[1]) {
            auto nv = f.cast<std::pair<std::string, std::string>>();
            out.fields.push_back(std::move(nv));
          }
          BufferView b(t[2], false, "page() body");
          out.body.assign(reinterpret_cast<const char*>(b.data()), b.size());
          return;
        } catch (py::error_already_set& e) {
          error = e.what();
        } catch (const std::exception& e) {
          error = e.what();
        }
        throw std::runtime_error(error);
      };
    }
    server_.reset(new qltx::seek::Server(std::move(cfg), read_fn, log_fn, page_fn));
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

int ms_arg(double seconds, const char* name) {
  if (!(seconds > 0) || seconds > 86400.0) throw py::value_error(std::string(name) + " must be in (0, 86400] seconds");
  return static_cast<int>(seconds * 1000.0 + 0.5);
}

void bind_seek_server(py::module_& m) {
  py::class_<PySeekServer>(m, "SeekServer", "The native HTTP server behind qeltrix.SeekServer.")
      .def(py::init([](const py::iterable& entries, py::object read, py::object log, const std::string& host,
                       const py::object& port, const py::object& workers, const py::object& max_connections,
                       double header_timeout, double idle_timeout, double send_timeout, double stop_timeout,
                       const std::string& token, const std::string& boundary_prefix,
                       const py::object& max_ranges, const py::object& max_overlaps, const py::object& max_chunk,
                       py::object page) {
             qltx::seek::Config cfg;
             cfg.host = host;
             cfg.port = static_cast<uint16_t>(as_uint(port, "port", 65535));
             cfg.workers = static_cast<unsigned>(as_uint(workers, "workers", 1024));
             if (cfg.workers == 0) throw py::value_error("workers must be at least 1");
             cfg.max_connections = static_cast<size_t>(as_uint(max_connections, "max_connections", 1u << 20));
             if (cfg.max_connections == 0) throw py::value_error("max_connections must be at least 1");
             cfg.header_timeout_ms = ms_arg(header_timeout, "header_timeout");
             cfg.idle_timeout_ms = ms_arg(idle_timeout, "idle_timeout");
             cfg.send_timeout_ms = ms_arg(send_timeout, "send_timeout");
             cfg.stop_timeout_ms = ms_arg(stop_timeout, "stop_timeout");
             cfg.token = token;
             if (boundary_prefix.empty() || boundary_prefix.find_first_not_of(
                     "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)
               throw py::value_error("boundary_prefix must be non-empty and alphanumeric");
             cfg.boundary_prefix = boundary_prefix;
             cfg.range_limits = range_limits(max_ranges, max_overlaps);
             cfg.max_chunk = as_uint(max_chunk, "max_chunk", 64u << 20);
             if (cfg.max_chunk == 0) throw py::value_error("max_chunk must be at least 1");
             for (const py::handle item : entries) {
               py::tuple t = py::reinterpret_borrow<py::tuple>(item);
               if (!py::isinstance<py::tuple>(item) || t.size() != 7)
                 throw py::type_error("an entry is (path, id, size, etag, last_modified, content_type, chunk)");
               qltx::seek::Entry e;
               e.path = t[0].cast<std::string>();
               e.id = static_cast<uint32_t>(as_uint(t[1], "id", 0xffffffffu));
               e.resource.size = as_uint(t[2], "size");
               e.resource.etag = t[3].cast<std::string>();
               e.resource.last_modified = t[4].is_none() ? -1 : static_cast<int64_t>(as_uint(
                   t[4], "last_modified", static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));
               e.resource.content_type = t[5].cast<std::string>();
               e.chunk = as_uint(t[6], "chunk");
               if (e.chunk == 0) throw py::value_error("chunk must be at least 1");
               for (const std::string* f : {&e.resource.etag, &e.resource.content_type})
                 if (f->find_first_of("\r\n") != std::string::npos || f->find('\0') != std::string::npos)
                   throw py::value_error("etag and content_type must not hold CR, LF or NUL");
               cfg.entries.push_back(std::move(e));
             }
             cfg.pages = !page.is_none();
             return new PySeekServer(std::move(cfg), std::move(read), std::move(log), std::move(page));
           }),
           py::arg("entries"), py::arg("read"), py::arg("log"), py::arg("host") = "127.0.0.1",
           py::arg("port") = 7621, py::arg("workers") = 4, py::arg("max_connections") = 256,
           py::arg("header_timeout") = 10.0, py::arg("idle_timeout") = 15.0, py::arg("send_timeout") = 30.0,
           py::arg("stop_timeout") = 5.0, py::arg("token") = "", py::arg("boundary_prefix") = "qeltrix",
           py::arg("max_ranges") = 16, py::arg("max_overlaps") = 2, py::arg("max_chunk") = 4u << 20,
           py::arg("page") = py::none())
      .def("start", &PySeekServer::start)
      .def("stop", &PySeekServer::stop)
      .def_property_readonly("port", &PySeekServer::port)
      .def_property_readonly("running", &PySeekServer::running)
      .def("stats", &PySeekServer::stats);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Private native core of Qeltrix: framing, permutation and seek arithmetic.";

  error_classes().call_once_and_store_result([] {
    py::module_ errors = py::module_::import("qeltrix.errors");
    return ErrorClasses{errors.attr("NotAContainerError"), errors.attr("UnsupportedVersionError"),
                        errors.attr("TruncatedError"), errors.attr("DamagedError")};
  });
  py::register_local_exception_translator(translate);

  m.attr("VERSION") = qltx::VERSION;
  m.attr("HEADER_SIZE") = qltx::HEADER_SIZE;
  m.attr("HEADER_MAC_OFFSET") = qltx::HEADER_MAC_OFFSET;
  m.attr("PREFIX_SIZE") = qltx::PREFIX_SIZE;
  m.attr("META_IV_SIZE") = qltx::META_IV_SIZE;
  m.attr("META_PLAIN_SIZE") = qltx::META_PLAIN_SIZE;
  m.attr("META_SEALED_SIZE") = qltx::META_SEALED_SIZE;
  m.attr("TAG_SIZE") = qltx::TAG_SIZE;
  m.attr("BLOCK_OVERHEAD") = qltx::BLOCK_OVERHEAD;
  m.attr("FOOTER_HEAD_SIZE") = qltx::FOOTER_HEAD_SIZE;
  m.attr("FOOTER_MAC_OFFSET") = qltx::FOOTER_MAC_OFFSET;
  m.attr("FOOTER_ENTRY_SIZE") = qltx::FOOTER_ENTRY_SIZE;
  m.attr("MIN_INFO_SIZE") = qltx::MIN_INFO_SIZE;
  m.attr("MAX_INFO_SIZE") = qltx::MAX_INFO_SIZE;
  m.attr("TRAILER_SIZE") = qltx::TRAILER_SIZE;
  m.attr("MIN_BLOCK_SIZE") = qltx::MIN_BLOCK_SIZE;
  m.attr("MAX_BLOCK_SIZE") = qltx::MAX_BLOCK_SIZE;
  m.attr("MAX_BLOCKS") = qltx::MAX_BLOCKS;
  m.attr("CIPHER_AES256_GCM") = qltx::CIPHER_AES256_GCM;
  m.attr("CIPHER_CHACHA20_POLY1305") = qltx::CIPHER_CHACHA20_POLY1305;
  m.attr("KDF_NONE") = qltx::KDF_NONE;
  m.attr("KDF_ARGON2ID") = qltx::KDF_ARGON2ID;
  m.attr("KDF_SCRYPT") = qltx::KDF_SCRYPT;
  m.attr("FLAG_PERMUTED") = qltx::FLAG_PERMUTED;
  m.attr("FLAG_FINAL") = qltx::FLAG_FINAL;

  // ---- header ----
  py::class_<qltx::Header> header(m, "Header", "The 416-byte container header.");
  header.def(py::init<>());
  int_field(header, "cipher_id", &qltx::Header::cipher_id);
  int_field(header, "kdf_id", &qltx::Header::kdf_id);
  int_field(header, "flags", &qltx::Header::flags);
  int_field(header, "block_size", &qltx::Header::block_size);
  bytes_field(header, "container_id", &qltx::Header::container_id);
  bytes_field(header, "kdf_salt", &qltx::Header::kdf_salt);
  int_field(header, "kdf_t", &qltx::Header::kdf_t);
  int_field(header, "kdf_m", &qltx::Header::kdf_m);
  int_field(header, "kdf_p", &qltx::Header::kdf_p);
  bytes_field(header, "key_commitment", &qltx::Header::key_commitment);
  bytes_field(header, "header_mac", &qltx::Header::header_mac);
  int_field(header, "num_blocks", &qltx::Header::num_blocks);
  int_field(header, "plaintext_size", &qltx::Header::plaintext_size);
  int_field(header, "footer_offset", &qltx::Header::footer_offset);
  int_field(header, "footer_size", &qltx::Header::footer_size);
  header.def_property_readonly("permuted", &qltx::Header::permuted);
  header.def_property_readonly("streamed", &qltx::Header::streamed);
  header.def("__repr__", [](const qltx::Header& h) {
    return "<Header cipher_id=" + std::to_string(h.cipher_id) +
           " kdf_id=" + std::to_string(h.kdf_id) + " flags=" + std::to_string(h.flags) +
           " block_size=" + std::to_string(h.block_size) + " container_id=" +
           hex_prefix(h.container_id) + " num_blocks=" + std::to_string(h.num_blocks) +
           " plaintext_size=" + std::to_string(h.plaintext_size) +
           " footer_offset=" + std::to_string(h.footer_offset) +
           " footer_size=" + std::to_string(h.footer_size) + ">";
  });
  m.def(
      "encode_header",
      [](const qltx::Header& h) { return to_bytes(qltx::encode_header(h)); }, py::arg("h"));
  m.def(
      "decode_header",
      [](const py::buffer& buf) { return qltx::decode_header(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));

  // ---- block prefix ----
  py::class_<qltx::Prefix> prefix(m, "Prefix", "The 28-byte clear prefix of a block.");
  prefix.def(py::init([](const py::object& index, const py::object& payload_size, bool final) {
               qltx::Prefix p;
               p.index = as_uint(index, "index");
               p.payload_size = as_uint(payload_size, "payload_size");
               p.flags = final ? qltx::FLAG_FINAL : 0;
               return p;
             }),
             py::arg("index") = 0, py::arg("payload_size") = qltx::TAG_SIZE,
             py::arg("final") = false);
  int_field(prefix, "index", &qltx::Prefix::index);
  int_field(prefix, "meta_size", &qltx::Prefix::meta_size);
  int_field(prefix, "payload_size", &qltx::Prefix::payload_size);
  int_field(prefix, "flags", &qltx::Prefix::flags);
  prefix.def_property_readonly("final", &qltx::Prefix::final);
  prefix.def("__repr__", [](const qltx::Prefix& p) {
    return "<Prefix index=" + std::to_string(p.index) + " meta_size=" +
           std::to_string(p.meta_size) + " payload_size=" + std::to_string(p.payload_size) +
           " flags=" + std::to_string(p.flags) + ">";
  });
  m.def(
      "encode_prefix",
      [](const qltx::Prefix& p) { return to_bytes(qltx::encode_prefix(p)); }, py::arg("p"));
  m.def(
      "decode_prefix",
      [](const py::buffer& buf, const py::object& block_size) {
        return qltx::decode_prefix(BufferView(buf, false, "buf").bytes(),
                                   as_uint(block_size, "block_size"));
      },
      py::arg("buf"), py::arg("block_size"));

  // ---- block metadata ----
  py::class_<qltx::Meta> meta(m, "Meta", "The 148-byte plaintext of a block's sealed metadata.");
  meta.def(py::init<>());
  int_field(meta, "plain_offset", &qltx::Meta::plain_offset);
  int_field(meta, "plain_size", &qltx::Meta::plain_size);
  bytes_field(meta, "payload_iv", &qltx::Meta::payload_iv);
  bytes_field(meta, "block_salt", &qltx::Meta::block_salt);
  bytes_field(meta, "wrap_iv", &qltx::Meta::wrap_iv);
  bytes_field(meta, "wrapped_cdk", &qltx::Meta::wrapped_cdk);
  bytes_field(meta, "plaintext_sha256", &qltx::Meta::plaintext_sha256);
  meta.def("__repr__", [](const qltx::Meta& mt) {
    return "<Meta plain_offset=" + std::to_string(mt.plain_offset) +
           " plain_size=" + std::to_string(mt.plain_size) + ">";
  });
  m.def(
      "encode_meta", [](const qltx::Meta& mt) { return to_bytes(qltx::encode_meta(mt)); },
      py::arg("m"));
  m.def(
      "decode_meta",
      [](const py::buffer& buf) { return qltx::decode_meta(BufferView(buf, false, "buf").bytes()); },
      py::arg("buf"));

  // ---- footer ----
  py::class_<qltx::Entry> entry(m, "Entry", "One footer index entry.");
  entry.def_readonly("plain_offset", &qltx::Entry::plain_offset)
      .def_readonly("block_offset", &qltx::Entry::block_offset)
      .def_readonly("plain_size", &qltx::Entry::plain_size)
      .def_readonly("block_size", &qltx::Entry::block_size)
      .def_property_readonly("hash", [](const qltx::Entry& e) { return to_bytes(e.hash); })
      .def("__repr__", [](const qltx::Entry& e) {
        return "<Entry plain_offset=" + std::to_string(e.plain_offset) +
               " block_offset=" + std::to_string(e.block_offset) +
               " plain_size=" + std::to_string(e.plain_size) +
               " block_size=" + std::to_string(e.block_size) + ">";
      });

  py::class_<qltx::Index> index(m, "Index", "The decoded and structurally validated footer.");
  index.def_property_readonly("num_blocks", &qltx::Index::num_blocks)
      .def_property_readonly("plaintext_size", &qltx::Index::plaintext_size)
      .def_property_readonly("mac", [](const qltx::Index& x) { return to_bytes(x.mac()); })
      .def_property_readonly("info_size", &qltx::Index::info_size)
      .def_property_readonly("uniform", &qltx::Index::uniform)
      .def("__len__", [](const qltx::Index& x) { return x.num_blocks(); })
      .def(
          "__getitem__",
          [](const qltx::Index& x, const py::object& i_obj) {
            py::object io = py::reinterpret_steal<py::object>(PyNumber_Index(i_obj.ptr()));
            if (!io) throw py::error_already_set();
            int overflow = 0;
            long long i = PyLong_AsLongLongAndOverflow(io.ptr(), &overflow);
            if (i == -1 && PyErr_Occurred()) throw py::error_already_set();
            const long long n = static_cast<long long>(x.num_blocks());
            if (overflow == 0 && i < 0) i += n;
            if (overflow != 0 || i < 0 || i >= n) throw py::index_error("block index out of range");
            return x.entry(static_cast<uint64_t>(i));
          },
          py::arg("i"))
      .def(
          "locate",
          [](const qltx::Index& x, const py::object& offset) {
            return x.locate(as_uint(offset, "offset"));
          },
          py::arg("offset"))
      .def(
          "span",
          [](const qltx::Index& x, const py::object& offset, const py::object& length) {
            return x.span(as_uint(offset, "offset"), as_uint(length, "length"));
          },
          py::arg("offset"), py::arg("length"))
      .def("__repr__", [](const qltx::Index& x) {
        return "<Index num_blocks=" + std::to_string(x.num_blocks()) +
               " plaintext_size=" + std::to_string(x.plaintext_size()) +
               " uniform=" + (x.uniform() ? "True" : "False") + ">";
      });

  m.def(
      "decode_footer_head",
      [](const py::buffer& buf) {
        qltx::FooterHead f = qltx::decode_footer_head(BufferView(buf, false, "buf").bytes());
        return py::make_tuple(f.num_blocks, f.plaintext_size, f.info_size, to_bytes(f.mac));
      },
      py::arg("buf"));
  m.def(
      "decode_footer",
      [](const py::buffer& buf, const py::object& block_size, const py::object& footer_offset) {
        const uint64_t bs = as_uint(block_size, "block_size");
        const uint64_t fo = as_uint(footer_offset, "footer_offset");
        BufferView b(buf, false, "buf");
        py::gil_scoped_release nogil;  // up to 2^31 entries to check
        return qltx::decode_footer(b.bytes(), bs, fo);
      },
      py::arg("buf"), py::arg("block_size"), py::arg("footer_offset"));
  m.def(
      "encode_footer",
      [](const py::iterable& entries, const py::object& plaintext_size, const py::buffer& info,
         const py::buffer& mac) {
        std::vector<qltx::Entry> es;
        if (py::isinstance<py::sequence>(entries)) es.reserve(py::len(entries));
        for (const py::handle item : entries) es.push_back(entry_from_python(item, es.size()));
        BufferView iv(info, false, "info");
        BufferView mv(mac, false, "mac");
        qltx::Bytes out = qltx::encode_footer(es, as_uint(plaintext_size, "plaintext_size"),
                                              iv.bytes(), mv.bytes());
        return to_bytes(out);
      },
      py::arg("entries"), py::arg("plaintext_size"), py::arg("info"), py::arg("mac"));

  // ---- trailer ----
  py::class_<qltx::Trailer> trailer(m, "Trailer", "The last 24 bytes of a container.");
  int_field(trailer, "footer_offset", &qltx::Trailer::footer_offset);
  int_field(trailer, "footer_size", &qltx::Trailer::footer_size);
  trailer.def("__repr__", [](const qltx::Trailer& t) {
    return "<Trailer footer_offset=" + std::to_string(t.footer_offset) +
           " footer_size=" + std::to_string(t.footer_size) + ">";
  });
  // version: the container's (its footer's size and place bounds differ), 6.0 by default.
  m.def(
      "encode_trailer",
      [](const py::object& footer_offset, const py::object& footer_size, const py::object& version) {
        const uint64_t fo = as_uint(footer_offset, "footer_offset");
        const uint64_t fs = as_uint(footer_size, "footer_size");
        return to_bytes(trailer_version(version) == qltx::VERSION_6_1 ? qltx::encode_trailer61(fo, fs)
                                                                      : qltx::encode_trailer(fo, fs));
      },
      py::arg("footer_offset"), py::arg("footer_size"), py::arg("version") = qltx::VERSION_6_0);
  m.def(
      "decode_trailer",
      [](const py::buffer& buf, const py::object& container_size, const py::object& version) {
        const uint64_t cs = as_uint(container_size, "container_size");
        const qltx::ByteView b = BufferView(buf, false, "buf").bytes();
        return trailer_version(version) == qltx::VERSION_6_1 ? qltx::decode_trailer61(b, cs)
                                                             : qltx::decode_trailer(b, cs);
      },
      py::arg("buf"), py::arg("container_size"), py::arg("version") = qltx::VERSION_6_0);

  // ---- seek arithmetic ----
  m.def(
      "block_count",
      [](const py::object& plaintext_size, const py::object& block_size) {
        return qltx::block_count(as_uint(plaintext_size, "plaintext_size"),
                                 as_uint(block_size, "block_size"));
      },
      py::arg("plaintext_size"), py::arg("block_size"));
  m.def(
      "container_size",
      [](const py::object& plaintext_size, const py::object& block_size,
         const py::object& info_size) {
        return qltx::container_size(as_uint(plaintext_size, "plaintext_size"),
                                    as_uint(block_size, "block_size"),
                                    as_uint(info_size, "info_size"));
      },
      py::arg("plaintext_size"), py::arg("block_size"),
      py::arg("info_size") = qltx::MIN_INFO_SIZE);
  m.def(
      "block_offset",
      [](const py::object& i, const py::object& block_size) {
        return qltx::block_offset(as_uint(i, "index"), as_uint(block_size, "block_size"));
      },
      py::arg("index"), py::arg("block_size"));
  m.def(
      "block_span",
      [](const py::object& offset, const py::object& length, const py::object& plaintext_size,
         const py::object& block_size) {
        return qltx::block_span(as_uint(offset, "offset"), as_uint(length, "length"),
                                as_uint(plaintext_size, "plaintext_size"),
                                as_uint(block_size, "block_size"));
      },
      py::arg("offset"), py::arg("length"), py::arg("plaintext_size"), py::arg("block_size"));

  // ---- permutation ----
  m.def(
      "permutation_table",
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
  // Private, for tests and tools/bench_permute.py: every gather kernel must give the same bytes.
  // SHA-256 of several buffers at once (interleaved lanes where the CPU has SHA extensions).
  m.def(
      "sha256_many", [](const py::sequence& bufs) { return sha256_many_py(bufs, qltx::Sha256Kernel::Auto); },
      py::arg("buffers"));
  m.attr("SHA256_ACCELERATED") = qltx::sha256_accelerated();
  // Private, for tests and tools/bench: every kernel must give hashlib's digests.
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

  // ---- one-pass stream decoder (private: for tests) ----
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

  // ---- gateway (private: qeltrix.gateway is the API) ----
  m.def("_flush_deadline", &qltx::flush_deadline, py::arg("first_byte"), py::arg("last_byte"),
        py::arg("flush_after"), py::arg("max_delay"));
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
  bind_format61(m);
  bind_http(m);
  bind_seek_server(m);
}
