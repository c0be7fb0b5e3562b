#include "protocol/messages.h"

#include <gtest/gtest.h>

#include "json/json.h"
#include "tests/support/text.h"

namespace sp = sf::protocol;
namespace bj = boost::json;

namespace {

// Four reference messages in the formats of docs/protocol.md, with one value picked where
// a field has alternatives.
const char* kSeedCommand = R"({
  "command": "start",
  "queue_id": "wf-btcusdt-api_candles_5m-20240801-a1b2c3",
  "target": "loader-producer",
  "symbol": "BTCUSDT",
  "type": "api_candles_5m",
  "time_range": "2024-08-01:2024-08-02",
  "kafka_topic": "wf-btcusdt-api_candles_5m-20240801-a1b2c3-data",
  "collection_name": "btcusdt_api_candles_5m_2024_08_01",
  "telemetry_id": "loader-producer__a1b2c3",
  "image": "registry.dmz.home/streamforge/loader-producer:v0.2.0",
  "timestamp": 1722500000.123
})";

const char* kSeedEvent = R"({
  "queue_id": "wf-btcusdt-api_candles_5m-20240801-a1b2c3",
  "producer": "arango-connector__a1b2c3",
  "symbol": "BTCUSDT",
  "type": "api_candles_5m",
  "status": "loading",
  "message": "Saved 15000 records",
  "records_written": 15000,
  "finished": false,
  "timestamp": 1722500125.456
})";

const char* kSeedStart = R"({
  "command": "start",
  "queue_id": "loader-btcusdt-api_candles_5m-2024_06_01-abc123",
  "symbol": "BTCUSDT",
  "type": "api_candles_5m",
  "time_range": "2024-06-01:2024-06-02",
  "timestamp": 1722346211.177,
  "targets": [
    {
      "target": "loader-producer",
      "image": "registry.dmz.home/kinga/stream-forge/loader-producer:v0.1.0",
      "telemetry_id": "loader-producer__abc123",
      "kafka_topic": "loader-btcusdt-api-candles-5m-2024-06-01-abc123",
      "time_range": "2024-06-01:2024-06-02",
      "interval": "5m"
    },
    {
      "target": "arango-connector",
      "image": "registry.dmz.home/kinga/stream-forge/arango-connector:v0.1.0",
      "telemetry_id": "arango-connector__abc123",
      "kafka_topic": "loader-btcusdt-api-candles-5m-2024-06-01-abc123",
      "collection_name": "btc_candles_5m_2024_06_01"
    }
  ]
})";

const char* kSeedTestFlow = R"({
  "flow_name": "historical_candles_to_arango",
  "symbol": "ETHUSDT",
  "time_range": "2024-07-01:2024-07-02",
  "extra_params": {
    "loader_image_version": "v0.1.1"
  }
})";

bj::value P(const std::string& s) { return bj::parse(s); }

using sf::testing::replace_once;

}  // namespace

TEST(SeedExamples, CommandRoundTripsWithoutLoss) {
  auto c = sp::decode_command(kSeedCommand);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->command, sp::CommandType::start);
  EXPECT_EQ(*c->collection_name, "btcusdt_api_candles_5m_2024_08_01");
  EXPECT_DOUBLE_EQ(c->timestamp, 1722500000.123);
  EXPECT_EQ(P(sp::encode(*c)), P(kSeedCommand));
  EXPECT_NE(sp::encode(*c).find("\"timestamp\":1722500000.123"), std::string::npos);
}

TEST(SeedExamples, EventRoundTripsWithoutLoss) {
  auto e = sp::decode_event(kSeedEvent);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->status, sp::RunStatus::loading);
  EXPECT_EQ(*e->records_written, 15000);
  EXPECT_EQ(*e->finished, false);
  EXPECT_EQ(P(sp::encode(*e)), P(kSeedEvent));
}

TEST(SeedExamples, StartRequestRoundTripsWithoutLoss) {
  auto r = sp::decode_start_request(std::string_view(kSeedStart));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->targets.size(), 2u);
  EXPECT_EQ(*r->targets[0].interval, "5m");
  EXPECT_EQ(*r->targets[1].collection_name, "btc_candles_5m_2024_06_01");
  EXPECT_EQ(P(sp::encode(*r)), P(kSeedStart));
}

TEST(SeedExamples, TestFlowRequestRoundTripsWithoutLoss) {
  auto r = sp::decode_test_flow_request(kSeedTestFlow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->flow_name, "historical_candles_to_arango");
  EXPECT_EQ(P(sp::encode(*r)), P(kSeedTestFlow));
}

TEST(SeedExamples, EveryListedAlternativeDecodes) {
  for (const char* cmd : {"start", "stop"}) {
    auto c =
        sp::decode_command(replace_once(kSeedCommand, "\"start\"", std::string("\"") + cmd + "\""));
    EXPECT_TRUE(c.ok()) << cmd;
  }
  for (const char* st : {"loading", "finished", "error", "started", "interrupted"}) {
    auto e =
        sp::decode_event(replace_once(kSeedEvent, "\"loading\"", std::string("\"") + st + "\""));
    ASSERT_TRUE(e.ok()) << st;
    EXPECT_STREQ(sp::to_string(e->status), st);
  }
}

TEST(TargetSpec, KeepsWorkerSettingsVerbatim) {
  std::string body = replace_once(kSeedStart, "\"interval\": \"5m\"",
                                  "\"interval\": \"5m\", \"duration_s\": 2.5, \"records\": 10");
  auto r = sp::decode_start_request(std::string_view(body));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->targets[0].extra.at("duration_s").as_double(), 2.5);
  EXPECT_EQ(r->targets[0].extra.at("records").as_int64(), 10);
  EXPECT_EQ(P(sp::encode(*r)), P(body));
}

enum class Kind { command, event, start, flow };

struct BadCase {
  const char* name;
  Kind kind;
  std::string json;
  sf::Errc code;
  const char* field;
  const char* message_part;
};

class StrictDecoding : public ::testing::TestWithParam<BadCase> {};

TEST_P(StrictDecoding, SaysWhatIsWrong) {
  const auto& bc = GetParam();
  sf::Error err;
  auto take = [&](const auto& r) {
    ASSERT_FALSE(r.ok()) << bc.json;
    err = r.error();
  };
  switch (bc.kind) {
    case Kind::command:
      take(sp::decode_command(bc.json));
      break;
    case Kind::event:
      take(sp::decode_event(bc.json));
      break;
    case Kind::start:
      take(sp::decode_start_request(std::string_view(bc.json)));
      break;
    case Kind::flow:
      take(sp::decode_test_flow_request(bc.json));
      break;
  }
  EXPECT_EQ(err.code, bc.code) << err.message;
  EXPECT_EQ(err.field, bc.field) << err.message;
  EXPECT_NE(err.message.find(bc.message_part), std::string::npos) << err.message;
}

INSTANTIATE_TEST_SUITE_P(
    Protocol, StrictDecoding,
    ::testing::Values(
        BadCase{"malformed", Kind::command, "{\"command\": \"start\",", sf::Errc::parse_error,
                "body", "malformed JSON"},
        BadCase{"unknown_command", Kind::command,
                replace_once(kSeedCommand, "\"start\"", "\"launch\""), sf::Errc::invalid_argument,
                "command", "unknown command 'launch'"},
        BadCase{"unknown_status", Kind::event,
                replace_once(kSeedEvent, "\"loading\"", "\"running\""), sf::Errc::invalid_argument,
                "status", "unknown status 'running'"},
        BadCase{"wrong_type", Kind::event, replace_once(kSeedEvent, "15000,", "\"15000\","),
                sf::Errc::invalid_argument, "records_written", "must be an integer, got string"},
        BadCase{"bad_range", Kind::command,
                replace_once(kSeedCommand, "2024-08-01:2024-08-02", "2024/08/01-2024/08/02"),
                sf::Errc::invalid_argument, "time_range", "is not a time range"},
        BadCase{"end_before_start", Kind::command,
                replace_once(kSeedCommand, "2024-08-01:2024-08-02", "2024-08-02:2024-08-01"),
                sf::Errc::invalid_argument, "time_range", "must be after its start"},
        BadCase{"bad_symbol", Kind::command,
                replace_once(kSeedCommand, "\"BTCUSDT\"", "\"btc-usdt\""),
                sf::Errc::invalid_argument, "symbol", "must be 2-20 upper-case"},
        BadCase{"bad_collection", Kind::start,
                replace_once(kSeedStart, "btc_candles_5m_2024_06_01", "x; DROP TABLE q"),
                sf::Errc::invalid_argument, "targets[1].collection_name", "not a safe collection"},
        BadCase{"bad_topic", Kind::command,
                replace_once(kSeedCommand, "wf-btcusdt-api_candles_5m-20240801-a1b2c3-data",
                             "../etc/passwd"),
                sf::Errc::invalid_argument, "kafka_topic", "not a safe name"},
        BadCase{"unknown_field", Kind::event,
                replace_once(kSeedEvent, "\"finished\": false", "\"finishd\": false"),
                sf::Errc::invalid_argument, "finishd", "unknown field"},
        BadCase{"start_missing_targets", Kind::start,
                replace_once(kSeedStart, "\"targets\"", "\"targetz\""), sf::Errc::invalid_argument,
                "targetz", "unknown field"},
        BadCase{"target_missing_name", Kind::start,
                replace_once(kSeedStart, "\"target\": \"arango-connector\",", ""),
                sf::Errc::invalid_argument, "targets[1].target", "missing required field"},
        BadCase{"bad_interval", Kind::start, replace_once(kSeedStart, "\"5m\"", "\"7m\""),
                sf::Errc::invalid_argument, "targets[0].interval", "unknown interval"},
        BadCase{"flow_bad_extra", Kind::flow, replace_once(kSeedTestFlow, "\"v0.1.1\"", "[1]"),
                sf::Errc::invalid_argument, "extra_params.loader_image_version",
                "must be a string"},
        BadCase{"flow_missing_symbol", Kind::flow,
                replace_once(kSeedTestFlow, "\"symbol\": \"ETHUSDT\",", ""),
                sf::Errc::invalid_argument, "symbol", "missing required field 'symbol'"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(EventExtensions, CompletenessFieldsRoundTripAndAreChecked) {
  std::string ev =
      replace_once(kSeedEvent, "\"finished\": false",
                   "\"finished\": true, \"records_expected\": 4320, \"records_dlq\": 3, "
                   "\"missing_ranges\": [\"2024-08-01T10:00:2024-08-01T10:05\"]");
  auto e = sp::decode_event(ev);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(*e->records_expected, 4320);
  EXPECT_EQ(*e->records_dlq, 3);
  ASSERT_EQ(e->missing_ranges->size(), 1u);
  EXPECT_EQ(P(sp::encode(*e)), P(ev));
  auto bad = sp::decode_event(replace_once(ev, "2024-08-01T10:00:2024-08-01T10:05", "soon"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "missing_ranges");
  EXPECT_FALSE(
      sp::decode_event(replace_once(ev, "\"records_dlq\": 3", "\"records_dlq\": -3")).ok());
}

TEST(EventExtensions, TradesReportIdRangesAndTheirLoadersFirstAndLastId) {
  std::string ev = replace_once(kSeedEvent, "\"finished\": false",
                                "\"finished\": true, \"records_stored\": 90, "
                                "\"missing_ranges\": [\"id:0-9\", \"id:100-100\"]");
  auto e = sp::decode_event(ev);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(*e->missing_ranges, (std::vector<std::string>{"id:0-9", "id:100-100"}));
  EXPECT_EQ(P(sp::encode(*e)), P(ev));
  for (const char* bad : {"id:9-0", "id:-1-5", "id:01-5", "id:1-", "id:1", "id:1-2-3", "id:a-b",
                          "id:1-99999999999999999999", "ids:1-2", "id: 1-2", "id:+1-2"}) {
    auto r = sp::decode_event(replace_once(ev, "id:100-100", bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().field, "missing_ranges") << bad;
  }
  auto mixed =
      sp::decode_event(replace_once(ev, "id:100-100", "2024-08-01T10:00:2024-08-01T10:05"));
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.error().message.find("mixes"), std::string::npos) << mixed.error().message;
  auto max = sp::decode_event(replace_once(ev, "id:100-100", "id:0-9223372036854775807"));
  EXPECT_TRUE(max.ok()) << max.error().message;

  // A trades loader's first and last id: both or neither, ordered, non-negative.
  std::string loader = replace_once(kSeedEvent, "\"finished\": false",
                                    "\"finished\": true, \"first_id\": 5, \"last_id\": 9");
  auto l = sp::decode_event(loader);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(*l->first_id, 5);
  EXPECT_EQ(*l->last_id, 9);
  EXPECT_EQ(P(sp::encode(*l)), P(loader));
  EXPECT_EQ(sp::decode_event(replace_once(loader, ", \"last_id\": 9", "")).error().field,
            "last_id");
  EXPECT_EQ(sp::decode_event(replace_once(loader, "\"first_id\": 5, ", "")).error().field,
            "first_id");
  EXPECT_EQ(
      sp::decode_event(replace_once(loader, "\"first_id\": 5", "\"first_id\": 10")).error().field,
      "first_id");
  EXPECT_FALSE(sp::decode_event(replace_once(loader, "\"first_id\": 5", "\"first_id\": -5")).ok());
  EXPECT_FALSE(sp::decode_event(replace_once(loader, "\"last_id\": 9", "\"last_id\": \"9\"")).ok());
}

TEST(StrictDecoding, MissingRequiredEventField) {
  auto e = sp::decode_event(R"({"queue_id":"q1","status":"loading","timestamp":1})");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().field, "producer");
  EXPECT_EQ(e.error().message, "missing required field 'producer'");
}

TEST(StrictDecoding, DuplicateTelemetryIdsRejected) {
  std::string body =
      replace_once(kSeedStart, "arango-connector__abc123", "loader-producer__abc123");
  auto r = sp::decode_start_request(std::string_view(body));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "targets[1].telemetry_id");
}

TEST(StrictDecoding, OversizeMessageIsTooLarge) {
  std::string big = std::string("{\"pad\":\"") + std::string(sp::kMaxMessageBytes, 'x') + "\"}";
  auto r = sp::decode_event(big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::too_large);
}
