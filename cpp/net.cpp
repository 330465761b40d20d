// TCP sockets for POSIX and Windows (Winsock 2, MinGW-w64). See net.hpp.
#include "net.hpp"

#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#endif

namespace qltx {
namespace net {

namespace {

#ifdef _WIN32
const socket_t kInvalid = INVALID_SOCKET;
int last_error() { return WSAGetLastError(); }
bool would_block(int e) { return e == WSAEWOULDBLOCK; }
bool interrupted(int e) { return e == WSAEINTR; }
std::string error_text(int e) {
  char buf[256] = {0};
  FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                 static_cast<DWORD>(e), 0, buf, sizeof buf, nullptr);
  return buf;
}
using pollfd_t = WSAPOLLFD;
int sys_poll(pollfd_t* fds, size_t n, int timeout_ms) {
  return WSAPoll(fds, static_cast<ULONG>(n), timeout_ms);
}
using io_len_t = int;
#else
const socket_t kInvalid = -1;
int last_error() { return errno; }
bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }
bool interrupted(int e) { return e == EINTR; }
std::string error_text(int e) { return std::strerror(e); }
using pollfd_t = struct pollfd;
int sys_poll(pollfd_t* fds, size_t n, int timeout_ms) {
  return ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
}
using io_len_t = size_t;
#endif

#ifdef MSG_NOSIGNAL
const int kSendFlags = MSG_NOSIGNAL;
#else
const int kSendFlags = 0;
#endif

[[noreturn]] void fail(const std::string& what, int code) {
  throw NetError(what + ": " + error_text(code), code);
}

io_len_t io_len(size_t n) {
  const size_t cap = static_cast<size_t>(std::numeric_limits<int>::max());
  return static_cast<io_len_t>(n < cap ? n : cap);
}

// Waits for one socket; true when ready, false on timeout.
bool wait_one(socket_t s, unsigned events, int timeout_ms) {
  std::vector<PollItem> items{{s, events, 0}};
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    int left = timeout_ms < 0 ? -1
                              : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     deadline - clock::now())
                                                     .count());
    if (timeout_ms >= 0 && left < 0) left = 0;
    if (poll_many(items, left) > 0) return true;
    if (timeout_ms >= 0 && clock::now() >= deadline) return false;
  }
}

std::string addr_text(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {0};
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

struct AddrList {
  addrinfo* head = nullptr;
  AddrList(const std::string& host, uint16_t port, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    const std::string service = std::to_string(port);
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &head);
    if (rc != 0) {
#ifdef _WIN32
      throw NetError("cannot resolve " + host + ": " + error_text(rc), rc);
#else
      throw NetError("cannot resolve " + host + ": " + gai_strerror(rc), rc);
#endif
    }
  }
  ~AddrList() {
    if (head) freeaddrinfo(head);
  }
  AddrList(const AddrList&) = delete;
  AddrList& operator=(const AddrList&) = delete;
};

}  // namespace

void init() {
#ifdef _WIN32
  static std::once_flag once;
  std::call_once(once, [] {
    WSADATA data;
    int rc = WSAStartup(MAKEWORD(2, 2), &data);
    if (rc != 0) throw NetError("WSAStartup failed", rc);
  });
#endif
}

// ---- Socket -------------------------------------------------------------------------------------

Socket::Socket() noexcept : s_(kInvalid) {}
Socket::~Socket() { close(); }
Socket::Socket(Socket&& o) noexcept : s_(o.s_) { o.s_ = kInvalid; }
Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    s_ = o.s_;
    o.s_ = kInvalid;
  }
  return *this;
}
bool Socket::valid() const noexcept { return s_ != kInvalid; }

void Socket::close() noexcept {
  if (s_ == kInvalid) return;
#ifdef _WIN32
  closesocket(s_);
#else
  ::close(s_);
#endif
  s_ = kInvalid;
}

void Socket::shutdown_write() noexcept {
  if (s_ == kInvalid) return;
#ifdef _WIN32
  ::shutdown(s_, SD_SEND);
#else
  ::shutdown(s_, SHUT_WR);
#endif
}

void Socket::set_nonblocking(bool on) {
#ifdef _WIN32
  u_long mode = on ? 1 : 0;
  if (ioctlsocket(s_, FIONBIO, &mode) != 0) fail("ioctlsocket", last_error());
#else
  int flags = fcntl(s_, F_GETFL, 0);
  if (flags < 0) fail("fcntl", last_error());
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(s_, F_SETFL, flags) < 0) fail("fcntl", last_error());
#endif
}

void Socket::set_nodelay(bool on) noexcept {
  int v = on ? 1 : 0;
  setsockopt(s_, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&v), sizeof v);
}

void Socket::set_reset_on_close() noexcept {
  if (s_ == kInvalid) return;
  struct linger lg;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(s_, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof lg);
}

// ---- connections ------------------------------------------------------------------------------

Socket listen_tcp(const std::string& host, uint16_t port, int backlog) {
  init();
  AddrList addrs(host, port, true);
  int err = 0;
  for (addrinfo* ai = addrs.head; ai; ai = ai->ai_next) {
    Socket s(::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol));
    if (!s.valid()) {
      err = last_error();
      continue;
    }
    int one = 1;
#ifdef _WIN32
    setsockopt(s.handle(), SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&one),
               sizeof one);
#else
    setsockopt(s.handle(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#endif
    if (::bind(s.handle(), ai->ai_addr, static_cast<int>(ai->ai_addrlen)) != 0 ||
        ::listen(s.handle(), backlog) != 0) {
      err = last_error();
      continue;
    }
    return s;
  }
  fail("cannot listen on " + host + ":" + std::to_string(port), err);
}

uint16_t local_port(const Socket& s) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(s.handle(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    fail("getsockname", last_error());
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  throw NetError("getsockname: not an IP socket", 0);
}

Socket accept_client(const Socket& listener, int timeout_ms, std::string* peer) {
  if (!wait_one(listener.handle(), READABLE, timeout_ms)) return Socket();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  Socket c(::accept(listener.handle(), reinterpret_cast<sockaddr*>(&ss), &len));
  if (!c.valid()) {
    int e = last_error();
    // The connection went away between poll and accept, or a non-blocking listener raced.
    if (would_block(e) || interrupted(e)) return Socket();
#ifndef _WIN32
    if (e == ECONNABORTED || e == EPROTO) return Socket();
#else
    if (e == WSAECONNRESET) return Socket();
#endif
    fail("accept", e);
  }
#ifndef _WIN32
  // An accepted socket inherits O_NONBLOCK from the listener on some systems: make it blocking.
  int flags = fcntl(c.handle(), F_GETFL, 0);
  if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(c.handle(), F_SETFL, flags & ~O_NONBLOCK);
#endif
  if (peer) *peer = addr_text(reinterpret_cast<sockaddr*>(&ss));
  return c;
}

Socket connect_tcp(const std::string& host, uint16_t port, int timeout_ms) {
  init();
  AddrList addrs(host, port, false);
  int err = 0;
  bool timed_out = false;
  for (addrinfo* ai = addrs.head; ai; ai = ai->ai_next) {
    Socket s(::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol));
    if (!s.valid()) {
      err = last_error();
      continue;
    }
    s.set_nonblocking(true);
    if (::connect(s.handle(), ai->ai_addr, static_cast<int>(ai->ai_addrlen)) != 0) {
      int e = last_error();
#ifdef _WIN32
      bool pending = e == WSAEWOULDBLOCK;
#else
      bool pending = e == EINPROGRESS;
#endif
      if (!pending) {
        err = e;
        continue;
      }
      if (!wait_one(s.handle(), WRITABLE, timeout_ms)) {
        timed_out = true;
        continue;
      }
      int so = 0;
      socklen_t len = sizeof so;
      getsockopt(s.handle(), SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&so), &len);
      if (so != 0) {
        err = so;
        continue;
      }
    }
    s.set_nonblocking(false);
    return s;
  }
  if (timed_out && err == 0) throw Timeout("connect to " + host + ":" + std::to_string(port) + " timed out");
  fail("cannot connect to " + host + ":" + std::to_string(port), err);
}

// ---- data ---------------------------------------------------------------------------------------

long recv_nb(const Socket& s, uint8_t* buf, size_t n) {
  for (;;) {
    auto got = ::recv(s.handle(), reinterpret_cast<char*>(buf), io_len(n), 0);
    if (got > 0) return static_cast<long>(got);
    if (got == 0) return n == 0 ? 0 : -1;
    int e = last_error();
    if (interrupted(e)) continue;
    if (would_block(e)) return 0;
    fail("recv", e);
  }
}

size_t send_nb(const Socket& s, const uint8_t* p, size_t n) {
  for (;;) {
    auto sent = ::send(s.handle(), reinterpret_cast<const char*>(p), io_len(n), kSendFlags);
    if (sent >= 0) return static_cast<size_t>(sent);
    int e = last_error();
    if (interrupted(e)) continue;
    if (would_block(e)) return 0;
    fail("send", e);
  }
}

size_t recv_some(const Socket& s, uint8_t* buf, size_t n, int timeout_ms) {
  if (n == 0) return 0;
  for (;;) {
    if (!wait_one(s.handle(), READABLE, timeout_ms)) throw Timeout("recv timed out");
    long got = recv_nb(s, buf, n);
    if (got < 0) return 0;
    if (got > 0) return static_cast<size_t>(got);
  }
}

void send_all(const Socket& s, const uint8_t* p, size_t n, int timeout_ms) {
  while (n > 0) {
    if (!wait_one(s.handle(), WRITABLE, timeout_ms)) throw Timeout("send timed out");
    size_t sent = send_nb(s, p, n);
    p += sent;
    n -= sent;
  }
}

int poll_many(std::vector<PollItem>& items, int timeout_ms) {
  std::vector<pollfd_t> fds(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    fds[i].fd = items[i].s;
    fds[i].events = 0;
    if (items[i].events & READABLE) fds[i].events |= POLLIN;
    if (items[i].events & WRITABLE) fds[i].events |= POLLOUT;
    fds[i].revents = 0;
    items[i].revents = 0;
  }
  int rc = sys_poll(fds.data(), fds.size(), timeout_ms);
  if (rc < 0) {
    int e = last_error();
    if (interrupted(e)) return 0;
    fail("poll", e);
  }
  int ready = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    unsigned r = 0;
    if (fds[i].revents & POLLIN) r |= READABLE;
    if (fds[i].revents & POLLOUT) r |= WRITABLE;
    if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) r |= HANGUP;
    items[i].revents = r;
    if (r) ++ready;
  }
  return ready;
}

void socket_pair(Socket& a, Socket& b) {
  Socket l = listen_tcp("127.0.0.1", 0, 1);
  Socket c = connect_tcp("127.0.0.1", local_port(l), 5000);
  Socket d = accept_client(l, 5000);
  if (!d.valid()) throw NetError("socket_pair: accept timed out", 0);
  c.set_nodelay(true);
  d.set_nodelay(true);
  a = std::move(c);
  b = std::move(d);
}

}  // namespace net
}  // namespace qltx
