// Contract test suite for sf::store::StateStore (src/store/state_store.h). Every
// implementation instantiates it; the tests only use the interface.
//
// Factory shape expected as the type parameter:
//
//   struct MyStoreFactory {
//     // A fresh, empty store. Whatever backs it (a temporary directory, a database or
//     // schema created for the test) is released when the last reference goes, typically
//     // through a custom deleter.
//     static std::shared_ptr<sf::store::StateStore> make();
//   };
//
// Instantiation, in exactly one .cc of a test binary (the header defines the tests), at
// global namespace scope:
//
//   #include "tests/contract/state_store_contract.h"  // repository root on the include path
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StateStoreContract, MyStoreFactory);
//
// What is deliberately not here: failure part-way through apply() (no implementation-
// agnostic way to provoke one; each implementation tests it, e.g. with a trigger in SQLite)
// and persistence across reopen (needs implementation-specific reopening).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "store/state_fields.h"
#include "store/state_store.h"
#include "tests/support/store_factory.h"

namespace sf::store::contract {

inline TargetState make_target(const std::string& telemetry_id, const std::string& role,
                               double updated_at) {
  TargetState t;
  t.telemetry_id = telemetry_id;
  t.target = role;
  t.status = "pending";
  t.message = "";
  t.records_written = 0;
  t.updated_at = updated_at;
  t.config_json = R"({"target":")" + role + R"(","telemetry_id":")" + telemetry_id + R"("})";
  return t;
}

// A queue with `n_targets` targets whose telemetry ids are "<queue_id>-t<i>".
inline QueueState make_queue(const std::string& queue_id, double created_at, size_t n_targets = 2) {
  QueueState q;
  q.queue_id = queue_id;
  q.symbol = "BTCUSDT";
  q.type = "candles";
  q.time_range = "2024-01-01T00:00:00Z/2024-01-02T00:00:00Z";
  q.status = "pending";
  q.message = "";
  q.created_at = created_at;
  q.updated_at = created_at;
  q.request_json = R"({"queue_id":")" + queue_id + R"(","symbol":"BTCUSDT"})";
  for (size_t i = 0; i < n_targets; ++i) {
    q.targets.push_back(make_target(queue_id + "-t" + std::to_string(i),
                                    i % 2 == 0 ? "loader-producer" : "dummy-service", created_at));
  }
  return q;
}

// Field-by-field comparison (state_fields.h) naming the first difference (readable
// failures, and cheap enough to run over 10,000 queues); the failure names the record as
// `kind` `id`.
template <class R>
::testing::AssertionResult fields_equal(const R& a, const R& b, const char* kind,
                                        const std::string& id) {
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  StateFields<R>::for_each([&](const char* field, auto member) {
    if (result && a.*member != b.*member) {
      result = ::testing::AssertionFailure() << kind << " " << id << ": " << field
                                             << " differs: " << ::testing::PrintToString(a.*member)
                                             << " vs " << ::testing::PrintToString(b.*member);
    }
  });
  return result;
}

inline ::testing::AssertionResult targets_equal(const TargetState& a, const TargetState& b) {
  return fields_equal(a, b, "target", a.telemetry_id);
}

inline ::testing::AssertionResult queues_equal(const QueueState& a, const QueueState& b) {
  if (auto r = fields_equal(a, b, "queue", a.queue_id); !r) return r;
  if (a.targets.size() != b.targets.size()) {
    return ::testing::AssertionFailure()
           << "queue " << a.queue_id << ": targets.size() differs: " << a.targets.size() << " vs "
           << b.targets.size();
  }
  for (size_t i = 0; i < a.targets.size(); ++i) {
    auto r = targets_equal(a.targets[i], b.targets[i]);
    if (!r) return r << " (targets[" << i << "] of queue " << a.queue_id << ")";
  }
  return ::testing::AssertionSuccess();
}

inline StoredEvent make_event(const std::string& queue_id, double ts, const std::string& tag) {
  return StoredEvent{queue_id, ts, R"({"queue_id":")" + queue_id + R"(","tag":")" + tag + "\"}"};
}

}  // namespace sf::store::contract

template <typename Factory>
class StateStoreContract
    : public sf::testing::StoreContractFixture<sf::store::StateStore, Factory> {
 protected:
  void create(const sf::store::QueueState& q) {
    this->expect_ok(this->store_->create_queue(q), "create_queue(" + q.queue_id + ")");
  }
  sf::store::QueueState get(const std::string& id) {
    return this->value_or(this->store_->get_queue(id), "get_queue(" + id + ")",
                          sf::store::QueueState{});
  }
  void apply(const sf::store::StateBatch& b) { this->expect_ok(this->store_->apply(b), "apply"); }
  std::vector<sf::store::StoredEvent> recent(const std::string& id, size_t n) {
    return this->value_or(this->store_->recent_events(id, n), "recent_events(" + id + ")",
                          std::vector<sf::store::StoredEvent>{});
  }
};

TYPED_TEST_SUITE_P(StateStoreContract);

TYPED_TEST_P(StateStoreContract, CreateThenGetReturnsEveryField) {
  using namespace sf::store;
  QueueState q = contract::make_queue("q-unicode", 1700000000.125, 0);
  q.symbol = "ETH/USDT";
  q.type = "trades";
  q.time_range = "2024-03-01T00:00:00Z/2024-03-01T01:00:00Z";
  q.status = "started";
  q.message = "naïve café — 比特币 🚀 \"quoted\" back\\slash\nnew line\ttab";
  q.updated_at = 1700000001.5;
  // Byte-exact: odd spacing, escapes and non-ASCII must survive untouched (no re-encoding).
  q.request_json =
      "{ \"queue_id\" : \"q-unicode\",\n  \"note\":\"\\u00e9 é 𝄞\", \"n\": 1.50 , \"a\":[ ] }";
  // Deliberately not alphabetical and not in telemetry_id order: request order is kept.
  TargetState t1 = contract::make_target("zeta", "loader-producer", 1700000000.25);
  t1.status = "loading";
  t1.message = "первый";
  t1.records_written = 9007199254740993LL;  // > 2^53: must not pass through a double
  TargetState t2 = contract::make_target("alpha", "dummy-service", 1700000000.75);
  t2.config_json = "{\"k\": \"日本語\",  \"x\": null}";
  TargetState t3 = contract::make_target("mid", "loader-producer", 0);
  t3.message = "";
  t3.config_json = "";
  q.targets = {t1, t2, t3};

  this->create(q);
  auto got = this->get("q-unicode");
  EXPECT_TRUE(contract::queues_equal(got, q));
  ASSERT_EQ(got.targets.size(), 3u);
  EXPECT_EQ(got.targets[0].telemetry_id, "zeta");
  EXPECT_EQ(got.targets[1].telemetry_id, "alpha");
  EXPECT_EQ(got.targets[2].telemetry_id, "mid");

  // A queue without targets is valid too.
  QueueState empty = contract::make_queue("q-no-targets", 1700000002, 0);
  this->create(empty);
  EXPECT_TRUE(contract::queues_equal(this->get("q-no-targets"), empty));
}

TYPED_TEST_P(StateStoreContract, DuplicateCreateIsAlreadyExistsAndKeepsOriginal) {
  using namespace sf::store;
  QueueState original = contract::make_queue("q1", 100, 2);
  this->create(original);

  QueueState other = contract::make_queue("q1", 200, 3);
  other.symbol = "DOGEUSDT";
  other.status = "error";
  other.message = "should not be stored";
  other.request_json = "{}";
  auto s = this->store().create_queue(other);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::already_exists) << s.error().message;

  EXPECT_TRUE(contract::queues_equal(this->get("q1"), original));
  auto all = this->store().list_queues();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TYPED_TEST_P(StateStoreContract, GetUnknownIsNotFound) {
  using namespace sf::store;
  auto r = this->store().get_queue("no-such-queue");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::not_found) << r.error().message;

  this->create(contract::make_queue("q1", 1));
  auto r2 = this->store().get_queue("q");  // a prefix is not a match
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, sf::Errc::not_found);
}

TYPED_TEST_P(StateStoreContract, ListReturnsAllQueuesOldestFirstWithTargets) {
  using namespace sf::store;
  auto empty = this->store().list_queues();
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty->empty());

  // Created in an order different from created_at: the list follows created_at.
  QueueState b = contract::make_queue("b", 2000, 1);
  QueueState c = contract::make_queue("c", 3000, 3);
  QueueState a = contract::make_queue("a", 1000, 2);
  QueueState d = contract::make_queue("d", 1500, 0);
  this->create(b);
  this->create(c);
  this->create(a);
  this->create(d);

  auto all = this->store().list_queues();
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 4u);
  EXPECT_TRUE(contract::queues_equal((*all)[0], a));
  EXPECT_TRUE(contract::queues_equal((*all)[1], d));
  EXPECT_TRUE(contract::queues_equal((*all)[2], b));
  EXPECT_TRUE(contract::queues_equal((*all)[3], c));
}

TYPED_TEST_P(StateStoreContract, ApplyUpdatesQueueFields) {
  using namespace sf::store;
  QueueState q = contract::make_queue("q1", 100, 2);
  QueueState untouched = contract::make_queue("q2", 101, 1);
  this->create(q);
  this->create(untouched);

  QueueState upd = q;
  upd.status = "error";
  upd.message = "loader exited with code 3 — ошибка";
  upd.updated_at = 150.5;
  // Only status, message and updated_at are written; these must be ignored.
  upd.symbol = "CHANGED";
  upd.request_json = "{\"changed\":true}";
  upd.targets = {contract::make_target("sneaky", "dummy-service", 150)};
  StateBatch batch;
  batch.queue_updates.push_back(upd);
  this->apply(batch);

  QueueState expected = q;
  expected.status = "error";
  expected.message = upd.message;
  expected.updated_at = 150.5;
  EXPECT_TRUE(contract::queues_equal(this->get("q1"), expected));
  EXPECT_TRUE(contract::queues_equal(this->get("q2"), untouched));

  // The message can be cleared again.
  upd.status = "started";
  upd.message = "";
  upd.updated_at = 160;
  StateBatch again;
  again.queue_updates.push_back(upd);
  this->apply(again);
  expected.status = "started";
  expected.message = "";
  expected.updated_at = 160;
  EXPECT_TRUE(contract::queues_equal(this->get("q1"), expected));
}

TYPED_TEST_P(StateStoreContract, ApplyUpsertsTargets) {
  using namespace sf::store;
  QueueState q = contract::make_queue("q1", 100, 2);  // q1-t0, q1-t1
  this->create(q);
  this->create(contract::make_queue("q2", 101, 2));

  TargetState changed = q.targets[1];
  changed.status = "loading";
  changed.message = "50%";
  changed.records_written = 12345;
  changed.updated_at = 120.25;
  changed.config_json = "{\"replaced\":true}";
  TargetState fresh = contract::make_target("q1-new", "dummy-service", 121);
  fresh.status = "started";
  TargetState fresh2 = contract::make_target("q1-a-new", "loader-producer", 122);

  StateBatch batch;
  batch.target_updates.emplace_back("q1", changed);
  batch.target_updates.emplace_back("q1", fresh);
  batch.target_updates.emplace_back("q1", fresh2);
  this->apply(batch);

  QueueState expected = q;
  expected.targets[1] = changed;
  expected.targets.push_back(fresh);  // new targets follow the existing ones, in batch order
  expected.targets.push_back(fresh2);
  EXPECT_TRUE(contract::queues_equal(this->get("q1"), expected));

  // Updating a target again keeps its position; same telemetry_id in another queue is a
  // different target.
  TargetState first = q.targets[0];
  first.status = "finished";
  first.records_written = 7;
  first.updated_at = 130;
  StateBatch second;
  second.target_updates.emplace_back("q1", first);
  this->apply(second);
  expected.targets[0] = first;
  EXPECT_TRUE(contract::queues_equal(this->get("q1"), expected));
  EXPECT_TRUE(contract::queues_equal(this->get("q2"), contract::make_queue("q2", 101, 2)));

  // The same target twice in one batch: the later update wins.
  TargetState v1 = fresh;
  v1.records_written = 1;
  TargetState v2 = fresh;
  v2.records_written = 2;
  StateBatch twice;
  twice.target_updates.emplace_back("q1", v1);
  twice.target_updates.emplace_back("q1", v2);
  this->apply(twice);
  expected.targets[2] = v2;
  EXPECT_TRUE(contract::queues_equal(this->get("q1"), expected));
}

TYPED_TEST_P(StateStoreContract, ApplyIgnoresUpdatesToUnknownQueues) {
  using namespace sf::store;
  QueueState q = contract::make_queue("q1", 100, 1);
  this->create(q);

  StateBatch batch;
  QueueState ghost = contract::make_queue("ghost", 100, 0);
  ghost.status = "finished";
  batch.queue_updates.push_back(ghost);
  batch.target_updates.emplace_back("ghost", contract::make_target("g-t0", "dummy-service", 1));
  batch.events.push_back(contract::make_event("ghost", 1, "g"));
  // ...and the known parts of the same batch still apply.
  QueueState upd = q;
  upd.status = "started";
  upd.updated_at = 101;
  batch.queue_updates.push_back(upd);
  batch.events.push_back(contract::make_event("q1", 101, "e"));
  this->apply(batch);

  auto r = this->store().get_queue("ghost");
  ASSERT_FALSE(r.ok()) << "an update must not create a queue";
  EXPECT_EQ(r.error().code, sf::Errc::not_found);
  EXPECT_TRUE(this->recent("ghost", 10).empty());
  EXPECT_EQ(this->get("q1").status, "started");
  EXPECT_EQ(this->recent("q1", 10).size(), 1u);
  auto all = this->store().list_queues();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TYPED_TEST_P(StateStoreContract, ApplyIsAllOrNothingForReaders) {
  // Each batch writes the same round number into the queue message and every target's
  // message: a reader must never see them disagree (no half-applied batch is visible).
  // Several targets per batch widen the window a non-atomic implementation would expose.
  using namespace sf::store;
  constexpr size_t kTargets = 8;
  QueueState q = contract::make_queue("q1", 100, kTargets);
  q.message = "0";
  for (auto& t : q.targets) t.message = "0";
  this->create(q);

  auto consistent = [](const QueueState& got) {
    if (got.targets.size() != kTargets) return false;
    for (const auto& t : got.targets) {
      if (t.message != got.message) return false;
    }
    return true;
  };
  constexpr int kMinRounds = 300;
  constexpr int kMaxRounds = 5000;
  constexpr int kMinReads = 300;  // keep writing until the readers have overlapped enough
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> mismatches{0};
  std::atomic<int> read_errors{0};
  auto read_loop = [&] {
    while (!done.load()) {
      auto got = this->store().get_queue("q1");
      auto all = this->store().list_queues();
      if (!got.ok() || !all.ok() || all->size() != 1) {
        read_errors++;
        continue;
      }
      if (!consistent(*got)) mismatches++;
      if (!consistent((*all)[0])) mismatches++;
      reads++;
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) readers.emplace_back(read_loop);
  int rounds = 0;
  while (rounds < kMaxRounds && (rounds < kMinRounds || reads.load() < kMinReads)) {
    ++rounds;
    StateBatch b;
    QueueState upd = q;
    upd.message = std::to_string(rounds);
    upd.updated_at = 100 + rounds;
    b.queue_updates.push_back(upd);
    for (const auto& t0 : q.targets) {
      TargetState t = t0;
      t.message = std::to_string(rounds);
      t.records_written = rounds;
      b.target_updates.emplace_back("q1", t);
    }
    b.events.push_back(contract::make_event("q1", 100 + rounds, std::to_string(rounds)));
    auto s = this->store().apply(b);
    if (!s.ok()) {
      ADD_FAILURE() << "apply: " << s.error().message;
      break;
    }
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(mismatches.load(), 0) << "half-applied batches seen in " << reads.load() << " reads";
  EXPECT_EQ(read_errors.load(), 0);
  QueueState got = this->get("q1");
  EXPECT_EQ(got.message, std::to_string(rounds));
  EXPECT_TRUE(consistent(got));
  EXPECT_EQ(this->recent("q1", 100000).size(), static_cast<size_t>(rounds));
}

TYPED_TEST_P(StateStoreContract, EventsAppendedAndRecentReturnsNewestOldestFirst) {
  using namespace sf::store;
  this->create(contract::make_queue("q1", 100, 0));
  this->create(contract::make_queue("q2", 101, 0));
  EXPECT_TRUE(this->recent("q1", 10).empty());

  // Ten events for q1 over several batches, interleaved with q2's.
  for (int i = 0; i < 10; i += 2) {
    StateBatch b;
    b.events.push_back(contract::make_event("q1", 200 + i, "e" + std::to_string(i)));
    b.events.push_back(contract::make_event("q2", 200 + i, "other" + std::to_string(i)));
    b.events.push_back(contract::make_event("q1", 200 + i + 1, "e" + std::to_string(i + 1)));
    this->apply(b);
  }

  auto last3 = this->recent("q1", 3);
  ASSERT_EQ(last3.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    auto want = contract::make_event("q1", 207 + k, "e" + std::to_string(7 + k));
    EXPECT_EQ(last3[k].queue_id, "q1");
    EXPECT_EQ(last3[k].timestamp, want.timestamp);
    EXPECT_EQ(last3[k].json, want.json);
  }
  auto all = this->recent("q1", 1000);
  ASSERT_EQ(all.size(), 10u);
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(all[k].json, contract::make_event("q1", 0, "e" + std::to_string(k)).json);
  }
  EXPECT_TRUE(this->recent("q1", 0).empty());
  EXPECT_EQ(this->recent("q2", 1000).size(), 5u);
  EXPECT_EQ(this->recent("q2", 1).at(0).json, contract::make_event("q2", 0, "other8").json);
}

TYPED_TEST_P(StateStoreContract, TrimEventsKeepsNewest) {
  using namespace sf::store;
  this->create(contract::make_queue("q1", 100, 0));
  this->create(contract::make_queue("q2", 101, 0));
  StateBatch b;
  for (int i = 0; i < 10; ++i) {
    b.events.push_back(contract::make_event("q1", 200 + i, "e" + std::to_string(i)));
    b.events.push_back(contract::make_event("q2", 200 + i, "o" + std::to_string(i)));
  }
  this->apply(b);

  auto s = this->store().trim_events("q1", 4);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto kept = this->recent("q1", 1000);
  ASSERT_EQ(kept.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(kept[k].json, contract::make_event("q1", 0, "e" + std::to_string(6 + k)).json);
  }
  EXPECT_EQ(this->recent("q2", 1000).size(), 10u) << "trim must only touch its queue";

  // Keeping more than there are is a no-op; new events still append after a trim.
  ASSERT_TRUE(this->store().trim_events("q1", 100).ok());
  EXPECT_EQ(this->recent("q1", 1000).size(), 4u);
  StateBatch more;
  more.events.push_back(contract::make_event("q1", 300, "late"));
  this->apply(more);
  auto after = this->recent("q1", 2);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].json, contract::make_event("q1", 0, "e9").json);
  EXPECT_EQ(after[1].json, contract::make_event("q1", 0, "late").json);

  ASSERT_TRUE(this->store().trim_events("q1", 0).ok());
  EXPECT_TRUE(this->recent("q1", 1000).empty());
  ASSERT_TRUE(this->store().trim_events("unknown", 1).ok());
}

TYPED_TEST_P(StateStoreContract, ConcurrentApplyLosesNothing) {
  using namespace sf::store;
  constexpr int kThreads = 4;
  constexpr int kBatches = 150;
  this->create(contract::make_queue("shared", 100, 0));
  for (int t = 0; t < kThreads; ++t) {
    this->create(contract::make_queue("own" + std::to_string(t), 101 + t, 1));
  }

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string tid = std::to_string(t);
      for (int i = 0; i < kBatches; ++i) {
        StateBatch b;
        // A target per thread in the shared queue, updated every batch...
        TargetState counter = contract::make_target("counter-" + tid, "dummy-service", i);
        counter.records_written = i + 1;
        b.target_updates.emplace_back("shared", counter);
        // ...a new target every batch in the thread's own queue...
        b.target_updates.emplace_back(
            "own" + tid, contract::make_target("n" + std::to_string(i), "loader-producer", i));
        // ...and events in both.
        b.events.push_back(contract::make_event("shared", i, tid + ":" + std::to_string(i)));
        b.events.push_back(contract::make_event("own" + tid, i, std::to_string(i)));
        QueueState upd = contract::make_queue("own" + tid, 0, 0);
        upd.status = "loading";
        upd.updated_at = i;
        b.queue_updates.push_back(upd);
        if (!this->store().apply(b).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  QueueState shared = this->get("shared");
  ASSERT_EQ(shared.targets.size(), static_cast<size_t>(kThreads));
  for (const TargetState& t : shared.targets) {
    EXPECT_EQ(t.records_written, kBatches) << t.telemetry_id;
  }
  auto events = this->recent("shared", 100000);
  EXPECT_EQ(events.size(), static_cast<size_t>(kThreads * kBatches));
  // Each thread's events keep that thread's order.
  std::vector<int> next(kThreads, 0);
  for (const StoredEvent& e : events) {
    int t = 0;
    for (; t < kThreads; ++t) {
      if (e.json ==
          contract::make_event("shared", 0, std::to_string(t) + ":" + std::to_string(next[t]))
              .json) {
        break;
      }
    }
    ASSERT_LT(t, kThreads) << "event out of order or unexpected: " << e.json;
    next[t]++;
  }
  for (int t = 0; t < kThreads; ++t) {
    const std::string tid = std::to_string(t);
    QueueState own = this->get("own" + tid);
    EXPECT_EQ(own.status, "loading");
    EXPECT_EQ(own.updated_at, kBatches - 1);
    ASSERT_EQ(own.targets.size(), static_cast<size_t>(kBatches + 1));
    for (int i = 0; i < kBatches; ++i) {
      EXPECT_EQ(own.targets[i + 1].telemetry_id, "n" + std::to_string(i));
    }
    EXPECT_EQ(this->recent("own" + tid, 100000).size(), static_cast<size_t>(kBatches));
  }
}

TYPED_TEST_P(StateStoreContract, TenThousandQueuesListCorrectly) {
  using namespace sf::store;
  constexpr int kQueues = 10000;
  std::vector<QueueState> created;
  created.reserve(kQueues);
  for (int i = 0; i < kQueues; ++i) {
    // Queue ids sort differently from created_at, so an id-ordered list would fail.
    QueueState q = contract::make_queue("q" + std::to_string(kQueues - i), 1700000000.0 + i,
                                        static_cast<size_t>(i % 3));
    auto s = this->store().create_queue(q);
    ASSERT_TRUE(s.ok()) << s.error().message;
    created.push_back(std::move(q));
  }

  auto start = std::chrono::steady_clock::now();
  auto all = this->store().list_queues();
  auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(all.ok()) << all.error().message;
  std::printf("[ timing   ] list_queues over %d queues: %.1f ms\n", kQueues, ms);
  ::testing::Test::RecordProperty("list_queues_ms", static_cast<int>(ms));

  ASSERT_EQ(all->size(), created.size());
  for (size_t i = 0; i < created.size(); ++i) {
    ASSERT_TRUE(contract::queues_equal((*all)[i], created[i])) << "at index " << i;
  }
}

REGISTER_TYPED_TEST_SUITE_P(StateStoreContract, CreateThenGetReturnsEveryField,
                            DuplicateCreateIsAlreadyExistsAndKeepsOriginal, GetUnknownIsNotFound,
                            ListReturnsAllQueuesOldestFirstWithTargets, ApplyUpdatesQueueFields,
                            ApplyUpsertsTargets, ApplyIgnoresUpdatesToUnknownQueues,
                            ApplyIsAllOrNothingForReaders,
                            EventsAppendedAndRecentReturnsNewestOldestFirst, TrimEventsKeepsNewest,
                            ConcurrentApplyLosesNothing, TenThousandQueuesListCorrectly);
