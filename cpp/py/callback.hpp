// Calls into Python from the native servers' threads (the gateway's and the SeekServer's), which
// run without the GIL. The one way to do it:
//
//   auto r = call_python([&] { return callback(args...).cast<T>(); });
//
// takes the GIL for the call only (refusing once the interpreter is shutting down) and turns a
// Python exception into a C++ std::runtime_error("Type: message"), which the server logs and
// which ends the request or connection, never the process.
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

namespace qltx {
namespace bind {

namespace py = pybind11;

// pybind11 gives a thread without a Python thread state a new one in each outermost
// gil_scoped_acquire and deletes it at the end of it: per call a PyThreadState, and the mmap and
// munmap of its frame stack (a munmap interrupts every other core to flush its TLB). The servers'
// native threads call into Python block after block, so each keeps one thread state for its
// whole life (pybind11's inc_ref) and deletes it when it ends; during interpreter finalization it
// is left to the interpreter.
struct KeepThreadState {
  KeepThreadState();
};

// Refuses a callback once the interpreter is shutting down: asking for the GIL then would end
// the thread from inside (pthread_exit); an error instead ends the request or connection.
struct NotFinalizing {
  NotFinalizing();
};

// The GIL, for a callback from a native thread (base classes first: the check, then the state
// is kept, then the GIL is taken).
class NativeGil : private NotFinalizing, private KeepThreadState {
  py::gil_scoped_acquire gil_;
};

// "Type: message" of a Python exception (for a C++ error and the log).
std::string describe(const py::error_already_set& e);

// f() with the GIL held; a Python exception becomes std::runtime_error(describe(e)).
template <class F>
auto call_python(F f) -> decltype(f()) {
  NativeGil gil;
  try {
    return f();
  } catch (py::error_already_set& e) {
    throw std::runtime_error(describe(e));
  }
}

}  // namespace bind
}  // namespace qltx
