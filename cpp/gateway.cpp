#include "gateway.hpp"

#include "errors.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

namespace qltx {
namespace {

constexpr int SLICE_MS = 100;  // the longest wait before a thread looks at the stop flags

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An uninitialised byte buffer (a std::vector would zero every block first): n bytes in use
// of cap allocated.
struct Buf {
  std::unique_ptr<uint8_t[]> p;
  size_t n = 0, cap = 0;
  Buf() = default;
  explicit Buf(size_t k) : p(k ? new uint8_t[k] : nullptr), n(k), cap(k) {}
  Buf(Buf&& o) noexcept : p(std::move(o.p)), n(o.n), cap(o.cap) { o.n = o.cap = 0; }
  Buf& operator=(Buf&& o) noexcept {
    p = std::move(o.p);
    n = o.n;
    cap = o.cap;
    o.n = o.cap = 0;
    return *this;
  }
  uint8_t* data() const { return p.get(); }
  size_t size() const { return n; }
};

// Block buffers a connection has finished with, for its next blocks: a new 1 MiB buffer per
// block costs page faults (the allocator hands large freed blocks back to the kernel), measured
// at ~5% of a two-gateway tunnel's CPU. Keeps at most `keep` buffers (the connection's window),
// so the bound on a connection's memory stays the queue's.
class BufPool {
 public:
  explicit BufPool(size_t keep) : keep_(keep) {}
  // A buffer of at least n bytes (size n): a kept one if one is large enough, else a new one.
  Buf get(size_t n) {
    {
      std::lock_guard<std::mutex> lk(m_);
      for (size_t i = free_.size(); i-- > 0;) {
        if (free_[i].cap >= n) {
          Buf b = std::move(free_[i]);
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
          b.n = n;
          return b;
        }
      }
    }
    return Buf(n);
  }
  void put(Buf&& b) {
    if (!b.data()) return;
    std::lock_guard<std::mutex> lk(m_);
    if (free_.size() < keep_) free_.push_back(std::move(b));
  }

 private:
  std::mutex m_;
  std::vector<Buf> free_;
  size_t keep_;
};

// Waits up to timeout_ms for `events` on s; true when ready (or hung up: the next call reports).
bool wait_for(const net::Socket& s, unsigned events, int timeout_ms) {
  std::vector<net::PollItem> items{{s.handle(), events, 0}};
  return net::poll_many(items, timeout_ms) > 0;
}

// Bytes read into buf (>0), 0 when none came within timeout_ms, -1 at EOF. NetError on reset.
long recv_wait(const net::Socket& s, uint8_t* buf, size_t n, int timeout_ms) {
  long k = net::recv_nb(s, buf, n);
  if (k != 0) return k;
  if (!wait_for(s, net::READABLE, timeout_ms)) return 0;
  return net::recv_nb(s, buf, n);
}

}  // namespace

int64_t flush_deadline(int64_t first_byte, int64_t last_byte, int flush_after, int max_delay) {
  return std::min(last_byte + flush_after, first_byte + max_delay);
}

bool Chunker::arrived(size_t n, int64_t now) {
  if (n == 0 || n > room()) throw std::invalid_argument("Chunker::arrived: n must be 1..room()");
  if (!fill_) first_ = now;
  last_ = now;
  fill_ += n;
  return fill_ == block_size_;
}

int Chunker::wait_ms(int64_t now, int slice) const {
  if (!fill_) return slice;
  return static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(slice, deadline() - now)));
}

size_t Chunker::take() {
  const size_t n = fill_;
  fill_ = 0;
  return n;
}

// ---- worker pool ---------------------------------------------------------------------------------

struct Gateway::Pool {
  explicit Pool(unsigned n) {
    for (unsigned i = 0; i < n; ++i) threads.emplace_back([this] { run(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m);
      done = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
  }
  void submit(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lk(m);
      jobs.push_back(std::move(f));
    }
    cv.notify_one();
  }
  void run() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [this] { return done || !jobs.empty(); });
        if (jobs.empty()) return;  // done and drained
        f = std::move(jobs.front());
        jobs.pop_front();
      }
      f();  // jobs catch their own exceptions
    }
  }

  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  std::vector<std::thread> threads;
  bool done = false;
};

// ---- one connection --------------------------------------------------------------------------------

namespace {

struct Item {
  enum Kind { Raw, Block, Footer, Page, End, Abort } kind = Raw;
  Buf in, out;
  StreamBlock blk;
  Hash digest{};
  uint64_t footer_offset = 0;  // Footer and Page items: where they are in the container
  bool done = false;  // guarded by Conn::m
  std::string error;
  size_t held() const { return in.size() + out.size(); }
  // Items counted in the queue's buffered bytes (markers are not).
  bool holds() const { return kind == Raw || kind == Block || kind == Footer || kind == Page; }
};

}  // namespace

struct Gateway::Conn : std::enable_shared_from_this<Gateway::Conn> {
  Conn(Gateway& g, net::Socket s, std::string p)
      : gw(g), src(std::move(s)), peer(std::move(p)), in_pool(window() + 1), out_pool(window() + 1) {}

  Gateway& gw;
  net::Socket src, dst_own;
  std::string peer;
  std::unique_ptr<Codec> codec;
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Item>> q;
  std::atomic<bool> failed{false};
  std::atomic<bool> finished{false};
  std::atomic<int> threads_left{2};
  bool ok = false;  // set by the writer on a complete stream
  std::thread reader, writer;
  int64_t silent_since = -1;  // when the source's current silence began (-1: it just sent)
  BufPool in_pool, out_pool;  // block buffers back from the writer (after the window() above)

  // After a read that got nothing: throws (an abort) once the source was silent for the idle
  // timeout. Time spent waiting for queue room is not silence (the caller resets after it).
  void note_silence() {
    const int limit = gw.cfg_.idle_timeout_ms;
    if (limit <= 0) return;
    const int64_t now = now_ms();
    if (silent_since < 0) silent_since = now;
    else if (now - silent_since >= limit)
      throw net::NetError("no bytes for " + std::to_string(limit) + " ms (idle timeout)", 0);
  }

  net::Socket& dst() { return gw.cfg_.dest_host.empty() ? src : dst_own; }
  unsigned window() const {
    return gw.cfg_.window ? gw.cfg_.window : std::max(2u, 2 * gw.cfg_.workers);
  }
  void log(int level, const std::string& msg) { gw.factory_->log(level, "gateway " + peer + ": " + msg); }

  // -- queue --
  // Appends an item, waiting for room (backpressure); false when the connection failed.
  bool push(std::shared_ptr<Item> it, bool wait_room = true) {
    std::unique_lock<std::mutex> lk(m);
    if (wait_room)
      cv.wait(lk, [&] { return q.size() < window() || failed || gw.hard_stop_; });
    if (failed || (wait_room && gw.hard_stop_)) return false;
    gw.add_buffered(static_cast<int64_t>(it->held()));
    q.push_back(std::move(it));
    cv.notify_all();
    return true;
  }
  void push_marker(Item::Kind k, std::string why = {}) {
    auto it = std::make_shared<Item>();
    it->kind = k;
    it->done = true;
    it->error = std::move(why);
    std::lock_guard<std::mutex> lk(m);
    q.push_back(std::move(it));
    cv.notify_all();
  }
  void fail() {
    failed = true;
    std::lock_guard<std::mutex> lk(m);
    cv.notify_all();
  }
  void submit(const std::shared_ptr<Item>& it) {
    std::shared_ptr<Conn> self = shared_from_this();
    gw.pool_->submit([self, it] {
      std::string err;
      if (self->failed) {
        err = "connection closed";
      } else {
        try {
          if (it->kind == Item::Block && !self->gw.cfg_.decrypt)
            self->codec->seal(it->blk, {it->in.data(), it->in.size()}, it->out.data(),
                              it->out.size(), it->digest);
          else
            self->codec->open(it->blk, {it->in.data(), it->in.size()}, it->out.data());
        } catch (const std::exception& e) {
          err = e.what();
        } QLTX_RETHROW_FORCED_UNWIND catch (...) {
          err = "unknown error";
        }
      }
      std::lock_guard<std::mutex> lk(self->m);
      it->error = std::move(err);
      it->done = true;
      self->cv.notify_all();
    });
  }

  // -- reader thread --
  void run_reader() {
    try {
      if (!gw.cfg_.dest_host.empty()) {
        try {
          dst_own = net::connect_tcp(gw.cfg_.dest_host, gw.cfg_.dest_port, gw.cfg_.connect_timeout_ms);
          dst_own.set_nonblocking(true);
          dst_own.set_nodelay(true);
        } catch (const std::exception& e) {
          log(30, "destination " + gw.cfg_.dest_host + ":" + std::to_string(gw.cfg_.dest_port) +
                      " unreachable: " + e.what() + "; closing the connection");
          src.shutdown_write();
          threads_left = 1;
          done_thread(false);
          return;
        }
      }
      writer = std::thread([this] { run_writer(); });
    } catch (const std::exception& e) {  // thread creation failed
      log(40, std::string("cannot start: ") + e.what());
      threads_left = 1;
      done_thread(false);
      return;
    }
    try {
      if (gw.cfg_.decrypt)
        read_container();
      else
        read_plain();
    } catch (const net::NetError& e) {
      log(20, std::string("source aborted: ") + e.what());
      push_marker(Item::Abort, "source aborted");
    } catch (const FormatError& e) {
      log(30, std::string("bad stream: ") + e.what());
      push_marker(Item::Abort, e.what());
    } catch (const std::exception& e) {
      log(30, e.what());
      push_marker(Item::Abort, e.what());
    }
    done_thread(true);
  }

  void read_plain() {
    codec = gw.factory_->sealer();
    {
      Bytes h = codec->header();
      auto it = std::make_shared<Item>();
      it->kind = Item::Raw;
      it->in = Buf(h.size());
      std::memcpy(it->in.data(), h.data(), h.size());
      it->done = true;
      if (!push(std::move(it))) return;
    }
    const size_t bs = gw.cfg_.block_size;
    Buf buf = in_pool.get(bs);
    Chunker chunker(bs, gw.cfg_.flush_after_ms, gw.cfg_.max_delay_ms);
    uint64_t index = 0, plain_offset = 0;
    auto emit = [&](bool final) {
      const size_t fill = chunker.take();
      auto it = std::make_shared<Item>();
      it->kind = Item::Block;
      it->blk = {index, plain_offset, static_cast<uint32_t>(fill), final};
      it->in = std::move(buf);
      it->in.n = fill;
      it->out = out_pool.get(fill + BLOCK_OVERHEAD);
      buf = in_pool.get(bs);
      index += 1;
      plain_offset += fill;
      auto keep = it;
      if (!push(std::move(it))) return false;
      silent_since = -1;
      submit(keep);
      return true;
    };
    for (;;) {
      if (gw.hard_stop_ || failed) {
        push_marker(Item::Abort, "stopped");
        return;
      }
      const int64_t now = now_ms();
      if (chunker.due(now)) {  // a partial block waited long enough
        if (!emit(false)) return;
        continue;
      }
      const long n = recv_wait(src, buf.data() + chunker.fill(), chunker.room(), chunker.wait_ms(now, SLICE_MS));
      if (n < 0) {  // EOF: the final block (empty when the stream ended on a block boundary)
        if ((chunker.fill() || index) && !emit(true)) return;
        push_marker(Item::End);
        return;
      }
      if (n == 0) {
        note_silence();
        continue;
      }
      silent_since = -1;
      gw.count(static_cast<uint64_t>(n), 0);
      if (chunker.arrived(static_cast<size_t>(n), now_ms()) && !emit(false)) return;
    }
  }

  void read_container() {
    StreamDecoder dec;
    Bytes header;  // 6.1: the header, until the keyring arrives
    Buf stage;
    size_t have = 0;
    size_t stage_hint = 0;  // the largest item yet: a new stage is made that large (a block)
    for (;;) {
      if (gw.hard_stop_ || failed) {
        push_marker(Item::Abort, "stopped");
        return;
      }
      const StreamStep st = dec.next({stage.data(), have});
      if (st.item == StreamItem::NeedMore) {
        if (stage.cap < st.size) {  // bounded by the decoder (a block, or the footer)
          stage_hint = std::max(stage_hint, st.size);
          Buf bigger = in_pool.get(stage_hint);
          if (have) std::memcpy(bigger.data(), stage.data(), have);
          stage = std::move(bigger);
        }
        const long n = recv_wait(src, stage.data() + have, st.size - have, SLICE_MS);
        if (n < 0) {
          dec.end(have);  // throws Truncated unless the trailer was read
          push_marker(Item::End);
          return;
        }
        if (n == 0) note_silence();
        else silent_since = -1;
        gw.count(static_cast<uint64_t>(n > 0 ? n : 0), 0);
        have += static_cast<size_t>(n > 0 ? n : 0);
        continue;
      }
      const ByteView item{stage.data(), st.size};
      switch (st.item) {
        case StreamItem::Header:
          if (dec.version() == VERSION_6_0)
            codec = gw.factory_->opener(item);
          else  // 6.1: the opener gets the header and the keyring that follows it
            header.assign(item.data, item.data + item.size);
          break;
        case StreamItem::Keyring:
          header.insert(header.end(), item.data, item.data + item.size);
          codec = gw.factory_->opener({header.data(), header.size()});
          header = Bytes();
          break;
        case StreamItem::Page: {
          if (!codec->checks_pages()) break;
          auto it = std::make_shared<Item>();
          it->kind = Item::Page;
          it->in = Buf(st.size);
          std::memcpy(it->in.data(), item.data, st.size);
          it->footer_offset = dec.offset() - st.size;
          it->done = true;
          if (!push(std::move(it))) return;
          break;
        }
        case StreamItem::Block: {
          auto it = std::make_shared<Item>();
          it->kind = Item::Block;
          it->blk = dec.last_block();
          it->in = std::move(stage);
          it->in.n = st.size;
          it->out = out_pool.get(it->blk.plain_size);
          auto keep = it;
          if (!push(std::move(it))) return;
          silent_since = -1;
          submit(keep);
          break;
        }
        case StreamItem::Footer: {
          auto it = std::make_shared<Item>();
          it->kind = Item::Footer;
          it->in = Buf(st.size);
          std::memcpy(it->in.data(), item.data, st.size);
          it->footer_offset = dec.offset() - st.size;
          it->done = true;
          if (!push(std::move(it))) return;
          break;
        }
        default:
          break;
      }
      if (have > st.size) std::memmove(stage.data(), stage.data() + st.size, have - st.size);
      have -= std::min(have, st.size);
      if (!stage.data()) have = 0;
    }
  }

  // -- writer thread --
  void send(const uint8_t* p, size_t n) {
    const net::Socket& s = dst();
    while (n) {
      const size_t k = net::send_nb(s, p, n);
      if (k) {
        p += k;
        n -= k;
        gw.count(0, k);
        continue;
      }
      if (gw.hard_stop_) throw net::NetError("the gateway is stopping", 0);
      if (failed) throw net::NetError("the connection failed", 0);
      wait_for(s, net::WRITABLE, SLICE_MS);
    }
  }

  void run_writer() {
    // Encrypt mode: entries of the blocks sent (6.0: all of them; with pages: of the current
    // page, and once it is written, of the last page written). offset: where the next item goes.
    std::vector<Entry> entries, last_page;
    uint64_t offset = 0, plain = 0;
    uint64_t per_page = 0;  // E when the sealer writes pages (known with the header)
    auto write_page = [&] {
      const Bytes pg = codec->page(entries);
      send(pg.data(), pg.size());
      offset += pg.size();
      last_page.swap(entries);
      entries.clear();
    };
    try {
      for (;;) {
        std::shared_ptr<Item> it;
        {
          std::unique_lock<std::mutex> lk(m);
          // A failed connection (stop, or the reader gave up) may never get its marker.
          cv.wait(lk, [&] { return q.empty() ? failed.load() : q.front()->done; });
          if (q.empty()) {
            lk.unlock();
            abort_output();
            return;
          }
          it = std::move(q.front());
          q.pop_front();
          cv.notify_all();
        }
        struct Release {  // the queue's accounting ends with the item, whatever happens
          Gateway& g;
          size_t n;
          ~Release() { g.add_buffered(-static_cast<int64_t>(n)); }
        } release{gw, it->holds() ? it->held() : 0};
        switch (it->kind) {
          case Item::Raw:  // the header (6.1: and the keyring), whatever its size
            send(it->in.data(), it->in.size());
            offset += it->in.size();
            if (!gw.cfg_.decrypt) per_page = codec->page_entries();
            break;
          case Item::Block:
            if (!it->error.empty()) {
              log(30, "block " + std::to_string(it->blk.index) + ": " + it->error);
              abort_output();
              return;
            }
            send(it->out.data(), it->out.size());
            in_pool.put(std::move(it->in));
            if (!gw.cfg_.decrypt) {
              Entry e;
              e.plain_offset = it->blk.plain_offset;
              e.block_offset = offset;
              e.plain_size = it->blk.plain_size;
              e.block_size = static_cast<uint32_t>(it->out.size());
              e.hash = it->digest;
              entries.push_back(e);
              offset += it->out.size();
              plain += it->blk.plain_size;
              if (per_page && (entries.size() == per_page || it->blk.final)) write_page();
            }
            out_pool.put(std::move(it->out));
            break;
          case Item::Footer:
            codec->check_footer({it->in.data(), it->in.size()}, it->footer_offset);
            break;
          case Item::Page:
            codec->check_page({it->in.data(), it->in.size()}, it->footer_offset);
            break;
          case Item::End: {
            if (!gw.cfg_.decrypt) {
              const Bytes tail = codec->finish(per_page ? last_page : entries, plain);
              send(tail.data(), tail.size());
            }
            dst().shutdown_write();
            ok = true;
            done_thread(true);
            return;
          }
          case Item::Abort:
            abort_output();
            return;
        }
      }
    } catch (const net::NetError& e) {
      log(30, std::string("destination failed: ") + e.what());
    } catch (const std::exception& e) {
      log(30, e.what());
    }
    abort_output();
  }

  // Ends the output without its footer: an encrypted stream is left truncated (the receiver
  // reports it); a plaintext output is reset, so its receiver sees an error, not a clean end.
  void abort_output() {
    fail();
    if (gw.cfg_.decrypt) {
      // The socket is closed (with a reset) by the last of the two threads: the reader may
      // still be polling it.
      if (gw.cfg_.dest_host.empty())
        src.set_reset_on_close();
      else
        dst_own.set_reset_on_close();
    } else {
      dst().shutdown_write();
    }
    done_thread(true);
  }

  // Called once by each of the two threads as it ends; the last one closes the sockets.
  void done_thread(bool) {
    if (--threads_left != 0) return;
    {
      // Drop what is still queued (blocks of a failed connection).
      std::lock_guard<std::mutex> lk(m);
      for (auto& it : q)
        if (it->holds()) gw.add_buffered(-static_cast<int64_t>(it->held()));
      q.clear();
    }
    src.close();
    dst_own.close();
    {
      std::lock_guard<std::mutex> lk(gw.stats_m_);
      gw.stats_.active -= 1;
      if (ok)
        gw.stats_.completed += 1;
      else
        gw.stats_.failed += 1;
    }
    {
      std::lock_guard<std::mutex> lk(gw.conns_m_);  // stop() waits on this under conns_m_
      finished = true;
    }
    gw.conns_cv_.notify_all();
  }
};

// ---- server ------------------------------------------------------------------------------------

Gateway::Gateway(GatewayConfig cfg, std::shared_ptr<CodecFactory> factory)
    : cfg_(std::move(cfg)), factory_(std::move(factory)) {
  check_block_size_arg(cfg_.block_size);
  if (cfg_.workers < 1) throw std::invalid_argument("workers must be at least 1");
  if (cfg_.max_connections < 1) throw std::invalid_argument("max_connections must be at least 1");
  if (cfg_.flush_after_ms < 1 || cfg_.max_delay_ms < cfg_.flush_after_ms)
    throw std::invalid_argument("flush_after must be positive and at most max_delay");
  if (!cfg_.dest_host.empty() && cfg_.dest_port == 0)
    throw std::invalid_argument("dest_port is required with dest_host");
}

Gateway::~Gateway() { stop(0); }

void Gateway::start() {
  if (started_.exchange(true)) throw std::invalid_argument("the gateway was already started");
  listener_ = net::listen_tcp(cfg_.listen_host, cfg_.listen_port);
  port_ = net::local_port(listener_);
  pool_ = std::make_unique<Pool>(cfg_.workers);
  acceptor_ = std::thread([this] { accept_loop(); });
}

void Gateway::accept_loop() {
  while (!stopping_) {
    reap(false);
    {
      std::unique_lock<std::mutex> lk(conns_m_);
      if (conns_.size() >= cfg_.max_connections) {
        conns_cv_.wait_for(lk, std::chrono::milliseconds(SLICE_MS));
        continue;
      }
    }
    std::string peer;
    net::Socket s;
    try {
      s = net::accept_client(listener_, SLICE_MS, &peer);
      if (!s.valid()) continue;
      s.set_nonblocking(true);
      s.set_nodelay(true);
    } catch (const std::exception& e) {  // e.g. out of file descriptors: back off
      factory_->log(30, std::string("gateway: accept failed: ") + e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(SLICE_MS));
      continue;
    }
    auto c = std::make_shared<Conn>(*this, std::move(s), peer);
    {
      std::lock_guard<std::mutex> lk(stats_m_);
      stats_.accepted += 1;
      stats_.active += 1;
    }
    factory_->log(10, "gateway " + peer + ": accepted");
    std::lock_guard<std::mutex> lk(conns_m_);
    conns_.push_back(c);
    try {
      c->reader = std::thread([c] { c->run_reader(); });
    } catch (const std::exception& e) {
      factory_->log(40, std::string("gateway: cannot start a thread: ") + e.what());
      conns_.pop_back();
      std::lock_guard<std::mutex> sl(stats_m_);
      stats_.active -= 1;
      stats_.failed += 1;
    }
  }
}

void Gateway::reap(bool all) {
  std::list<std::shared_ptr<Conn>> done;
  {
    std::lock_guard<std::mutex> lk(conns_m_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || (*it)->finished) {
        done.push_back(std::move(*it));
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : done) {
    if (c->reader.joinable()) c->reader.join();  // the reader starts the writer
    if (c->writer.joinable()) c->writer.join();
  }
}

void Gateway::stop(int grace_ms) {
  if (!started_) return;
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  listener_.close();
  {
    std::unique_lock<std::mutex> lk(conns_m_);
    conns_cv_.wait_for(lk, std::chrono::milliseconds(std::max(0, grace_ms)), [this] {
      return std::all_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->finished.load(); });
    });
    hard_stop_ = true;
    for (auto& c : conns_) c->fail();
  }
  reap(true);
  pool_.reset();  // runs what is left, then joins the workers
}

GatewayStats Gateway::stats() const {
  std::lock_guard<std::mutex> lk(stats_m_);
  GatewayStats s = stats_;
  s.buffered = buffered_;
  return s;
}

void Gateway::add_buffered(int64_t delta) {
  const uint64_t now = buffered_ += static_cast<uint64_t>(delta);
  if (delta > 0) {
    std::lock_guard<std::mutex> lk(stats_m_);
    stats_.peak_buffered = std::max(stats_.peak_buffered, now);
  }
}

void Gateway::count(uint64_t in, uint64_t out) {
  std::lock_guard<std::mutex> lk(stats_m_);
  stats_.bytes_in += in;
  stats_.bytes_out += out;
}

}  // namespace qltx
