// The SeekServer: serves the plaintext of containers over HTTP/1.1 with byte ranges.
//
// Design (why not thread-per-connection): one I/O thread runs a poll() loop over the listener and
// every connection, with non-blocking sockets; a pool of ``workers`` threads does the only slow
// work, producing body bytes through the ``read`` callback (decryption, in Python). A slow reader
// therefore holds no thread at all, just its connection's buffer (at most ~two chunks), so it can
// never stall the others; a client trickling a byte a minute is closed by the header deadline,
// an idle keep-alive connection by the idle deadline, a reader that stops reading by the send
// deadline. The connection count is capped (503 above it). Each connection has at most one read
// job in flight, so pipelined requests are answered in order, and one chunk is read ahead while
// the previous one is being sent (decryption overlaps the network).
//
// The server is pure C++ (no Python): cpp/py/bind_server.cpp wraps the callbacks, taking the
// GIL only inside them. Parsing and planning are the sans-IO functions of http.hpp and range.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "http.hpp"
#include "range.hpp"

namespace qltx {
namespace seek {

// What one URL path serves.
struct Entry {
  std::string path;         // decoded URL path, "/" or "/name"
  uint32_t id = 0;          // passed to the read callback
  http::Resource resource;  // size, strong ETag, Last-Modified, Content-Type
  uint64_t chunk = 1 << 20;  // reads are aligned to multiples of this (the container's block size)
};

// Fills ``out`` with exactly ``length`` bytes of entry ``id`` from ``offset``, or throws (any
// exception): the connection is then closed before its Content-Length is reached.
using ReadFn = std::function<void(uint32_t id, uint64_t offset, uint64_t length, std::string& out)>;
// One read of a batch (ReadBatchFn).
struct ReadReq {
  uint32_t id = 0;
  uint64_t offset = 0, length = 0;
  std::string out;    // exactly length bytes when ok
  std::string error;  // why not, when not ok
  bool ok = false;
};
// Several short reads (of at most kBatchMaxRead bytes each) at once, each succeeding or failing on
// its own; ``ready(k)`` once reqs[k] is filled (its result is sent at once); a throw fails those
// not reported. Given, one worker at a time takes the short reads waiting in the queue (up to
// kMaxBatch) and makes one call: a Python callback then takes the GIL once for the batch, not
// once per request, and no two workers hand the GIL back and forth.
using ReadBatchFn = std::function<void(std::vector<ReadReq>& reqs, const std::function<void(size_t)>& ready)>;
constexpr uint64_t kBatchMaxRead = 64 << 10;
// ... of resources whose chunk (qeltrix: the block size, rounded up to 256 KiB) is at most this:
// with 1 MiB blocks, a 4 KiB range that misses the cache reads and decrypts 1 MiB (~0.5 ms), and a
// batch of them on one worker left the other core idle (random 4 KiB ranges 4,244 -> 2,503 req/s).
constexpr uint64_t kBatchMaxChunk = 256 << 10;
constexpr size_t kMaxBatch = 16;
// Log lines, in order, as many as were waiting (one call per batch: a Python callback then takes
// the GIL once, not once per line); level as Python's logging (20 INFO: access log, 30 WARNING,
// 40 ERROR). Returns the lowest level wanted from now on: lines below it are not even made (a
// quiet server's access log costs nothing). Called with no lines about once a second, so that a
// change of level applies within a second.
using LogLines = std::vector<std::pair<int, std::string>>;
using LogFn = std::function<int(const LogLines& lines)>;

// A small generated answer (a folder listing, health, metrics, 404), made by the page callback in
// a worker thread for a path that is no entry (and for every path under "/-/").
struct PageRequest {
  std::string method;  // GET or HEAD
  std::string path;    // percent-decoded, as routes
  std::string query;   // raw, after '?' (without '#...')
  std::string accept;  // the Accept field, or empty
};
struct Page {
  int status = 200;
  http::Fields fields;  // Content-Type and the like; Content-Length is added
  std::string body;
};
using PageFn = std::function<void(const PageRequest& req, Page& out)>;

// Counters for the metrics page (each response counted when it ends, with the bytes sent).
struct Stats {
  static constexpr size_t kBuckets = 12;  // request duration, seconds (Prometheus' defaults)
  static constexpr double kBounds[kBuckets - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1.0,  2.5,   5.0,  10.0};
  std::vector<std::pair<int, uint64_t>> responses;  // (status, count), by status
  uint64_t body_bytes = 0;         // body bytes sent (multipart framing included)
  uint64_t head_bytes = 0;         // status lines and fields sent
  uint64_t aborted = 0;            // responses cut short (client gone, timeout, read failure)
  uint64_t auth_failures = 0;      // 401s
  uint64_t refused = 0;            // connections over max_connections (503 or closed at once)
  uint64_t accepted = 0;           // connections accepted (refused ones not counted)
  uint64_t open_connections = 0;   // now
  uint64_t duration_counts[kBuckets] = {};  // per bucket (not cumulative; the last is +Inf)
  double duration_sum = 0;
};

struct Config {
  std::string host = "127.0.0.1";
  uint16_t port = 7621;  // 0: any free port
  unsigned workers = 4;
  size_t max_connections = 256;     // above: 503 and close
  int header_timeout_ms = 10000;    // from a request's first byte to its end
  int idle_timeout_ms = 15000;      // keep-alive wait for the next request
  int send_timeout_ms = 30000;      // no progress sending
  int stop_timeout_ms = 5000;       // stop(): in-flight responses get this long to finish
  std::optional<std::string> token;  // set: "Authorization: Bearer <token>" required
  std::string boundary_prefix = "qeltrix";  // random per server (the caller's), + a counter
  uint64_t max_chunk = 4 << 20;
  http::Limits limits;
  http::RangeLimits range_limits;
  std::vector<Entry> entries;
  bool pages = false;  // unknown paths and "/-/..." go to the page callback (else 404)
};

// std::invalid_argument, naming the setting as qeltrix.SeekServer does, unless: 1 <= workers <=
// 1024; 1 <= max_connections <= 2^20; each timeout in 1 ms..86400 s; a token, when set, is
// non-empty without CR, LF or NUL; boundary_prefix non-empty and alphanumeric; 1 <= max_chunk
// <= 64 MiB; every entry's chunk >= 1 and its ETag and Content-Type without CR, LF or NUL.
void check_config(const Config& config);

class Server {
 public:
  // check_config(config) first.
  Server(Config config, ReadFn read, LogFn log, PageFn page = nullptr, ReadBatchFn read_batch = nullptr);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // binds (net::NetError on failure) and starts the threads; returns at once
  void stop();   // graceful: stops accepting, closes idle connections, lets responses finish
  uint16_t port() const;
  bool running() const;
  Stats stats() const;  // a consistent copy, from any thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-decoded path of a request target (origin-form or absolute-form; query dropped).
// False when malformed (bad escape, NUL, not starting with '/').
bool target_path(const std::string& target, std::string* path);

// Constant-time comparison (the token check).
bool equal_ct(const std::string& a, const std::string& b);

}  // namespace seek
}  // namespace qltx
