// C++ errors into Python ones. See translate.hpp.
#include "translate.hpp"

#include <pybind11/gil_safe_call_once.h>

#include <exception>
#include <stdexcept>

#include "errors.hpp"
#include "net.hpp"

namespace qltx {
namespace bind {

namespace py = pybind11;

namespace {

struct ErrorClasses {
  py::object not_a_container, unsupported, truncated, damaged;
};

py::gil_safe_call_once_and_store<ErrorClasses>& error_classes() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<ErrorClasses> storage;
  return storage;
}

void set_error(const py::object& cls, const FormatError& e, bool with_block) {
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
  } catch (const NotAContainer& e) {
    set_error(error_classes().get_stored().not_a_container, e, false);
  } catch (const Unsupported& e) {
    set_error(error_classes().get_stored().unsupported, e, false);
  } catch (const Truncated& e) {
    set_error(error_classes().get_stored().truncated, e, true);
  } catch (const Damaged& e) {
    set_error(error_classes().get_stored().damaged, e, true);
  } catch (const net::NetError& e) {
    // OSError(errno, text): a port in use is OSError with errno EADDRINUSE, as from socket
    PyErr_SetObject(PyExc_OSError, py::make_tuple(e.code(), e.what()).ptr());
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  }
}

}  // namespace

void register_translator() {
  error_classes().call_once_and_store_result([] {
    py::module_ errors = py::module_::import("qeltrix.errors");
    return ErrorClasses{errors.attr("NotAContainerError"), errors.attr("UnsupportedVersionError"),
                        errors.attr("TruncatedError"), errors.attr("DamagedError")};
  });
  py::register_local_exception_translator(translate);
}

}  // namespace bind
}  // namespace qltx
