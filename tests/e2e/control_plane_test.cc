// End-to-end: the real `streamforge up` process on 127.0.0.1 (port 0), driven over HTTP,
// WebSocket and the CLI, as a user would. Built twice: control_plane_e2e_test keeps state in
// SQLite; control_plane_pg_e2e_test (SF_E2E_PG) runs the same tests with `--store
// postgresql://` on the PostgreSQL of the `postgres` fixture, one schema per data dir (so a
// restart with the same data dir finds its queues again); control_plane_arango_e2e_test
// (SF_E2E_ARANGO) with `--store arangodb+http://` on the `arangodb` fixture's server (the
// documented-API test double), one database per data dir.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e/e2e.h"
#include "http/client.h"
#include "support/process.h"
#include "support/text.h"

namespace bj = boost::json;
using namespace std::chrono_literals;
using sf::testing::json_text;
using sf::testing::Process;

namespace {

class Up {
 public:
  Up(const std::string& data_dir, std::vector<std::string> extra = {}) : dir_(data_dir) {
    std::vector<std::string> argv = {
        sf::testing::streamforge_binary(), "up", "--port", "0", "--data-dir", data_dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // A schema or database per data dir, so a restart on the same data dir finds its queues.
    const std::string store =
        sf::testing::e2e_store_url(std::filesystem::path(data_dir).filename().string());
    if (!store.empty()) argv.insert(argv.end(), {"--store", store});
    proc_ = std::make_unique<Process>(argv, data_dir + "/up.stderr.log");
    url_ = sf::testing::listening_url(*proc_, "streamforge up", data_dir + "/up.stderr.log");
  }
  const std::string& url() const { return url_; }
  Process& process() { return *proc_; }

 private:
  std::string dir_;
  std::unique_ptr<Process> proc_;
  std::string url_;
};

class ControlPlane : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = sf::testing::make_temp_dir("sf-e2e"); }
  void TearDown() override {
    up_.reset();
    sf::testing::remove_unless_failed(dir_);
  }
  Up& up(std::vector<std::string> extra = {}) {
    up_ = std::make_unique<Up>(dir_, extra);
    client_ = std::make_unique<sf::http::Client>(up_->url());
    return *up_;
  }
  sf::http::ClientResponse post(const std::string& path, const std::string& body) {
    auto r = client_->post(path, body);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : sf::http::ClientResponse{};
  }
  bj::value get_json(const std::string& path) {
    auto r = client_->get(path);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    return bj::parse(r->body);
  }
  std::string start_flow(const std::string& flow, const std::string& extra = "{}") {
    auto r =
        post("/queues/start-test-flow",
             R"({"flow_name":")" + flow +
                 R"(","symbol":"BTCUSDT","time_range":"2024-08-01:2024-08-02","extra_params":)" +
                 extra + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    auto v = bj::parse(r.body);
    // The body shows the queue as it stands once launched (already started, if the workers
    // are quick); `pending` itself is checked on the WebSocket feed.
    return json_text(v.at("queue_id"));
  }
  // Polls GET /queues/{id}; returns every distinct status seen, in order.
  std::vector<std::string> follow(const std::string& id, const std::string& until,
                                  std::chrono::milliseconds timeout = 20s) {
    std::vector<std::string> seen;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string s(get_json("/queues/" + id).at("status").as_string());
      if (seen.empty() || seen.back() != s) seen.push_back(s);
      if (s == until) break;
      std::this_thread::sleep_for(20ms);
    }
    return seen;
  }

  std::string dir_;
  std::unique_ptr<Up> up_;
  std::unique_ptr<sf::http::Client> client_;
};

}  // namespace

TEST_F(ControlPlane, TwoDummyTargetsGoPendingStartedLoadingFinished) {
  auto& u = up();
  // The WebSocket feed, connected before the queue exists, sees every status change.
  sf::http::WsClient ws;
  ASSERT_TRUE(ws.connect(u.url(), "/ws/events").ok());
  // The server confirms the subscription before anything else; only then is it live.
  auto hello = ws.read(5s);
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(json_text(bj::parse(*hello).at("type")), "subscribed");
  std::string id =
      start_flow("dummy_pair", R"({"duration_s":2,"records":500,"progress_interval_ms":200})");
  auto polled = follow(id, "finished");
  ASSERT_FALSE(polled.empty());
  EXPECT_EQ(polled.back(), "finished");
  // A 2 s load polled every 20 ms is seen loading, then finished.
  EXPECT_NE(std::find(polled.begin(), polled.end(), "loading"), polled.end());
  // Polling may miss the short-lived states, but never sees them out of order.
  std::vector<std::string> order = {"pending", "started", "loading", "finished"};
  size_t pos = 0;
  for (const auto& s : polled) {
    auto it = std::find(order.begin() + pos, order.end(), s);
    ASSERT_NE(it, order.end()) << "status went backwards to " << s;
    pos = it - order.begin();
  }
  std::vector<std::string> pushed;
  size_t events = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline &&
         (pushed.empty() || pushed.back() != "finished")) {
    auto m = ws.read(2s);
    ASSERT_TRUE(m.ok()) << m.error().message;
    auto v = bj::parse(*m).as_object();
    if (json_text(v.at("queue_id")) != id) continue;
    if (v.at("type") == "queue_status") pushed.emplace_back(v.at("status").as_string());
    if (v.at("type") == "event") ++events;
  }
  EXPECT_EQ(pushed, order);
  EXPECT_GE(events, 6u) << "started, loading..., finished from both targets";
  auto q = get_json("/queues/" + id);
  EXPECT_EQ(q.at("records_written").as_int64(), 1000);
  ASSERT_EQ(q.at("targets").as_array().size(), 2u);
  for (const auto& t : q.at("targets").as_array()) {
    EXPECT_EQ(t.at("status"), "finished");
    EXPECT_EQ(t.at("records_written").as_int64(), 500);
  }
  EXPECT_FALSE(q.at("events").as_array().empty());
}

TEST_F(ControlPlane, StopEndsALongDummyInterruptedWithinTwoSeconds) {
  up();
  std::string id = start_flow("dummy_single", R"({"duration_s":600})");
  EXPECT_EQ(follow(id, "loading").back(), "loading");
  auto t0 = std::chrono::steady_clock::now();
  auto r = post("/queues/stop", R"({"queue_id":")" + id + "\"}");
  EXPECT_EQ(r.status, 200) << r.body;
  auto seen = follow(id, "interrupted", 2s);
  EXPECT_EQ(seen.back(), "interrupted");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(ControlPlane, FailingDummyMakesTheQueueErrorWithItsMessage) {
  up();
  std::string id = start_flow("dummy_failing", R"({"fail_message":"exchange said no"})");
  EXPECT_EQ(follow(id, "error").back(), "error");
  auto q = get_json("/queues/" + id);
  EXPECT_NE(std::string(q.at("message").as_string()).find("exchange said no"), std::string::npos)
      << q.at("message");
}

TEST_F(ControlPlane, QueuesSurviveSigkillAndRestart) {
  auto& u = up();
  std::string done = start_flow("dummy_single", R"({"duration_s":0.3})");
  EXPECT_EQ(follow(done, "finished").back(), "finished");
  std::string running = start_flow("dummy_single", R"({"duration_s":600})");
  EXPECT_EQ(follow(running, "loading").back(), "loading");
  u.process().signal(SIGKILL);
  ASSERT_TRUE(u.process().wait(5s).has_value());

  up();  // same data dir
  auto list = get_json("/queues/list").at("queues").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(json_text(list[0].at("queue_id")), done);
  EXPECT_EQ(list[0].at("status"), "finished");
  EXPECT_EQ(json_text(list[1].at("queue_id")), running);
  EXPECT_EQ(list[1].at("status"), "interrupted");
  EXPECT_NE(std::string(list[1].at("message").as_string()).find("manager restarted"),
            std::string::npos);
}

TEST_F(ControlPlane, BadInputGetsItsStatusCodeAndStoresNothing) {
  up();
  const std::string good_target = R"({"target":"dummy-service"})";
  auto body = [&](const std::string& symbol, const std::string& range, const std::string& target) {
    return R"({"symbol":")" + symbol + R"(","type":"dummy","time_range":")" + range +
           R"(","targets":[)" + target + "]}";
  };
  struct Case {
    std::string path, body;
    int status;
    std::string field;
  };
  std::vector<Case> cases = {
      {"/queues/start", "{\"symbol\": ", 400, "body"},
      {"/queues/start", "[1,2]", 400, "body"},
      {"/queues/start", body("btc", "2024-08-01:2024-08-02", good_target), 422, "symbol"},
      {"/queues/start", body("BTCUSDT", "2024-08-02:2024-08-01", good_target), 422, "time_range"},
      {"/queues/start", body("BTCUSDT", "yesterday", good_target), 422, "time_range"},
      {"/queues/start", body("BTCUSDT", "2024-08-01:2024-08-02", R"({"target":"warp-drive"})"), 422,
       "targets[0].target"},
      {"/queues/start",
       body("BTCUSDT", "2024-08-01:2024-08-02",
            R"({"target":"dummy-service","collection_name":"x; DROP TABLE queues"})"),
       422, "targets[0].collection_name"},
      {"/queues/start",
       body("BTCUSDT", "2024-08-01:2024-08-02", R"({"target":"dummy-service","records":"lots"})"),
       422, "targets[0].records"},
      {"/queues/start-test-flow",
       R"({"flow_name":"no_such_flow","symbol":"BTCUSDT","time_range":"2024-08-01:2024-08-02"})",
       404, "flow_name"},
      {"/queues/start-test-flow", R"({"flow_name":"dummy_single","symbol":"BTCUSDT"})", 422,
       "time_range"},
      {"/queues/stop", R"({"queue_id":"wf-does-not-exist"})", 404, "queue_id"},
      {"/queues/stop", R"({"queue":"x"})", 422, "queue"},
      {"/queues/start", std::string("{\"pad\":\"") + std::string(1 << 20, 'x') + "\"}", 413,
       "body"},
  };
  for (const auto& c : cases) {
    auto r = client_->post(c.path, c.body);
    if (!r.ok()) {  // the server may close after a 413; reconnect for the next case
      client_ = std::make_unique<sf::http::Client>(up_->url());
      ADD_FAILURE() << c.path << ": " << r.error().message;
      continue;
    }
    EXPECT_EQ(r->status, c.status) << c.path << " " << c.body.substr(0, 200) << " -> " << r->body;
    auto v = bj::parse(r->body);
    EXPECT_TRUE(v.as_object().contains("error")) << r->body;
    EXPECT_EQ(json_text(v.at("field")), c.field) << r->body;
    if (c.status == 413) client_ = std::make_unique<sf::http::Client>(up_->url());
  }
  auto missing = client_->get("/queues/wf-does-not-exist");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(get_json("/queues/list").at("queues").as_array().empty()) << "nothing stored";
}

TEST_F(ControlPlane, BearerTokenProtectsTheApiButNotHealth) {
  auto& u = up({"--token", "s3cret-token"});
  EXPECT_EQ(client_->get("/queues/list")->status, 401);
  EXPECT_EQ(client_->get("/health")->status, 200);
  sf::http::Client authed(u.url(), "s3cret-token");
  EXPECT_EQ(authed.get("/queues/list")->status, 200);
  sf::http::Client wrong(u.url(), "guess");
  EXPECT_EQ(wrong.get("/queues/list")->status, 401);
  // The token never reaches the logs.
  u.process().signal(SIGTERM);
  EXPECT_EQ(u.process().wait(10s), 0);
  std::ifstream log(dir_ + "/up.stderr.log");
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_EQ(text.find("s3cret-token"), std::string::npos);
  EXPECT_NE(text.find("API token required"), std::string::npos);
}

TEST_F(ControlPlane, OpenApiDocumentMatchesTheServer) {
  up();
  auto doc = get_json("/openapi.json");
  EXPECT_EQ(std::string(doc.at("openapi").as_string()).substr(0, 2), "3.");
  size_t checked = 0;
  for (const auto& [path, ops] : doc.at("paths").as_object()) {
    std::string p(path);
    if (p == "/ws/events") continue;  // a WebSocket upgrade, checked elsewhere
    auto pos = p.find("{queue_id}");
    if (pos != std::string::npos) p.replace(pos, 10, "no-such-queue");
    for (const auto& [method, op] : ops.as_object()) {
      std::string m(method);
      for (auto& ch : m) ch = static_cast<char>(std::toupper(ch));
      auto r = client_->request(m, p, m == "POST" ? "{}" : "");
      ASSERT_TRUE(r.ok());
      EXPECT_NE(r->status, 405) << m << " " << p;
      // Every status the server answered with is documented for that operation.
      EXPECT_TRUE(op.at("responses").as_object().contains(std::to_string(r->status)))
          << m << " " << p << " answered " << r->status << " which the document does not list";
      ++checked;
    }
  }
  EXPECT_GE(checked, 9u);
}

TEST_F(ControlPlane, CliStartsWatchesListsAndStops) {
  auto& u = up();
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {sf::testing::streamforge_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = std::make_unique<Process>(argv, dir_ + "/cli.stderr.log",
                                       std::map<std::string, std::string>{{"SF_URL", u.url()}});
    return p;
  };
  {
    auto p = cli({"start", "--flow", "dummy_single", "--symbol", "ETHUSDT", "--range",
                  "2024-08-01:2024-08-02", "--param", "duration_s=1", "--param",
                  "progress_interval_ms=200", "--watch"});
    std::string out = p->read_all(20s);
    EXPECT_EQ(p->wait(20s), 0) << out;
    EXPECT_NE(out.find("started wf-ethusdt-dummy-20240801-"), std::string::npos) << out;
    EXPECT_NE(out.find("finished"), std::string::npos) << out;
  }
  {
    auto p = cli({"start", "--flow", "dummy_failing", "--symbol", "ETHUSDT", "--range",
                  "2024-08-01:2024-08-02", "--param", "duration_s=0.5", "--watch"});
    std::string out = p->read_all(20s);
    EXPECT_EQ(p->wait(20s), 1) << "watch exits 1 on error: " << out;
  }
  std::string long_id = start_flow("dummy_single", R"({"duration_s":600})");
  {
    auto w = cli({"watch", long_id});
    std::this_thread::sleep_for(500ms);
    auto s = cli({"stop", long_id});
    EXPECT_EQ(s->wait(10s), 0);
    EXPECT_EQ(w->wait(10s), 2) << "watch exits 2 on interrupted";
  }
  {
    auto p = cli({"ls"});
    std::string out = p->read_all(10s);
    EXPECT_EQ(p->wait(10s), 0);
    EXPECT_NE(out.find(long_id), std::string::npos) << out;
    EXPECT_NE(out.find("3 queues"), std::string::npos) << out;
  }
  {
    auto p = cli({"status", "wf-nope"});
    EXPECT_EQ(p->wait(10s), 3) << "a 404 is a refused request";
  }
}

// Issue 10.7: an API word given as a queue id is refused with a clear message, not printed
// as an empty queue followed by "out of range".
TEST_F(ControlPlane, CliStatusOfAnApiWordSaysItIsNoQueue) {
  auto& u = up();
  for (std::string word : {"list", "stop", "start-test-flow"}) {
    const std::string err_path = dir_ + "/cli-" + word + ".stderr.log";
    Process p({sf::testing::streamforge_binary(), "status", word}, err_path,
              std::map<std::string, std::string>{{"SF_URL", u.url()}});
    std::string out = p.read_all(10s);
    EXPECT_EQ(p.wait(10s), 3) << word << ": a refused request";
    EXPECT_EQ(out, "") << word << ": nothing printed as if it were a queue";
    const std::string err = sf::testing::read_file(err_path);
    EXPECT_NE(err.find("'" + word + "' is not a queue id"), std::string::npos) << err;
    EXPECT_EQ(err.find("out of range"), std::string::npos) << err;
  }
}

TEST_F(ControlPlane, LiveMetricsPassPromtool) {
  up();
  std::string id = start_flow("dummy_single", R"({"duration_s":0.3})");
  EXPECT_EQ(follow(id, "finished").back(), "finished");
  auto r = client_->get("/metrics");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("streamforge_manager_events_total"), std::string::npos);
  EXPECT_NE(r->body.find("streamforge_dummy_events_sent_total"), std::string::npos);
  std::string file = dir_ + "/metrics.txt";
  std::ofstream(file) << r->body;
  std::string cmd = "promtool check metrics < " + file + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int rc = pclose(p);
  ASSERT_NE(rc, -1);
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "promtool (Debian package prometheus; run scripts/bootstrap): "
                                << out;
  EXPECT_EQ(out, "") << "promtool lint findings";
}
