// ArangoDataStore and ArangoStateStore beyond the contract suites: the document layout, key
// limits, failures part-way through an upsert or an apply (nothing visible), lost commit
// answers, conflicts, graph collections (an edge collection and a named graph), reopening,
// and open_stores() with an arangodb+http:// URL. Each test runs its own in-process ArangoDB
// double.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "store/arango/arango_client.h"
#include "store/arango/arango_data_store.h"
#include "store/arango/arango_state_store.h"
#include "store/arango/arango_test_util.h"
#include "store/open.h"
#include "tests/contract/data_store_contract.h"
#include "tests/contract/state_store_contract.h"

namespace {

using sf::market::Kind;
using sf::store::ArangoDataStore;
using sf::store::ArangoStateStore;
using sf::store::arango_test::kPassword;
using sf::store::arango_test::OnRequest;
using sf::store::arango_test::start_double;
using sf::store::arango_test::url_for;
namespace dc = sf::store::data_contract;
namespace sc = sf::store::contract;
using namespace std::chrono_literals;

std::unique_ptr<ArangoDataStore> open_data(const sf::testing::ArangoDouble& d,
                                           const std::string& params = {}) {
  auto s = ArangoDataStore::open(url_for(d, "sf_test", params));
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? std::move(*s) : nullptr;
}

// The usual start of a test: a double of its own (with options `o`) with a data store open on
// it (URL parameters `params`; s is null after a failure naming why).
struct DataOnDouble {
  std::shared_ptr<sf::testing::ArangoDouble> d;
  std::unique_ptr<ArangoDataStore> s;
};
DataOnDouble data_on_double(
    const std::string& params = {},
    sf::testing::ArangoDoubleOptions o = sf::store::arango_test::double_options()) {
  DataOnDouble out{start_double(std::move(o)), nullptr};
  if (out.d) out.s = open_data(*out.d, params);
  return out;
}

std::unique_ptr<ArangoStateStore> open_state(const sf::testing::ArangoDouble& d,
                                             const std::string& params = {}) {
  auto s = ArangoStateStore::open(url_for(d, "sf_test", params));
  EXPECT_TRUE(s.ok()) << s.error().message;
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<sf::store::arango::ArangoClient> raw_client(const sf::testing::ArangoDouble& d) {
  auto c = sf::store::arango::ArangoClient::create(*sf::store::arango::parse_url(url_for(d)));
  EXPECT_TRUE(c.ok());
  return c.ok() ? std::move(*c) : nullptr;
}

template <class T>
sf::Errc code_of(const sf::Result<T>& s) {
  return s.ok() ? sf::Errc::ok : s.error().code;
}

size_t count_requests(const sf::testing::ArangoDouble& d, const std::string& needle) {
  size_t n = 0;
  for (const std::string& r : d.requests()) n += r.find(needle) != std::string::npos;
  return n;
}

// The fields of every persistent index of `collection`, as GET /_api/index lists them.
std::vector<std::vector<std::string>> persistent_indexes(sf::store::arango::ArangoClient& raw,
                                                         const std::string& collection) {
  std::vector<std::vector<std::string>> out;
  auto r = raw.request("GET", raw.db_path("/_api/index?collection=" + collection), {});
  EXPECT_TRUE(r.ok());
  if (!r.ok()) return out;
  EXPECT_EQ(r->status, 200) << r->error_message;
  if (r->status != 200) return out;
  for (const auto& i : r->body.at("indexes").as_array()) {
    if (i.at("type").as_string() != "persistent") continue;
    EXPECT_EQ(i.at("unique").as_bool(), false) << collection;
    EXPECT_EQ(i.at("sparse").as_bool(), false) << collection;
    std::vector<std::string> fields;
    for (const auto& f : i.at("fields").as_array()) fields.emplace_back(f.as_string());
    out.push_back(std::move(fields));
  }
  return out;
}

// Drops every persistent index of `collection` (a database from before the store made them).
void drop_persistent_indexes(sf::store::arango::ArangoClient& raw, const std::string& collection) {
  auto r = raw.request("GET", raw.db_path("/_api/index?collection=" + collection), {});
  ASSERT_TRUE(r.ok());
  for (const auto& i : r->body.at("indexes").as_array()) {
    if (i.at("type").as_string() != "persistent") continue;
    auto del = raw.request("DELETE",
                           raw.db_path("/_api/index/" + std::string(i.at("id").as_string())), {});
    ASSERT_TRUE(del.ok());
    ASSERT_EQ(del->status, 200) << del->error_message;
  }
  ASSERT_TRUE(persistent_indexes(raw, collection).empty());
}

using Fields = std::vector<std::vector<std::string>>;

TEST(ArangoOpenStores, ArangodbUrlOpensBothStoresInOneDatabase) {
  auto d = start_double();
  ASSERT_NE(d, nullptr);
  const std::string url = url_for(*d, "shared_db");
  auto stores = sf::store::open_stores(url, "");
  ASSERT_TRUE(stores.ok()) << stores.error().message;
  for (const std::string& where : {stores->state->describe(), stores->data->describe()}) {
    EXPECT_EQ(where,
              "arangodb+http://root:***@127.0.0.1:" + std::to_string(d->port()) + "/shared_db");
    EXPECT_EQ(where.find(kPassword), std::string::npos);
  }
  ASSERT_TRUE(stores->state->create_queue(sc::make_queue("q1", 100, 1)).ok());
  ASSERT_TRUE(stores->data->upsert("btc_1m", Kind::candle, dc::candles("BTCUSDT", 0, 3)).ok());
  EXPECT_EQ(*stores->data->count("btc_1m"), 3);
  EXPECT_EQ(stores->state->get_queue("q1")->targets.size(), 1u);
  auto data_only = sf::store::open_data_store(url, "");
  ASSERT_TRUE(data_only.ok()) << data_only.error().message;
  EXPECT_EQ(*(*data_only)->count("btc_1m"), 3);

  auto wrong = sf::store::open_stores(url_for(*d, "shared_db", "", "root:not-the-Pw"), "");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(wrong.error().message.find("authentication failed"), std::string::npos);
  EXPECT_EQ(wrong.error().message.find("not-the-Pw"), std::string::npos);
}

TEST(ArangoDataStore, DocumentsAreKeyedByTheNaturalKeyWithDecimalsAsStrings) {
  auto [d, s] = data_on_double();
  ASSERT_NE(s, nullptr);
  auto c = dc::candle("BTC/USDT:x%y", 0);
  c.interval = "1 m";
  c.open = "0.10000000";
  ASSERT_TRUE(s->upsert("odd", Kind::candle, std::vector<sf::market::Record>{c}).ok());
  auto key = ArangoDataStore::record_document_key(c);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "BTC%2FUSDT%3Ax%25y:1%20m:" + std::to_string(c.open_time));
  EXPECT_TRUE(sf::store::arango::is_valid_key(*key));
  auto raw = raw_client(*d);
  ASSERT_NE(raw, nullptr);
  auto g = raw->request(
      "GET", raw->db_path("/_api/document/odd/" + sf::store::arango::path_escape(*key)), {});
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->status, 200) << g->error_message;
  const auto& o = g->body.as_object();
  EXPECT_EQ(o.at("symbol").as_string(), "BTC/USDT:x%y");
  EXPECT_TRUE(o.at("open").is_string()) << "decimals travel as exact text";
  EXPECT_EQ(o.at("open").as_string(), "0.10000000");
  EXPECT_EQ(o.at("open_time").as_int64(), c.open_time);
  EXPECT_EQ(o.at("closed").as_bool(), true);

  auto cat = raw->request("GET", raw->db_path("/_api/document/sf_collections/odd"), {});
  ASSERT_TRUE(cat.ok());
  ASSERT_EQ(cat->status, 200);
  EXPECT_EQ(cat->body.at("kind").as_string(), "candle");
}

TEST(ArangoDataStore, KeysOverTheLimitAreRefusedBeforeAnyRequest) {
  auto [d, s] = data_on_double();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->ensure_collection("long", Kind::trade).ok());
  d->clear_requests();
  auto batch = std::vector<sf::market::Record>{dc::trade("BTCUSDT", 1),
                                               dc::trade(std::string(80, '\x01'), 2)};
  auto st = s->upsert("long", Kind::trade, batch);  // 80 bytes escape to 240 + ":2"
  EXPECT_TRUE(st.ok()) << st.error().message;
  d->clear_requests();
  batch.push_back(dc::trade(std::string(90, '/'), 3));  // 270 bytes escaped
  st = s->upsert("long", Kind::trade, batch);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(st.error().message.find("over the limit of 254"), std::string::npos)
      << st.error().message;
  EXPECT_TRUE(d->requests().empty()) << "nothing sent for a refused batch";
  EXPECT_EQ(*s->count("long"), 2);
}

TEST(ArangoDataStore, NamesDifferingOnlyInCaseAreRefused) {
  auto [d, s] = data_on_double();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->ensure_collection("candles", Kind::candle).ok());
  auto st = s->ensure_collection("Candles", Kind::candle);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(st.error().message.find("differs only in case"), std::string::npos);
  EXPECT_EQ(s->count("Candles").error().code, sf::Errc::not_found);
  // Another process sees the same catalogue.
  auto other = open_data(*d);
  ASSERT_NE(other, nullptr);
  EXPECT_FALSE(other->ensure_collection("CANDLES", Kind::candle).ok());
  EXPECT_FALSE(other->ensure_collection("candles", Kind::trade).ok());
}

TEST(ArangoDataStore, UpsertIsAllOrNothingWhenALaterChunkIsRefused) {
  // The double refuses bodies over 2.5 MiB: the first chunk of 5,000 candles fits, the
  // second (long decimals) does not. The first chunk's writes must vanish with the
  // transaction.
  auto o = sf::store::arango_test::double_options();
  o.max_body_bytes = size_t{5} << 19;
  auto [d, s] = data_on_double({}, o);
  ASSERT_NE(s, nullptr);
  const auto before = dc::candles("BTCUSDT", 0, 10);
  ASSERT_TRUE(s->upsert("c", Kind::candle, before).ok());
  auto batch = dc::candles("BTCUSDT", 5, 10'000);
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& c = std::get<sf::market::Candle>(batch[i]);
    c.close = "1.00000000";
    if (i >= 5'000) c.high = c.low = c.volume = c.quote_volume = "1." + std::string(62, '0');
  }
  auto st = s->upsert("c", Kind::candle, batch);
  ASSERT_FALSE(st.ok()) << "the second chunk is over the double's body limit";
  EXPECT_NE(st.error().message.find("413"), std::string::npos) << st.error().message;
  EXPECT_EQ(*s->count("c"), 10);
  EXPECT_EQ(*s->scan("c"), before);
}

TEST(ArangoDataStore, UpsertIsAllOrNothingWhenTheCommitFails) {
  auto [d, s] = data_on_double("retry_budget_ms=800");
  ASSERT_NE(s, nullptr);
  const auto before = dc::candles("BTCUSDT", 0, 10);
  ASSERT_TRUE(s->upsert("c", Kind::candle, before).ok());
  auto batch = dc::candles("BTCUSDT", 5, 100);
  for (auto& r : batch) std::get<sf::market::Candle>(r).close = "2.00000000";
  d->clear_requests();
  d->delay_next(2, 200ms);  // begin and the write: time for the action below
  sf::Status st;
  {
    OnRequest arm(d, "POST /_db/sf_test/_api/document/c?", [&] {
      d->fail_next(1000);  // from the commit on, the server is unavailable
      d->delay_next(0, 0ms);
    });
    st = s->upsert("c", Kind::candle, batch);
    EXPECT_TRUE(arm.fired());
  }
  d->fail_next(0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::unavailable) << st.error().message;
  EXPECT_NE(st.error().message.find("commit"), std::string::npos) << st.error().message;
  EXPECT_EQ(*s->count("c"), 10);
  EXPECT_EQ(*s->scan("c"), before);
  // The same batch succeeds once the server is back.
  ASSERT_TRUE(s->upsert("c", Kind::candle, batch).ok());
  EXPECT_EQ(*s->count("c"), 105);
}

TEST(ArangoDataStore, ALostCommitAnswerIsSentAgainAndCommitsOnce) {
  auto [d, s] = data_on_double("timeout_ms=300");
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->ensure_collection("c", Kind::candle).ok());
  // A dropped connection at the commit.
  d->clear_requests();
  d->delay_next(2, 150ms);
  {
    OnRequest arm(d, "POST /_db/sf_test/_api/document/c?", [&] {
      d->drop_next(1);
      d->delay_next(0, 0ms);
    });
    auto st = s->upsert("c", Kind::candle, dc::candles("BTCUSDT", 0, 50));
    EXPECT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(arm.fired());
  }
  EXPECT_EQ(count_requests(*d, "PUT /_db/sf_test/_api/transaction/"), 2u);
  EXPECT_EQ(*s->count("c"), 50);
  // A commit answered after timeout_ms: abandoned, sent again (committing is idempotent).
  d->clear_requests();
  d->delay_next(2, 150ms);
  {
    OnRequest arm(d, "POST /_db/sf_test/_api/document/c?", [&] { d->delay_next(1, 700ms); });
    auto st = s->upsert("c", Kind::candle, dc::candles("BTCUSDT", 50, 50));
    EXPECT_TRUE(st.ok()) << st.error().message;
  }
  EXPECT_GE(count_requests(*d, "PUT /_db/sf_test/_api/transaction/"), 2u);
  EXPECT_EQ(*s->count("c"), 100);
}

TEST(ArangoDataStore, ConflictsRunTheUpsertAgainAndErrorNumsReachTheMessage) {
  auto [d, s] = data_on_double();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->ensure_collection("c", Kind::candle).ok());
  d->fail_next(2, 409, 1200);
  auto st = s->upsert("c", Kind::candle, dc::candles("BTCUSDT", 0, 5));
  EXPECT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(*s->count("c"), 5);

  d->fail_next(1, 400, 1221);
  st = s->upsert("c", Kind::candle, dc::candles("BTCUSDT", 5, 5));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(st.error().message.find("ArangoDB error 1221 (illegal document key) on POST"),
            std::string::npos)
      << st.error().message;

  d->fail_next(100, 409, 1200);
  st = s->upsert("c", Kind::candle, dc::candles("BTCUSDT", 5, 5));
  d->fail_next(0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::unavailable);
  EXPECT_TRUE(st.error().field.empty());
  EXPECT_NE(st.error().message.find("1200 (write-write conflict)"), std::string::npos);
  EXPECT_EQ(*s->count("c"), 5);
}

// Double options: its stream transactions may write at most 256 KiB of documents (ArangoDB:
// 128 MiB in 3.11; --transaction.streaming-max-transaction-size from 3.12).
sf::testing::ArangoDoubleOptions small_transactions() {
  auto o = sf::store::arango_test::double_options();
  o.stream_trx_max_bytes = size_t{256} << 10;
  return o;
}

TEST(ArangoDataStore, ABatchOverTheServersTransactionLimitIsSplitAndWrittenWhole) {
  auto [d, s] = data_on_double("max_transaction_bytes=65536", small_transactions());
  ASSERT_NE(s, nullptr);
  // About 1.3 MB of documents: five times the double's limit.
  const auto batch = dc::candles("BTCUSDT", 0, 5'000);
  d->clear_requests();
  auto st = s->upsert("c", Kind::candle, batch);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(*s->count("c"), 5'000);
  EXPECT_EQ(*s->scan("c"), batch);
  // One transaction per 64 KiB of documents (each committed), none refused.
  const size_t commits = count_requests(*d, "PUT /_db/sf_test/_api/transaction/");
  EXPECT_GE(commits, 20u);
  EXPECT_LE(commits, 30u);
  EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/transaction/begin"), commits);

  // Graph edges too (an edge collection, each document linking two nodes): 2,000 of about
  // 300 bytes.
  std::vector<sf::market::Record> edges;
  for (int i = 0; i < 2'000; ++i)
    edges.push_back(dc::graph_edge("BTCUSDT", "T" + std::to_string(i) + "USDT", i % 3, 0.5));
  d->clear_requests();
  st = s->upsert("g_edges", Kind::graph_edge, edges);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_GE(count_requests(*d, "PUT /_db/sf_test/_api/transaction/"), 5u);
  EXPECT_EQ(*s->count("g_edges"), 2'000);
  std::sort(edges.begin(), edges.end(), sf::market::key_less);
  EXPECT_EQ(*s->scan("g_edges"), edges);
}

TEST(ArangoDataStore, WithoutSplittingTheServerRefusesTheBatchWithErrorNum32) {
  // Transactions of up to 16 MiB: above the double's 256 KiB, so one transaction per batch.
  auto [d, s] = data_on_double("max_transaction_bytes=16777216", small_transactions());
  ASSERT_NE(s, nullptr);
  auto st = s->upsert("c", Kind::candle, dc::candles("BTCUSDT", 0, 5'000));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::invalid_argument) << "not retried: it cannot succeed";
  EXPECT_NE(st.error().message.find("ArangoDB error 32 (resource limit exceeded) on POST "
                                    "/_db/sf_test/_api/document/c?overwriteMode=update: "
                                    "Maximal transaction size limit of 262144 bytes is reached"),
            std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("max_transaction_bytes=16777216"), std::string::npos)
      << st.error().message;
  // The transaction was aborted: nothing of the batch is stored.
  EXPECT_EQ(*s->count("c"), 0);
}

// Across its transactions a split batch is not atomic: a failure part-way leaves the runs
// committed before it. Running the same upsert again (what the connector does, as it
// commits no offsets for a failed batch) is safe: every write is an upsert by natural key.
TEST(ArangoDataStore, ASplitBatchThatFailsPartWayIsCompletedByRunningItAgain) {
  auto [d, s] =
      data_on_double("max_transaction_bytes=65536&retry_budget_ms=300", small_transactions());
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->ensure_collection("c", Kind::candle).ok());
  const auto batch = dc::candles("BTCUSDT", 0, 5'000);
  d->clear_requests();
  d->delay_next(10'000, 20ms);  // time for the watcher to act between requests
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    // After the second commit, the server becomes unavailable.
    while (!stop && count_requests(*d, "PUT /_db/sf_test/_api/transaction/") < 2)
      std::this_thread::sleep_for(1ms);
    d->fail_next(100'000);
    d->delay_next(0, 0ms);
  });
  auto st = s->upsert("c", Kind::candle, batch);
  stop = true;
  watcher.join();
  d->fail_next(0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::unavailable) << st.error().message;
  const int64_t part = *s->count("c");
  EXPECT_GT(part, 0) << "the first runs were committed";
  EXPECT_LT(part, 5'000);
  ASSERT_TRUE(s->upsert("c", Kind::candle, batch).ok());
  EXPECT_EQ(*s->count("c"), 5'000);
  EXPECT_EQ(*s->scan("c"), batch);
}

// A collection's ArangoDB type (2 document, 3 edge), or the HTTP status when it is missing.
int64_t collection_type(sf::store::arango::ArangoClient& raw, const std::string& name) {
  auto r = raw.request("GET", raw.db_path("/_api/collection/" + name), {});
  EXPECT_TRUE(r.ok());
  if (!r.ok()) return -1;
  if (r->status != 200) return r->status;
  return r->body.at("type").as_int64();
}

// A document by collection and _key (unescaped), as its JSON object; empty if it is missing.
boost::json::object document(sf::store::arango::ArangoClient& raw, const std::string& handle) {
  const size_t slash = handle.find('/');
  auto r = raw.request("GET",
                       raw.db_path("/_api/document/" + handle.substr(0, slash) + "/" +
                                   sf::store::arango::path_escape(handle.substr(slash + 1))),
                       {});
  EXPECT_TRUE(r.ok());
  if (!r.ok() || r->status != 200 || !r->body.is_object()) return {};
  return r->body.as_object();
}

// The graph builder's collections through the DataStore interface: `corr_nodes` an ordinary
// document collection, `corr_edges` an edge collection whose documents link node documents,
// and the named graph `corr` over them.
TEST(ArangoDataStore, GraphCollectionsForTheGraphBuilder) {
  auto [d, s] = data_on_double();
  ASSERT_NE(s, nullptr);
  auto raw = raw_client(*d);
  ASSERT_NE(raw, nullptr);
  // Nodes alone: a document collection, and no graph.
  ASSERT_TRUE(s->ensure_collection("solo_nodes", Kind::graph_node).ok());
  EXPECT_EQ(collection_type(*raw, "solo_nodes"), 2);
  EXPECT_EQ(raw->request("GET", raw->db_path("/_api/gharial/solo"), {})->status, 404);

  // Edges first: the node collection and the graph come with them.
  const std::vector<sf::market::Record> edges = {
      dc::graph_edge("BTCUSDT", "ETH/USDT", 0, 0.87), dc::graph_edge("BTCUSDT", "SOLUSDT", 0, -0.5),
      dc::graph_edge("BTCUSDT", "ETH/USDT", 1, 1.0 / 3.0),
      dc::graph_edge("ETH/USDT", "SOLUSDT", 1, 0.25)};
  ASSERT_TRUE(s->upsert("corr_edges", Kind::graph_edge, edges).ok());
  EXPECT_EQ(collection_type(*raw, "corr_edges"), 3) << "an edge collection";
  EXPECT_EQ(collection_type(*raw, "corr_nodes"), 2);
  auto g = raw->request("GET", raw->db_path("/_api/gharial/corr"), {});
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->status, 200) << g->error_message;
  EXPECT_EQ(g->body.at("graph").at("edgeDefinitions"),
            boost::json::parse(
                R"([{"collection":"corr_edges","from":["corr_nodes"],"to":["corr_nodes"]}])"));

  // An edge document: its record, _key SYMBOL:TARGET:VERSION, and its ends' node documents.
  auto key = ArangoDataStore::record_document_key(edges[0]);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "BTCUSDT:ETH%2FUSDT:0");
  const boost::json::object e = document(*raw, "corr_edges/" + *key);
  ASSERT_FALSE(e.empty());
  EXPECT_EQ(e.at("_from").as_string(), "corr_nodes/BTCUSDT:0");
  EXPECT_EQ(e.at("_to").as_string(), "corr_nodes/ETH%2FUSDT:0");
  EXPECT_EQ(e.at("symbol").as_string(), "BTCUSDT");
  EXPECT_EQ(e.at("target").as_string(), "ETH/USDT");
  EXPECT_EQ(e.at("correlation").as_double(), 0.87);
  EXPECT_EQ(document(*raw, "corr_edges/ETH%2FUSDT:SOLUSDT:1").at("_from").as_string(),
            "corr_nodes/ETH%2FUSDT:1");
  // The nodes the handles name are the node records' documents.
  const std::vector<sf::market::Record> nodes = {dc::graph_node("BTCUSDT", 0),
                                                 dc::graph_node("ETH/USDT", 0)};
  ASSERT_TRUE(s->upsert("corr_nodes", Kind::graph_node, nodes).ok());
  EXPECT_EQ(*ArangoDataStore::record_document_key(nodes[1]), "ETH%2FUSDT:0");
  for (const char* end : {"_from", "_to"}) {
    const boost::json::object n = document(*raw, std::string(e.at(end).as_string()));
    ASSERT_FALSE(n.empty()) << end;
    EXPECT_EQ(n.at("version").as_int64(), 0);
  }
  EXPECT_EQ(document(*raw, "corr_nodes/ETH%2FUSDT:0").at("symbol").as_string(), "ETH/USDT");
  // A real edge collection refuses a document without _from/_to (the double too).
  auto bare = raw->request("POST", raw->db_path("/_api/document/corr_edges"), R"({"_key":"x"})");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->error_num, 1233);

  // A second ensure is a no-op: nothing is sent.
  d->clear_requests();
  ASSERT_TRUE(s->ensure_collection("corr_edges", Kind::graph_edge).ok());
  ASSERT_TRUE(s->upsert("corr_edges", Kind::graph_edge, {}).ok());
  EXPECT_TRUE(d->requests().empty());
  // Another process finds the graph and creates nothing.
  auto other = open_data(*d);
  ASSERT_NE(other, nullptr);
  d->clear_requests();
  ASSERT_TRUE(other->ensure_collection("corr_edges", Kind::graph_edge).ok());
  EXPECT_EQ(count_requests(*d, "GET /_db/sf_test/_api/gharial/corr"), 1u);
  EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/gharial"), 0u);
  EXPECT_EQ(*other->scan("corr_edges"), *s->scan("corr_edges"));

  // collections() lists both with their kinds.
  auto list = s->collections();
  ASSERT_TRUE(list.ok()) << list.error().message;
  const std::vector<sf::store::CollectionInfo> want = {{"corr_edges", Kind::graph_edge},
                                                       {"corr_nodes", Kind::graph_node},
                                                       {"solo_nodes", Kind::graph_node}};
  EXPECT_EQ(*list, want);
  EXPECT_EQ(*s->collection_kind("corr_edges"), Kind::graph_edge);

  // Reads in natural-key order: a limit with the symbol fixed does not cut by version alone
  // (the edges of one symbol are ordered by target, then version).
  sf::store::Query q;
  q.symbol = "BTCUSDT";
  q.limit = 2;
  EXPECT_EQ(*s->scan("corr_edges", q), (std::vector<sf::market::Record>{edges[0], edges[2]}));
  q.limit = 0;
  EXPECT_EQ(*s->times("corr_edges", q),
            (std::vector<int64_t>{dc::graph_edge("", "", 0, 0).window_start,
                                  dc::graph_edge("", "", 1, 0).window_start,
                                  dc::graph_edge("", "", 0, 0).window_start}));

  // A graph of the same name defined otherwise is refused before anything is created.
  auto made = raw->request("POST", raw->db_path("/_api/gharial"),
                           R"({"name":"other","edgeDefinitions":[{"collection":"other_edges",)"
                           R"("from":["assets"],"to":["assets"]}]})");
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(made->ok()) << made->error_message;
  auto st = s->ensure_collection("other_edges", Kind::graph_edge);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(st.error().message.find("exists with other edge definitions"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(code_of(s->upsert("other_edges", Kind::graph_edge, edges)), sf::Errc::invalid_argument);
  EXPECT_EQ(collection_type(*raw, "other_nodes"), 404);
  EXPECT_EQ(code_of(s->collection_kind("other_edges")), sf::Errc::not_found);
  // So is a graph whose node or edge name is catalogued with another kind.
  ASSERT_TRUE(s->ensure_collection("x_nodes", Kind::candle).ok());
  EXPECT_EQ(code_of(s->ensure_collection("x_edges", Kind::graph_edge)), sf::Errc::invalid_argument);
  EXPECT_EQ(collection_type(*raw, "x_edges"), 404);
  EXPECT_EQ(raw->request("GET", raw->db_path("/_api/gharial/x"), {})->status, 404);
  // And graph collections without their kind's suffix (data_store.h).
  EXPECT_EQ(code_of(s->ensure_collection("corr_edges", Kind::graph_node)),
            sf::Errc::invalid_argument);
  EXPECT_EQ(code_of(s->ensure_collection("links", Kind::graph_edge)), sf::Errc::invalid_argument);

  // A graph made elsewhere (arangosh) with this store's definition is adopted.
  made = raw->request("POST", raw->db_path("/_api/gharial"),
                      R"({"name":"shell","edgeDefinitions":[{"collection":"shell_edges",)"
                      R"("from":["shell_nodes"],"to":["shell_nodes"]}]})");
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(made->ok()) << made->error_message;
  d->clear_requests();
  ASSERT_TRUE(s->upsert("shell_edges", Kind::graph_edge, edges).ok());
  EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/gharial"), 0u);
  EXPECT_EQ(*s->count("shell_edges"), 4);
  EXPECT_EQ(*s->collection_kind("shell_nodes"), Kind::graph_node);
}

// Catalogue entries of the free-form graph API of older versions hold no records: not
// listed, not read, and their names are refused.
TEST(ArangoDataStore, LegacyGraphCatalogueEntriesAreNeitherListedNorReused) {
  auto [d, s] = data_on_double();
  ASSERT_NE(s, nullptr);
  auto raw = raw_client(*d);
  ASSERT_NE(raw, nullptr);
  for (const char* doc :
       {R"({"_key":"assets","name":"assets","kind":"graph_vertex"})",
        R"({"_key":"links","name":"links","kind":"graph_edge","vertex":"assets"})"}) {
    auto r = raw->request("POST", raw->db_path("/_api/document/sf_collections"), doc);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->ok()) << r->error_message;
  }
  ASSERT_TRUE(s->ensure_collection("btc_1m", Kind::candle).ok());
  auto list = s->collections();
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(*list, (std::vector<sf::store::CollectionInfo>{{"btc_1m", Kind::candle}}));
  EXPECT_EQ(code_of(s->count("links")), sf::Errc::invalid_argument);
  EXPECT_EQ(code_of(s->scan("assets")), sf::Errc::invalid_argument);
  EXPECT_EQ(code_of(s->ensure_collection("assets", Kind::candle)), sf::Errc::invalid_argument);
  EXPECT_EQ(code_of(s->ensure_collection("links", Kind::trade)), sf::Errc::invalid_argument);
  auto reopened = open_data(*d);
  ASSERT_NE(reopened, nullptr) << "open skips them when it ensures indexes";
}

TEST(ArangoStateStore, StatePersistsAcrossReopening) {
  auto d = start_double();
  ASSERT_NE(d, nullptr);
  auto q = sc::make_queue("q-persist", 1700000000.25, 2);
  {
    auto s = open_state(*d);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->create_queue(q).ok());
    sf::store::StateBatch b;
    b.events.push_back(sc::make_event("q-persist", 1700000001, "e1"));
    ASSERT_TRUE(s->apply(b).ok());
  }
  auto s = open_state(*d);
  ASSERT_NE(s, nullptr);
  auto got = s->get_queue("q-persist");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_TRUE(sc::queues_equal(*got, q));
  EXPECT_EQ(s->recent_events("q-persist", 10)->size(), 1u);
  EXPECT_EQ(s->create_queue(q).error().code, sf::Errc::already_exists);
}

TEST(ArangoStateStore, LongIdsGetHashedKeys) {
  auto d = start_double();
  ASSERT_NE(d, nullptr);
  auto s = open_state(*d);
  ASSERT_NE(s, nullptr);
  const std::string long_id(200, 'q');
  auto q = sc::make_queue(long_id, 100, 0);
  q.targets.push_back(sc::make_target(std::string(200, 't'), "dummy-service", 100));
  ASSERT_TRUE(s->create_queue(q).ok());
  const std::string tk = ArangoStateStore::target_key(long_id, std::string(200, 't'));
  EXPECT_TRUE(sf::store::arango::is_valid_key(tk)) << tk;
  EXPECT_EQ(tk.rfind("%h", 0), 0u);
  auto got = s->get_queue(long_id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_TRUE(sc::queues_equal(*got, q));
}

TEST(ArangoStateStore, ApplyIsAllOrNothingWhenItsEventWriteIsLost) {
  auto d = start_double();
  ASSERT_NE(d, nullptr);
  auto s = open_state(*d);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->create_queue(sc::make_queue("q1", 100, 1)).ok());
  sf::store::StateBatch b;
  auto upd = sc::make_queue("q1", 100, 0);
  upd.status = "loading";
  upd.updated_at = 101;
  b.queue_updates.push_back(upd);
  b.events.push_back(sc::make_event("q1", 101, "only-once"));
  d->clear_requests();
  d->delay_next(3, 150ms);  // begin, the queue read, the queue patch
  {
    OnRequest arm(d, "PATCH /_db/sf_test/_api/document/queues", [&] {
      d->drop_next(1);  // the events insert: its outcome is unknown to the client
      d->delay_next(0, 0ms);
    });
    auto st = s->apply(b);
    EXPECT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(arm.fired());
  }
  EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/document/events"), 2u)
      << "the batch ran again in a new transaction";
  auto events = s->recent_events("q1", 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u) << "the event is stored once";
  EXPECT_EQ(s->get_queue("q1")->status, "loading");
}

TEST(ArangoStateStore, TwoProcessesCreatingQueuesAtOnceKeepEveryQueueInOrder) {
  auto d = start_double();
  ASSERT_NE(d, nullptr);
  auto a = open_state(*d);
  auto b = open_state(*d);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::atomic<int> failures{0};
  auto create = [&](sf::store::StateStore* s, const std::string& prefix) {
    for (int i = 0; i < 100; ++i) {
      if (!s->create_queue(sc::make_queue(prefix + std::to_string(i), 500, 1)).ok()) ++failures;
    }
  };
  std::thread ta(create, a.get(), "a"), tb(create, b.get(), "b");
  ta.join();
  tb.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = a->list_queues();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 200u);
  // Equal created_at: creation order within each process is kept.
  int next_a = 0, next_b = 0;
  for (const auto& q : *all) {
    if (q.queue_id[0] == 'a') {
      EXPECT_EQ(q.queue_id, "a" + std::to_string(next_a++));
    } else {
      EXPECT_EQ(q.queue_id, "b" + std::to_string(next_b++));
    }
  }
}

TEST(ArangoStateStore, OpenEnsuresTheIndexesOfTargetsAndEvents) {
  auto d = start_double();
  ASSERT_NE(d, nullptr);
  auto raw = raw_client(*d);
  ASSERT_NE(raw, nullptr);
  const Fields targets{{"queue_id", "ordinal"}}, events{{"queue_id", "_key"}};
  {
    auto s = open_state(*d);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(persistent_indexes(*raw, "targets"), targets);
    EXPECT_EQ(persistent_indexes(*raw, "events"), events);
    EXPECT_TRUE(persistent_indexes(*raw, "queues").empty());
    ASSERT_TRUE(s->create_queue(sc::make_queue("q1", 100, 2)).ok());
  }
  // Opening again asks again and gets the same indexes (200, not new ones).
  d->clear_requests();
  {
    auto s = open_state(*d);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/index?collection=targets"), 1u);
    EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/index?collection=events"), 1u);
  }
  EXPECT_EQ(persistent_indexes(*raw, "targets"), targets);
  EXPECT_EQ(persistent_indexes(*raw, "events"), events);
  // A database from before the indexes: open creates them, the data is untouched.
  drop_persistent_indexes(*raw, "targets");
  drop_persistent_indexes(*raw, "events");
  auto s = open_state(*d);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(persistent_indexes(*raw, "targets"), targets);
  EXPECT_EQ(persistent_indexes(*raw, "events"), events);
  EXPECT_EQ(s->get_queue("q1")->targets.size(), 2u);
}

TEST(ArangoDataStore, MarketCollectionsGetTheirIndexWhenCreatedAndOnOpen) {
  auto d = start_double();
  ASSERT_NE(d, nullptr);
  auto raw = raw_client(*d);
  ASSERT_NE(raw, nullptr);
  const Fields candles{{"symbol", "interval", "open_time"}}, trades{{"symbol", "time"}},
      graph{{"symbol", "window_start"}};
  {
    auto s = open_data(*d);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->upsert("btc_1m", Kind::candle, dc::candles("BTCUSDT", 0, 3)).ok());
    ASSERT_TRUE(s->upsert("btc_trades", Kind::trade,
                          std::vector<sf::market::Record>{dc::trade("BTCUSDT", 1)})
                    .ok());
    ASSERT_TRUE(s->ensure_collection("btc_agg", Kind::agg_trade).ok());
    ASSERT_TRUE(s->ensure_collection("g_edges", Kind::graph_edge).ok());
    EXPECT_EQ(persistent_indexes(*raw, "btc_1m"), candles);
    EXPECT_EQ(persistent_indexes(*raw, "btc_trades"), trades);
    EXPECT_EQ(persistent_indexes(*raw, "btc_agg"), trades);
    EXPECT_EQ(persistent_indexes(*raw, "g_nodes"), graph) << "nodes came with the edges";
    EXPECT_EQ(persistent_indexes(*raw, "g_edges"), graph) << "besides the edge index";
    EXPECT_TRUE(persistent_indexes(*raw, "sf_collections").empty());
  }
  // An older database: collections without indexes, and one registered in the catalogue but
  // never created (a crash in between). Open indexes the existing ones and skips the other.
  drop_persistent_indexes(*raw, "btc_1m");
  drop_persistent_indexes(*raw, "btc_trades");
  drop_persistent_indexes(*raw, "g_edges");
  auto ghost = raw->request("POST", raw->db_path("/_api/document/sf_collections"),
                            R"({"_key":"ghost","name":"ghost","kind":"candle"})");
  ASSERT_TRUE(ghost.ok());
  ASSERT_TRUE(ghost->ok()) << ghost->error_message;
  auto s = open_data(*d);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(persistent_indexes(*raw, "btc_1m"), candles);
  EXPECT_EQ(persistent_indexes(*raw, "btc_trades"), trades);
  EXPECT_EQ(persistent_indexes(*raw, "btc_agg"), trades);
  EXPECT_EQ(persistent_indexes(*raw, "g_edges"), graph);
  sf::store::Query q;
  q.symbol = "BTCUSDT";
  q.interval = "1m";
  q.limit = 2;
  EXPECT_EQ(s->times("btc_1m", q)->size(), 2u);
}

// A commit that went through but whose answer was lost, and the transaction forgotten before
// the client asked again: the outcome is unknown, apply runs again, finds its events by
// their batch token (looked up per queue of the batch) and writes nothing twice.
TEST(ArangoStateStore, ApplyAfterAnUnknownCommitOutcomeStoresItsEventsOnce) {
  auto o = sf::store::arango_test::double_options();
  o.finished_trx_ttl = 0ms;  // forgotten at the next request
  o.threads = 8;             // the delayed commit attempts each hold a thread
  auto d = start_double(o);
  ASSERT_NE(d, nullptr);
  auto s = open_state(*d, "timeout_ms=300");
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->create_queue(sc::make_queue("q2", 100, 1)).ok());
  sf::store::StateBatch b;
  b.events.push_back(sc::make_event("not-a-queue", 101, "skipped"));
  b.events.push_back(sc::make_event("q2", 101, "e1"));
  b.events.push_back(sc::make_event("q2", 102, "e2"));
  d->clear_requests();
  d->delay_next(3, 150ms);  // begin, the queue read, the events insert
  {
    // The commit and its first two resends answer after timeout_ms; the first of them
    // commits (800 ms in), the next resend (about 1.2 s in) finds the transaction gone.
    OnRequest arm(d, "POST /_db/sf_test/_api/document/events", [&] { d->delay_next(3, 800ms); });
    auto st = s->apply(b);
    EXPECT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(arm.fired());
  }
  EXPECT_GE(count_requests(*d, "PUT /_db/sf_test/_api/transaction/"), 4u);
  EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/document/events"), 1u)
      << "the second run found the batch's events and wrote nothing";
  EXPECT_EQ(count_requests(*d, "POST /_db/sf_test/_api/cursor"), 2u)
      << "one token lookup per queue of the batch: not-a-queue (none), then q2 (found)";
  auto events = s->recent_events("q2", 10);
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].json, sc::make_event("q2", 101, "e1").json);
}

}  // namespace

// The contract headers are included for their record and queue builders only.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DataStoreContract);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StateStoreContract);
