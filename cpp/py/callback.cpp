// Calls into Python from native threads. See callback.hpp.
#include "callback.hpp"

namespace qltx {
namespace bind {

namespace {

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

}  // namespace

KeepThreadState::KeepThreadState() {
  thread_local KeptThreadState kept;
  (void)kept;
}

NotFinalizing::NotFinalizing() {
  if (interpreter_finalizing()) throw std::runtime_error("the Python interpreter is shutting down");
}

std::string describe(const py::error_already_set& e) {
  std::string s;
  try {
    s = py::str(e.type().attr("__name__")).cast<std::string>() + ": " +
        py::str(e.value()).cast<std::string>();
  } catch (...) {
    s = "error in a Python callback";
  }
  return s;
}

}  // namespace bind
}  // namespace qltx
