#include "launch/process/worker_process.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "tests/support/temp_dir.h"

namespace {

sf::workers::WorkerRegistry registry(bool* ran) {
  sf::workers::WorkerRegistry r;
  r.add("test-worker", sf::protocol::TargetRole::other, [ran](sf::workers::WorkerContext&) {
    *ran = true;
    return 0;
  });
  return r;
}

// Runs the worker process with `vars`, returning its exit code and what it logged.
struct Outcome {
  int code;
  std::string log;
  bool ran;
};
Outcome run(const std::map<std::string, std::string>& vars,
            const std::string& target = "test-worker") {
  std::FILE* sink = std::tmpfile();
  sf::log::set_sink(sink);
  bool ran = false;
  int code = sf::launch::run_worker_process(target, sf::Env(vars), registry(&ran),
                                            std::make_shared<std::atomic<bool>>(false));
  sf::log::set_sink(stderr);
  std::fflush(sink);
  std::rewind(sink);
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, sink)) > 0;) text.append(buf, n);
  std::fclose(sink);
  return {code, text, ran};
}

std::map<std::string, std::string> base_vars() {
  return {{"QUEUE_ID", "q1"}, {"TELEMETRY_ID", "t1"}, {"SF_BUS", "kafka://127.0.0.1:9092"}};
}

// The worker process for `target`, with `var` set to `value` over base_vars() (nothing
// changed when `var` is empty), exits with `code` without running the worker and logs
// `expect`.
void expect_refused(const std::string& var, const std::string& value, const std::string& target,
                    int code, const std::string& expect) {
  auto vars = base_vars();
  if (!var.empty()) vars[var] = value;
  auto o = run(vars, target);
  EXPECT_EQ(o.code, code) << var << "=" << value;
  EXPECT_FALSE(o.ran) << var << "=" << value;
  EXPECT_NE(o.log.find(expect), std::string::npos) << var << "=" << value << ": " << o.log;
}

}  // namespace

TEST(WorkerProcess, RefusesTheMemoryBus) {
  expect_refused("SF_BUS", "memory", "test-worker", sf::workers::kExitBadConfig,
                 "SF_BUS=memory cannot be shared between processes");
}

TEST(WorkerProcess, RefusesBadConfigurationNamingIt) {
  struct Case {
    std::string var, value, target, expect;
  };
  sf::testing::TempDir dir;
  std::string bad_props = (dir.path() / "bad.properties").string();
  std::ofstream(bad_props) << "# fine\nsecurity.protocol=PLAINTEXT\nthis line has no equals\n";
  std::vector<Case> cases = {
      {"", "", "warp-drive", "unknown worker role 'warp-drive' (known: test-worker)"},
      {"TARGET", "other", "test-worker", "TARGET 'other' does not match the role 'test-worker'"},
      {"SF_BUS", "", "test-worker", "SF_BUS is not set"},
      {"SF_BUS", "nats://127.0.0.1:4222", "test-worker", "unknown bus URL"},
      {"SF_LOG_LEVEL", "loud", "test-worker", "SF_LOG_LEVEL 'loud'"},
      {"METRICS_PORT", "70000", "test-worker", "METRICS_PORT must be 0..65535"},
      {"METRICS_PORT", "eighty", "test-worker", "METRICS_PORT"},
      {"SF_BUS_PARTITIONS", "0", "test-worker", "SF_BUS_PARTITIONS must be 1..10000"},
      {"SF_KAFKA_CONFIG", (dir.path() / "missing").string(), "test-worker",
       "cannot read Kafka config"},
      {"SF_KAFKA_CONFIG", bad_props, "test-worker", "line 3"},
  };
  for (const auto& c : cases)
    expect_refused(c.var, c.value, c.target, sf::workers::kExitBadConfig, c.expect);
}

TEST(WorkerProcess, AnUnreachableBusIsAnError) {
  expect_refused("SF_BUS", "kafka://127.0.0.1:1", "test-worker", sf::workers::kExitError,
                 "cannot open the bus kafka://127.0.0.1:1");
}

TEST(WorkerProcess, LoadsKafkaPropertiesAndPartitions) {
  sf::testing::TempDir dir;
  std::string file = (dir.path() / "client.properties").string();
  std::ofstream(file) << "# SASL\nsecurity.protocol=SASL_SSL\nsasl.password=s3cret\n\n";
  auto cfg = sf::launch::load_bus_config("kafka://h:1", file, 6, "streamforge-x");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->url, "kafka://h:1");
  EXPECT_EQ(cfg->default_partitions, 6);
  EXPECT_EQ(cfg->client_id, "streamforge-x");
  std::map<std::string, std::string> want = {{"security.protocol", "SASL_SSL"},
                                             {"sasl.password", "s3cret"}};
  EXPECT_EQ(cfg->kafka_properties, want);
  auto none = sf::launch::load_bus_config("memory", "", 1, "c");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->kafka_properties.empty());
  auto zero = sf::launch::load_bus_config("memory", "", 0, "c");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code, sf::Errc::invalid_argument);
}

TEST(WorkerProcess, OpensTheDataStoreTheEnvironmentNames) {
  auto none = sf::launch::open_data_store(sf::Env());
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->get(), nullptr);
  sf::testing::TempDir dir;
  sf::Env env;
  env.set("SF_DATA_DIR", (dir.path() / "data").string());
  auto s = sf::launch::open_data_store(env);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_NE(s->get(), nullptr);
  EXPECT_NE((*s)->describe().find((dir.path() / "data" / "streamforge.db").string()),
            std::string::npos);
}
