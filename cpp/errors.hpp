// Error types of the Qeltrix native core. Plain C++ exceptions: this library does not depend on
// Python. cpp/py/translate.cpp translates them, once, into the classes of qeltrix.errors.
//
//   NotAContainer  -> qeltrix.errors.NotAContainerError   (wrong magic)
//   Unsupported    -> qeltrix.errors.UnsupportedVersionError
//   Truncated      -> qeltrix.errors.TruncatedError       (input shorter than the structure)
//   Damaged        -> qeltrix.errors.DamagedError         (a field out of range or inconsistent)
//   std::invalid_argument, std::out_of_range -> ValueError (misuse: bad arguments)
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__GLIBCXX__)
#include <cxxabi.h>
// A thread ended by pthread_exit unwinds with abi::__forced_unwind, which a catch (...) must
// rethrow, or the process aborts ("FATAL: exception not rethrown"). Python ends a native thread
// that way when the thread asks for the GIL while the interpreter shuts down. Put this before
// every catch (...) around a callback: try { ... } QLTX_RETHROW_FORCED_UNWIND catch (...) { ... }
#define QLTX_RETHROW_FORCED_UNWIND \
  catch (abi::__forced_unwind&) {  \
    throw;                         \
  }
#else
#define QLTX_RETHROW_FORCED_UNWIND
#endif

namespace qltx {

// Base of every data error (bad input bytes, as opposed to a bad argument).
class FormatError : public std::runtime_error {
 public:
  explicit FormatError(const std::string& what, int64_t block = -1)
      : std::runtime_error(what), block_(block) {}
  // Index of the block the error is about, or -1 when not about one block.
  int64_t block() const noexcept { return block_; }

 private:
  int64_t block_;
};

class NotAContainer : public FormatError {
 public:
  using FormatError::FormatError;
};

class Unsupported : public FormatError {
 public:
  using FormatError::FormatError;
};

class Damaged : public FormatError {
 public:
  using FormatError::FormatError;
};

// A truncated structure is a kind of damage (TruncatedError subclasses DamagedError).
class Truncated : public Damaged {
 public:
  using Damaged::Damaged;
};

}  // namespace qltx
