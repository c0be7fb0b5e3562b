// Test support for the ArangoDB store tests: an in-process ArangoDouble on a free port of
// 127.0.0.1 and store URLs pointing at it. Header-only; tests link sf_arango_double.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "tests/doubles/arangodb/arango_double.h"

namespace sf::store::arango_test {

inline constexpr const char* kPassword = "s3cret-Pw";

inline sf::testing::ArangoDoubleOptions double_options() {
  sf::testing::ArangoDoubleOptions o;
  o.username = "root";
  o.password = kPassword;
  o.jwt_secret = "test-jwt-secret";
  o.threads = 2;
  return o;
}

// A started double, or nullptr after an ADD_FAILURE naming why.
inline std::shared_ptr<sf::testing::ArangoDouble> start_double(
    sf::testing::ArangoDoubleOptions o = double_options()) {
  auto d = std::make_shared<sf::testing::ArangoDouble>(std::move(o));
  if (auto s = d->start(); !s.ok()) {
    ADD_FAILURE() << "cannot start the ArangoDB double: " << s.error().message;
    return nullptr;
  }
  return d;
}

// "arangodb+http://root:PASSWORD@127.0.0.1:PORT/DB[?params]"
inline std::string url_for(const sf::testing::ArangoDouble& d, const std::string& db = "sf_test",
                           const std::string& params = {}, const std::string& userinfo = {}) {
  std::string u = "arangodb+http://" +
                  (userinfo.empty() ? std::string("root:") + kPassword : userinfo) +
                  "@127.0.0.1:" + std::to_string(d.port()) + "/" + db;
  if (!params.empty()) u += "?" + params;
  return u;
}

// Runs `action` once a request whose "METHOD target" contains `needle` has reached the
// double (the double logs a request when it arrives, before any injected delay). Delay that
// request (delay_next) so the action takes effect before the client's next request: that is
// how a test fails exactly the request after `needle`.
class OnRequest {
 public:
  OnRequest(std::shared_ptr<sf::testing::ArangoDouble> d, std::string needle,
            std::function<void()> action)
      : thread_([this, d = std::move(d), needle = std::move(needle), action = std::move(action)] {
          const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (!stop_ && std::chrono::steady_clock::now() < end) {
            for (const std::string& r : d->requests()) {
              if (r.find(needle) != std::string::npos) {
                action();
                fired_ = true;
                return;
              }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }) {}
  ~OnRequest() {
    stop_ = true;
    thread_.join();
  }
  bool fired() const { return fired_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

}  // namespace sf::store::arango_test
