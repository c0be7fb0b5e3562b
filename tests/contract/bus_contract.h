// The bus contract suite: what every sf::bus::Bus implementation guarantees (src/bus/bus.h).
//
// To run it against an implementation, define a factory type with
//
//     static std::unique_ptr<sf::bus::Bus> make();   // a fresh, ready bus for one test
//
// and instantiate the typed suite in a test binary:
//
//     #include "tests/contract/bus_contract.h"
//     namespace sf::bus::contract {  // instantiate in the suite's namespace
//     struct KafkaBusFactory {
//       static std::unique_ptr<sf::bus::Bus> make() { return make_kafka_bus(test_config()); }
//     };
//     INSTANTIATE_TYPED_TEST_SUITE_P(Kafka, BusContract, ::testing::Types<KafkaBusFactory>);
//     }  // namespace sf::bus::contract
//
// Requirements on the implementation under test, beyond bus.h:
// - A record with a 1 MiB value (kLargeValueBytes) must round-trip (Kafka: raise the topic's
//   max.message.bytes and the producer's message.max.bytes).
// - commit() never moves a group's committed offset backwards (a Kafka consumer keeps the
//   highest offset it committed per partition).
//
// Every test creates its topics with ensure_topic() and uses topic and group names unique
// to the run ("sfct.<test>.<what>.<random>"), so the suite can run against a shared broker.
// Waits use generous deadlines (kDeadline) but return as soon as the records arrive, so a
// fast bus runs the suite quickly.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/result.h"
#include "bus/bus.h"

namespace sf::bus::contract {

using std::chrono::milliseconds;

inline constexpr milliseconds kDeadline{30'000};  // upper bound for expected records
inline constexpr milliseconds kQuiet{300};        // how long "nothing more arrives" is checked
inline constexpr size_t kLargeValueBytes = size_t{1} << 20;

inline std::string describe(const Error& e) {
  return std::string(errc_name(e.code)) + ": " + e.message;
}

// Unwraps a Result, failing the test (via an exception gtest reports) on error.
template <typename T>
T must(Result<T> r, const std::string& what) {
  if (!r.ok()) throw std::runtime_error(what + " failed: " + describe(r.error()));
  return std::move(r).value();
}
inline void must(const Status& s, const std::string& what) {
  if (!s.ok()) throw std::runtime_error(what + " failed: " + describe(s.error()));
}

// "sfct.<test name>.<what>.<random hex>": valid as a Kafka topic and group name.
inline std::string unique_name(const std::string& what) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info != nullptr ? info->name() : "none";
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
  return "sfct." + test + "." + what + "." + suffix;
}

// Polls until `n` records arrived in total or `deadline` passed; returns what arrived.
template <typename Poller>
std::vector<Record> drain(Poller& c, size_t n, milliseconds deadline = kDeadline) {
  std::vector<Record> out;
  auto until = std::chrono::steady_clock::now() + deadline;
  while (out.size() < n && std::chrono::steady_clock::now() < until) {
    auto batch = must(c.poll(n - out.size(), milliseconds(200)), "poll");
    for (Record& r : batch) out.push_back(std::move(r));
  }
  return out;
}

// Polls for kQuiet and returns whatever arrives (expected: nothing).
template <typename Poller>
std::vector<Record> poll_quiet(Poller& c) {
  std::vector<Record> out;
  auto until = std::chrono::steady_clock::now() + kQuiet;
  while (std::chrono::steady_clock::now() < until) {
    auto batch = must(c.poll(100, milliseconds(50)), "poll");
    for (Record& r : batch) out.push_back(std::move(r));
  }
  return out;
}

// prefix + i (written with append: GCC 12 warns falsely on `"k" + std::to_string(i)`).
inline std::string cat(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

inline std::vector<std::string> values(const std::vector<Record>& rs) {
  std::vector<std::string> v;
  for (const Record& r : rs) v.push_back(r.value);
  return v;
}

inline std::vector<std::string> numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back(cat(prefix, i));
  return v;
}

template <typename Factory>
class BusContract : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_ = Factory::make();
    ASSERT_NE(bus_, nullptr);
    producer_ = must(bus_->producer(), "producer");
  }

  // A new topic with `partitions` partitions.
  std::string make_topic(int32_t partitions, const std::string& what = "topic") {
    std::string name = unique_name(what);
    must(bus_->ensure_topic(TopicSpec{name, partitions, 1}), "ensure_topic");
    return name;
  }

  std::unique_ptr<Consumer> subscribe(const std::string& group, const std::string& topic,
                                      StartFrom from = StartFrom::earliest) {
    return must(
        bus_->subscribe(SubscribeOptions{.group = group, .topics = {topic}, .start_from = from}),
        "subscribe");
  }

  // Subscribes an idle group to `topic`. A bus may drop records every group has committed;
  // with this group holding them, a test observes where consumers start, not what the bus
  // happens to retain.
  void pin(const std::string& topic) { pins_.push_back(subscribe(unique_name("pin"), topic)); }

  // Produces (key, value) pairs in order and flushes.
  std::vector<int64_t> produce_all(const std::string& topic,
                                   const std::vector<std::pair<std::string, std::string>>& kvs) {
    std::vector<int64_t> offsets;
    for (const auto& [k, v] : kvs)
      offsets.push_back(must(producer_->produce(topic, k, v), "produce"));
    must(producer_->flush(kDeadline), "flush");
    return offsets;
  }
  void produce_values(const std::string& topic, const std::string& key,
                      const std::vector<std::string>& vals) {
    std::vector<std::pair<std::string, std::string>> kvs;
    for (const auto& v : vals) kvs.emplace_back(key, v);
    produce_all(topic, kvs);
  }

  // The set-up of the commit tests: a new one-partition topic (pinned when `pinned`) holding
  // v0..v<n-1> under key "k", and a consumer of a new group that has polled for all n.
  struct Received {
    std::string topic, group;
    std::unique_ptr<Consumer> consumer;
    std::vector<Record> got;
  };
  Received receive_numbered(int n, bool pinned) {
    Received r;
    r.topic = make_topic(1);
    if (pinned) pin(r.topic);
    produce_values(r.topic, "k", numbered("v", 0, n));
    r.group = unique_name("g");
    r.consumer = subscribe(r.group, r.topic);
    r.got = drain(*r.consumer, static_cast<size_t>(n));
    return r;
  }
  // Closes r's consumer; then a new consumer of r's group receives exactly v<from>.. (up to
  // what r received) and nothing more: the group resumes after its committed offset.
  void expect_group_resumes_at(Received& r, int from) {
    r.consumer->close();
    auto c = subscribe(r.group, r.topic);
    const int n = static_cast<int>(r.got.size());
    EXPECT_EQ(values(drain(*c, static_cast<size_t>(n - from))), numbered("v", from, n));
    EXPECT_TRUE(poll_quiet(*c).empty());
  }

  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Producer> producer_;
  std::vector<std::unique_ptr<Consumer>> pins_;
};

TYPED_TEST_SUITE_P(BusContract);

TYPED_TEST_P(BusContract, RoundTripPreservesKeysAndValuesByteForByte) {
  std::string topic = this->make_topic(1);
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  std::string large(kLargeValueBytes, '\0');
  std::mt19937 rng(42);
  for (char& c : large) c = static_cast<char>(rng());
  const std::vector<std::pair<std::string, std::string>> sent = {
      {"k1", "hello"},  {std::string("a\0b", 3), std::string("\0\x01\xff\0", 4)},
      {"", ""},         {all_bytes, all_bytes},
      {"large", large},
  };
  auto before = std::chrono::system_clock::now();
  std::vector<int64_t> offsets = this->produce_all(topic, sent);
  auto after = std::chrono::system_clock::now();

  auto c = this->subscribe(unique_name("g"), topic);
  std::vector<Record> got = drain(*c, sent.size());
  ASSERT_EQ(got.size(), sent.size());
  auto ms = [](auto tp) {
    return std::chrono::duration_cast<milliseconds>(tp.time_since_epoch()).count();
  };
  for (size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE(cat("record ", i));
    EXPECT_EQ(got[i].topic, topic);
    EXPECT_EQ(got[i].partition, 0);
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(i));  // a new topic starts at offset 0
    if (offsets[i] >= 0) {
      EXPECT_EQ(offsets[i], got[i].offset);
    }
    EXPECT_TRUE(got[i].key == sent[i].first) << "key differs";
    EXPECT_EQ(got[i].value.size(), sent[i].second.size());
    EXPECT_TRUE(got[i].value == sent[i].second) << "value differs";
    EXPECT_GE(got[i].timestamp_ms, ms(before) - 60'000);
    EXPECT_LE(got[i].timestamp_ms, ms(after) + 60'000);
  }
}

TYPED_TEST_P(BusContract, PreservesPerKeyOrder) {
  std::string topic = this->make_topic(4);
  constexpr int kKeys = 10, kPerKey = 100;
  std::vector<std::pair<std::string, std::string>> sent;
  for (int i = 0; i < kPerKey; ++i) {
    for (int k = 0; k < kKeys; ++k) sent.emplace_back(cat("key", k), std::to_string(i));
  }
  this->produce_all(topic, sent);

  auto c = this->subscribe(unique_name("g"), topic);
  std::vector<Record> got = drain(*c, sent.size());
  ASSERT_EQ(got.size(), sent.size());
  std::map<std::string, std::vector<std::string>> by_key;
  std::map<std::string, int32_t> partition_of;
  std::map<int32_t, int64_t> last_offset;
  for (const Record& r : got) {
    by_key[r.key].push_back(r.value);
    auto it = partition_of.emplace(r.key, r.partition).first;
    EXPECT_EQ(it->second, r.partition) << "key " << r.key << " on two partitions";
    auto last = last_offset.find(r.partition);
    if (last != last_offset.end()) {
      EXPECT_EQ(r.offset, last->second + 1) << "gap or reorder";
    }
    last_offset[r.partition] = r.offset;
  }
  ASSERT_EQ(by_key.size(), static_cast<size_t>(kKeys));
  for (const auto& [key, vals] : by_key) EXPECT_EQ(vals, numbered("", 0, kPerKey)) << key;
}

TYPED_TEST_P(BusContract, TwoGroupsEachSeeAllRecords) {
  std::string topic = this->make_topic(2);
  std::vector<std::pair<std::string, std::string>> sent;
  for (int i = 0; i < 40; ++i) sent.emplace_back(cat("k", i), cat("v", i));
  this->produce_all(topic, sent);

  std::set<std::string> want;
  for (const auto& kv : sent) want.insert(kv.second);
  // Both groups exist before either consumes (a bus may drop records every group has
  // committed, so a group created later need not see them).
  auto a = this->subscribe(unique_name("a"), topic);
  auto b = this->subscribe(unique_name("b"), topic);
  std::vector<Record> got_a = drain(*a, sent.size());
  for (const Record& r : got_a) must(a->commit(r), "commit");
  a->close();
  std::vector<Record> got_b = drain(*b, sent.size());  // unaffected by group a's commits
  auto va = values(got_a), vb = values(got_b);
  EXPECT_EQ(std::set<std::string>(va.begin(), va.end()), want);
  EXPECT_EQ(std::set<std::string>(vb.begin(), vb.end()), want);
  EXPECT_EQ(va.size(), sent.size());
  EXPECT_EQ(vb.size(), sent.size());
}

TYPED_TEST_P(BusContract, CommittedOffsetSurvivesConsumerClose) {
  auto r = this->receive_numbered(10, /*pinned=*/true);
  ASSERT_EQ(r.got.size(), 10u);
  must(r.consumer->commit(r.got[6]), "commit");  // v0..v6 are done
  this->expect_group_resumes_at(r, 7);
}

TYPED_TEST_P(BusContract, CommitNeverMovesBackwards) {
  auto r = this->receive_numbered(10, /*pinned=*/true);
  ASSERT_EQ(r.got.size(), 10u);
  must(r.consumer->commit(r.got[7]), "commit");
  must(r.consumer->commit(r.got[2]), "commit of an earlier record");
  this->expect_group_resumes_at(r, 8);
}

TYPED_TEST_P(BusContract, UncommittedRecordsAreRedeliveredAfterCloseOrDestroy) {
  auto [topic, group, c1, got] = this->receive_numbered(5, /*pinned=*/false);
  ASSERT_EQ(got.size(), 5u);
  must(c1->commit(got[1]), "commit");
  c1->close();  // v2..v4 delivered but not committed

  auto c2 = this->subscribe(group, topic);
  EXPECT_EQ(values(drain(*c2, 3)), numbered("v", 2, 5));
  c2.reset();  // destroyed without close() or commit

  auto c3 = this->subscribe(group, topic);
  EXPECT_EQ(values(drain(*c3, 3)), numbered("v", 2, 5));
}

TYPED_TEST_P(BusContract, UncommittedRecordsGoToTheRemainingMemberAfterClose) {
  std::string topic = this->make_topic(1);
  this->pin(topic);
  std::string group = unique_name("g");
  std::unique_ptr<Consumer> c[2] = {this->subscribe(group, topic), this->subscribe(group, topic)};
  for (int i = 0; i < 3; ++i) {  // let both join; one of them owns the only partition
    for (auto& ci : c) EXPECT_TRUE(must(ci->poll(10, milliseconds(100)), "poll").empty());
  }
  this->produce_values(topic, "k", numbered("v", 0, 5));

  std::vector<Record> got[2];
  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (got[0].size() + got[1].size() < 5 && std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 2; ++i) {
      for (Record& r : must(c[i]->poll(5, milliseconds(100)), "poll")) got[i].push_back(r);
    }
  }
  int owner = got[0].empty() ? 1 : 0;
  ASSERT_EQ(values(got[owner]), numbered("v", 0, 5)) << "the partition's records, once";
  ASSERT_TRUE(got[1 - owner].empty());
  must(c[owner]->commit(got[owner][1]), "commit");
  c[owner]->close();
  EXPECT_EQ(values(drain(*c[1 - owner], 3)), numbered("v", 2, 5));
}

TYPED_TEST_P(BusContract, EnsureTopicIsIdempotent) {
  std::string topic = this->make_topic(3);
  must(this->bus_->ensure_topic(TopicSpec{topic, 3, 1}), "second ensure_topic");
  this->produce_values(topic, "k", {"v0"});
  must(this->bus_->ensure_topic(TopicSpec{topic, 3, 1}), "ensure_topic after produce");

  int64_t total = 0;
  for (int32_t p = 0; p < 3; ++p) total += must(this->bus_->end_offset(topic, p), "end_offset");
  EXPECT_EQ(total, 1);  // the record survived; the topic was not recreated
  auto c = this->subscribe(unique_name("g"), topic);
  EXPECT_EQ(values(drain(*c, 1)), std::vector<std::string>{"v0"});
}

TYPED_TEST_P(BusContract, PollTimesOutWithNoRecords) {
  std::string topic = this->make_topic(1);
  auto c = this->subscribe(unique_name("g"), topic);
  auto r = must(this->bus_->read_from(topic, 0, 0), "read_from");
  constexpr milliseconds kTimeout{300};
  auto check = [&](auto& poller, const char* what) {
    auto start = std::chrono::steady_clock::now();
    auto got = must(poller.poll(10, kTimeout), "poll");
    auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    EXPECT_TRUE(got.empty()) << what;
    EXPECT_GE(took.count(), kTimeout.count() * 8 / 10) << what << " returned early";
    EXPECT_LE(took.count(), kTimeout.count() + 3000) << what << " overslept";
  };
  check(*c, "consumer");
  check(*r, "reader");
}

TYPED_TEST_P(BusContract, PollAfterCloseReturnsClosed) {
  std::string topic = this->make_topic(1);
  auto c = this->subscribe(unique_name("g"), topic);
  auto r = must(this->bus_->read_from(topic, 0, 0), "read_from");
  c->close();
  r->close();
  auto got = c->poll(10, milliseconds(10));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::closed);
  auto got_r = r->poll(10, milliseconds(10));
  ASSERT_FALSE(got_r.ok());
  EXPECT_EQ(got_r.error().code, Errc::closed);
}

TYPED_TEST_P(BusContract, ConsumersOfOneGroupSplitPartitions) {
  std::string topic = this->make_topic(4);
  this->pin(topic);
  std::string group = unique_name("g");
  auto c1 = this->subscribe(group, topic);
  auto c2 = this->subscribe(group, topic);
  // Let both join before records exist (a broker assigns partitions during poll).
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(must(c1->poll(10, milliseconds(100)), "poll").empty());
    EXPECT_TRUE(must(c2->poll(10, milliseconds(100)), "poll").empty());
  }
  constexpr int kRecords = 200;
  std::vector<std::pair<std::string, std::string>> sent;
  for (int i = 0; i < kRecords; ++i) sent.emplace_back(cat("k", i), cat("v", i));
  this->produce_all(topic, sent);

  // Commit before the next poll so a late rebalance cannot legitimately redeliver.
  std::vector<std::string> got1, got2;
  std::map<std::string, std::vector<std::string>> where;  // value -> "consumer:partition@offset"
  auto take = [&where](Consumer& c, std::vector<std::string>* into, const char* who) {
    for (const Record& r : must(c.poll(50, milliseconds(50)), "poll")) {
      into->push_back(r.value);
      where[r.value].push_back(std::string(who) + ":" + std::to_string(r.partition) + "@" +
                               std::to_string(r.offset));
      must(c.commit(r), "commit");
    }
  };
  // Each value delivered more than once, with where it came from: the same offset twice is
  // a redelivery, two offsets are a duplicate in the log (a producer retry).
  auto repeats = [&where] {
    std::string s;
    for (const auto& [v, at] : where)
      if (at.size() > 1) {
        s += " " + v + "=";
        for (const auto& a : at) s += a + ",";
      }
    return s;
  };
  auto until = std::chrono::steady_clock::now() + kDeadline;
  while (got1.size() + got2.size() < kRecords && std::chrono::steady_clock::now() < until) {
    take(*c1, &got1, "c1");
    take(*c2, &got2, "c2");
  }
  for (int i = 0; i < 3; ++i) {  // anything more would be a duplicate
    take(*c1, &got1, "c1");
    take(*c2, &got2, "c2");
  }
  std::set<std::string> s1(got1.begin(), got1.end()), s2(got2.begin(), got2.end());
  EXPECT_EQ(s1.size(), got1.size()) << "duplicate delivery to consumer 1:" << repeats();
  EXPECT_EQ(s2.size(), got2.size()) << "duplicate delivery to consumer 2:" << repeats();
  for (const std::string& v : s1) EXPECT_FALSE(s2.contains(v)) << v << " went to both";
  EXPECT_FALSE(got1.empty()) << "consumer 1 got no partition";
  EXPECT_FALSE(got2.empty()) << "consumer 2 got no partition";
  std::set<std::string> all = s1;
  all.insert(s2.begin(), s2.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kRecords));
}

TYPED_TEST_P(BusContract, ReadFromOffset) {
  std::string topic = this->make_topic(1);
  this->produce_values(topic, "k", numbered("v", 0, 10));

  auto r = must(this->bus_->read_from(topic, 0, 4), "read_from");
  std::vector<Record> got = drain(*r, 6);
  ASSERT_EQ(values(got), numbered("v", 4, 10));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset, static_cast<int64_t>(4 + i));

  auto tail = must(this->bus_->read_from(topic, 0, -1), "read_from end");
  EXPECT_TRUE(poll_quiet(*tail).empty());
  this->produce_values(topic, "k", {"v10"});
  std::vector<Record> next = drain(*tail, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].value, "v10");
  EXPECT_EQ(next[0].offset, 10);
  EXPECT_EQ(values(drain(*r, 1)), std::vector<std::string>{"v10"});
}

TYPED_TEST_P(BusContract, EndOffsetIncreasesWithProduce) {
  std::string topic = this->make_topic(2);
  EXPECT_EQ(must(this->bus_->end_offset(topic, 0), "end_offset"), 0);
  EXPECT_EQ(must(this->bus_->end_offset(topic, 1), "end_offset"), 0);
  std::vector<int64_t> offsets = this->produce_all(
      topic, {{"same", "a"}, {"same", "b"}, {"same", "c"}, {"same", "d"}, {"same", "e"}});

  int64_t e0 = must(this->bus_->end_offset(topic, 0), "end_offset");
  int64_t e1 = must(this->bus_->end_offset(topic, 1), "end_offset");
  EXPECT_TRUE((e0 == 5 && e1 == 0) || (e0 == 0 && e1 == 5)) << e0 << " " << e1;
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (offsets[i] >= 0) {
      EXPECT_EQ(offsets[i], static_cast<int64_t>(i));
    }
  }
}

TYPED_TEST_P(BusContract, StartFromLatestSkipsOlderRecords) {
  std::string topic = this->make_topic(1);
  this->produce_values(topic, "k", numbered("old", 0, 5));
  auto c = this->subscribe(unique_name("g"), topic, StartFrom::latest);
  // Produce until the consumer sees something: a broker may position it only after joining.
  std::vector<Record> got;
  auto until = std::chrono::steady_clock::now() + kDeadline;
  for (int i = 0; got.empty() && std::chrono::steady_clock::now() < until; ++i) {
    this->produce_values(topic, "k", {cat("new", i)});
    got = must(c->poll(100, milliseconds(200)), "poll");
  }
  ASSERT_FALSE(got.empty());
  for (const Record& r : got) EXPECT_EQ(r.value.rfind("new", 0), 0u) << r.value;
}

TYPED_TEST_P(BusContract, ConcurrentProducersDeliverExactlyOnce) {
  std::string topic = this->make_topic(3);
  constexpr int kThreads = 4, kPerThread = 2000;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = cat(cat("t", t) + "-k", i % 5);
        if (!this->producer_->produce(topic, key, std::to_string(i)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  must(this->producer_->flush(kDeadline), "flush");

  auto c = this->subscribe(unique_name("g"), topic);
  std::vector<Record> got = drain(*c, kThreads * kPerThread);
  EXPECT_EQ(got.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_TRUE(poll_quiet(*c).empty()) << "more records than produced";
  std::map<std::string, std::vector<int>> by_key;
  for (const Record& r : got) by_key[r.key].push_back(std::stoi(r.value));
  ASSERT_EQ(by_key.size(), static_cast<size_t>(kThreads * 5));
  for (const auto& [key, seq] : by_key) {
    std::vector<int> want;
    for (int i = key.back() - '0'; i < kPerThread; i += 5) want.push_back(i);
    EXPECT_EQ(seq, want) << key;  // each exactly once, in produce order
  }
}

REGISTER_TYPED_TEST_SUITE_P(BusContract, RoundTripPreservesKeysAndValuesByteForByte,
                            PreservesPerKeyOrder, TwoGroupsEachSeeAllRecords,
                            CommittedOffsetSurvivesConsumerClose, CommitNeverMovesBackwards,
                            UncommittedRecordsAreRedeliveredAfterCloseOrDestroy,
                            UncommittedRecordsGoToTheRemainingMemberAfterClose,
                            EnsureTopicIsIdempotent, PollTimesOutWithNoRecords,
                            PollAfterCloseReturnsClosed, ConsumersOfOneGroupSplitPartitions,
                            ReadFromOffset, EndOffsetIncreasesWithProduce,
                            StartFromLatestSkipsOlderRecords,
                            ConcurrentProducersDeliverExactlyOnce);

}  // namespace sf::bus::contract
