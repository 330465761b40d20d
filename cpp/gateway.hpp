// GatewayServer: every accepted TCP connection becomes a V6 stream as its bytes arrive (or, with
// decrypt, a V6 stream becomes its plaintext), sent back on the same connection or to a fixed
// destination. Socket loop, reading, idle-flush timing and framing live here; sealing and opening
// one block (the crypto) are done by a Codec the caller provides (the Python bindings call into
// qeltrix.crypto, holding the GIL only for that call).
//
// Per connection two threads: a reader (source socket -> framing -> items in a bounded queue)
// and a writer (items in order -> destination socket). Blocks are sealed or opened by a pool of
// `workers` threads shared by all connections. The queue holds at most `window` blocks, so a slow
// destination stops the reader, which stops reading its socket: TCP flow control slows the
// source. Memory per connection is bounded by about 2 * (window + 1) * (block_size + 220).
//
// Errors: a source that aborts (connection reset) or a stream that fails to decode ends the
// destination without the footer (encrypt: the receiver sees a truncated container; decrypt: the
// plaintext connection is reset, so the receiver sees an error rather than a clean end).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "format.hpp"
#include "net.hpp"
#include "stream.hpp"

namespace qltx {

// The crypto of one connection's container. Methods may throw std::exception (the message is
// logged and the connection ends without its footer). seal and open run on worker threads, in
// parallel, possibly out of order; header, finish and check_footer on the connection's threads.
class Codec {
 public:
  virtual ~Codec() = default;
  // Encrypt mode.
  virtual Bytes header() = 0;
  // Seal `plain` as block b into out[0, plain.size + 220); set the entry hash.
  virtual void seal(const StreamBlock& b, ByteView plain, uint8_t* out, size_t out_size,
                    Hash& digest) = 0;
  // Footer and trailer for the blocks sent (entries in order).
  virtual Bytes finish(const std::vector<Entry>& entries, uint64_t plaintext_size) = 0;
  // Decrypt mode. Authenticate and decrypt stored block b into out[0, b.plain_size).
  virtual void open(const StreamBlock& b, ByteView stored, uint8_t* out) = 0;
  // Authenticate the footer (its structure was already checked against the blocks seen).
  virtual void check_footer(ByteView footer, uint64_t footer_offset) = 0;

  // Format 6.1 (optional: a codec without pages writes 6.0). Encrypt mode: when page_entries()
  // is E > 0, page(entries) gives the bytes of the index page of the last E blocks (fewer after
  // the final block), written right after them; finish() then gets the entries of the last page.
  virtual uint64_t page_entries() { return 0; }
  virtual Bytes page(const std::vector<Entry>& entries) {
    (void)entries;
    throw std::logic_error("this codec writes no index pages");
  }
  // Decrypt mode: authenticate an index page at `offset` (its structure was already checked
  // against the blocks seen). checks_pages() false: pages are not passed on.
  virtual bool checks_pages() { return false; }
  virtual void check_page(ByteView page, uint64_t offset) {
    (void)page;
    (void)offset;
  }
};

class CodecFactory {
 public:
  virtual ~CodecFactory() = default;
  virtual std::unique_ptr<Codec> sealer() = 0;
  // Checks the key against the header (throws on a wrong key or a header that fails its MAC).
  // 6.0: the 416-byte header; 6.1: the 256-byte header followed by both keyring copies.
  virtual std::unique_ptr<Codec> opener(ByteView header) = 0;
  // level: 10 debug, 20 info, 30 warning, 40 error (Python's logging levels).
  virtual void log(int level, const std::string& msg) = 0;
};

struct GatewayConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7620;
  std::string dest_host;  // empty: send the result back on the same connection
  uint16_t dest_port = 0;
  bool decrypt = false;
  uint32_t block_size = 1u << 20;
  int flush_after_ms = 200;     // seal a partial block after this much idle time
  int max_delay_ms = 1000;      // ... or once its first byte waited this long
  unsigned workers = 4;
  unsigned window = 0;          // blocks in flight per connection (0: 2 * workers)
  unsigned max_connections = 64;
  int connect_timeout_ms = 10000;
  // A source silent this long ends its connection (as an abort: the receiver of an encrypted
  // stream sees it truncated). Frees the connection slots a client holds without sending; 0: never.
  int idle_timeout_ms = 300000;
};

struct GatewayStats {
  uint64_t accepted = 0, active = 0, completed = 0, failed = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  uint64_t buffered = 0, peak_buffered = 0;  // bytes held in connection queues (all connections)
};

// When a partial block must be sealed: the earlier of `flush_after` after the last byte and
// `max_delay` after the first byte of the block (milliseconds on any monotonic clock).
int64_t flush_deadline(int64_t first_byte, int64_t last_byte, int flush_after, int max_delay);

// Where a live plaintext stream's blocks end, without I/O (the gateway's reader is a thin loop
// around it): told what arrived and when, it says how much the current block can still take,
// when a partial block is due (flush_deadline), and when a block is complete. Times are
// milliseconds on any monotonic clock.
class Chunker {
 public:
  Chunker(size_t block_size, int flush_after_ms, int max_delay_ms)
      : block_size_(block_size), flush_after_(flush_after_ms), max_delay_(max_delay_ms) {}
  size_t fill() const { return fill_; }                 // bytes held in the current block
  size_t room() const { return block_size_ - fill_; }   // bytes it can still take
  // n bytes (1..room()) were appended at `now`; true when the block is now full (seal it).
  bool arrived(size_t n, int64_t now);
  // When the partial block held must be sealed; -1 when nothing is held.
  int64_t deadline() const { return fill_ ? flush_deadline(first_, last_, flush_after_, max_delay_) : -1; }
  bool due(int64_t now) const { return fill_ && now >= deadline(); }
  // How long a read at `now` may wait: `slice`, or less when a partial block falls due sooner.
  int wait_ms(int64_t now, int slice) const;
  // The current block is sealed (full, due, or the final one): returns its size, starts the next.
  size_t take();

 private:
  size_t block_size_, fill_ = 0;
  int flush_after_, max_delay_;
  int64_t first_ = 0, last_ = 0;
};

class Gateway {
 public:
  Gateway(GatewayConfig cfg, std::shared_ptr<CodecFactory> factory);
  ~Gateway();  // stop(0)
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Bind and listen (throws net::NetError), then accept on a background thread.
  void start();
  // Stop accepting; let connections finish for up to grace_ms, then end the rest without their
  // footer (their receivers see a truncated stream); join every thread. Idempotent.
  void stop(int grace_ms);
  uint16_t port() const { return port_; }
  bool running() const { return started_ && !stopping_; }
  GatewayStats stats() const;

  struct Conn;
  struct Pool;

 private:
  void accept_loop();
  void reap(bool all);

  GatewayConfig cfg_;
  std::shared_ptr<CodecFactory> factory_;
  std::unique_ptr<Pool> pool_;
  net::Socket listener_;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> started_{false}, stopping_{false}, hard_stop_{false};
  std::mutex conns_m_;
  std::condition_variable conns_cv_;
  std::list<std::shared_ptr<Conn>> conns_;
  mutable std::mutex stats_m_;
  GatewayStats stats_;
  std::atomic<uint64_t> buffered_{0};

  friend struct Conn;
  void add_buffered(int64_t delta);
  void count(uint64_t in, uint64_t out);
};

}  // namespace qltx
