#include "manager/flows.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace sm = sf::manager;
namespace sp = sf::protocol;

namespace {

const char* kYaml = R"(
flows:
  pair:
    description: two dummies
    type: dummy
    queue_id: "wf-{{symbol_lower}}-{{date}}-{{short_id}}"
    defaults: {duration_s: 3, label: "x"}
    targets:
      - {target: dummy-service, telemetry_id: "a__{{short_id}}", duration_s: "{{duration_s}}"}
      - {target: dummy-service, telemetry_id: "b-{{label}}", kafka_topic: "t-{{symbol_lower}}"}
)";

sp::TestFlowRequest request(const std::string& extra_json = "") {
  std::string body =
      R"({"flow_name":"pair","symbol":"ETHUSDT","time_range":"2024-07-01:2024-07-02")";
  if (!extra_json.empty()) body += ",\"extra_params\":" + extra_json;
  body += "}";
  auto r = sp::decode_test_flow_request(body);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return *r;
}

}  // namespace

TEST(Flows, FillsPlaceholdersWithTypes) {
  auto flows = sm::Flows::load_string(kYaml, "inline");
  ASSERT_TRUE(flows.ok()) << flows.error().message;
  auto body = flows->render(request(R"({"duration_s": 0.5})"), "abc123");
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(*body->queue_id, "wf-ethusdt-20240701-abc123");
  EXPECT_EQ(body->symbol, "ETHUSDT");
  EXPECT_EQ(body->type, "dummy");
  ASSERT_EQ(body->targets.size(), 2u);
  EXPECT_EQ(*body->targets[0].telemetry_id, "a__abc123");
  EXPECT_DOUBLE_EQ(body->targets[0].extra.at("duration_s").as_double(), 0.5);
  EXPECT_EQ(*body->targets[1].telemetry_id, "b-x");
  EXPECT_EQ(*body->targets[1].kafka_topic, "t-ethusdt");
}

TEST(Flows, DefaultsApplyWhenNoExtraParams) {
  auto flows = sm::Flows::load_string(kYaml, "inline");
  ASSERT_TRUE(flows.ok());
  auto body = flows->render(request(), "abc123");
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body->targets[0].extra.at("duration_s").as_int64(), 3);
}

TEST(Flows, UnknownFlowAndUnusedParamsAreErrors) {
  auto flows = sm::Flows::load_string(kYaml, "inline");
  ASSERT_TRUE(flows.ok());
  auto req = request();
  req.flow_name = "nope";
  auto r = flows->render(req, "abc123");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::not_found);
  EXPECT_NE(r.error().message.find("known: pair"), std::string::npos);
  auto typo = flows->render(request(R"({"duraton_s": 1})"), "abc123");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().field, "extra_params.duraton_s");
}

TEST(Flows, RenderedBodyIsValidatedLikeStart) {
  auto flows = sm::Flows::load_string(kYaml, "inline");
  ASSERT_TRUE(flows.ok());
  // A label that makes the telemetry id unsafe is refused, not passed on.
  auto r = flows->render(request(R"({"label": "../x"})"), "abc123");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "targets[1].telemetry_id");
}

TEST(Flows, BadFilesSayWhatIsWrong) {
  EXPECT_FALSE(sm::Flows::load_string("flows: [1, 2]", "f.yaml").ok());
  auto no_targets = sm::Flows::load_string("flows:\n  x:\n    type: dummy\n", "f.yaml");
  ASSERT_FALSE(no_targets.ok());
  EXPECT_NE(no_targets.error().message.find("f.yaml: flow 'x' needs a non-empty 'targets'"),
            std::string::npos);
  EXPECT_FALSE(sm::Flows::load_file("/nonexistent/flows.yaml").ok());
}

TEST(Flows, ShippedFileLoads) {
  auto path = std::filesystem::path(SF_SOURCE_DIR) / "config" / "test_flows.yaml";
  auto flows = sm::Flows::load_file(path.string());
  ASSERT_TRUE(flows.ok()) << flows.error().message;
  for (const char* name :
       {"dummy_single", "dummy_pair", "dummy_failing", "historical_candles",
        "historical_candles_to_arango", "historical_agg_trades", "historical_trades", "live_trades",
        "live_agg_trades", "live_klines", "live_orderbook"}) {
    ASSERT_NE(flows->find(name), nullptr) << name;
    sp::TestFlowRequest req = request();
    req.flow_name = name;
    auto body = flows->render(req, "abc123");
    EXPECT_TRUE(body.ok()) << name << ": " << body.error().message;
  }
}
