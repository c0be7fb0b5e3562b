#include "bus/memory/memory_bus.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sf::bus {
// Internal types; a named namespace because MemoryBus::Core (declared in the header) holds
// them.
namespace memory_detail {

struct Stored {
  std::string key;
  std::string value;
  int64_t timestamp_ms = 0;
};

// Something blocked in poll(). `waiting` lets producers skip notify when nobody waits.
struct Waiter {
  std::condition_variable cv;
  bool waiting = false;
  void wake() {
    if (waiting) cv.notify_one();
  }
};

// What a record costs against the backlog bound: its bytes plus the deque slot.
size_t footprint(const Stored& s) { return sizeof(Stored) + s.key.size() + s.value.size(); }

struct Partition {
  std::deque<Stored> log;        // records with offsets [base, end())
  int64_t base = 0;              // offset of log.front(); dropped records keep their offsets
  size_t bytes = 0;              // footprint() of every record in `log`
  std::vector<Waiter*> waiters;  // the consumers owning this partition and its readers

  int64_t end() const { return base + static_cast<int64_t>(log.size()); }
  void append(Stored s) {
    bytes += footprint(s);
    log.push_back(std::move(s));
  }
  // True when it dropped anything.
  bool drop_before(int64_t offset) {
    const int64_t from = base;
    while (base < offset && !log.empty()) {
      bytes -= footprint(log.front());
      log.pop_front();
      ++base;
    }
    return base != from;
  }
  void remove_waiter(Waiter* w) { std::erase(waiters, w); }
};

struct Group;

struct Topic {
  std::string name;
  std::vector<Partition> partitions;  // sized once at creation, so pointers stay valid
  std::vector<Group*> groups;         // every group that ever subscribed
};

// One group's offsets on one topic, per partition; -1 means none.
struct GroupTopic {
  std::vector<int64_t> committed;  // the next offset the group needs
  std::vector<int64_t> started;    // where the group started without a commit

  // The lowest offset this group may still need.
  int64_t floor(size_t p) const {
    if (committed[p] >= 0) return committed[p];
    return started[p] >= 0 ? started[p] : 0;
  }
};

struct Assignment {
  Topic* topic;
  int32_t partition;
  int64_t position;  // next offset to deliver
};

struct Member : Waiter {
  Group* group = nullptr;
  std::vector<Topic*> topics;
  StartFrom start_from = StartFrom::earliest;
  std::vector<Assignment> owned;
  size_t next = 0;  // round-robin start over `owned`, so no partition starves
  bool closed = false;
};

struct Group {
  std::vector<Member*> members;  // live consumers in join order
  std::unordered_map<Topic*, GroupTopic> topics;
  int64_t empty_since_ms = -1;  // steady time the last member left; -1 while it has members
};

struct ReaderState : Waiter {
  Topic* topic = nullptr;
  int32_t partition = 0;
  int64_t position = 0;
  bool closed = false;
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Record make_record(const Topic& t, int32_t p, int64_t offset) {
  const Partition& part = t.partitions[p];
  const Stored& s = part.log[static_cast<size_t>(offset - part.base)];
  return Record{t.name, p, offset, s.key, s.value, s.timestamp_ms};
}

// Appends records of `t`/`p` from `*position` to `out` (at most `max` in total).
void collect(const Topic& t, int32_t p, int64_t* position, size_t max, std::vector<Record>* out) {
  const Partition& part = t.partitions[p];
  *position = std::max(*position, part.base);  // skip records already dropped
  if (*position >= part.end() || out->size() >= max) return;
  // Sized once: a poll of thousands of records would otherwise reallocate (and move every
  // record taken so far) a dozen times under the lock.
  out->reserve(out->size() +
               std::min(max - out->size(), static_cast<size_t>(part.end() - *position)));
  for (; *position < part.end() && out->size() < max; ++*position) {
    out->push_back(make_record(t, p, *position));
  }
}

Error closed_error() { return Error(Errc::closed, "memory bus: closed"); }

}  // namespace memory_detail

using namespace memory_detail;

// Everything below is guarded by `mu`; methods named *_locked expect it held.
struct MemoryBus::Core {
  Options options;
  const Clock* clock;
  mutable std::mutex mu;
  bool shut_down = false;
  std::unordered_map<std::string, std::unique_ptr<Topic>> topics;
  std::unordered_map<std::string, std::unique_ptr<Group>> groups;
  // Producers waiting for a full partition to drain (see backpressured_locked).
  std::condition_variable space_cv;
  int space_waiters = 0;
  size_t empty_groups = 0;        // groups with empty_since_ms >= 0
  int64_t next_expiry_check = 0;  // steady ms; expire_groups_locked() is cheap before it

  explicit Core(Options o)
      : options(o), clock(o.clock != nullptr ? o.clock : &SystemClock::instance()) {}

  Topic* find_locked(const std::string& name) {
    auto it = topics.find(name);
    return it == topics.end() ? nullptr : it->second.get();
  }

  Topic* get_or_create_locked(const std::string& name, int32_t partitions) {
    if (Topic* t = find_locked(name)) return t;
    auto t = std::make_unique<Topic>();
    t->name = name;
    t->partitions = std::vector<Partition>(static_cast<size_t>(partitions));
    return topics.emplace(name, std::move(t)).first->second.get();
  }

  // Drops the records of t/p that every group of the topic has committed.
  void trim_locked(Topic& t, int32_t p) {
    if (t.groups.empty()) return;  // retention cap applies instead (see produce)
    int64_t floor = INT64_MAX;
    for (Group* g : t.groups) floor = std::min(floor, g->topics.at(&t).floor(p));
    if (t.partitions[p].drop_before(floor)) wake_producers_locked();
  }

  // Forgets every group that has had no member for options.empty_group_retention (as a
  // Kafka broker forgets an empty group's offsets): it no longer pins its topics' records,
  // and a topic left with no group falls back to the retention cap. Runs at most once a
  // second (and at once when `force`), so produce() can call it.
  void expire_groups_locked(bool force = false) {
    if (empty_groups == 0 || options.empty_group_retention.count() <= 0) return;
    const int64_t now = clock->steady_ms();
    if (!force && now < next_expiry_check) return;
    next_expiry_check = now + 1000;
    for (auto it = groups.begin(); it != groups.end();) {
      Group& g = *it->second;
      if (g.empty_since_ms < 0 || now - g.empty_since_ms < options.empty_group_retention.count()) {
        ++it;
        continue;
      }
      for (auto& [t, gt] : g.topics) {
        std::erase(t->groups, &g);
        for (int32_t p = 0; p < static_cast<int32_t>(t->partitions.size()); ++p) {
          Partition& part = t->partitions[p];
          if (!t->groups.empty()) {
            trim_locked(*t, p);
          } else if (part.log.size() > options.max_records_per_partition) {
            part.drop_before(part.end() - static_cast<int64_t>(options.max_records_per_partition));
          }
        }
      }
      --empty_groups;
      it = groups.erase(it);
    }
    wake_producers_locked();
  }

  void wake_producers_locked() {
    if (space_waiters > 0) space_cv.notify_all();
  }

  // Whether a produce() to t/p must wait: the partition holds max_backlog_bytes of records
  // not yet committed, and every group of the topic has a live member on it, so commits
  // will free room. A group nobody consumes for (an abandoned or crashed consumer) would
  // never free it: then records are buffered without bound instead, as before the bound.
  bool backpressured_locked(const Topic& t, const Partition& part) const {
    if (options.max_backlog_bytes == 0 || part.bytes < options.max_backlog_bytes) return false;
    if (t.groups.empty()) return false;
    return std::all_of(t.groups.begin(), t.groups.end(), [&](const Group* g) {
      return std::any_of(g->members.begin(), g->members.end(), [&](const Member* m) {
        return std::find(m->topics.begin(), m->topics.end(), &t) != m->topics.end();
      });
    });
  }

  // Where a consumer starts a partition it was just given.
  static int64_t start_position(GroupTopic& gt, const Topic& t, int32_t p, StartFrom from) {
    const Partition& part = t.partitions[p];
    if (gt.committed[p] >= 0) return std::max(gt.committed[p], part.base);
    int64_t pos = from == StartFrom::earliest ? part.base : part.end();
    if (gt.started[p] < 0 || pos < gt.started[p]) gt.started[p] = pos;
    return pos;
  }

  // Recomputes which live member owns each partition of the group's topics. Members keep
  // their position on partitions they still own; others start at the committed offset.
  // `leaving` (already removed from g.members) loses all its partitions.
  void rebalance_locked(Group& g, Member* leaving) {
    std::vector<std::vector<Assignment>> old;
    auto release = [](Member* m) {
      for (const Assignment& a : m->owned) a.topic->partitions[a.partition].remove_waiter(m);
      return std::exchange(m->owned, {});
    };
    for (Member* m : g.members) old.push_back(release(m));
    if (leaving != nullptr) release(leaving);

    std::vector<size_t> subs;  // indexes into g.members subscribed to the topic
    for (auto& [t, gt] : g.topics) {
      subs.clear();
      for (size_t i = 0; i < g.members.size(); ++i) {
        const auto& ts = g.members[i]->topics;
        if (std::find(ts.begin(), ts.end(), t) != ts.end()) subs.push_back(i);
      }
      if (subs.empty()) continue;
      for (int32_t p = 0; p < static_cast<int32_t>(t->partitions.size()); ++p) {
        size_t i = subs[static_cast<size_t>(p) % subs.size()];
        Member* m = g.members[i];
        auto kept = std::find_if(old[i].begin(), old[i].end(), [&](const Assignment& a) {
          return a.topic == t && a.partition == p;
        });
        int64_t pos =
            kept != old[i].end() ? kept->position : start_position(gt, *t, p, m->start_from);
        m->owned.push_back({t, p, pos});
        t->partitions[p].waiters.push_back(m);
        trim_locked(*t, p);  // a new start position may release records
      }
    }
    for (Member* m : g.members) m->wake();  // new partitions may have records ready
    // A member that left may have been the last live one of a topic a producer waits on.
    if (leaving != nullptr) wake_producers_locked();
  }
};

namespace {

using Clk = std::chrono::steady_clock;

// Shared poll loop: `collect_fn` appends available records; waits on `w` until one
// arrives, the deadline passes, or the object/bus closes.
template <typename Collect>
Result<std::vector<Record>> poll_loop(MemoryBus::Core& core, Waiter& w, const bool& closed,
                                      size_t max_records, std::chrono::milliseconds timeout,
                                      Collect collect_fn) {
  if (max_records == 0) return Error(Errc::invalid_argument, "max_records must be > 0");
  auto deadline = Clk::now() + std::max(timeout, std::chrono::milliseconds(0));
  std::vector<Record> out;
  std::unique_lock lock(core.mu);
  for (;;) {
    if (closed || core.shut_down) return closed_error();
    collect_fn(max_records, &out);
    if (!out.empty() || Clk::now() >= deadline) return out;
    w.waiting = true;
    w.cv.wait_until(lock, deadline);
    w.waiting = false;
  }
}

class MemoryProducer final : public Producer {
 public:
  explicit MemoryProducer(std::shared_ptr<MemoryBus::Core> core) : core_(std::move(core)) {}

  Result<int64_t> produce(const std::string& topic, const std::string& key,
                          const std::string& value) override {
    if (topic.empty()) return Error(Errc::invalid_argument, "empty topic name", "topic");
    // Copy outside the lock: values can be large.
    Stored s{key, value, core_->clock->now_ms()};
    uint64_t hash = fnv1a(key);
    std::unique_lock lock(core_->mu);
    if (core_->shut_down) return closed_error();
    core_->expire_groups_locked();
    Topic* t = core_->get_or_create_locked(topic, core_->options.default_partitions);
    auto p = static_cast<int32_t>(hash % t->partitions.size());
    Partition& part = t->partitions[p];
    if (core_->backpressured_locked(*t, part)) {
      ++core_->space_waiters;
      core_->space_cv.wait(
          lock, [&] { return core_->shut_down || !core_->backpressured_locked(*t, part); });
      --core_->space_waiters;
      if (core_->shut_down) return closed_error();
    }
    int64_t offset = part.end();
    part.append(std::move(s));
    if (t->groups.empty() && part.log.size() > core_->options.max_records_per_partition) {
      part.drop_before(part.base + 1);
    }
    for (Waiter* w : part.waiters) w->wake();
    return offset;
  }

  Status flush(std::chrono::milliseconds) override {
    return ok_status();  // produce() is synchronous
  }

 private:
  std::shared_ptr<MemoryBus::Core> core_;
};

class MemoryConsumer final : public Consumer {
 public:
  MemoryConsumer(std::shared_ptr<MemoryBus::Core> core, std::unique_ptr<Member> m)
      : core_(std::move(core)), m_(std::move(m)) {}
  ~MemoryConsumer() override { close(); }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds timeout) override {
    return poll_loop(*core_, *m_, m_->closed, max_records, timeout,
                     [this](size_t max, std::vector<Record>* out) {
                       size_t n = m_->owned.size();
                       for (size_t i = 0; i < n && out->size() < max; ++i) {
                         Assignment& a = m_->owned[(m_->next + i) % n];
                         collect(*a.topic, a.partition, &a.position, max, out);
                       }
                       if (n > 0) m_->next = (m_->next + 1) % n;
                     });
  }

  Status commit(const Record& r) override {
    std::lock_guard lock(core_->mu);
    if (m_->closed || core_->shut_down) return closed_error();
    auto it = std::find_if(m_->topics.begin(), m_->topics.end(),
                           [&](const Topic* t) { return t->name == r.topic; });
    if (it == m_->topics.end()) {
      return Error(Errc::invalid_argument, "commit: not subscribed to " + r.topic, "topic");
    }
    Topic& t = **it;
    if (r.partition < 0 || r.partition >= static_cast<int32_t>(t.partitions.size())) {
      return Error(Errc::invalid_argument, "commit: no such partition", "partition");
    }
    if (r.offset < 0 || r.offset >= t.partitions[r.partition].end()) {
      return Error(Errc::invalid_argument, "commit: offset out of range", "offset");
    }
    int64_t& committed = m_->group->topics.at(&t).committed[r.partition];
    committed = std::max(committed, r.offset + 1);
    core_->trim_locked(t, r.partition);
    return ok_status();
  }

  void close() override {
    std::lock_guard lock(core_->mu);
    if (m_->closed) return;
    m_->closed = true;
    Group& g = *m_->group;
    std::erase(g.members, m_.get());
    core_->rebalance_locked(g, m_.get());
    if (g.members.empty()) {
      g.empty_since_ms = core_->clock->steady_ms();
      ++core_->empty_groups;
    }
    core_->expire_groups_locked();
  }

 private:
  std::shared_ptr<MemoryBus::Core> core_;
  std::unique_ptr<Member> m_;  // address registered in the group and partitions
};

class MemoryReader final : public Reader {
 public:
  MemoryReader(std::shared_ptr<MemoryBus::Core> core, std::unique_ptr<ReaderState> s)
      : core_(std::move(core)), s_(std::move(s)) {}
  ~MemoryReader() override { close(); }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds timeout) override {
    return poll_loop(*core_, *s_, s_->closed, max_records, timeout,
                     [this](size_t max, std::vector<Record>* out) {
                       collect(*s_->topic, s_->partition, &s_->position, max, out);
                     });
  }

  void close() override {
    std::lock_guard lock(core_->mu);
    if (s_->closed) return;
    s_->closed = true;
    s_->topic->partitions[s_->partition].remove_waiter(s_.get());
  }

 private:
  std::shared_ptr<MemoryBus::Core> core_;
  std::unique_ptr<ReaderState> s_;
};

}  // namespace

MemoryBus::MemoryBus() : MemoryBus(Options{}) {}

MemoryBus::MemoryBus(Options options) {
  if (options.default_partitions < 1) options.default_partitions = 1;
  core_ = std::make_shared<Core>(options);
}

MemoryBus::~MemoryBus() {
  // Objects made by the bus share core_ and may outlive it: make them report closed.
  std::lock_guard lock(core_->mu);
  core_->shut_down = true;
  core_->space_cv.notify_all();
  for (auto& [name, g] : core_->groups) {
    for (Member* m : g->members) m->wake();
  }
  for (auto& [name, t] : core_->topics) {
    for (Partition& part : t->partitions) {
      for (Waiter* w : part.waiters) w->wake();
    }
  }
}

Status MemoryBus::ensure_topic(const TopicSpec& spec) {
  if (spec.name.empty()) return Error(Errc::invalid_argument, "empty topic name", "name");
  if (spec.partitions < 1) {
    return Error(Errc::invalid_argument, "partitions must be >= 1", "partitions");
  }
  std::lock_guard lock(core_->mu);
  core_->get_or_create_locked(spec.name, spec.partitions);
  return ok_status();
}

Result<std::unique_ptr<Producer>> MemoryBus::producer() {
  return std::unique_ptr<Producer>(std::make_unique<MemoryProducer>(core_));
}

Result<std::unique_ptr<Consumer>> MemoryBus::subscribe(const SubscribeOptions& opts) {
  if (opts.group.empty()) return Error(Errc::invalid_argument, "empty group", "group");
  if (opts.topics.empty()) return Error(Errc::invalid_argument, "no topics", "topics");
  for (const std::string& name : opts.topics) {
    if (name.empty()) return Error(Errc::invalid_argument, "empty topic name", "topics");
  }
  auto m = std::make_unique<Member>();
  m->start_from = opts.start_from;
  std::lock_guard lock(core_->mu);
  core_->expire_groups_locked(true);  // a group past its retention starts afresh
  auto& g = core_->groups[opts.group];
  if (!g) g = std::make_unique<Group>();
  if (g->empty_since_ms >= 0) {
    g->empty_since_ms = -1;
    --core_->empty_groups;
  }
  m->group = g.get();
  for (const std::string& name : opts.topics) {
    Topic* t = core_->get_or_create_locked(name, core_->options.default_partitions);
    if (std::find(m->topics.begin(), m->topics.end(), t) != m->topics.end()) continue;
    m->topics.push_back(t);
    if (!g->topics.contains(t)) {
      std::vector<int64_t> none(t->partitions.size(), -1);
      g->topics.emplace(t, GroupTopic{none, none});
      t->groups.push_back(g.get());
    }
  }
  g->members.push_back(m.get());
  core_->rebalance_locked(*g, nullptr);
  return std::unique_ptr<Consumer>(std::make_unique<MemoryConsumer>(core_, std::move(m)));
}

Result<std::unique_ptr<Reader>> MemoryBus::read_from(const std::string& topic, int32_t partition,
                                                     int64_t offset) {
  std::lock_guard lock(core_->mu);
  Topic* t = core_->find_locked(topic);
  if (t == nullptr) return Error(Errc::not_found, "no such topic: " + topic, "topic");
  if (partition < 0 || partition >= static_cast<int32_t>(t->partitions.size())) {
    return Error(Errc::invalid_argument, "no such partition", "partition");
  }
  Partition& part = t->partitions[partition];
  if (offset < -1 || offset > part.end()) {
    return Error(Errc::invalid_argument, "offset out of range", "offset");
  }
  auto s = std::make_unique<ReaderState>();
  s->topic = t;
  s->partition = partition;
  s->position = offset == -1 ? part.end() : offset;
  part.waiters.push_back(s.get());
  return std::unique_ptr<Reader>(std::make_unique<MemoryReader>(core_, std::move(s)));
}

Result<int64_t> MemoryBus::end_offset(const std::string& topic, int32_t partition) {
  std::lock_guard lock(core_->mu);
  Topic* t = core_->find_locked(topic);
  if (t == nullptr) return Error(Errc::not_found, "no such topic: " + topic, "topic");
  if (partition < 0 || partition >= static_cast<int32_t>(t->partitions.size())) {
    return Error(Errc::invalid_argument, "no such partition", "partition");
  }
  return t->partitions[partition].end();
}

size_t MemoryBus::retained_records() const {
  std::lock_guard lock(core_->mu);
  size_t n = 0;
  for (const auto& [name, t] : core_->topics) {
    for (const Partition& part : t->partitions) n += part.log.size();
  }
  return n;
}

size_t MemoryBus::retained_records(const std::string& topic) const {
  std::lock_guard lock(core_->mu);
  const Topic* t = core_->find_locked(topic);
  size_t n = 0;
  if (t != nullptr)
    for (const Partition& part : t->partitions) n += part.log.size();
  return n;
}

}  // namespace sf::bus
