#include "manager/target_start.h"

#include <gtest/gtest.h>

#include <set>

#include "workers/worker.h"
#include "workers/worker_env.h"

namespace sm = sf::manager;
namespace sp = sf::protocol;
namespace bj = boost::json;
namespace en = sf::workers::env_names;
using sp::TargetRole;

namespace {

sm::RunSpec first_run() {
  sm::RunSpec run;
  run.queue_id = "wf-btcusdt-api_candles_1m-20240801-a1b2c3";
  run.symbol = "BTCUSDT";
  run.type = "api_candles_1m";
  run.time_range = "2024-08-01:2024-08-02";
  run.run_id = "0123abcd";
  run.data_offsets = {{"wf-data", 0}};
  run.control_topic = "ctl";
  run.events_topic = "evs";
  // A process-wide variable, and one that tries to override a target's own.
  run.extra_env = {{en::kExchangeUrl, "http://127.0.0.1:1"}, {en::kQueueId, "not-this"}};
  run.timestamp = 1722500000.5;
  return run;
}

// A start-request entry for a built-in kind, with the fields its role uses.
sp::TargetSpec spec_for(const std::string& kind, TargetRole role) {
  sp::TargetSpec t;
  t.target = kind;
  t.telemetry_id = kind + "__a1b2c3";
  t.image = "registry.example/" + kind + ":v1";
  switch (role) {
    case TargetRole::loader:
      t.kafka_topic = "wf-data";
      break;
    case TargetRole::connector:
      t.kafka_topic = "wf-data";
      t.collection_name = "btcusdt_api_candles_1m";
      t.extra["batch_size"] = 100;
      break;
    case TargetRole::other:
      t.extra["duration_s"] = 2;
      t.interval = "1m";
      break;
  }
  return t;
}

// The worker reads back from its environment exactly what the command says, and the run's
// own fields (topics, run id, data offset, control offset).
void expect_agree(const sm::RunSpec& run, const sm::TargetStart& ts, int64_t control_offset) {
  const sp::Command& cmd = ts.command;
  EXPECT_EQ(cmd.command, sp::CommandType::start);
  // A command the workers can decode.
  auto decoded = sp::decode_command(sp::encode(cmd));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(sp::encode(*decoded), sp::encode(cmd));

  const sf::Env env = ts.env(control_offset);
  auto wc = sf::workers::WorkerConfig::from_env(env);
  ASSERT_TRUE(wc.ok()) << wc.error().message;
  EXPECT_EQ(wc->queue_id, cmd.queue_id);
  EXPECT_EQ(wc->target, cmd.target);
  EXPECT_EQ(wc->telemetry_id, cmd.telemetry_id);
  EXPECT_EQ(wc->symbol, cmd.symbol);
  EXPECT_EQ(wc->type, cmd.type);
  EXPECT_EQ(wc->time_range, cmd.time_range);
  EXPECT_EQ(wc->kafka_topic, cmd.kafka_topic);
  EXPECT_EQ(wc->collection_name, cmd.collection_name);
  EXPECT_EQ(wc->image, cmd.image);
  EXPECT_EQ(wc->params, cmd.params.value_or(bj::object{}));
  EXPECT_EQ(wc->control_topic, run.control_topic);
  EXPECT_EQ(wc->events_topic, run.events_topic);
  EXPECT_EQ(wc->control_offset, control_offset);
  EXPECT_EQ(wc->run_id, run.run_id);
  const int64_t data_offset = cmd.kafka_topic ? run.data_offsets.at(*cmd.kafka_topic) : -1;
  EXPECT_EQ(wc->data_offset, data_offset);
  EXPECT_EQ(env.get(en::kDataOffset).has_value(), data_offset >= 0);
  // The run's extra variables are added; the target's own win.
  EXPECT_EQ(env.get(en::kExchangeUrl), run.extra_env.at(en::kExchangeUrl));
  EXPECT_EQ(env.get(en::kQueueId), run.queue_id);
}

}  // namespace

TEST(ManagerTargetStart, CommandAndEnvironmentAgreeForEveryBuiltinKind) {
  const auto registry = sf::workers::WorkerRegistry::builtin();
  const sm::RunSpec run = first_run();
  std::set<TargetRole> roles;
  for (const auto& kind : registry.targets()) {
    SCOPED_TRACE(kind);
    const TargetRole role = registry.role(kind);
    roles.insert(role);
    const sp::TargetSpec spec = spec_for(kind, role);
    const sm::TargetStart ts = sm::build_target_start(run, spec);
    expect_agree(run, ts, 17);
    EXPECT_EQ(ts.command.queue_id, run.queue_id);
    EXPECT_EQ(ts.command.target, kind);
    EXPECT_EQ(ts.command.telemetry_id, spec.telemetry_id);
    EXPECT_EQ(ts.command.symbol, run.symbol);
    EXPECT_EQ(ts.command.type, run.type);
    EXPECT_EQ(ts.command.time_range, run.time_range) << "the queue's, having none of its own";
    EXPECT_EQ(ts.command.kafka_topic, spec.kafka_topic);
    EXPECT_EQ(ts.command.collection_name, spec.collection_name);
    EXPECT_EQ(ts.command.image, spec.image);
    EXPECT_DOUBLE_EQ(ts.command.timestamp, run.timestamp);
    // The settings, and `interval` among them when the entry has one.
    bj::object params = spec.extra;
    if (spec.interval) params["interval"] = *spec.interval;
    EXPECT_EQ(ts.command.params.value_or(bj::object{}), params);
  }
  EXPECT_EQ(roles,
            (std::set<TargetRole>{TargetRole::loader, TargetRole::connector, TargetRole::other}))
      << "every role has a built-in kind";
}

TEST(ManagerTargetStart, RepairRunAgreesAndCarriesItsRunIdAndDataOffset) {
  // A repair's run: its own id, the data topic's end when it began, a loader over one
  // missing range and the connector waiting for two end markers.
  sm::RunSpec run = first_run();
  run.run_id = "feed5678";
  run.data_offsets = {{"wf-data", 4321}};
  sp::TargetSpec loader = spec_for("loader-producer", TargetRole::loader);
  loader.time_range = "2024-08-01T10:00:2024-08-01T10:10";
  loader.telemetry_id = "loader-producer__a1b2c3-1.repair-1";
  sp::TargetSpec connector = spec_for("store-connector", TargetRole::connector);
  connector.telemetry_id = "store-connector__a1b2c3.repair-1";
  connector.extra["end_markers"] = 2;

  const sm::TargetStart l = sm::build_target_start(run, loader);
  expect_agree(run, l, 90);
  EXPECT_EQ(l.command.time_range, loader.time_range) << "its own range, not the queue's";
  const sf::Env le = l.env(90);
  EXPECT_EQ(le.get(en::kTimeRange), loader.time_range);
  EXPECT_EQ(le.get(en::kRunId), "feed5678");
  EXPECT_EQ(le.get(en::kDataOffset), "4321");
  EXPECT_EQ(le.get(en::kControlOffset), "90");

  const sm::TargetStart c = sm::build_target_start(run, connector);
  expect_agree(run, c, 91);
  EXPECT_EQ(c.command.time_range, run.time_range);
  EXPECT_EQ(c.command.params->at("end_markers").as_int64(), 2);
  const sf::Env ce = c.env(91);
  EXPECT_EQ(ce.get(en::kRunId), "feed5678");
  EXPECT_EQ(ce.get(en::kDataOffset), "4321");
  EXPECT_EQ(bj::parse(*ce.get(en::kTargetParams)).at("end_markers").as_int64(), 2);

  // Unknown data offset (the topic's end could not be read): no DATA_OFFSET, the whole topic.
  run.data_offsets = {{"wf-data", -1}};
  const sm::TargetStart u = sm::build_target_start(run, connector);
  expect_agree(run, u, 92);
  EXPECT_FALSE(u.env(92).get(en::kDataOffset));
}

TEST(ManagerTargetStart, ATargetsOwnSymbolReplacesTheQueuesInCommandAndEnvironment) {
  // A flow over several symbols: each loader and connector names its own.
  const sm::RunSpec run = first_run();
  sp::TargetSpec loader = spec_for("loader-producer", TargetRole::loader);
  loader.symbol = "SOLUSDT";
  ASSERT_NE(run.symbol, *loader.symbol);
  const sm::TargetStart l = sm::build_target_start(run, loader);
  expect_agree(run, l, 5);
  EXPECT_EQ(l.command.symbol, "SOLUSDT");
  EXPECT_EQ(l.env(5).get(en::kSymbol), "SOLUSDT");
  // The start request carries it through encode and decode.
  auto decoded = sp::decode_start_request(
      R"({"symbol":"BTCUSDT","type":"api_candles_1h","time_range":"2024-08-01:2024-08-02",)"
      R"("targets":[{"target":"loader-producer","symbol":"SOLUSDT"}]})");
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->targets.at(0).symbol, "SOLUSDT");
  EXPECT_TRUE(decoded->targets.at(0).extra.empty()) << "a typed field, not a setting";
  EXPECT_NE(sp::encode(decoded->targets.at(0)).find(R"("symbol":"SOLUSDT")"), std::string::npos);
  auto bad = sp::decode_start_request(
      R"({"symbol":"BTCUSDT","type":"api_candles_1h","time_range":"2024-08-01:2024-08-02",)"
      R"("targets":[{"target":"loader-producer","symbol":"sol usdt"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "targets[0].symbol");
}
