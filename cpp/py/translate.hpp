// C++ errors into Python ones, once, at the binding boundary (registered by module.cpp):
//
//   qltx::NotAContainer  -> qeltrix.errors.NotAContainerError
//   qltx::Unsupported    -> qeltrix.errors.UnsupportedVersionError
//   qltx::Truncated      -> qeltrix.errors.TruncatedError (with .block)
//   qltx::Damaged        -> qeltrix.errors.DamagedError (with .block)
//   qltx::net::NetError  -> OSError(errno, text)
//   std::invalid_argument, std::out_of_range -> ValueError (misuse: bad arguments)
//
// The other direction (a Python exception in a callback from a native thread) is
// callback.hpp's call_python.
#pragma once

#include <pybind11/pybind11.h>

namespace qltx {
namespace bind {

void register_translator();

}  // namespace bind
}  // namespace qltx
