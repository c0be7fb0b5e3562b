#include "manager/manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <thread>

#include "bus/memory/memory_bus.h"
#include "http/client.h"
#include "http/server.h"
#include "json/json.h"
#include "launch/inproc/inproc_launcher.h"
#include "manager/api.h"
#include "metrics/metrics.h"
#include "store/sqlite/sqlite_data_store.h"
#include "store/sqlite/sqlite_state_store.h"

namespace sm = sf::manager;
namespace sp = sf::protocol;
namespace bj = boost::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

// A Launcher test double that runs nothing: the test plays the workers by publishing
// events itself, and can report exits. Its targets have the built-in kinds' roles, plus
// `extra_roles` (set before the manager starts).
class NullLauncher final : public sf::launch::Launcher {
 public:
  std::vector<std::string> targets() const override {
    std::vector<std::string> out = {"dummy-service", "null-worker", "loader-producer",
                                    "store-connector"};
    for (const auto& [name, role] : extra_roles) out.push_back(name);
    return out;
  }
  sf::Status validate(const std::string& target, const bj::object& settings) const override {
    return sf::workers::WorkerRegistry::builtin().validate(target, settings);
  }
  std::optional<std::string> settings_schema(const std::string& target) const override {
    return sf::workers::WorkerRegistry::builtin().settings_schema(target);
  }
  sf::protocol::TargetRole role(const std::string& target) const override {
    if (auto it = extra_roles.find(target); it != extra_roles.end()) return it->second;
    return sf::workers::WorkerRegistry::builtin().role(target);
  }
  sf::Status launch(const sf::launch::LaunchSpec& spec) override {
    std::lock_guard lk(mu);
    if (spec.telemetry_id == fail_telemetry_id)
      return sf::Error(sf::Errc::unavailable, "no capacity");
    launched.push_back(spec);
    return {};
  }
  void kill(const std::string& q, const std::string& t) override {
    std::lock_guard lk(mu);
    killed.push_back(t);
  }
  size_t running() const override { return 0; }
  void set_exit_callback(sf::launch::ExitCallback cb) override {
    std::lock_guard lk(mu);
    on_exit = std::move(cb);
  }
  void shutdown() override {}
  std::string name() const override { return "null"; }

  std::map<std::string, sf::protocol::TargetRole> extra_roles;
  std::mutex mu;
  std::vector<sf::launch::LaunchSpec> launched;
  std::vector<std::string> killed;
  sf::launch::ExitCallback on_exit;
  std::string fail_telemetry_id;
};

// A StateStore decorator (test double) whose apply() fails while `failing` is set, as a
// locked or unavailable database would.
class FlakyStore final : public sf::store::StateStore {
 public:
  explicit FlakyStore(sf::store::StateStore& inner) : inner_(inner) {}
  sf::Status create_queue(const sf::store::QueueState& q) override {
    return inner_.create_queue(q);
  }
  sf::Result<sf::store::QueueState> get_queue(const std::string& id) override {
    return inner_.get_queue(id);
  }
  sf::Result<std::vector<sf::store::QueueState>> list_queues() override {
    return inner_.list_queues();
  }
  sf::Status apply(const sf::store::StateBatch& b) override {
    if (failing) {
      ++failures;
      return sf::Error(sf::Errc::unavailable, "database is locked");
    }
    return inner_.apply(b);
  }
  sf::Result<std::vector<sf::store::StoredEvent>> recent_events(const std::string& id,
                                                                size_t n) override {
    return inner_.recent_events(id, n);
  }
  sf::Status trim_events(const std::string& id, size_t keep) override {
    return inner_.trim_events(id, keep);
  }
  std::string describe() const override { return "flaky:" + inner_.describe(); }

  std::atomic<bool> failing{false};
  std::atomic<int> failures{0};

 private:
  sf::store::StateStore& inner_;
};

std::string temp_dir() {
  auto p = std::filesystem::temp_directory_path() /
           ("sf-manager-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(p);
  return p.string();
}

sp::StartRequest start_body(const std::string& targets_json, const std::string& queue_id = "",
                            const std::string& type = "dummy",
                            const std::string& range = "2024-08-01:2024-08-02") {
  std::string body =
      R"({"symbol":"BTCUSDT","type":")" + type + R"(","time_range":")" + range + R"(",)";
  if (!queue_id.empty()) body += "\"queue_id\":\"" + queue_id + "\",";
  body += "\"targets\":" + targets_json + "}";
  auto r = sp::decode_start_request(std::string_view(body));
  EXPECT_TRUE(r.ok()) << r.error().message;
  return *r;
}

bj::object queue(sm::Manager& m, const std::string& id) {
  auto j = m.queue_json(id);
  EXPECT_TRUE(j.ok());
  return bj::parse(*j).as_object();
}

std::string status_of(sm::Manager& m, const std::string& id) {
  return std::string(queue(m, id).at("status").as_string());
}

// Polls until the queue reaches `want` or the timeout passes; returns the last status.
std::string wait_status(sm::Manager& m, const std::string& id, const std::string& want,
                        std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = status_of(m, id);
    if (s == want) return s;
    std::this_thread::sleep_for(10ms);
  }
  return s;
}

// The message of the queue's status.
std::string message_of(sm::Manager& m, const std::string& id) {
  return std::string(queue(m, id).at("message").as_string());
}

// Start bodies' targets: one worker played by the test, or a loader and a connector.
constexpr const char* kOneWorker = R"([{"target":"null-worker","telemetry_id":"w"}])";
constexpr const char* kLoaderAndConnector = R"([{"target":"loader-producer","telemetry_id":"l"},)"
                                            R"({"target":"store-connector","telemetry_id":"c"}])";

// Starts a queue of `targets` (start body JSON) under `queue_id`.
::testing::AssertionResult started(sm::Manager& m, const std::string& targets,
                                   const std::string& queue_id) {
  auto r = m.start_queue(start_body(targets, queue_id));
  if (!r) return ::testing::AssertionFailure() << queue_id << ": " << r.error().message;
  return ::testing::AssertionSuccess();
}

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    auto st = sf::store::SqliteStateStore::open(dir_);
    ASSERT_TRUE(st.ok()) << st.error().message;
    store_ = std::move(*st);
  }
  void TearDown() override {
    if (manager_) manager_->shutdown();
    if (inproc_) inproc_->shutdown();
    manager_.reset();
    inproc_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  sm::Manager& make(sf::launch::Launcher& launcher, sm::ManagerOptions opts = {},
                    sf::store::StateStore* store = nullptr,
                    sf::store::DataStore* data_store = nullptr) {
    manager_ = std::make_unique<sm::Manager>(opts, bus_, store ? *store : *store_, launcher,
                                             sm::Flows(), &metrics_);
    manager_->set_data_store(data_store);
    auto s = manager_->start();
    EXPECT_TRUE(s.ok()) << s.error().message;
    return *manager_;
  }
  sf::launch::InProcessLauncher& inproc() {
    inproc_ = std::make_unique<sf::launch::InProcessLauncher>(
        sf::workers::WorkerRegistry::builtin(), bus_, &metrics_);
    return *inproc_;
  }
  // Publishes a worker's event to queue-events; `extra` adds members (the extension fields,
  // e.g. R"("records_expected":60)").
  void publish_event(const std::string& queue_id, const std::string& producer,
                     const std::string& status, int64_t records, const std::string& extra = "") {
    auto p = bus_.producer();
    ASSERT_TRUE(p.ok());
    const std::string ev = R"({"queue_id":")" + queue_id + R"(","producer":")" + producer +
                           R"(","status":")" + status + R"(","records_written":)" +
                           std::to_string(records) + R"(,"timestamp":1)" +
                           (extra.empty() ? "" : "," + extra) + "}";
    ASSERT_TRUE((*p)->produce(sf::bus::kEventsTopic, queue_id, ev).ok());
  }
  // Publishes a worker's event (as publish_event) that moves its queue to `status` too, and
  // waits until the queue is there.
  ::testing::AssertionResult moves_queue(sm::Manager& m, const std::string& queue_id,
                                         const std::string& producer, const std::string& status,
                                         int64_t records, const std::string& extra = "") {
    publish_event(queue_id, producer, status, records, extra);
    if (const std::string now = wait_status(m, queue_id, status); now != status)
      return ::testing::AssertionFailure() << queue_id << " is " << now << ", not " << status;
    return ::testing::AssertionSuccess();
  }
  // The command a launched worker reads first: the one at its CONTROL_OFFSET.
  sp::Command command_at_control_offset(const sf::launch::LaunchSpec& spec) {
    auto offset = spec.env.get("CONTROL_OFFSET");
    EXPECT_TRUE(offset.has_value()) << spec.telemetry_id;
    auto reader = bus_.read_from(sf::bus::kControlTopic, 0, std::stoll(offset.value_or("0")));
    EXPECT_TRUE(reader.ok());
    if (!reader.ok()) return {};
    auto recs = (*reader)->poll(1, 1s);
    EXPECT_TRUE(recs.ok() && recs->size() == 1u) << spec.telemetry_id;
    if (!recs.ok() || recs->empty()) return {};
    auto cmd = sp::decode_command((*recs)[0].value);
    EXPECT_TRUE(cmd.ok()) << (cmd.ok() ? "" : cmd.error().message);
    return cmd.ok() ? *cmd : sp::Command{};
  }

  std::string dir_;
  sf::bus::MemoryBus bus_;
  sf::metrics::Registry metrics_;
  std::unique_ptr<sf::store::SqliteStateStore> store_;
  NullLauncher null_launcher_;  // outlives manager_, which holds a reference to it
  std::unique_ptr<sf::launch::InProcessLauncher> inproc_;
  std::unique_ptr<sm::Manager> manager_;
};

}  // namespace

TEST_F(ManagerTest, TwoDummiesGoThroughEveryStatusToFinished) {
  auto& m = make(inproc());
  std::mutex mu;
  std::vector<std::string> queue_statuses;
  m.subscribe([&](const std::string&, const std::string& msg) {
    auto v = bj::parse(msg).as_object();
    if (v.at("type") == "queue_status") {
      std::lock_guard lk(mu);
      queue_statuses.emplace_back(v.at("status").as_string());
    }
  });
  auto r = m.start_queue(start_body(
      R"([{"target":"dummy-service","telemetry_id":"a","duration_s":0.6,"records":500,"progress_interval_ms":100},
          {"target":"dummy-service","telemetry_id":"b","duration_s":0.8,"records":700,"progress_interval_ms":100}])",
      "wf-two"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(bj::parse(*r).at("status"), "pending");
  EXPECT_EQ(wait_status(m, "wf-two", "finished"), "finished");
  auto q = queue(m, "wf-two");
  EXPECT_EQ(q.at("records_written").as_int64(), 1200);
  for (const auto& t : q.at("targets").as_array())
    EXPECT_EQ(t.at("status"), "finished") << bj::serialize(t);
  EXPECT_FALSE(q.at("events").as_array().empty());
  std::lock_guard lk(mu);
  EXPECT_EQ(queue_statuses,
            (std::vector<std::string>{"pending", "started", "loading", "finished"}));
  // Persisted as well.
  auto stored = store_->get_queue("wf-two");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status, "finished");
}

TEST_F(ManagerTest, StopEndsALongDummyInterruptedWithinTwoSeconds) {
  auto& m = make(inproc());
  ASSERT_TRUE(
      m.start_queue(start_body(R"([{"target":"dummy-service","duration_s":600}])", "wf-long"))
          .ok());
  EXPECT_EQ(wait_status(m, "wf-long", "loading"), "loading");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(m.stop_queue("wf-long").ok());
  EXPECT_EQ(wait_status(m, "wf-long", "interrupted", 2s), "interrupted");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(ManagerTest, FailingDummyMakesTheQueueErrorWithItsMessage) {
  auto& m = make(inproc());
  ASSERT_TRUE(m.start_queue(start_body(R"([
      {"target":"dummy-service","telemetry_id":"ok","duration_s":30},
      {"target":"dummy-service","telemetry_id":"bad","duration_s":0.4,"fail_at":0.5,"fail_message":"disk on fire"}])",
                                       "wf-fail"))
                  .ok());
  EXPECT_EQ(wait_status(m, "wf-fail", "error"), "error");
  auto q = queue(m, "wf-fail");
  EXPECT_EQ(q.at("message"), "bad: disk on fire");
  // The other target was told to stop and ends interrupted.
  auto deadline = std::chrono::steady_clock::now() + 3s;
  std::string other;
  while (std::chrono::steady_clock::now() < deadline) {
    other = std::string(queue(m, "wf-fail").at("targets").as_array()[0].at("status").as_string());
    if (other == "interrupted") break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(other, "interrupted");
}

TEST_F(ManagerTest, UnknownTargetOrBadSettingStoresAndLaunchesNothing) {
  auto& nl = null_launcher_;
  auto& m = make(nl);
  auto r = m.start_queue(start_body(R"([{"target":"dummy-service"},{"target":"warp-drive"}])"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(r.error().field, "targets[1].target");
  auto bad = m.start_queue(start_body(R"([{"target":"dummy-service","fail_at":2}])"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "targets[0].fail_at");
  EXPECT_EQ(m.queue_count(), 0u);
  EXPECT_TRUE(store_->list_queues()->empty());
  EXPECT_TRUE(nl.launched.empty());
}

TEST_F(ManagerTest, DuplicateQueueIdIsRefused) {
  auto& nl = null_launcher_;
  auto& m = make(nl);
  ASSERT_TRUE(m.start_queue(start_body(R"([{"target":"null-worker"}])", "wf-dup")).ok());
  auto again = m.start_queue(start_body(R"([{"target":"null-worker"}])", "wf-dup"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, sf::Errc::already_exists);
  EXPECT_EQ(nl.launched.size(), 1u);
}

TEST_F(ManagerTest, LaunchedWorkersGetTheirConfigurationAsEnvironment) {
  auto& nl = null_launcher_;
  auto& m = make(nl);
  ASSERT_TRUE(
      m
          .start_queue(start_body(
              R"([{"target":"null-worker","telemetry_id":"w1","kafka_topic":"t1","collection_name":"c1","x":1}])",
              "wf-env"))
          .ok());
  ASSERT_EQ(nl.launched.size(), 1u);
  const auto& env = nl.launched[0].env;
  EXPECT_EQ(*env.get("QUEUE_ID"), "wf-env");
  EXPECT_EQ(*env.get("TELEMETRY_ID"), "w1");
  EXPECT_EQ(*env.get("TARGET"), "null-worker");
  EXPECT_EQ(*env.get("SYMBOL"), "BTCUSDT");
  EXPECT_EQ(*env.get("TIME_RANGE"), "2024-08-01:2024-08-02");
  EXPECT_EQ(*env.get("KAFKA_TOPIC"), "t1");
  EXPECT_EQ(*env.get("COLLECTION_NAME"), "c1");
  EXPECT_EQ(bj::parse(*env.get("TARGET_PARAMS")).at("x").as_int64(), 1);
  // The start command sits at CONTROL_OFFSET of queue-control.
  auto cmd = command_at_control_offset(nl.launched[0]);
  EXPECT_EQ(cmd.command, sp::CommandType::start);
  EXPECT_EQ(cmd.telemetry_id, "w1");
}

TEST_F(ManagerTest, LateAndDuplicateEventsNeverMoveBackwards) {
  auto& m = make(null_launcher_);
  ASSERT_TRUE(started(m, kOneWorker, "wf-order"));
  EXPECT_TRUE(moves_queue(m, "wf-order", "w", "loading", 50));
  publish_event("wf-order", "w", "started", 0);   // late
  publish_event("wf-order", "w", "loading", 40);  // stale count
  EXPECT_TRUE(moves_queue(m, "wf-order", "w", "finished", 100));
  publish_event("wf-order", "w", "loading", 120);  // after the end
  publish_event("wf-order", "w", "error", 0);
  // The two events after the end must really have been read and refused, not merely not
  // read yet: wait until the manager counts both as ignored, then look at the queue.
  const std::string ignored = "streamforge_manager_events_ignored_total 2\n";
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (metrics_.expose().find(ignored) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  ASSERT_NE(metrics_.expose().find(ignored), std::string::npos) << metrics_.expose();
  auto q = queue(m, "wf-order");
  EXPECT_EQ(q.at("status"), "finished");
  EXPECT_EQ(q.at("targets").as_array()[0].at("status"), "finished");
  EXPECT_EQ(q.at("records_written").as_int64(), 100);
}

TEST_F(ManagerTest, MalformedEventsAreCountedAndSkipped) {
  auto& m = make(null_launcher_);
  ASSERT_TRUE(started(m, kOneWorker, "wf-bad"));
  auto p = bus_.producer();
  ASSERT_TRUE((*p)->produce(sf::bus::kEventsTopic, "k", "{not json").ok());
  ASSERT_TRUE((*p)->produce(sf::bus::kEventsTopic, "k", R"({"queue_id":"wf-bad"})").ok());
  EXPECT_TRUE(moves_queue(m, "wf-bad", "w", "finished", 1));
  EXPECT_NE(metrics_.expose().find("streamforge_manager_events_invalid_total 2"), std::string::npos)
      << metrics_.expose();
}

TEST_F(ManagerTest, SilentTargetIsMarkedLost) {
  auto& m = make(null_launcher_, {.heartbeat_timeout_s = 0.3});
  ASSERT_TRUE(started(m, kOneWorker, "wf-lost"));
  EXPECT_EQ(wait_status(m, "wf-lost", "error", 3s), "error");
  EXPECT_THAT(message_of(m, "wf-lost"), HasSubstr("lost"));
}

TEST_F(ManagerTest, WorkerExitWithoutFinalEventIsAnError) {
  auto& nl = null_launcher_;
  auto& m = make(nl, {.exit_grace_s = 0.1});
  ASSERT_TRUE(started(m, kOneWorker, "wf-exit"));
  EXPECT_TRUE(moves_queue(m, "wf-exit", "w", "loading", 5));
  nl.on_exit(sf::launch::ExitInfo{"wf-exit", "w", 137, "exit status 137"});
  EXPECT_EQ(wait_status(m, "wf-exit", "error", 3s), "error");
  EXPECT_THAT(message_of(m, "wf-exit"), HasSubstr("exit status 137"));
}

TEST_F(ManagerTest, RunningQueuesAreInterruptedAfterRestart) {
  {
    auto& m = make(null_launcher_);
    ASSERT_TRUE(started(m, kOneWorker, "wf-a"));
    ASSERT_TRUE(started(m, kOneWorker, "wf-b"));
    EXPECT_TRUE(moves_queue(m, "wf-b", "w", "finished", 3));
    manager_->shutdown();
    manager_.reset();
  }
  auto reopened = sf::store::SqliteStateStore::open(dir_);
  ASSERT_TRUE(reopened.ok());
  store_ = std::move(*reopened);
  auto& m2 = make(null_launcher_);
  EXPECT_EQ(m2.queue_count(), 2u);
  auto a = queue(m2, "wf-a");
  EXPECT_EQ(a.at("status"), "interrupted");
  EXPECT_THAT(std::string(a.at("message").as_string()), HasSubstr("manager restarted"));
  EXPECT_EQ(status_of(m2, "wf-b"), "finished");
  auto list = bj::parse(m2.list_json()).at("queues").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("queue_id"), "wf-a");
}

TEST_F(ManagerTest, StateIsPersistedOnceTheStoreRecovers) {
  FlakyStore flaky(*store_);
  auto& m = make(null_launcher_, {}, &flaky);
  ASSERT_TRUE(started(m, kOneWorker, "wf-flaky"));
  flaky.failing = true;
  EXPECT_TRUE(moves_queue(m, "wf-flaky", "w", "finished", 9));
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (flaky.failures < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_GE(flaky.failures, 2) << "the batch is retried";
  EXPECT_EQ(store_->get_queue("wf-flaky")->status, "pending") << "not durable yet";
  flaky.failing = false;
  deadline = std::chrono::steady_clock::now() + 3s;
  while (store_->get_queue("wf-flaky")->status != "finished" &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  auto stored = store_->get_queue("wf-flaky");
  EXPECT_EQ(stored->status, "finished");
  EXPECT_EQ(stored->targets[0].records_written, 9);
}

TEST_F(ManagerTest, StopThenTargetErrorEndsInterrupted) {
  auto& m = make(null_launcher_);
  ASSERT_TRUE(
      m
          .start_queue(start_body(
              R"([{"target":"null-worker","telemetry_id":"a"},{"target":"null-worker","telemetry_id":"b"}])",
              "wf-stop-err"))
          .ok());
  EXPECT_TRUE(moves_queue(m, "wf-stop-err", "a", "loading", 1));
  ASSERT_TRUE(m.stop_queue("wf-stop-err").ok());
  publish_event("wf-stop-err", "a", "error", 1);
  EXPECT_TRUE(moves_queue(m, "wf-stop-err", "b", "interrupted", 0));
  EXPECT_THAT(message_of(m, "wf-stop-err"), HasSubstr("stopped by request"));
}

TEST_F(ManagerTest, UnconfirmedStopIsKilledAfterTheGrace) {
  auto& nl = null_launcher_;
  auto& m = make(nl, {.stop_grace_s = 0.3});
  ASSERT_TRUE(started(m, kOneWorker, "wf-grace"));
  ASSERT_TRUE(m.stop_queue("wf-grace").ok());
  EXPECT_EQ(wait_status(m, "wf-grace", "interrupted", 3s), "interrupted");
  std::lock_guard lk(nl.mu);
  EXPECT_EQ(nl.killed, std::vector<std::string>{"w"});
}

TEST_F(ManagerTest, LaunchFailureLaunchesNothingMoreAndErrors) {
  auto& nl = null_launcher_;
  nl.fail_telemetry_id = "b";
  auto& m = make(nl);
  auto r = m.start_queue(start_body(R"([{"target":"null-worker","telemetry_id":"a"},
      {"target":"null-worker","telemetry_id":"b"},{"target":"null-worker","telemetry_id":"c"}])",
                                    "wf-launch"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(wait_status(m, "wf-launch", "error"), "error");
  auto q = queue(m, "wf-launch");
  EXPECT_THAT(std::string(q.at("message").as_string()), HasSubstr("launch failed: no capacity"));
  auto targets = q.at("targets").as_array();
  EXPECT_EQ(targets[1].at("status"), "error");
  EXPECT_EQ(targets[2].at("status"), "interrupted");
  {
    std::lock_guard lk(nl.mu);
    ASSERT_EQ(nl.launched.size(), 1u) << "c is never launched";
    EXPECT_EQ(nl.launched[0].telemetry_id, "a");
  }
  // `a` was launched and is told to stop.
  auto reader = bus_.read_from(sf::bus::kControlTopic, 0, 0);
  auto recs = (*reader)->poll(10, 500ms);
  bool stop_sent = false;
  for (const auto& rec : *recs)
    stop_sent = stop_sent || sp::decode_command(rec.value)->command == sp::CommandType::stop;
  EXPECT_TRUE(stop_sent);
}

TEST_F(ManagerTest, ReservedAndUnknownSettingsAreRefused) {
  auto& m = make(null_launcher_);
  auto r = m.start_queue(start_body(R"([{"target":"null-worker"}])", "list"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "queue_id");
  auto typo = m.start_queue(start_body(R"([{"target":"dummy-service","duraton_s":3}])"));
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().field, "targets[0].duraton_s");
  EXPECT_EQ(m.queue_count(), 0u);
}

TEST_F(ManagerTest, StoredEventsAreShownAfterRestart) {
  {
    auto& m = make(null_launcher_);
    ASSERT_TRUE(started(m, kOneWorker, "wf-ev"));
    publish_event("wf-ev", "w", "loading", 4);
    EXPECT_TRUE(moves_queue(m, "wf-ev", "w", "finished", 8));
    manager_->shutdown();
    manager_.reset();
  }
  auto& m2 = make(null_launcher_);
  auto events = queue(m2, "wf-ev").at("events").as_array();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].at("status"), "finished");
}

TEST_F(ManagerTest, CompletenessIsReportedAndShortfallIsNotCalledSuccess) {
  auto& m = make(null_launcher_);
  ASSERT_TRUE(started(m, kLoaderAndConnector, "wf-compl"));
  publish_event("wf-compl", "l", "finished", 4320, R"("records_expected":4320)");
  publish_event("wf-compl", "c", "finished", 4310,
                R"("records_dlq":10,"missing_ranges":["2024-08-01T10:00:2024-08-01T10:10"])");
  EXPECT_EQ(wait_status(m, "wf-compl", "finished"), "finished");
  auto q = queue(m, "wf-compl");
  auto c = q.at("completeness").as_object();
  EXPECT_EQ(c.at("records_expected").as_int64(), 4320);
  EXPECT_EQ(c.at("records_published").as_int64(), 4320);
  EXPECT_EQ(c.at("records_written").as_int64(), 4310);
  EXPECT_EQ(c.at("records_dlq").as_int64(), 10);
  EXPECT_EQ(c.at("complete").as_bool(), false);
  const std::string msg(q.at("message").as_string());
  EXPECT_THAT(msg,
              HasSubstr("incomplete: 4310 records written of 4320 expected, 10 sent to the DLQ"));
  EXPECT_THAT(msg, HasSubstr("2024-08-01T10:00:2024-08-01T10:10"));
}

TEST_F(ManagerTest, CompleteLoadIsPlainFinished) {
  auto& m = make(null_launcher_);
  ASSERT_TRUE(started(m, kLoaderAndConnector, "wf-full"));
  publish_event("wf-full", "l", "finished", 60, R"("records_expected":60)");
  EXPECT_TRUE(moves_queue(m, "wf-full", "c", "finished", 60, R"("records_dlq":0)"));
  auto q = queue(m, "wf-full");
  EXPECT_EQ(q.at("message"), "");
  EXPECT_TRUE(q.at("completeness").at("complete").as_bool());
}

// Issue: a 1s-candle load stopped after 10 s said `complete: true`: its loader, asleep in the
// rate limiter, was killed with a stale count below what the connector had written, and no
// expected count. A stopped or killed queue is complete only if the store holds the range.
TEST_F(ManagerTest, KilledLoaderWithStaleCountIsNeverComplete) {
  auto& m = make(null_launcher_, {.stop_grace_s = 0.3});
  ASSERT_TRUE(started(m, kLoaderAndConnector, "wf-killed"));
  publish_event("wf-killed", "l", "loading", 1721000);
  ASSERT_TRUE(moves_queue(m, "wf-killed", "c", "loading", 2000000));
  ASSERT_TRUE(m.stop_queue("wf-killed").ok());
  publish_event("wf-killed", "c", "interrupted", 2396000);  // the loader never answers
  ASSERT_EQ(wait_status(m, "wf-killed", "interrupted", 3s), "interrupted");
  auto q = queue(m, "wf-killed");
  auto c = q.at("completeness").as_object();
  EXPECT_FALSE(c.at("complete").as_bool()) << boost::json::serialize(c);
  EXPECT_FALSE(c.contains("records_expected")) << "nobody knows what the range holds";
  EXPECT_EQ(c.at("records_written").as_int64(), 2396000);
}

TEST_F(ManagerTest, StoppedQueueIsCompleteOnlyWhenTheStoreHoldsTheExpectedRange) {
  auto& m = make(null_launcher_);
  for (const std::string id : {"wf-half", "wf-whole"}) {
    ASSERT_TRUE(started(m, kLoaderAndConnector, id));
    // A candle loader knows what the range holds from its start.
    ASSERT_TRUE(moves_queue(m, id, "l", "started", 0, R"("records_expected":100)"));
    ASSERT_TRUE(m.stop_queue(id).ok());
  }
  publish_event("wf-half", "l", "interrupted", 40);
  publish_event("wf-half", "c", "interrupted", 40);
  publish_event("wf-whole", "l", "interrupted", 100);
  publish_event("wf-whole", "c", "interrupted", 100);
  ASSERT_EQ(wait_status(m, "wf-half", "interrupted"), "interrupted");
  ASSERT_EQ(wait_status(m, "wf-whole", "interrupted"), "interrupted");
  auto half = queue(m, "wf-half").at("completeness").as_object();
  EXPECT_EQ(half.at("records_expected").as_int64(), 100);
  EXPECT_FALSE(half.at("complete").as_bool());
  auto whole = queue(m, "wf-whole").at("completeness").as_object();
  EXPECT_TRUE(whole.at("complete").as_bool()) << "stopped after the store held everything";
}

TEST_F(ManagerTest, StoppedTradeLoadWithoutExpectedCountIsNotComplete) {
  auto& m = make(null_launcher_);
  ASSERT_TRUE(started(m, kLoaderAndConnector, "wf-trades-stop"));
  ASSERT_TRUE(moves_queue(m, "wf-trades-stop", "l", "loading", 500));
  ASSERT_TRUE(m.stop_queue("wf-trades-stop").ok());
  publish_event("wf-trades-stop", "l", "interrupted", 500);
  ASSERT_TRUE(moves_queue(m, "wf-trades-stop", "c", "interrupted", 500));
  EXPECT_FALSE(queue(m, "wf-trades-stop").at("completeness").at("complete").as_bool())
      << "written == published, but the loader never reached the end of its range";
}

sp::StartRequest typed_body(const std::string& type, const std::string& range,
                            const std::string& queue_id) {
  return start_body(kLoaderAndConnector, queue_id, type, range);
}

// Issue: a 1s-candle range of about 284 million candles was accepted silently. The answer
// says what was asked for and how long the exchange budget makes it take.
TEST_F(ManagerTest, StartAnswerTellsWhatTheLoadFetchesAndHowLong) {
  auto& m = make(null_launcher_, {.exchange_weight_per_minute = 4800});
  auto r = m.start_queue(typed_body("api_candles_1m", "2024-08-01:2024-08-02", "wf-est"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto est = bj::parse(*r).as_object().at("estimate").as_object();
  EXPECT_EQ(est.at("records_expected").as_int64(), 1440);
  EXPECT_EQ(est.at("requests").as_int64(), 2);
  EXPECT_EQ(est.at("request_weight").as_int64(), 4);
  EXPECT_DOUBLE_EQ(est.at("seconds_at_budget").to_number<double>(), 4.0 / 4800 * 60);
  // 2017..2026 of 1s candles: 9 years, 2 of them leap years.
  auto big = m.start_queue(typed_body("api_candles_1s", "2017-01-01:2026-01-01", "wf-big"));
  ASSERT_TRUE(big.ok()) << "no limit configured: accepted";
  auto best = bj::parse(*big).as_object().at("estimate").as_object();
  EXPECT_EQ(best.at("records_expected").as_int64(), (9 * 365 + 2) * 86400LL);
  EXPECT_EQ(best.at("requests").as_int64(), 283997);
  // About two hours at the budget: 567,994 weight at 4800 a minute.
  EXPECT_DOUBLE_EQ(best.at("seconds_at_budget").to_number<double>(), 567994.0 / 4800 * 60);
  EXPECT_EQ(queue(m, "wf-big").at("estimate"), best) << "GET shows it too";
  // Trades: their number is the market's, not known before the load.
  auto trades = m.start_queue(typed_body("api_agg_trades", "2024-08-01:2024-08-02", "wf-tr"));
  ASSERT_TRUE(trades.ok());
  EXPECT_FALSE(bj::parse(*trades).as_object().contains("estimate"));
}

TEST_F(ManagerTest, RangeOverTheConfiguredLimitIsRefused) {
  auto& nl = null_launcher_;
  auto& m = make(nl, {.max_records = 1'000'000});
  auto r = m.start_queue(typed_body("api_candles_1s", "2017-01-01:2026-01-01", "wf-huge"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(r.error().field, "time_range");
  EXPECT_NE(r.error().message.find("283996800 records of api_candles_1s"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("limit of 1000000"), std::string::npos) << r.error().message;
  EXPECT_EQ(m.queue_count(), 0u) << "nothing stored or launched";
  {
    std::lock_guard lk(nl.mu);
    EXPECT_TRUE(nl.launched.empty());
  }
  // At the limit: accepted (11 days of 1s candles hold 950,400).
  EXPECT_TRUE(m.start_queue(typed_body("api_candles_1s", "2024-08-01:2024-08-12", "wf-ok")).ok());
}

// Issue 11: what a target does comes from its worker kind's registration (through the
// launcher), not from its name.
TEST_F(ManagerTest, RolesComeFromTheLauncherNotFromTargetNames) {
  auto& nl = null_launcher_;
  using sf::protocol::TargetRole;
  nl.extra_roles = {{"fetcher", TargetRole::loader},
                    {"sink", TargetRole::connector},
                    {"loader-lookalike", TargetRole::other},
                    {"lookalike-connector", TargetRole::other}};
  auto& m = make(nl);
  auto body = [](const std::string& queue_id, const std::string& targets) {
    return start_body(targets, queue_id, "api_candles_1m");
  };

  // Registered as loader and connector: estimated, counted and judged as such.
  auto r = m.start_queue(body("wf-roles", R"([{"target":"fetcher","telemetry_id":"f"},
          {"target":"sink","telemetry_id":"s","kafka_topic":"wf-roles-data","collection_name":"c_roles"}])"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(bj::parse(*r).at("estimate").at("records_expected").as_int64(), 1440);
  publish_event("wf-roles", "f", "finished", 1440, R"("records_expected":1440)");
  publish_event("wf-roles", "s", "finished", 1430,
                R"("missing_ranges":["2024-08-01T10:00:2024-08-01T10:10"])");
  ASSERT_EQ(wait_status(m, "wf-roles", "finished"), "finished");
  auto q = queue(m, "wf-roles");
  EXPECT_EQ(q.at("records_written").as_int64(), 1430) << "the connector's, not the sum";
  EXPECT_EQ(q.at("completeness").at("records_published").as_int64(), 1440);
  EXPECT_FALSE(q.at("completeness").at("complete").as_bool());

  // Named like a loader and a connector, registered as neither: a plain queue.
  r = m.start_queue(body("wf-lookalike", R"([{"target":"loader-lookalike","telemetry_id":"a"},
          {"target":"lookalike-connector","telemetry_id":"b"}])"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(bj::parse(*r).as_object().contains("estimate"));
  publish_event("wf-lookalike", "a", "finished", 5);
  ASSERT_TRUE(moves_queue(m, "wf-lookalike", "b", "finished", 7));
  q = queue(m, "wf-lookalike");
  EXPECT_EQ(q.at("records_written").as_int64(), 12);
  EXPECT_FALSE(q.contains("completeness"));
  auto rep = m.repair_queue("wf-lookalike");
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.error().code, sf::Errc::invalid_argument);

  // A repair runs the registered loader once per missing range and the connectors again, as
  // one new run: each worker's start command and environment agree.
  size_t first_run = 0;
  std::string first_run_id;
  {
    std::lock_guard lk(nl.mu);
    for (const auto& l : nl.launched)
      if (l.queue_id == "wf-roles") ++first_run, first_run_id = *l.env.get("RUN_ID");
  }
  ASSERT_EQ(first_run, 2u);
  auto repaired = m.repair_queue("wf-roles");
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  ASSERT_TRUE(repaired->started) << repaired->json;
  std::vector<sf::launch::LaunchSpec> run;
  {
    std::lock_guard lk(nl.mu);
    for (const auto& l : nl.launched)
      if (l.queue_id == "wf-roles") run.push_back(l);
  }
  ASSERT_EQ(run.size(), 4u);
  run.erase(run.begin(), run.begin() + 2);
  EXPECT_EQ(run[0].target, "fetcher");
  EXPECT_EQ(run[0].telemetry_id, "f-1.repair-1");
  EXPECT_EQ(run[1].target, "sink");
  EXPECT_EQ(run[1].telemetry_id, "s.repair-1");
  EXPECT_EQ(*run[0].env.get("TIME_RANGE"), "2024-08-01T10:00:2024-08-01T10:10");
  EXPECT_EQ(bj::parse(*run[1].env.get("TARGET_PARAMS")).at("end_markers").as_int64(), 1);
  EXPECT_EQ(*run[0].env.get("RUN_ID"), *run[1].env.get("RUN_ID"));
  EXPECT_NE(*run[0].env.get("RUN_ID"), first_run_id) << "a new run";
  EXPECT_EQ(*run[1].env.get("DATA_OFFSET"), "0") << "the data topic does not exist yet";
  for (const auto& spec : run) {
    auto cmd = command_at_control_offset(spec);
    EXPECT_EQ(cmd.command, sp::CommandType::start);
    EXPECT_EQ(cmd.target, spec.target);
    EXPECT_EQ(cmd.telemetry_id, spec.telemetry_id);
    EXPECT_EQ(cmd.time_range, spec.env.get("TIME_RANGE"));
  }

  // A new manager gives the stored targets their roles again.
  manager_->shutdown();
  auto& m2 = make(nl);
  q = queue(m2, "wf-roles");
  EXPECT_TRUE(q.contains("completeness")) << bj::serialize(q);
  EXPECT_TRUE(q.contains("estimate")) << bj::serialize(q);
  EXPECT_FALSE(queue(m2, "wf-lookalike").contains("completeness"));
}

// Issue 11: a trades queue is repaired by id. The manager asks the store for the ids it
// lacks (between stored ids, and at the range's edges against the first run's loader's first
// and last id), runs one loader per id range (from_id/to_id) and the connectors with the
// range's ids; without those ids it repairs only what it can name, and says why otherwise.
TEST_F(ManagerTest, TradesAreRepairedByIdAgainstTheFirstRunsIds) {
  auto& nl = null_launcher_;
  auto data = sf::store::SqliteDataStore::open(dir_);
  ASSERT_TRUE(data.ok()) << data.error().message;
  // Aggregate trades 1000..1989 of the day without 1200..1299; the loader said 1000..1999.
  std::vector<sf::market::Record> recs;
  for (int64_t id = 1000; id < 1990; ++id) {
    if (id >= 1200 && id < 1300) continue;
    sf::market::AggTrade t;
    t.symbol = "BTCUSDT";
    t.agg_id = id;
    t.price = "1.00000000";
    t.qty = "1.00000000";
    t.time = 1722470400000 + (id - 1000) * 1000;
    recs.emplace_back(t);
  }
  ASSERT_TRUE((*data)->upsert("btc_agg", sf::market::Kind::agg_trade, recs).ok());
  const std::string targets = R"([{"target":"loader-producer","telemetry_id":"l"},
      {"target":"store-connector","telemetry_id":"c","kafka_topic":"t-data","collection_name":"btc_agg"}])";
  auto& m = make(nl, {}, nullptr, data->get());
  auto finish = [&](const std::string& id, const std::string& loader_status,
                    const std::string& loader_extra) {
    ASSERT_TRUE(m.start_queue(start_body(targets, id, "api_agg_trades")).ok());
    publish_event(id, "l", loader_status, 1000, loader_extra);
    publish_event(id, "c", "finished", 890, R"("records_stored":890)");
    const std::string want = loader_status == "finished" ? "finished" : "interrupted";
    ASSERT_EQ(wait_status(m, id, want), want);
  };
  auto launched = [&](const std::string& id) {
    std::vector<sf::launch::LaunchSpec> out;
    std::lock_guard lk(nl.mu);
    for (const auto& l : nl.launched)
      if (l.queue_id == id) out.push_back(l);
    return out;
  };
  auto params = [](const sf::launch::LaunchSpec& l) {
    return bj::parse(*l.env.get("TARGET_PARAMS")).as_object();
  };

  // A live queue is not repaired by streaming again: the message says what to do instead.
  ASSERT_TRUE(m.start_queue(start_body(targets, "wf-live-agg", "ws_agg_trades")).ok());
  publish_event("wf-live-agg", "l", "finished", 10, R"("first_id":1000,"last_id":1009)");
  publish_event("wf-live-agg", "c", "finished", 10, R"("records_stored":10)");
  ASSERT_EQ(wait_status(m, "wf-live-agg", "finished"), "finished");
  auto live = m.repair_queue("wf-live-agg");
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(live.error().message,
            "queue 'wf-live-agg' streams live data (ws_agg_trades): a repair cannot stream the "
            "past; load the missing range with a historical flow of type api_agg_trades");

  finish("wf-agg", "finished", R"("first_id":1000,"last_id":1999)");
  auto r = m.repair_queue("wf-agg");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->started) << r->json;
  EXPECT_EQ(bj::parse(r->json).at("missing_ranges"),
            bj::parse(R"(["id:1200-1299","id:1990-1999"])"));
  auto run = launched("wf-agg");
  ASSERT_EQ(run.size(), 5u) << "the first run's two, then two loaders and the connector";
  EXPECT_EQ(run[2].telemetry_id, "l-1.repair-1");
  EXPECT_EQ(params(run[2]), bj::parse(R"({"from_id":1200,"to_id":1299})").as_object());
  EXPECT_EQ(*run[2].env.get("TIME_RANGE"), "2024-08-01:2024-08-02") << "the queue's range";
  EXPECT_EQ(params(run[3]), bj::parse(R"({"from_id":1990,"to_id":1999})").as_object());
  EXPECT_EQ(run[4].telemetry_id, "c.repair-1");
  EXPECT_EQ(params(run[4]),
            bj::parse(R"({"end_markers":2,"expected_first_id":1000,"expected_last_id":1999})")
                .as_object());

  // A first run whose loader did not finish: the range's last id is unknown, so only the
  // gap between stored ids is named, and the connectors get no expected ids.
  finish("wf-agg-cut", "interrupted", "");
  r = m.repair_queue("wf-agg-cut");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(bj::parse(r->json).at("missing_ranges"), bj::parse(R"(["id:1200-1299"])"));
  run = launched("wf-agg-cut");
  ASSERT_EQ(run.size(), 4u);
  EXPECT_EQ(params(run[3]), bj::parse(R"({"end_markers":1})").as_object());

  // Nothing between stored ids either (another collection, whole): refused, saying why.
  std::vector<sf::market::Record> whole(recs.begin(), recs.begin() + 200);
  ASSERT_TRUE((*data)->upsert("btc_agg2", sf::market::Kind::agg_trade, whole).ok());
  const std::string targets2 = R"([{"target":"loader-producer","telemetry_id":"l"},
      {"target":"store-connector","telemetry_id":"c","kafka_topic":"t2-data","collection_name":"btc_agg2"}])";
  ASSERT_TRUE(m.start_queue(start_body(targets2, "wf-agg-unknown", "api_agg_trades")).ok());
  publish_event("wf-agg-unknown", "l", "interrupted", 300);
  publish_event("wf-agg-unknown", "c", "finished", 200, R"("records_stored":200)");
  ASSERT_EQ(wait_status(m, "wf-agg-unknown", "interrupted"), "interrupted");
  r = m.repair_queue("wf-agg-unknown");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::invalid_argument);
  EXPECT_THAT(r.error().message, HasSubstr("first and last id are unknown"));

  // The first run's ids survive a manager restart (they are read from the stored events).
  finish("wf-agg-later", "finished", R"("first_id":1000,"last_id":1999)");
  manager_->shutdown();
  auto& m2 = make(nl, {}, nullptr, data->get());
  r = m2.repair_queue("wf-agg-later");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(bj::parse(r->json).at("missing_ranges"),
            bj::parse(R"(["id:1200-1299","id:1990-1999"])"));
  run = launched("wf-agg-later");
  ASSERT_EQ(run.size(), 5u);
  EXPECT_EQ(params(run[4]).at("expected_last_id").as_int64(), 1999);
}

// ---- the REST API on an http::Server (register_api) --------------------------------------

namespace {

class ApiTest : public ManagerTest {
 protected:
  void SetUp() override {
    ManagerTest::SetUp();
    auto flows = sm::Flows::load_file(std::string(SF_SOURCE_DIR) + "/config/test_flows.yaml");
    ASSERT_TRUE(flows.ok()) << flows.error().message;
    manager_ = std::make_unique<sm::Manager>(sm::ManagerOptions{}, bus_, *store_, null_launcher_,
                                             std::move(*flows), &metrics_);
    ASSERT_TRUE(manager_->start().ok());
    server_ = std::make_unique<sf::http::Server>();
    sm::register_api(*server_, *manager_, &metrics_,
                     sm::ApiInfo{"test", "memory", "sqlite", "null"});
    ASSERT_TRUE(server_->start().ok());
    client_ = std::make_unique<sf::http::Client>(server_->base_url());
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    ManagerTest::TearDown();
  }
  sf::http::ClientResponse request(const std::string& method, const std::string& path,
                                   const std::string& body = {}) {
    auto r = client_->request(method, path, body);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : sf::http::ClientResponse{};
  }
  bj::object openapi() {
    auto r = request("GET", "/openapi.json");
    EXPECT_EQ(r.status, 200);
    return bj::parse(r.body).as_object();
  }

  std::unique_ptr<sf::http::Server> server_;
  std::unique_ptr<sf::http::Client> client_;
};

// Follows "$ref" (and a first allOf member) to the schema that holds the constraints.
const bj::object& resolve(const bj::object& doc, const bj::object& schema) {
  if (auto* r = schema.if_contains("$ref")) {
    std::string name(r->as_string());
    name = name.substr(name.rfind('/') + 1);
    return resolve(doc, doc.at("components").at("schemas").at(name).as_object());
  }
  if (auto* a = schema.if_contains("allOf")) return resolve(doc, a->as_array().at(0).as_object());
  return schema;
}

bool schema_accepts_string(const bj::object& doc, const bj::object& schema, const std::string& v) {
  const bj::object& s = resolve(doc, schema);
  if (auto* p = s.if_contains("pattern"))
    if (!std::regex_search(v, std::regex(std::string(p->as_string())))) return false;
  if (auto* e = s.if_contains("enum")) {
    bool found = false;
    for (const auto& x : e->as_array()) found = found || (x.is_string() && x.as_string() == v);
    if (!found) return false;
  }
  return true;
}

std::set<std::string> alternatives(const bj::object& doc, const std::string& schema,
                                   const std::string& key) {
  std::set<std::string> out;
  const auto& s = doc.at("components").at("schemas").at(schema).as_object();
  for (const auto& alt : s.at("oneOf").as_array())
    for (const auto& v : alt.at("properties").at(key).at("enum").as_array())
      out.emplace(v.as_string());
  return out;
}

}  // namespace

// Issue 10.1: what the server refuses with 422, the document refuses too.
TEST_F(ApiTest, OpenApiStatesWhatTheServerChecks) {
  const bj::object doc = openapi();
  const auto& start = doc.at("components").at("schemas").at("StartRequest").at("properties");
  const auto& flow = doc.at("components").at("schemas").at("TestFlowRequest");
  struct Case {
    std::string path, body, field, value;
    const bj::object* schema;
  };
  const std::string targets = R"(,"targets":[{"target":"dummy-service"}]})";
  std::vector<Case> cases = {
      {"/queues/start",
       R"({"symbol":"BTCUSDT","type":"a b","time_range":"2024-08-01:2024-08-02")" + targets, "type",
       "a b", &start.at("type").as_object()},
      {"/queues/start", R"({"symbol":"BTCUSDT","type":"x","time_range":"yesterday")" + targets,
       "time_range", "yesterday", &start.at("time_range").as_object()},
      {"/queues/start",
       R"({"symbol":"BTCUSDT","type":"x","time_range":"2024-02-30:2024-03-01")" + targets,
       "time_range", "2024-02-30:2024-03-01", &start.at("time_range").as_object()},
      {"/queues/start",
       R"({"symbol":"btc","type":"x","time_range":"2024-08-01:2024-08-02")" + targets, "symbol",
       "btc", &start.at("symbol").as_object()},
      {"/queues/start",
       R"({"symbol":"BTCUSDT","type":"x","time_range":"2024-08-01:2024-08-02","queue_id":"stop")" +
           targets,
       "queue_id", "stop", nullptr},
  };
  for (const auto& c : cases) {
    auto r = request("POST", c.path, c.body);
    EXPECT_EQ(r.status, 422) << c.body << " -> " << r.body;
    EXPECT_EQ(bj::parse(r.body).at("field"), c.field.c_str()) << r.body;
    if (c.schema) {
      EXPECT_FALSE(schema_accepts_string(doc, *c.schema, c.value))
          << c.field << ": the document accepts '" << c.value << "' which the server refuses";
    }
  }
  // A queue_id the API reserves is outside the schema: a safe name, but not one of those.
  const auto& qid_all = doc.at("components").at("schemas").at("QueueId").at("allOf").as_array();
  ASSERT_EQ(qid_all.size(), 2u);
  EXPECT_NE(bj::serialize(qid_all.at(1)).find("\"stop\""), std::string::npos)
      << bj::serialize(qid_all.at(1));
  // Accepted values stay accepted.
  EXPECT_TRUE(schema_accepts_string(doc, start.at("type").as_object(), "api_candles_1m"));
  EXPECT_TRUE(schema_accepts_string(doc, start.at("time_range").as_object(),
                                    "2024-02-29T10:30:2024-03-01T00:00:05Z"));

  // Targets: exactly the launcher's, each with exactly its settings.
  auto known = null_launcher_.targets();
  EXPECT_EQ(alternatives(doc, "Target", "target"),
            std::set<std::string>(known.begin(), known.end()));
  auto r = request("POST", "/queues/start",
                   R"({"symbol":"BTCUSDT","type":"x","time_range":"2024-08-01:2024-08-02",)"
                   R"("targets":[{"target":"warp-drive"}]})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(bj::parse(r.body).at("field"), "targets[0].target");
  for (const auto& alt : doc.at("components").at("schemas").at("Target").at("oneOf").as_array()) {
    if (alt.at("title") != "dummy-service") continue;
    EXPECT_EQ(alt.at("additionalProperties"), false);
    EXPECT_EQ(alt.at("properties").at("records").at("type"), "integer");
    EXPECT_EQ(alt.at("properties").at("progress_interval_ms").at("maximum").to_number<int64_t>(),
              30000);
  }
  r = request("POST", "/queues/start",
              R"({"symbol":"BTCUSDT","type":"x","time_range":"2024-08-01:2024-08-02",)"
              R"("targets":[{"target":"dummy-service","progress_interval_ms":30001}]})");
  EXPECT_EQ(r.status, 422);

  // Flows: exactly the manager's, each with exactly the extra_params its template uses.
  std::set<std::string> flows;
  for (const auto& [name, f] : manager_->flows().all()) flows.insert(name);
  EXPECT_EQ(alternatives(doc, "TestFlowRequest", "flow_name"), flows);
  r = request("POST", "/queues/start-test-flow",
              R"({"flow_name":"../etc","symbol":"BTCUSDT","time_range":"2024-08-01:2024-08-02"})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(bj::parse(r.body).at("field"), "flow_name");
  // A flow whose collection name starts with the symbol needs a symbol starting with a letter.
  r = request(
      "POST", "/queues/start-test-flow",
      R"({"flow_name":"historical_candles","symbol":"00","time_range":"2024-08-01:2024-08-02"})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(bj::parse(r.body).at("field"), "targets[1].collection_name") << r.body;
  for (const auto& alt : flow.at("oneOf").as_array()) {
    if (alt.at("title") != "historical_candles") continue;
    EXPECT_FALSE(schema_accepts_string(doc, alt.at("properties").at("symbol").as_object(), "00"));
    EXPECT_TRUE(
        schema_accepts_string(doc, alt.at("properties").at("symbol").as_object(), "BTCUSDT"));
  }
  for (const auto& alt : flow.at("oneOf").as_array()) {
    if (alt.at("title") != "dummy_single") continue;
    const auto& extra = alt.at("properties").at("extra_params").as_object();
    EXPECT_EQ(extra.at("additionalProperties"), false);
    std::set<std::string> params;
    for (const auto& kv : extra.at("properties").as_object()) params.emplace(kv.key());
    EXPECT_EQ(params, (std::set<std::string>{"duration_s", "progress_interval_ms", "records"}));
    EXPECT_EQ(extra.at("properties").at("duration_s").at("maximum").to_number<int64_t>(), 604800);
  }
}

// Issue 10.2: the document's server is the one that served it, whatever the port.
TEST_F(ApiTest, OpenApiServerIsTheServingAddress) {
  const bj::object doc = openapi();
  const auto& servers = doc.at("servers").as_array();
  ASSERT_EQ(servers.size(), 1u);
  std::string url(servers.at(0).at("url").as_string());
  // A relative URL is relative to where the document was fetched (OpenAPI 3.0.3, 4.7.5).
  std::string resolved = url.rfind("/", 0) == 0 ? server_->base_url() + url : url;
  while (!resolved.empty() && resolved.back() == '/') resolved.pop_back();
  EXPECT_EQ(resolved, server_->base_url());
}

// Issue 10.3: an empty status filter is refused like an unknown one.
TEST_F(ApiTest, ListRefusesAnEmptyOrUnknownStatus) {
  for (const char* q : {"?status=", "?status=bogus", "?status=pong", "?status"}) {
    auto r = request("GET", std::string("/queues/list") + q);
    EXPECT_EQ(r.status, 422) << q << " -> " << r.body;
    EXPECT_EQ(bj::parse(r.body).at("field"), "status") << q;
  }
  auto r = request("GET", "/queues/list?status=pending");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(request("GET", "/queues/list").status, 200);
}

// Issue 10.4: the API's words under /queues/ take only their own methods.
TEST_F(ApiTest, ReservedPathWordsAnswerWithTheirOwnMethods) {
  for (const char* word : {"stop", "start", "start-test-flow"}) {
    for (const char* method : {"GET", "OPTIONS"}) {
      auto r = request(method, std::string("/queues/") + word);
      EXPECT_EQ(r.status, 405) << method << " /queues/" << word << " -> " << r.body;
      EXPECT_EQ(r.header("Allow"), "POST") << method << " /queues/" << word;
    }
  }
  auto r = request("OPTIONS", "/queues/list");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET");
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    r = request(method, "/ws/events");
    EXPECT_EQ(r.status, 405) << method << " /ws/events -> " << r.body;
    EXPECT_EQ(r.header("Allow"), "GET");
  }
  EXPECT_EQ(request("GET", "/ws/events").status, 426);
  EXPECT_EQ(request("GET", "/queues/no-such-queue").status, 404);
}

// Issue 10.6: every queue_status message has records_written, the first (pending) too.
TEST_F(ApiTest, FirstQueueStatusMessageHasRecordsWritten) {
  std::mutex mu;
  std::vector<bj::object> msgs;
  manager_->subscribe([&](const std::string&, const std::string& msg) {
    auto v = bj::parse(msg).as_object();
    std::lock_guard lk(mu);
    if (v.at("type") == "queue_status") msgs.push_back(v);
  });
  auto r = manager_->start_queue(start_body(R"([{"target":"null-worker"}])", "wf-first"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::lock_guard lk(mu);
  ASSERT_FALSE(msgs.empty());
  EXPECT_EQ(msgs.front().at("status"), "pending");
  ASSERT_TRUE(msgs.front().contains("records_written")) << bj::serialize(msgs.front());
  EXPECT_EQ(msgs.front().at("records_written").as_int64(), 0);
}
