#include "exchange/binance/stream_feed.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/json_escape.h"
#include "base/log.h"

namespace sf::exchange::binance {

namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}
int64_t steady_ms() { return steady_us() / 1000; }

// Messages waiting for take() beyond this are dropped (counted): a consumer that fell far
// behind loses events the way a disconnect would, and recovers them the same way (gap
// fills by id, a book resync), instead of growing without bound.
constexpr size_t kMaxQueued = 1'000'000;
constexpr std::chrono::milliseconds kReadPoll{50};
// take() lingers for more messages until this many are queued (or StreamFeedOptions::linger
// passes).
constexpr size_t kLingerBatch = 512;

}  // namespace

std::string stream_name(std::string_view symbol, std::string_view stream) {
  std::string s;
  s.reserve(symbol.size() + 1 + stream.size());
  for (char c : symbol) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  s += '@';
  s += stream;
  return s;
}

const char* to_string(FeedMessage::Type t) {
  switch (t) {
    case FeedMessage::Type::message:
      return "message";
    case FeedMessage::Type::connected:
      return "connected";
    case FeedMessage::Type::disconnected:
      return "disconnected";
    case FeedMessage::Type::stalled:
      return "stalled";
    case FeedMessage::Type::retired:
      return "retired";
  }
  return "?";
}

struct StreamFeed::Impl : std::enable_shared_from_this<StreamFeed::Impl> {
  struct Conn {
    int64_t id = 0;
    size_t group = 0;
    std::atomic<bool> retire{false};
    std::atomic<bool> renew{false};
    std::atomic<bool> ended{false};
    std::atomic<bool> failed{false};       // never connected
    bool successor = false;                // opened beside a live one (rotation, renew())
    std::atomic<int64_t> opened_ms{0};     // steady ms once connected
    std::atomic<int64_t> first_msg_ms{0};  // steady ms of its first message
    std::thread thread;
  };
  struct Group {
    std::vector<std::string> streams;
    std::vector<std::shared_ptr<Conn>> conns;  // in the order opened; the last is current
    int failures = 0;                          // consecutive connections that delivered nothing
    int64_t next_attempt_ms = 0;
  };

  StreamFeedOptions opt;
  std::vector<Group> groups;

  mutable std::mutex mu;
  std::condition_variable cv;      // take() waits on it
  std::condition_variable sup_cv;  // the supervisor waits on it
  std::vector<FeedMessage> queue;
  StreamFeedStats st;
  int64_t dropped = 0;
  int64_t next_id = 1;
  std::vector<int64_t> renew_ids;  // renew() requests, read by the supervisor
  bool stopping = false;
  bool started = false;
  std::thread supervisor;

  // A notice (connected, disconnected, ...): wakes take() at once.
  void push(FeedMessage m) {
    {
      std::lock_guard lk(mu);
      queue.push_back(std::move(m));
    }
    cv.notify_one();
  }

  // A burst of frames from one connection, under one lock and at most one wake-up.
  void push_frames(const Conn& c, std::vector<std::string>& frames) {
    const int64_t now = steady_us();
    bool wake = false;
    {
      std::lock_guard lk(mu);
      st.messages += static_cast<int64_t>(frames.size());
      // The first message wakes the consumer, and a full batch ends its linger; the rest
      // join the batch it takes (a notify per message cost a futex call each).
      const size_t before = queue.size();
      wake = before == 0 || (before < kLingerBatch && before + frames.size() >= kLingerBatch);
      for (auto& f : frames) {
        if (queue.size() >= kMaxQueued) {
          ++dropped;
          continue;
        }
        queue.push_back({FeedMessage::Type::message, c.id, c.group, std::move(f), now});
      }
    }
    if (wake) cv.notify_one();
  }

  void count(int64_t StreamFeedStats::*field) {
    std::lock_guard lk(mu);
    ++(st.*field);
  }

  // The path of a connection's first request and the SUBSCRIBE messages for the rest.
  void plan(const Group& g, std::string* path, std::vector<std::string>* subscribes) const {
    *path = "/stream?streams=";
    size_t i = 0;
    for (; i < g.streams.size(); ++i) {
      const std::string& s = g.streams[i];
      if (i > 0 && path->size() + 1 + s.size() > opt.max_url_bytes) break;
      if (i > 0) *path += '/';
      *path += s;
    }
    // Binance takes many names per SUBSCRIBE; 200 keeps a message well under any frame limit.
    constexpr size_t kPerSubscribe = 200;
    int64_t id = 1;
    while (i < g.streams.size()) {
      std::string m = R"({"method":"SUBSCRIBE","params":[)";
      for (size_t n = 0; n < kPerSubscribe && i < g.streams.size(); ++n, ++i) {
        if (n > 0) m += ',';
        m += '"';
        append_json_escaped(m, g.streams[i]);
        m += '"';
      }
      m += R"(],"id":)" + std::to_string(id++) + "}";
      subscribes->push_back(std::move(m));
    }
  }

  bool stop_requested() {
    std::lock_guard lk(mu);
    return stopping;
  }

  // One connection's life, on its own thread.
  void run_conn(const std::shared_ptr<Conn>& c, std::string path,
                std::vector<std::string> subscribes) {
    auto end = [&](FeedMessage::Type type, std::string why) {
      push({type, c->id, c->group, std::move(why), steady_us()});
      c->ended = true;
      sup_cv.notify_all();
    };
    http::WsClient ws(opt.tls);
    if (auto s = ws.connect(opt.base_url, path, {}, opt.connect_timeout); !s) {
      c->failed = true;
      count(&StreamFeedStats::connect_failures);
      return end(FeedMessage::Type::disconnected, s.error().message);
    }
    for (size_t i = 0; i < subscribes.size(); ++i) {
      if (i > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(1000 / kSubscribesPerSecond));
      if (auto s = ws.send(subscribes[i]); !s) {
        c->failed = true;
        count(&StreamFeedStats::connect_failures);
        return end(FeedMessage::Type::disconnected, "cannot subscribe: " + s.error().message);
      }
    }
    count(&StreamFeedStats::connects);
    c->opened_ms = steady_ms();
    push({FeedMessage::Type::connected, c->id, c->group, c->successor ? "successor" : "",
          steady_us()});
    int64_t last = steady_ms();
    std::vector<std::string> frames;
    for (;;) {
      if (c->retire.load() || stop_requested()) {
        ws.close();
        return end(FeedMessage::Type::retired, "closed");
      }
      frames.clear();
      auto r = ws.read_available(&frames, kReadPoll);
      if (r) {
        last = steady_ms();
        if (c->first_msg_ms.load() == 0) {
          c->first_msg_ms = last;
          sup_cv.notify_all();
        }
        push_frames(*c, frames);
        continue;
      }
      if (r.error().code == Errc::timeout) {
        if (steady_ms() - last < opt.stall_timeout.count()) continue;
        {
          std::lock_guard lk(mu);
          ++st.stalls;
          ++st.disconnects;
        }
        ws.close();
        return end(FeedMessage::Type::stalled,
                   "no message for " + std::to_string(opt.stall_timeout.count()) + " ms");
      }
      count(&StreamFeedStats::disconnects);
      return end(FeedMessage::Type::disconnected, r.error().message);
    }
  }

  void open(Group& g, size_t group_index) {
    auto c = std::make_shared<Conn>();
    c->group = group_index;
    c->successor = !g.conns.empty();
    {
      std::lock_guard lk(mu);
      c->id = next_id++;
    }
    std::string path;
    std::vector<std::string> subscribes;
    plan(g, &path, &subscribes);
    c->thread = std::thread([self = shared_from_this(), c, path = std::move(path),
                             subs = std::move(subscribes)]() mutable {
      self->run_conn(c, std::move(path), std::move(subs));
    });
    g.conns.push_back(std::move(c));
  }

  int64_t backoff_ms(int failures) const {
    int64_t d = opt.backoff_initial.count();
    for (int i = 1; i < failures && d < opt.backoff_max.count(); ++i) d *= 2;
    return std::min<int64_t>(d, opt.backoff_max.count());
  }

  void supervise() {
    for (;;) {
      {
        std::unique_lock lk(mu);
        sup_cv.wait_for(lk, std::chrono::milliseconds(20));
        if (stopping) break;
      }
      std::vector<int64_t> renews;
      {
        std::lock_guard lk(mu);
        renews.swap(renew_ids);
      }
      for (auto& g : groups)
        for (auto& c : g.conns)
          if (std::find(renews.begin(), renews.end(), c->id) != renews.end()) c->renew = true;
      const int64_t now = steady_ms();
      for (size_t gi = 0; gi < groups.size(); ++gi) {
        Group& g = groups[gi];
        // Ended connections: joined; the last one gone schedules the next attempt.
        for (auto it = g.conns.begin(); it != g.conns.end();) {
          if (!(*it)->ended.load()) {
            ++it;
            continue;
          }
          const bool delivered = (*it)->first_msg_ms.load() != 0;
          const bool retired = (*it)->retire.load();
          (*it)->thread.join();
          it = g.conns.erase(it);
          if (retired) continue;
          g.failures = delivered ? 1 : g.failures + 1;
          if (g.conns.empty()) g.next_attempt_ms = now + backoff_ms(g.failures);
        }
        if (g.conns.empty()) {
          if (now >= g.next_attempt_ms) open(g, gi);
          continue;
        }
        Conn& cur = *g.conns.back();
        if (cur.first_msg_ms.load() != 0) g.failures = 0;
        // Rotation: a successor before the maximum age, or at once when asked (renew()).
        const int64_t opened = cur.opened_ms.load();
        if (opened != 0 && (cur.renew.load() || now - opened >= opt.rotate_after.count())) {
          cur.renew = false;
          {
            std::lock_guard lk(mu);
            ++st.rotations;
          }
          open(g, gi);
          continue;
        }
        // The older ones go once the current one has delivered for `overlap`.
        const int64_t first = cur.first_msg_ms.load();
        if (first != 0 && now - first >= opt.overlap.count())
          for (size_t i = 0; i + 1 < g.conns.size(); ++i) g.conns[i]->retire = true;
      }
    }
    for (auto& g : groups)
      for (auto& c : g.conns) c->retire = true;
    for (auto& g : groups) {
      for (auto& c : g.conns)
        if (c->thread.joinable()) c->thread.join();
      g.conns.clear();
    }
  }
};

Result<std::unique_ptr<StreamFeed>> StreamFeed::create(StreamFeedOptions options) {
  if (options.base_url.empty()) return Error(Errc::invalid_argument, "no stream URL", "base_url");
  if (options.streams.empty())
    return Error(Errc::invalid_argument, "no streams to open", "streams");
  auto impl = std::make_shared<Impl>();
  for (size_t i = 0; i < options.streams.size(); i += kMaxStreamsPerConnection) {
    Impl::Group g;
    const size_t end = std::min(options.streams.size(), i + kMaxStreamsPerConnection);
    g.streams.assign(options.streams.begin() + static_cast<ptrdiff_t>(i),
                     options.streams.begin() + static_cast<ptrdiff_t>(end));
    impl->groups.push_back(std::move(g));
  }
  impl->opt = std::move(options);
  return std::unique_ptr<StreamFeed>(new StreamFeed(std::move(impl)));
}

StreamFeed::StreamFeed(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamFeed::~StreamFeed() { stop(); }

void StreamFeed::start() {
  std::lock_guard lk(impl_->mu);
  if (impl_->started) return;
  impl_->started = true;
  impl_->supervisor = std::thread([impl = impl_] { impl->supervise(); });
}

void StreamFeed::stop() {
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->sup_cv.notify_all();
  impl_->cv.notify_all();
  if (impl_->supervisor.joinable()) impl_->supervisor.join();
}

size_t StreamFeed::take(std::vector<FeedMessage>* out, std::chrono::milliseconds timeout) {
  std::unique_lock lk(impl_->mu);
  impl_->cv.wait_for(lk, timeout, [&] { return !impl_->queue.empty() || impl_->stopping; });
  // Lingering a little after the first message makes batches of a fast stream, and spares
  // the consumer (and whoever its publishing wakes) a wake-up per message.
  if (!impl_->queue.empty() && impl_->queue.size() < kLingerBatch && impl_->opt.linger.count() > 0)
    impl_->cv.wait_for(lk, impl_->opt.linger,
                       [&] { return impl_->queue.size() >= kLingerBatch || impl_->stopping; });
  const size_t n = impl_->queue.size();
  if (out->empty()) {
    out->swap(impl_->queue);
  } else {
    for (auto& m : impl_->queue) out->push_back(std::move(m));
    impl_->queue.clear();
  }
  return n;
}

void StreamFeed::renew(int64_t connection) {
  // The supervisor owns the connection lists and picks the request up on its next turn.
  {
    std::lock_guard lk(impl_->mu);
    impl_->renew_ids.push_back(connection);
  }
  impl_->sup_cv.notify_all();
}

StreamFeedStats StreamFeed::stats() const {
  std::lock_guard lk(impl_->mu);
  return impl_->st;
}

}  // namespace sf::exchange::binance
