// The one platform layer for TCP sockets: POSIX, with Winsock branches for Windows (MinGW-w64).
// Small and general on purpose: the SeekServer and the GatewayServer share it.
//
//   Socket s = listen_tcp("127.0.0.1", 0);      // port 0: any free port
//   uint16_t port = local_port(s);
//   Socket c = accept_client(s, 1000);           // invalid Socket on timeout
//   size_t n = recv_some(c, buf, sizeof buf, 5000);   // 0 at EOF; throws Timeout
//   send_all(c, data, size, 5000);               // throws Timeout / NetError
//   c.shutdown_write();                          // half-close
//
// Errors are C++ exceptions (NetError, and its subclass Timeout). Timeouts are in milliseconds;
// a negative timeout waits forever. Sockets are not blocking-mode-dependent: every wait goes
// through poll, so the same calls work on blocking and non-blocking sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace qltx {
namespace net {

#ifdef _WIN32
using socket_t = uintptr_t;  // SOCKET
#else
using socket_t = int;
#endif

class NetError : public std::runtime_error {
 public:
  NetError(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  // errno (POSIX) or WSAGetLastError() (Windows); 0 when not from the OS.
  int code() const noexcept { return code_; }

 private:
  int code_;
};

class Timeout : public NetError {
 public:
  explicit Timeout(const std::string& what) : NetError(what, 0) {}
};

// An owned socket: closed by the destructor; movable, not copyable.
class Socket {
 public:
  Socket() noexcept;
  explicit Socket(socket_t s) noexcept : s_(s) {}
  ~Socket();
  Socket(Socket&& o) noexcept;
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool valid() const noexcept;
  socket_t handle() const noexcept { return s_; }
  void close() noexcept;
  void shutdown_write() noexcept;  // half-close: the peer reads EOF, we can still read
  void set_nonblocking(bool on);
  void set_nodelay(bool on) noexcept;
  // SO_LINGER {on, 0}: close() then resets the connection (RST) instead of ending it with a
  // FIN, so the peer sees an error rather than a clean end of stream.
  void set_reset_on_close() noexcept;

 private:
  socket_t s_;
};

// Socket library start-up (WSAStartup on Windows; nothing elsewhere). Called by every function
// here that creates a socket; thread-safe and idempotent.
void init();

// A listening TCP socket on host:port ("127.0.0.1", "0.0.0.0", "::1", "localhost", ...).
// port 0 picks a free port: read it with local_port(). SO_REUSEADDR on POSIX (a restarted server
// can bind at once), SO_EXCLUSIVEADDRUSE on Windows.
Socket listen_tcp(const std::string& host, uint16_t port, int backlog = 128);
uint16_t local_port(const Socket& s);

// The next connection, or an invalid Socket when none came within timeout_ms. ``peer`` gets
// "address:port" when not null. The new socket is blocking.
Socket accept_client(const Socket& listener, int timeout_ms, std::string* peer = nullptr);

// A connected TCP socket to host:port, trying each resolved address in turn.
Socket connect_tcp(const std::string& host, uint16_t port, int timeout_ms);

// Up to n bytes as soon as any arrive; 0 at EOF. Throws Timeout when nothing came in time.
size_t recv_some(const Socket& s, uint8_t* buf, size_t n, int timeout_ms);

// Every byte of [p, p+n), or Timeout (no progress for timeout_ms) / NetError (peer gone).
// Never raises SIGPIPE.
void send_all(const Socket& s, const uint8_t* p, size_t n, int timeout_ms);

// Non-blocking primitives for event loops: bytes moved (0 when none could be moved now);
// recv_nb returns -1 at EOF. Errors throw NetError.
long recv_nb(const Socket& s, uint8_t* buf, size_t n);
size_t send_nb(const Socket& s, const uint8_t* p, size_t n);

// poll() over many sockets. Events and results are bit sets of these values.
enum : unsigned { READABLE = 1, WRITABLE = 2, HANGUP = 4 };
struct PollItem {
  socket_t s;
  unsigned events;   // what to wait for
  unsigned revents;  // what happened (set by poll_many; errors and hang-ups set HANGUP)
};
// Waits up to timeout_ms for any item; returns how many items have revents. EINTR counts as 0.
int poll_many(std::vector<PollItem>& items, int timeout_ms);

// A connected pair of sockets, for waking up a poll loop from another thread (a loopback TCP
// pair, so it also works on Windows).
void socket_pair(Socket& a, Socket& b);

}  // namespace net
}  // namespace qltx
