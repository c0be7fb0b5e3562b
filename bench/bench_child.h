// Shared by the benchmarks that run real `streamforge` processes (soak_bench,
// pipeline_bench): a child stopped by pid, and a test flow run to its end. Header-only;
// needs sf_test_support, sf_http and Boost::json.
#pragma once

#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "support/process.h"

namespace sf::bench {

// A server child process (it prints "listening on http://..."), stopped by pid: SIGTERM,
// then (Process's destructor) SIGKILL.
struct Child {
  std::unique_ptr<sf::testing::Process> proc;
  std::string url;
  Child(std::vector<std::string> argv, const std::string& log, const char* what) {
    proc = std::make_unique<sf::testing::Process>(std::move(argv), log);
    url = sf::testing::listening_url(*proc, what, log, std::chrono::seconds(60));
  }
  ~Child() {
    proc->signal(SIGTERM);
    proc->wait(std::chrono::seconds(30));
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
};

// Starts a test flow (`POST /queues/start-test-flow` with `body`) and polls the queue every
// `every` until it ends; returns the wall time from the POST to the end. Throws unless it
// finished complete with every expected record written, and at least `min_records`.
inline double run_test_flow(sf::http::Client& api, const boost::json::object& body,
                            std::chrono::milliseconds every, int64_t min_records) {
  namespace bj = boost::json;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = api.post("/queues/start-test-flow", bj::serialize(body));
  if (!r || r->status != 201)
    throw std::runtime_error("start " + bj::serialize(body) +
                             " failed: " + (r ? r->body : r.error().message));
  const std::string id(bj::parse(r->body).at("queue_id").as_string());
  for (;;) {
    std::this_thread::sleep_for(every);
    auto q = api.get("/queues/" + id);
    if (!q || q->status != 200) throw std::runtime_error("GET /queues/" + id + " failed");
    auto doc = bj::parse(q->body).as_object();
    const std::string status(doc.at("status").as_string());
    if (status != "finished" && status != "error" && status != "interrupted") continue;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (status != "finished") throw std::runtime_error(id + " ended " + status);
    const auto& c = doc.at("completeness").as_object();
    const int64_t written = c.at("records_written").to_number<int64_t>();
    const int64_t expected = c.at("records_expected").to_number<int64_t>();
    if (written != expected || expected < min_records || !c.at("complete").as_bool())
      throw std::runtime_error(id + " wrote " + std::to_string(written) + " of " +
                               std::to_string(expected) + " records");
    return secs;
  }
}

}  // namespace sf::bench
