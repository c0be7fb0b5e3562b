// Test support for the simulator's live side (live_test.cc, live_faults_test.cc): a SimServer
// on a manual clock, WebSocket connections to it, and its messages read back decoded.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "exchange/binance/decode.h"
#include "exchange/sim/server.h"
#include "http/client.h"

namespace sf::exchange::sim {

inline constexpr int64_t kAug1 = 1722470400000;  // 2024-08-01T00:00:00Z

class SimWsTest : public ::testing::Test {
 protected:
  using Kind = binance::StreamEvent::Kind;

  // Starts the simulator (seed 42) on clock_ unless `o` names another clock.
  void start(SimOptions o = {}) {
    if (!o.clock) o.clock = &clock_;
    o.seed = 42;
    server_ = std::make_unique<SimServer>(std::move(o));
    ASSERT_TRUE(server_->start().ok());
  }
  // Connects and waits for the answer to a LIST_SUBSCRIPTIONS: the server has set the
  // connection's streams up by then (its open callback may run after the client's
  // handshake returns), so the clock may move.
  http::WsClient connect(const std::string& path) {
    http::WsClient ws;
    Status st = ws.connect(server_->base_url(), path);
    EXPECT_TRUE(st.ok()) << path << ": " << (st.ok() ? "" : st.error().message);
    if (!st.ok()) return ws;
    EXPECT_TRUE(ws.send(R"({"method":"LIST_SUBSCRIPTIONS","id":0})").ok());
    read_until(ws, [](const binance::StreamEvent& e) { return e.kind == Kind::reply; });
    return ws;
  }
  // Reads and decodes messages until `done` says so or `timeout` passes without one.
  std::vector<binance::StreamEvent> read_until(
      http::WsClient& ws, const std::function<bool(const binance::StreamEvent&)>& done,
      std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    std::vector<binance::StreamEvent> out;
    for (;;) {
      auto m = ws.read(timeout);
      if (!m.ok()) {
        ADD_FAILURE() << "read: " << m.error().message << " after " << out.size() << " events";
        return out;
      }
      binance::StreamEvent ev;
      Status st = decode(*m, &ev);
      if (!st.ok()) {
        ADD_FAILURE() << st.error().message << ": " << *m;
        return out;
      }
      out.push_back(ev);
      if (done(out.back())) return out;
    }
  }
  // One message decoded as the connector does.
  virtual Status decode(const std::string& m, binance::StreamEvent* ev) {
    return decoder_.stream_event(m, binance::TimeUnit::millisecond, ev);
  }

  ManualClock clock_{kAug1};
  std::unique_ptr<SimServer> server_;
  binance::Decoder decoder_;
};

}  // namespace sf::exchange::sim
