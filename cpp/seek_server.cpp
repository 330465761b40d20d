// The SeekServer: a poll() I/O thread, a pool of read workers and a log thread. See seek_server.hpp.
#include "seek_server.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

#include "errors.hpp"
#include "net.hpp"

namespace qltx {
namespace seek {

namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

const int kLingerMs = 2000;     // after our last byte: drain the peer's input, then close
const size_t kMaxAcceptPerTurn = 64;

// Wakes the I/O thread's poll() from the workers. POSIX: a pipe (a one-byte write and read, no
// network stack: a loopback TCP pair's send cost the workers a fifth of their time under many
// short requests). Windows: a loopback socket pair (its poll takes sockets only).
class Waker {
 public:
  Waker() = default;
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;
  ~Waker() { close(); }

  void open() {
#ifdef _WIN32
    net::socket_pair(r_, w_);
    r_.set_nonblocking(true);
    w_.set_nonblocking(true);
#else
    int fds[2];
    if (::pipe(fds) != 0) throw net::NetError("pipe failed", errno);
    for (int fd : fds) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    r_ = fds[0];
    w_ = fds[1];
#endif
  }

  void close() {
#ifdef _WIN32
    r_.close();
    w_.close();
#else
    if (r_ >= 0) ::close(r_);
    if (w_ >= 0) ::close(w_);
    r_ = w_ = -1;
#endif
  }

  net::socket_t handle() const {
#ifdef _WIN32
    return r_.handle();
#else
    return r_;
#endif
  }

  void wake() {  // never blocks: a full pipe already holds a wake-up
#ifdef _WIN32
    try {
      const uint8_t b = 1;
      net::send_nb(w_, &b, 1);
    } catch (...) {
    }
#else
    const uint8_t b = 1;
    ssize_t n = ::write(w_, &b, 1);
    (void)n;
#endif
  }

  void drain() {
    uint8_t buf[256];
#ifdef _WIN32
    try {
      while (net::recv_nb(r_, buf, sizeof buf) == static_cast<long>(sizeof buf)) {
      }
    } catch (const net::NetError&) {
    }
#else
    while (::read(r_, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
    }
#endif
  }

 private:
#ifdef _WIN32
  net::Socket r_, w_;
#else
  int r_ = -1, w_ = -1;
#endif
};

std::string escape_for_log(const std::string& s, size_t max = 512) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() >= max) out += "...";
  return out;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A response being produced: the head, then parts (multipart framing) and body chunks read
// through the workers, in order.
struct Response {
  bool active = false;
  bool body = false;
  uint32_t entry = 0;
  uint64_t size = 0;
  uint64_t chunk = 1;
  std::vector<http::ByteRange> ranges;
  size_t ri = 0;        // current range
  uint64_t pos = 0;     // next byte of the current range
  bool in_part = false;  // the current range's part header is queued
  bool multipart = false;
  bool closed = false;  // multipart closing delimiter queued
  std::string boundary, content_type;
  // for the access log
  int status = 0;
  std::string line;  // "METHOD target HTTP/1.x"
  std::string range;
  std::string note;  // " incomplete" when a read failed
  Clock::time_point started;
  uint64_t start_total = 0;  // Conn::queued_total when this response began
  uint64_t head_bytes = 0;
  bool page = false;  // waiting for the page callback
  bool head_only = false;
};

// A response wholly queued, logged (and counted) once its last byte is sent, or when the
// connection closes first (then with the bytes that were sent).
struct PendingLog {
  uint64_t end_total;
  Response r;
};

// Next thing to queue: static bytes, a read of [offset, offset+len), or nothing (done).
struct Step {
  enum Kind { Bytes, Read, Done } kind;
  std::string bytes;
  uint64_t offset = 0, len = 0;
};

Step next_step(Response& r) {
  if (!r.body) return {Step::Done, {}, 0, 0};
  while (r.ri < r.ranges.size()) {
    const http::ByteRange& br = r.ranges[r.ri];
    if (r.multipart && !r.in_part) {
      r.in_part = true;
      r.pos = br.first;
      return {Step::Bytes, http::multipart_part_header(r.boundary, r.content_type, br, r.size), 0, 0};
    }
    if (!r.multipart && !r.in_part) {
      r.in_part = true;
      r.pos = br.first;
    }
    if (r.pos <= br.last) {
      const uint64_t to_boundary = r.chunk - r.pos % r.chunk;
      const uint64_t left = br.last - r.pos + 1;
      const uint64_t len = std::min(to_boundary, left);
      Step s{Step::Read, {}, r.pos, len};
      r.pos += len;
      return s;
    }
    ++r.ri;
    r.in_part = false;
  }
  if (r.multipart && !r.closed) {
    r.closed = true;
    return {Step::Bytes, http::multipart_close(r.boundary), 0, 0};
  }
  return {Step::Done, {}, 0, 0};
}

struct Conn {
  uint64_t id = 0;
  net::Socket sock;
  std::string peer;
  std::string in;
  std::deque<std::string> out;
  size_t out_off = 0;    // sent bytes of out.front()
  size_t out_bytes = 0;  // unsent bytes in out
  Response resp;
  std::deque<PendingLog> pending_logs;
  uint64_t queued_total = 0, sent_total = 0;  // bytes ever queued / sent on this connection
  bool job_pending = false;
  uint64_t job_len = 0;  // bytes the pending read job asks for
  bool keep_alive = true;
  bool close_after = false;  // close once out is flushed and no response is active
  bool read_eof = false;
  bool lingering = false;    // our side is shut down; draining input until EOF
  bool rejected = false;     // over the connection limit: a 503, then close
  Clock::time_point last_activity, request_start, send_progress, linger_start;
};

struct Job {
  uint64_t conn;
  uint32_t entry;
  uint64_t offset, len;
  bool page = false;
  PageRequest page_req;
  bool cheap = false;  // a read of a resource whose blocks are small (see short_read)
};

struct Done {
  uint64_t conn;
  bool ok;
  std::string data;
  std::string error;
  uint64_t offset, len;
  bool page = false;
  Page page_out;
};

}  // namespace

bool target_path(const std::string& target, std::string* path) {
  std::string t = target;
  // absolute-form: scheme://authority/path
  size_t scheme = t.find("://");
  if (scheme != std::string::npos && t[0] != '/') {
    size_t slash = t.find('/', scheme + 3);
    t = slash == std::string::npos ? "/" : t.substr(slash);
  }
  size_t q = t.find_first_of("?#");
  if (q != std::string::npos) t.resize(q);
  if (t.empty() || t[0] != '/') return false;
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '%') {
      if (i + 2 >= t.size()) return false;
      int hi = hexval(t[i + 1]), lo = hexval(t[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return false;
      out += c;
      i += 2;
    } else {
      out += t[i];
    }
  }
  *path = out;
  return true;
}

bool equal_ct(const std::string& a, const std::string& b) {
  // Length is not secret; the bytes are compared without an early exit.
  if (a.size() != b.size()) return false;
  volatile unsigned char acc = 0;
  for (size_t i = 0; i < a.size(); ++i) acc = static_cast<unsigned char>(acc | (a[i] ^ b[i]));
  return acc == 0;
}

void check_config(const Config& c) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (c.workers == 0) fail("workers must be at least 1");
  if (c.workers > 1024) fail("workers is above 1024");
  if (c.max_connections == 0) fail("max_connections must be at least 1");
  if (c.max_connections > (1u << 20)) fail("max_connections is above " + std::to_string(1u << 20));
  const std::pair<int, const char*> timeouts[] = {{c.header_timeout_ms, "header_timeout"},
                                                  {c.idle_timeout_ms, "idle_timeout"},
                                                  {c.send_timeout_ms, "send_timeout"},
                                                  {c.stop_timeout_ms, "stop_timeout"}};
  for (const auto& t : timeouts)
    if (t.first < 1 || t.first > 86400 * 1000) fail(std::string(t.second) + " must be in (0, 86400] seconds");
  auto has_crlf_nul = [](const std::string& v) {
    return v.find_first_of("\r\n") != std::string::npos || v.find('\0') != std::string::npos;
  };
  if (c.token && (c.token->empty() || has_crlf_nul(*c.token)))
    fail("the token must be non-empty and hold no CR, LF or NUL");
  if (c.boundary_prefix.empty() ||
      c.boundary_prefix.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
          std::string::npos)
    fail("boundary_prefix must be non-empty and alphanumeric");
  if (c.max_chunk == 0) fail("max_chunk must be at least 1");
  if (c.max_chunk > (64u << 20)) fail("max_chunk is above " + std::to_string(64u << 20));
  for (const Entry& e : c.entries) {
    if (e.chunk == 0) fail("chunk must be at least 1");
    if (has_crlf_nul(e.resource.etag) || has_crlf_nul(e.resource.content_type))
      fail("etag and content_type must not hold CR, LF or NUL");
  }
}

struct Server::Impl {
  Config cfg;
  ReadFn read;
  LogFn log_fn;
  PageFn page_fn;
  ReadBatchFn read_batch;
  std::map<std::string, const Entry*> routes;

  net::Socket listener;
  Waker waker;
  uint16_t bound_port = 0;
  std::thread loop_thread, log_thread;
  std::vector<std::thread> workers;
  std::atomic<bool> running{false};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> boundary_counter{0};
  std::mutex start_stop;

  // jobs
  std::mutex jm;
  std::condition_variable jcv;
  std::deque<Job> jobs;
  bool workers_exit = false;
  std::vector<Done> done;  // guarded by jm
  // Jobs made during one turn of the I/O loop, handed to the workers together at its end (one
  // lock, and as many wake-ups as there are batches, not one per job).
  std::vector<Job> outbox;  // I/O thread only
  // Workers running a batch of short reads (guarded by jm), and since when the last one. Short
  // reads go to one worker at a time: it holds the GIL for the batch, and a second worker would
  // only take it back and forth with it (futex calls, a context switch each). Another one joins
  // when the running batch is slow (a remote source's reads), so that those never wait long.
  // Strings of body chunks already sent, kept for the next long reads: a chunk read into one
  // costs no allocation (a fresh 1 MiB buffer is page faults and zeroing, more than copying it).
  std::mutex spare_m;
  std::vector<std::string> spare;  // guarded by spare_m
  static constexpr size_t kSpareMin = 128 << 10, kSpareMax = 16;
  size_t batches_running = 0;
  Clock::time_point batch_since{};
  static constexpr Ms kBatchSlow{5};

  // A wake-up byte is on its way to the I/O thread: the workers that finish meanwhile add their
  // Done without another write (one syscall and one poll wake-up for a batch, not per job).
  std::atomic<bool> wake_pending{false};

  // log
  std::mutex lm;
  std::condition_variable lcv;
  std::deque<std::pair<int, std::string>> logs;
  bool log_exit = false;
  uint64_t logs_dropped = 0;
  std::atomic<int> min_level{0};  // lines below are not made (see LogFn)

  // loop state (I/O thread only)
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_id = 1;
  size_t active_conns = 0;  // not counting rejected ones
  uint64_t refused_unlogged = 0;  // refused since the last "connections refused" line
  Clock::time_point refused_logged{};

  // metrics
  mutable std::mutex sm;
  Stats st;                         // guarded by sm
  std::map<int, uint64_t> by_status;  // guarded by sm

  Impl(Config c, ReadFn r, LogFn l, PageFn p, ReadBatchFn b)
      : cfg(std::move(c)), read(std::move(r)), log_fn(std::move(l)), page_fn(std::move(p)), read_batch(std::move(b)) {
    for (const Entry& e : cfg.entries) routes[e.path] = &e;
  }

  // ---- logging ------------------------------------------------------------------------------
  bool logging(int level) const { return level >= min_level.load(std::memory_order_relaxed); }

  void log(int level, std::string line) {
    if (!logging(level)) return;
    std::lock_guard<std::mutex> g(lm);
    if (logs.size() >= 10000) {
      ++logs_dropped;
      return;
    }
    logs.emplace_back(level, std::move(line));
    lcv.notify_one();
  }

  void log_main() {
    std::unique_lock<std::mutex> g(lm);
    bool first = true;  // the level is asked for at once
    for (;;) {
      if (!first) lcv.wait_for(g, Ms(1000), [&] { return log_exit || !logs.empty(); });
      first = false;
      if (logs.empty() && log_exit) return;
      LogLines batch(std::make_move_iterator(logs.begin()), std::make_move_iterator(logs.end()));
      logs.clear();
      uint64_t dropped = logs_dropped;
      logs_dropped = 0;
      g.unlock();
      if (dropped) batch.emplace_back(30, std::to_string(dropped) + " log lines dropped (log queue full)");
      try {
        if (log_fn) min_level.store(log_fn(batch), std::memory_order_relaxed);
      } QLTX_RETHROW_FORCED_UNWIND catch (...) {
      }
      g.lock();
    }
  }

  // ---- workers ------------------------------------------------------------------------------
  void wake() { waker.wake(); }

  // Batched: short reads of resources read in small chunks (blocks of at most kBatchMaxChunk),
  // whose reads cost little each. A short range of a large block costs the whole block (read
  // and decrypt, with the GIL released): those run on all the workers at once, not in a batch.
  static bool short_read(const Job& j) { return !j.page && j.cheap && j.len <= kBatchMaxRead; }

  // A worker may start a batch of short reads now (jm held).
  bool may_batch(Clock::time_point now) const { return batches_running == 0 || now - batch_since >= kBatchSlow; }

  // Each read's result goes to the I/O thread as soon as it is made (not at the batch's end).
  void run_batch(std::vector<Job>& batch) {
    std::vector<ReadReq> reqs(batch.size());
    for (size_t k = 0; k < batch.size(); ++k) {
      reqs[k].id = batch[k].entry;
      reqs[k].offset = batch[k].offset;
      reqs[k].length = batch[k].len;
    }
    std::vector<bool> reported(batch.size(), false);
    std::string failure;
    auto report = [&](size_t k) {
      if (k >= reqs.size() || reported[k]) return;
      reported[k] = true;
      ReadReq& q = reqs[k];
      Done d{batch[k].conn, q.ok, {}, {}, q.offset, q.length, false, {}};
      if (!q.ok) {
        d.error = q.error.empty() ? (failure.empty() ? "read failed" : failure) : q.error;
      } else if (q.out.size() != q.length) {
        d.ok = false;
        d.error = "read returned " + std::to_string(q.out.size()) + " bytes, not " + std::to_string(q.length);
      } else {
        d.data = std::move(q.out);
      }
      {
        std::lock_guard<std::mutex> g(jm);
        done.push_back(std::move(d));
      }
      if (!wake_pending.exchange(true)) wake();
    };
    try {
      read_batch(reqs, report);
    } catch (const std::exception& e) {
      failure = e.what();
    } QLTX_RETHROW_FORCED_UNWIND catch (...) {
      failure = "unknown error";
    }
    for (size_t k = 0; k < batch.size(); ++k) report(k);
  }

  void worker_main() {
    std::vector<Job> batch;
    for (;;) {
      Job job;
      batch.clear();
      {
        std::unique_lock<std::mutex> g(jm);
        for (;;) {
          if (workers_exit) return;
          if (jobs.empty()) {
            jcv.wait(g);
            continue;
          }
          if (!read_batch || !short_read(jobs.front()) || may_batch(Clock::now())) break;
          jcv.wait_for(g, kBatchSlow);  // the running batch takes these, unless it is slow
        }
        if (read_batch && short_read(jobs.front())) {
          while (batch.size() < kMaxBatch && !jobs.empty() && short_read(jobs.front())) {
            batch.push_back(std::move(jobs.front()));
            jobs.pop_front();
          }
          ++batches_running;
          batch_since = Clock::now();
        } else {
          job = jobs.front();
          jobs.pop_front();
        }
      }
      if (!batch.empty()) {
        run_batch(batch);
        std::lock_guard<std::mutex> g(jm);
        --batches_running;
        continue;
      }
      Done d{job.conn, true, {}, {}, job.offset, job.len, job.page, {}};
      try {
        if (job.page) {
          page_fn(job.page_req, d.page_out);
        } else {
          d.data = take_spare(job.len);
          read(job.entry, job.offset, job.len, d.data);
        }
        if (!job.page && d.data.size() != job.len) {
          d.ok = false;
          d.error = "read returned " + std::to_string(d.data.size()) + " bytes, not " + std::to_string(job.len);
          d.data.clear();
        }
      } catch (const std::exception& e) {
        d.ok = false;
        d.error = e.what();
        d.data.clear();
      } QLTX_RETHROW_FORCED_UNWIND catch (...) {
        d.ok = false;
        d.error = "unknown error";
        d.data.clear();
      }
      {
        std::lock_guard<std::mutex> g(jm);
        done.push_back(std::move(d));
      }
      if (!wake_pending.exchange(true)) wake();
    }
  }

  void cancel_jobs(uint64_t conn) {
    outbox.erase(std::remove_if(outbox.begin(), outbox.end(), [&](const Job& j) { return j.conn == conn; }),
                 outbox.end());
    std::lock_guard<std::mutex> g(jm);
    jobs.erase(std::remove_if(jobs.begin(), jobs.end(), [&](const Job& j) { return j.conn == conn; }),
               jobs.end());
  }

  // The turn's jobs to the workers: one wake-up per batch of short reads and per other job.
  void publish() {
    if (outbox.empty()) return;
    size_t wakes = 0, shorts = 0;
    for (const Job& j : outbox) {
      if (read_batch && short_read(j)) ++shorts;
      else ++wakes;
    }
    {
      std::lock_guard<std::mutex> g(jm);
      for (Job& j : outbox) jobs.push_back(std::move(j));
      if (shorts && may_batch(Clock::now())) ++wakes;  // else the running batch's worker takes them
    }
    outbox.clear();
    if (wakes >= cfg.workers) {
      jcv.notify_all();
    } else {
      for (size_t k = 0; k < wakes; ++k) jcv.notify_one();
    }
  }

  // ---- responses ----------------------------------------------------------------------------
  // Short pieces are joined to the last one queued (a head and a small body go out in one send).
  static constexpr size_t kJoin = 64 << 10;

  void queue(Conn& c, std::string bytes) {
    if (bytes.empty()) return;
    if (c.out.empty()) c.send_progress = Clock::now();
    c.out_bytes += bytes.size();
    c.queued_total += bytes.size();
    if (!c.out.empty() && c.out.back().size() + bytes.size() <= kJoin) {
      c.out.back().append(bytes);
      return;
    }
    c.out.push_back(std::move(bytes));
  }

  http::Fields common_fields(bool keep_alive) {
    http::Fields f;
    f.push_back({"Server", "qeltrix"});
    f.push_back({"Date", http::format_date(static_cast<int64_t>(std::time(nullptr)))});
    f.push_back({"Connection", keep_alive ? "keep-alive" : "close"});
    return f;
  }

  // The access log line and the metrics of one response, once it ended: ``sent`` is the number
  // of its bytes (head and body) that went out.
  void access_log(const Conn& c, const Response& r, uint64_t sent, const char* note) {
    const auto elapsed = Clock::now() - r.started;
    const auto ms = std::chrono::duration_cast<Ms>(elapsed).count();
    const uint64_t body = sent > r.head_bytes ? sent - r.head_bytes : 0;
    if (logging(20)) {
      std::string line = c.peer + " \"" + r.line + "\" " + std::to_string(r.status) + " " +
                         std::to_string(body) + " range=\"" + escape_for_log(r.range, 128) + "\" " +
                         std::to_string(ms) + "ms" + r.note + note;
      log(20, std::move(line));
    }
    const double secs = std::chrono::duration<double>(elapsed).count();
    std::lock_guard<std::mutex> g(sm);
    ++by_status[r.status];
    st.body_bytes += body;
    st.head_bytes += std::min(sent, r.head_bytes);
    if (*note || !r.note.empty()) ++st.aborted;
    size_t b = 0;
    while (b < Stats::kBuckets - 1 && secs > Stats::kBounds[b]) ++b;
    ++st.duration_counts[b];
    st.duration_sum += secs;
  }

  // The current response is wholly queued: logged when its last byte is sent.
  void finish(Conn& c) {
    c.pending_logs.push_back({c.queued_total, c.resp});
    emit_sent(c);
  }

  void emit_sent(Conn& c) {
    while (!c.pending_logs.empty() && c.pending_logs.front().end_total <= c.sent_total) {
      const PendingLog& p = c.pending_logs.front();
      access_log(c, p.r, p.end_total - p.r.start_total, "");
      c.pending_logs.pop_front();
    }
  }

  // The connection closes: what was not wholly sent is logged with the bytes that were.
  void emit_closing(Conn& c) {
    emit_sent(c);
    auto sent_of = [&](const Response& r, uint64_t end) {
      const uint64_t upto = std::min(c.sent_total, end);
      return upto > r.start_total ? upto - r.start_total : 0;
    };
    for (const PendingLog& p : c.pending_logs) access_log(c, p.r, sent_of(p.r, p.end_total), " aborted");
    c.pending_logs.clear();
    if (c.resp.active || c.resp.page) access_log(c, c.resp, sent_of(c.resp, c.queued_total), " aborted");
    c.resp.active = c.resp.page = false;
  }

  void begin_response(Conn& c) {
    c.resp.start_total = c.queued_total;
  }

  void queue_head(Conn& c, std::string head) {
    c.resp.head_bytes = head.size();
    queue(c, std::move(head));
  }

  // An answer with a short text body (errors, 401, 405, 503), made in the I/O thread.
  void simple_response(Conn& c, int status, bool head_only, http::Fields extra, bool keep_alive) {
    http::Fields f = common_fields(keep_alive);
    for (auto& e : extra) f.push_back(std::move(e));
    const std::string body = std::to_string(status) + " " + http::reason_phrase(status) + "\n";
    f.push_back({"Content-Type", "text/plain; charset=utf-8"});
    f.push_back({"Content-Length", std::to_string(body.size())});
    begin_response(c);
    queue_head(c, http::build_head(status, f));
    if (!head_only) queue(c, body);
    c.resp.status = status;
    c.keep_alive = keep_alive;
    if (!keep_alive) c.close_after = true;
  }

  void handle(Conn& c, const http::Request& req) {
    Response& r = c.resp;
    r = Response();
    r.started = Clock::now();
    r.start_total = c.queued_total;
    r.line = escape_for_log(req.method, 32) + " " + escape_for_log(req.target) +
             (req.version == 10 ? " HTTP/1.0" : " HTTP/1.1");
    if (const std::string* rg = req.get("range")) r.range = *rg;
    const bool keep = req.keep_alive && !stopping.load();
    const bool head = req.method == "HEAD";

    if (cfg.token) {
      const std::string* auth = req.get("authorization");
      bool ok = false;
      if (auth && auth->size() > 7 && http::iequals(auth->substr(0, 7), "bearer ")) {
        size_t a = 7;
        while (a < auth->size() && (*auth)[a] == ' ') ++a;
        ok = equal_ct(auth->substr(a), *cfg.token);
      }
      if (!ok) {
        simple_response(c, 401, head, {{"WWW-Authenticate", "Bearer realm=\"qeltrix\""}}, keep);
        {
          std::lock_guard<std::mutex> g(sm);
          ++st.auth_failures;
        }
        finish(c);
        return;
      }
    }
    if (req.method != "GET" && !head) {
      simple_response(c, 405, false, {{"Allow", "GET, HEAD"}}, keep);
      finish(c);
      return;
    }
    std::string path;
    if (!target_path(req.target, &path)) {
      simple_response(c, 400, head, {}, false);
      finish(c);
      return;
    }
    auto it = routes.find(path);
    if (page_fn && cfg.pages && (it == routes.end() || path.compare(0, 3, "/-/") == 0)) {
      Job job{c.id, 0, 0, 0, true, {}};
      job.page_req.method = req.method;
      job.page_req.path = path;
      const size_t q = req.target.find('?');
      if (q != std::string::npos) job.page_req.query = req.target.substr(q + 1, req.target.find('#', q) - q - 1);
      if (const std::string* a = req.get("accept")) job.page_req.accept = *a;
      c.keep_alive = keep;
      if (!keep) c.close_after = true;
      r.page = true;
      r.head_only = head;
      outbox.push_back(std::move(job));
      c.job_pending = true;
      return;
    }
    if (it == routes.end()) {
      simple_response(c, 404, head, {}, keep);
      finish(c);
      return;
    }
    const Entry& e = *it->second;
    const std::string boundary =
        cfg.boundary_prefix + std::to_string(boundary_counter.fetch_add(1) + 1);
    http::Plan p = http::plan_response(req.method, req.headers, e.resource, boundary, cfg.range_limits);
    http::Fields f = common_fields(keep);
    for (auto& x : p.fields) f.push_back(std::move(x));
    begin_response(c);
    queue_head(c, http::build_head(p.status, f));
    c.keep_alive = keep;
    if (!keep) c.close_after = true;
    r.status = p.status;
    if (!p.static_body.empty()) {
      if (p.send_body) queue(c, p.static_body);
      finish(c);
      return;
    }
    r.body = p.send_body;
    r.entry = e.id;
    r.size = e.resource.size;
    r.chunk = std::max<uint64_t>(1, std::min(e.chunk, cfg.max_chunk));
    r.ranges = std::move(p.ranges);
    r.multipart = p.multipart;
    r.boundary = boundary;
    r.content_type = e.resource.content_type;
    r.active = true;
  }

  // Moves a connection forward as far as it can go without waiting.
  void pump(Conn& c) {
    for (;;) {
      if (c.lingering || c.job_pending) return;
      if (c.resp.active) {
        if (c.out_bytes >= c.resp.chunk) return;  // one chunk in flight is enough
        Step s = next_step(c.resp);
        if (s.kind == Step::Bytes) {
          queue(c, std::move(s.bytes));
          continue;
        }
        if (s.kind == Step::Read) {
          outbox.push_back({c.id, c.resp.entry, s.offset, s.len, false, {}, c.resp.chunk <= kBatchMaxChunk});
          c.job_pending = true;
          c.job_len = s.len;
          return;
        }
        c.resp.active = false;
        finish(c);
        continue;
      }
      if (c.close_after || c.rejected) return;
      if (stopping.load() && c.in.empty()) {
        c.close_after = true;
        return;
      }
      if (c.in.empty()) return;
      http::ParseResult pr =
          http::parse_request(reinterpret_cast<const uint8_t*>(c.in.data()), c.in.size(), cfg.limits);
      if (pr.kind == http::Parse::NeedMore) {
        if (c.read_eof) c.close_after = true;
        return;
      }
      if (pr.kind == http::Parse::Error) {
        c.resp = Response();
        c.resp.started = Clock::now();
        c.resp.line = "-";
        simple_response(c, pr.error.status, false, {}, false);
        log(30, c.peer + " bad request (" + std::to_string(pr.error.status) + "): " + pr.error.reason);
        finish(c);
        c.in.clear();
        return;
      }
      c.in.erase(0, pr.request.consumed);
      c.request_start = Clock::now();
      handle(c, pr.request);
    }
  }

  void on_done(Done& d) {
    auto it = conns.find(d.conn);
    if (it == conns.end()) return;  // the client went away: nothing more to do
    Conn& c = *it->second;
    c.job_pending = false;
    if (d.page) {
      on_page(c, d);
      return;
    }
    if (!d.ok) {
      const auto* e = route_of(c.resp.entry);
      log(40, c.peer + " read of " + (e ? escape_for_log(e->path) : std::string("?")) + " bytes " +
                  std::to_string(d.offset) + "-" + std::to_string(d.offset + d.len - 1) + " failed: " +
                  escape_for_log(d.error) + "; connection closed before the end of the body");
      c.resp.note = " incomplete";
      send_queued(c);  // the head that waited for this read (see flush): the client sees the cut
      close_conn(c.id);
      return;
    }
    queue(c, std::move(d.data));
    pump(c);
    flush(c);
  }

  void on_page(Conn& c, Done& d) {
    Response& r = c.resp;
    r.page = false;
    if (!d.ok) {
      log(40, c.peer + " page " + escape_for_log(r.line) + " failed: " + escape_for_log(d.error));
      simple_response(c, 500, r.head_only, {}, c.keep_alive);
      finish(c);
    } else {
      Page& p = d.page_out;
      http::Fields f = common_fields(c.keep_alive);
      for (auto& x : p.fields) f.push_back(std::move(x));
      f.push_back({"Content-Length", std::to_string(p.body.size())});
      begin_response(c);
      try {
        queue_head(c, http::build_head(p.status, f));
      } catch (const std::exception& e) {
        log(40, c.peer + " page " + escape_for_log(r.line) + " failed: " + escape_for_log(e.what()));
        simple_response(c, 500, r.head_only, {}, c.keep_alive);
        finish(c);
        pump(c);
        flush(c);
        return;
      }
      if (!r.head_only) queue(c, std::move(p.body));
      r.status = p.status;
      finish(c);
    }
    pump(c);
    flush(c);
  }

  const Entry* route_of(uint32_t id) {
    for (const Entry& e : cfg.entries)
      if (e.id == id) return &e;
    return nullptr;
  }

  // Sends what the socket takes now, producing more as the buffer drains (next chunk job, next
  // pipelined request). False when the connection was closed.
  // The head (and part header) of a response whose first body bytes are a short read under way
  // waits for them: one send, one packet, for a short range.
  bool held(const Conn& c) const {
    return c.job_pending && c.resp.active && c.job_len <= kBatchMaxRead && c.out_bytes <= kJoin &&
           c.sent_total == c.resp.start_total && c.queued_total - c.resp.start_total == c.out_bytes;
  }

  void recycle(std::string& sent) {
    if (sent.capacity() < kSpareMin) return;
    std::lock_guard<std::mutex> g(spare_m);
    if (spare.size() >= kSpareMax) return;
    sent.clear();
    spare.push_back(std::move(sent));
  }

  std::string take_spare(uint64_t len) {
    std::string s;
    if (len < kSpareMin) return s;
    std::lock_guard<std::mutex> g(spare_m);
    for (size_t k = spare.size(); k-- > 0;) {
      if (spare[k].capacity() >= len) {
        s.swap(spare[k]);
        spare[k].swap(spare.back());
        spare.pop_back();
        break;
      }
    }
    return s;
  }

  // Sends what is queued, as far as the socket takes it now; true when the socket would block
  // with bytes left. Throws net::NetError (reset by the peer).
  bool send_out(Conn& c) {
    while (!c.out.empty()) {
      std::string& front = c.out.front();
      size_t n = net::send_nb(c.sock, reinterpret_cast<const uint8_t*>(front.data()) + c.out_off,
                              front.size() - c.out_off);
      if (n == 0) return true;
      c.send_progress = Clock::now();
      c.out_off += n;
      c.out_bytes -= n;
      c.sent_total += n;
      if (c.out_off == front.size()) {
        recycle(front);
        c.out.pop_front();
        c.out_off = 0;
      }
    }
    return false;
  }

  // What is queued, as far as the socket takes it now (nothing else: the connection closes).
  void send_queued(Conn& c) {
    try {
      send_out(c);
    } catch (const net::NetError&) {
    }
  }

  bool flush(Conn& c) {
    if (held(c)) return true;
    for (;;) {
      bool blocked = false;
      try {
        blocked = send_out(c);
      } catch (const net::NetError&) {
        close_conn(c.id);  // reset by the peer: nothing more to send
        return false;
      }
      emit_sent(c);
      const size_t before = c.out_bytes;
      pump(c);
      if (c.out.empty() && !c.resp.active && !c.job_pending && (c.close_after || c.rejected)) {
        begin_linger(c);
        return true;
      }
      if (blocked || c.out_bytes == before) return true;
    }
  }

  void begin_linger(Conn& c) {
    if (c.lingering) return;
    c.sock.shutdown_write();
    c.lingering = true;
    c.linger_start = Clock::now();
    c.in.clear();
  }

  void close_conn(uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    if (it->second->job_pending) cancel_jobs(id);
    // A body cut short (the client went away or timed out, or the server stops): logged too, as
    // nginx does, with the bytes sent.
    if (!it->second->rejected) {
      emit_closing(*it->second);
      --active_conns;
      std::lock_guard<std::mutex> g(sm);
      --st.open_connections;
    }
    conns.erase(it);
  }

  // Input buffered per connection at most (a whole request head and small body, and some).
  size_t input_cap() const {
    return cfg.limits.max_request_line + cfg.limits.max_header_bytes + 4096 +
           static_cast<size_t>(std::min<uint64_t>(cfg.limits.max_body, 1 << 20));
  }

  void on_readable(Conn& c) {
    uint8_t buf[16384];
    const size_t cap = input_cap();
    for (int rounds = 0; rounds < 16; ++rounds) {
      long n;
      try {
        n = net::recv_nb(c.sock, buf, sizeof buf);
      } catch (const net::NetError&) {
        close_conn(c.id);
        return;
      }
      if (n == 0) break;
      if (n < 0) {
        c.read_eof = true;
        if (c.lingering) {
          close_conn(c.id);
          return;
        }
        break;
      }
      c.last_activity = Clock::now();
      if (c.lingering) continue;  // discard
      if (c.in.empty() && !c.resp.active) c.request_start = Clock::now();
      c.in.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
      // Less than asked: the socket is drained (no recv just to hear EAGAIN; poll tells us of
      // anything that arrives later, the peer's FIN included).
      if (c.in.size() >= cap || static_cast<size_t>(n) < sizeof buf) break;
    }
    if (c.read_eof && !c.resp.active && !c.job_pending && c.out.empty()) {
      // Let pump answer a complete request still in the buffer, else close.
      pump(c);
      if (!c.resp.active && !c.job_pending && c.out.empty()) {
        close_conn(c.id);
        return;
      }
    } else {
      pump(c);
    }
    flush(c);
  }

  void accept_new() {
    for (size_t k = 0; k < kMaxAcceptPerTurn; ++k) {
      std::string peer;
      net::Socket s;
      try {
        s = net::accept_client(listener, 0, &peer);
      } catch (const net::NetError& e) {
        log(30, std::string("accept failed: ") + e.what());
        return;
      }
      if (!s.valid()) return;
      const bool over = active_conns >= cfg.max_connections;
      if (over) {
        ++refused_unlogged;
        std::lock_guard<std::mutex> g(sm);
        ++st.refused;
      }
      if (over && conns.size() >= cfg.max_connections * 2) continue;  // closed at once
      try {
        s.set_nonblocking(true);
      } catch (const net::NetError&) {
        continue;
      }
      s.set_nodelay(true);
      auto c = std::make_unique<Conn>();
      c->id = next_id++;
      c->sock = std::move(s);
      c->peer = peer;
      c->last_activity = c->request_start = c->send_progress = Clock::now();
      Conn& ref = *c;
      conns.emplace(c->id, std::move(c));
      if (over) {
        ref.rejected = true;
        ref.resp.started = Clock::now();
        ref.resp.line = "-";
        simple_response(ref, 503, false, {{"Retry-After", "1"}}, false);
        flush(ref);
      } else {
        ++active_conns;
        std::lock_guard<std::mutex> g(sm);
        ++st.accepted;
        ++st.open_connections;
      }
    }
  }

  // The deadline of a connection, and whether it has passed.
  Clock::time_point deadline(const Conn& c) const {
    if (c.lingering) return c.linger_start + Ms(stopping.load() ? 100 : kLingerMs);
    if (c.job_pending) return Clock::time_point::max();
    if (!c.out.empty()) return c.send_progress + Ms(cfg.send_timeout_ms);
    if (c.resp.active) return Clock::time_point::max();
    if (!c.in.empty()) return c.request_start + Ms(cfg.header_timeout_ms);
    return c.last_activity + Ms(cfg.idle_timeout_ms);
  }

  // One line per second at most, with the count, however many connections are refused (a line
  // each would flood the log under exactly the load that causes them).
  void log_refused(bool force) {
    if (!refused_unlogged) return;
    const auto now = Clock::now();
    if (!force && now - refused_logged < Ms(1000)) return;
    const bool first = refused_logged == Clock::time_point{};
    log(30, std::to_string(refused_unlogged) + " connection(s) refused over the limit of " +
                std::to_string(cfg.max_connections) + " (503 or closed)" +
                (first ? "" : " in the last " +
                                  std::to_string(std::chrono::duration_cast<Ms>(now - refused_logged).count()) + "ms"));
    refused_unlogged = 0;
    refused_logged = now;
  }

  // Stops accepting, closes the idle connections and lets the others finish their response.
  void begin_stop() {
    listener.close();
    std::vector<uint64_t> idle;
    for (auto& kv : conns) {
      Conn& c = *kv.second;
      if (!c.resp.active && !c.job_pending && c.out.empty()) idle.push_back(kv.first);
      else c.close_after = true;
    }
    for (uint64_t id : idle) close_conn(id);
  }

  // Closes the connections whose deadline has passed; the earliest deadline still ahead, or
  // ``next`` if that is sooner.
  Clock::time_point expire(Clock::time_point now, Clock::time_point next) {
    std::vector<uint64_t> expired;
    for (auto& kv : conns) {
      const auto d = deadline(*kv.second);
      if (d <= now) expired.push_back(kv.first);
      else next = std::min(next, d);
    }
    for (uint64_t id : expired) {
      Conn& c = *conns[id];
      if (!c.lingering) {
        const char* what = !c.out.empty() ? "send timeout" : (!c.in.empty() ? "header timeout" : "");
        if (*what) log(30, c.peer + " " + what + ": connection closed");
      }
      close_conn(id);
    }
    return next;
  }

  // What poll() watches: the wake-up socket, the listener (until stop), then every connection;
  // ids[k] is the connection of items[k]. Returns the index of the first connection.
  size_t poll_set(std::vector<net::PollItem>& items, std::vector<uint64_t>& ids) {
    items.clear();
    ids.clear();
    items.push_back({waker.handle(), net::READABLE, 0});
    ids.push_back(0);
    if (listener.valid()) {
      items.push_back({listener.handle(), net::READABLE, 0});
      ids.push_back(0);
    }
    const size_t first_conn = items.size();
    for (auto& kv : conns) {
      Conn& c = *kv.second;
      unsigned ev = 0;
      if (!c.read_eof && (c.lingering || c.in.size() < input_cap())) ev |= net::READABLE;
      if (!c.out.empty() && !held(c)) ev |= net::WRITABLE;
      items.push_back({c.sock.handle(), ev, 0});
      ids.push_back(kv.first);
    }
    return first_conn;
  }

  // Empties the wake-up socket (when it was ``woken``) and hands the finished jobs to their
  // connections.
  void take_done(bool woken) {
    if (woken) waker.drain();
    wake_pending.store(false);  // before taking the list: a Done pushed after it wakes us again
    std::vector<Done> finished;
    {
      std::lock_guard<std::mutex> g(jm);
      finished.swap(done);
    }
    for (Done& d : finished) on_done(d);
  }

  // The connections poll() reported: read what arrived, send what they can take.
  void serve_ready(const std::vector<net::PollItem>& items, const std::vector<uint64_t>& ids, size_t first_conn) {
    for (size_t k = first_conn; k < items.size(); ++k) {
      const unsigned rev = items[k].revents;
      if (!rev) continue;
      auto it = conns.find(ids[k]);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      if (rev & (net::READABLE | net::HANGUP)) {
        on_readable(c);
        if (conns.find(ids[k]) == conns.end()) continue;
      }
      if (rev & net::WRITABLE) flush(c);
    }
  }

  void loop_main() {
    bool stop_seen = false;
    Clock::time_point stop_deadline{};
    std::vector<net::PollItem> items;
    std::vector<uint64_t> ids;
    for (;;) {
      const auto now = Clock::now();
      if (stopping.load() && !stop_seen) {
        stop_seen = true;
        stop_deadline = now + Ms(cfg.stop_timeout_ms);
        begin_stop();
      }
      if (stop_seen && (conns.empty() || now >= stop_deadline)) break;
      log_refused(false);
      const Clock::time_point next = expire(now, stop_seen ? stop_deadline : now + Ms(1000));

      const size_t first_conn = poll_set(items, ids);
      const int timeout = static_cast<int>(
          std::max<int64_t>(0, std::chrono::duration_cast<Ms>(next - Clock::now()).count() + 1));
      publish();
      try {
        net::poll_many(items, std::min(timeout, 1000));
      } catch (const net::NetError& e) {
        log(40, std::string("poll failed: ") + e.what());
        std::this_thread::sleep_for(Ms(10));
        continue;
      }
      take_done(items[0].revents != 0);
      if (first_conn == 2 && items[1].revents && listener.valid()) accept_new();
      serve_ready(items, ids, first_conn);
    }
    std::vector<uint64_t> left;
    for (auto& kv : conns) left.push_back(kv.first);
    for (uint64_t id : left) close_conn(id);
    log_refused(true);
    active_conns = 0;
  }
};

Server::Server(Config config, ReadFn read, LogFn log, PageFn page, ReadBatchFn read_batch) {
  check_config(config);
  impl_.reset(new Impl(std::move(config), std::move(read), std::move(log), std::move(page), std::move(read_batch)));
}

Server::~Server() { stop(); }

void Server::start() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.start_stop);
  if (m.running.load()) throw std::logic_error("the server is already running");
  if (m.stopping.load()) throw std::logic_error("a stopped server cannot be started again");
  m.listener = net::listen_tcp(m.cfg.host, m.cfg.port);
  m.listener.set_nonblocking(true);
  m.bound_port = net::local_port(m.listener);
  m.waker.open();
  m.running = true;
  m.log_thread = std::thread([&m] { m.log_main(); });
  for (unsigned i = 0; i < m.cfg.workers; ++i) m.workers.emplace_back([&m] { m.worker_main(); });
  m.loop_thread = std::thread([&m] { m.loop_main(); });
}

void Server::stop() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.start_stop);
  if (!m.running.load()) return;
  m.stopping = true;
  m.wake();
  if (m.loop_thread.joinable()) m.loop_thread.join();
  {
    std::lock_guard<std::mutex> j(m.jm);
    m.workers_exit = true;
    m.jobs.clear();
  }
  m.jcv.notify_all();
  for (auto& t : m.workers) t.join();
  m.workers.clear();
  {
    std::lock_guard<std::mutex> l(m.lm);
    m.log_exit = true;
  }
  m.lcv.notify_all();
  if (m.log_thread.joinable()) m.log_thread.join();
  m.listener.close();
  m.waker.close();
  m.running = false;
}

uint16_t Server::port() const { return impl_->bound_port; }
bool Server::running() const { return impl_->running.load(); }

Stats Server::stats() const {
  std::lock_guard<std::mutex> g(impl_->sm);
  Stats s = impl_->st;
  for (const auto& kv : impl_->by_status) s.responses.push_back(kv);
  return s;
}

}  // namespace seek
}  // namespace qltx
