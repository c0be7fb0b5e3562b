// The ArangoDB test double over the wire (sf::http::Client, raw HTTP), against what the
// ArangoDB 3.11 documentation says a server answers.
#include "arango_double.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <bit>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "http/client.h"

namespace sf::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using http::ClientResponse;

constexpr const char* kPassword = "s3cret-Pw";
constexpr const char* kSecret = "test-jwt-secret";

std::string b64(std::string_view in, bool url) {
  const char* a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += a[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16 | (i + 1 < in.size() ? uint8_t(in[i + 1]) << 8 : 0);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    if (i + 1 < in.size()) out += a[(v >> 6) & 63];
    if (!url) out += i + 1 < in.size() ? "=" : "==";
  }
  return out;
}

// An HS256 JWT as an operator would make it with the server's secret.
std::string jwt(const std::string& payload, const std::string& secret = kSecret) {
  std::string signing = b64(R"({"alg":"HS256","typ":"JWT"})", true) + "." + b64(payload, true);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + b64(std::string(reinterpret_cast<char*>(mac), len), true);
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json::value parse(const ClientResponse& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  EXPECT_FALSE(ec) << "not JSON: " << r.body;
  return v;
}

// A client with a fixed Authorization header.
class Api {
 public:
  Api(const std::string& base, std::string authorization)
      : c_(base, {}, 10s), auth_(std::move(authorization)) {}

  ClientResponse req(std::string_view method, std::string_view path, std::string_view body = {},
                     http::HeaderList extra = {}) {
    if (!auth_.empty()) extra.emplace_back("Authorization", auth_);
    auto r = c_.request(method, path, body, "application/json", extra);
    EXPECT_TRUE(r.ok()) << method << " " << path << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : ClientResponse{};
  }
  json::value get(std::string_view path, http::HeaderList extra = {}) {
    last = req("GET", path, {}, std::move(extra));
    return parse(last);
  }
  json::value call(std::string_view method, std::string_view path, const json::value& body,
                   http::HeaderList extra = {}) {
    last = req(method, path, json::serialize(body), std::move(extra));
    return parse(last);
  }
  Result<ClientResponse> raw(std::string_view method, std::string_view path) {
    http::HeaderList h;
    if (!auth_.empty()) h.emplace_back("Authorization", auth_);
    return c_.request(method, path, {}, "application/json", h);
  }

  ClientResponse last;

 private:
  http::Client c_;
  std::string auth_;
};

std::string basic(const std::string& user, const std::string& pass) {
  return "Basic " + b64(user + ":" + pass, false);
}

// Checks an ArangoDB error body: {"error":true,"code":status,"errorNum":num,...}.
void expect_error(const ClientResponse& r, int status, int num) {
  EXPECT_EQ(r.status, status) << r.body;
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  ASSERT_FALSE(ec) << r.body;
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(v.at("error"), true) << r.body;
  EXPECT_EQ(v.at("code"), status) << r.body;
  EXPECT_EQ(v.at("errorNum"), num) << r.body;
  EXPECT_TRUE(v.at("errorMessage").is_string()) << r.body;
}

class ArangoDoubleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ArangoDoubleOptions o;
    o.password = kPassword;
    o.jwt_secret = kSecret;
    o.databases = {"streamforge"};
    o.stream_trx_idle_timeout = trx_timeout_;
    o.finished_trx_ttl = finished_trx_ttl_;
    o.stream_trx_max_bytes = trx_max_bytes_;
    o.max_body_bytes = 1 << 20;
    server_ = std::make_unique<ArangoDouble>(o);
    ASSERT_TRUE(server_->start().ok());
    api_ = std::make_unique<Api>(server_->base_url(), basic("root", kPassword));
  }

  // A collection in the streamforge database.
  void create(const std::string& name, int type = 2, json::object key_options = {}) {
    json::object b;
    b["name"] = name;
    b["type"] = type;
    if (!key_options.empty()) b["keyOptions"] = std::move(key_options);
    api_->call("POST", "/_db/streamforge/_api/collection", b);
    ASSERT_EQ(api_->last.status, 200) << api_->last.body;
  }

  json::value insert(const std::string& col, const json::value& doc, const std::string& query = "",
                     http::HeaderList extra = {}) {
    return api_->call("POST", "/_db/streamforge/_api/document/" + col + query, doc,
                      std::move(extra));
  }

  json::value cursor(const json::value& body, http::HeaderList extra = {}) {
    return api_->call("POST", "/_db/streamforge/_api/cursor", body, std::move(extra));
  }

  // The result of a query that fits one batch.
  json::array query(const std::string& aql, json::object binds = {}, http::HeaderList extra = {}) {
    json::object b;
    b["query"] = aql;
    b["bindVars"] = std::move(binds);
    json::value r = cursor(b, std::move(extra));
    EXPECT_EQ(api_->last.status, 201) << api_->last.body;
    if (api_->last.status != 201) return {};
    EXPECT_EQ(r.at("hasMore"), false);
    return r.at("result").as_array();
  }

  std::chrono::milliseconds trx_timeout_{60'000};
  std::chrono::milliseconds finished_trx_ttl_{600'000};
  size_t trx_max_bytes_ = size_t{128} << 20;
  std::unique_ptr<ArangoDouble> server_;
  std::unique_ptr<Api> api_;
};

// ---------------------------------------------------------------------------------------

TEST_F(ArangoDoubleTest, VersionAndAuthentication) {
  Api none(server_->base_url(), "");
  auto r = none.req("GET", "/_api/version");
  expect_error(r, 401, 11);
  EXPECT_EQ(r.header("Www-Authenticate"), R"(Basic, realm="ArangoDB")");
  r = none.req("GET", "/_api/version", {}, {{"X-Omit-Www-Authenticate", "1"}});
  expect_error(r, 401, 11);
  EXPECT_EQ(r.header("Www-Authenticate"), "");

  expect_error(Api(server_->base_url(), basic("root", "wrong")).req("GET", "/_api/version"), 401,
               11);
  expect_error(Api(server_->base_url(), basic("admin", kPassword)).req("GET", "/_api/version"), 401,
               11);
  expect_error(Api(server_->base_url(), "Basic !!notbase64").req("GET", "/_api/version"), 401, 11);

  json::value v = api_->get("/_api/version");
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(v.at("server"), "arango");
  EXPECT_EQ(std::string(v.at("version").as_string()).rfind("3.11.", 0), 0u);
  EXPECT_EQ(v.at("license"), "community");
  // The scheme is case-insensitive.
  EXPECT_EQ(Api(server_->base_url(), "basic " + b64(std::string("root:") + kPassword, false))
                .req("GET", "/_api/version")
                .status,
            200);

  // /_open/auth needs no authentication and hands out a user JWT.
  json::object creds;
  creds["username"] = "root";
  creds["password"] = "wrong";
  none.call("POST", "/_open/auth", creds);
  expect_error(none.last, 401, 401);
  none.call("POST", "/_open/auth", json::object{{"username", "root"}});
  expect_error(none.last, 400, 400);
  creds["password"] = kPassword;
  json::value tok = none.call("POST", "/_open/auth", creds);
  ASSERT_EQ(none.last.status, 200) << none.last.body;
  std::string token(tok.at("jwt").as_string());
  // Its payload: preferred_username, iss, iat, exp one hour later.
  auto d1 = token.find('.'), d2 = token.rfind('.');
  std::string payload_b64 = token.substr(d1 + 1, d2 - d1 - 1);
  while (payload_b64.size() % 4) payload_b64 += '=';
  for (char& c : payload_b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  std::string payload;
  {
    std::string out(payload_b64.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(payload_b64.data()),
                            static_cast<int>(payload_b64.size()));
    ASSERT_GT(n, 0);
    payload = out.substr(0, static_cast<size_t>(n));
    while (!payload.empty() && payload.back() == '\0') payload.pop_back();
  }
  json::value p = json::parse(payload);
  EXPECT_EQ(p.at("preferred_username"), "root");
  EXPECT_EQ(p.at("iss"), "arangodb");
  EXPECT_EQ(p.at("exp").to_number<int64_t>() - p.at("iat").to_number<int64_t>(), 3600);

  EXPECT_EQ(Api(server_->base_url(), "bearer " + token).req("GET", "/_api/version").status, 200);
  EXPECT_EQ(Api(server_->base_url(), "Bearer " + token).req("GET", "/_api/version").status, 200);
  std::string tampered = token;
  tampered[d1 + 2] = tampered[d1 + 2] == 'A' ? 'B' : 'A';  // payload changed, signature not
  r = Api(server_->base_url(), "bearer " + tampered).req("GET", "/_api/version");
  expect_error(r, 401, 11);
  EXPECT_EQ(r.header("Www-Authenticate"), R"(Bearer token_type="JWT", realm="ArangoDB")");
  std::string bad_sig = token;
  bad_sig[d2 + 5] = bad_sig[d2 + 5] == 'A' ? 'B' : 'A';
  expect_error(Api(server_->base_url(), "bearer " + bad_sig).req("GET", "/_api/version"), 401, 11);
  // The last character carries 2 unused bits: another encoding of the same signature.
  std::string padding_bits = token;
  char& last = padding_bits.back();
  last = last == 'A' ? 'B' : last == 'B' ? 'A' : last == 'Q' ? 'R' : 'Q';
  expect_error(Api(server_->base_url(), "bearer " + padding_bits).req("GET", "/_api/version"), 401,
               11);

  // Tokens made with the secret: expired, another secret, wrong iss, unknown user, superuser.
  std::string exp_past = R"({"preferred_username":"root","iss":"arangodb","iat":1,"exp":)" +
                         std::to_string(now_s() - 10) + "}";
  expect_error(Api(server_->base_url(), "bearer " + jwt(exp_past)).req("GET", "/_api/version"), 401,
               11);
  std::string valid = R"({"preferred_username":"root","iss":"arangodb","exp":)" +
                      std::to_string(now_s() + 600) + "}";
  EXPECT_EQ(Api(server_->base_url(), "bearer " + jwt(valid)).req("GET", "/_api/version").status,
            200);
  expect_error(
      Api(server_->base_url(), "bearer " + jwt(valid, "other")).req("GET", "/_api/version"), 401,
      11);
  expect_error(
      Api(server_->base_url(), "bearer " + jwt(R"({"preferred_username":"root","iss":"x"})"))
          .req("GET", "/_api/version"),
      401, 11);
  expect_error(
      Api(server_->base_url(), "bearer " + jwt(R"({"preferred_username":"bob","iss":"arangodb"})"))
          .req("GET", "/_api/version"),
      401, 11);
  EXPECT_EQ(Api(server_->base_url(), "bearer " + jwt(R"({"iss":"arangodb","server_id":"ops"})"))
                .req("GET", "/_api/version")
                .status,
            200);
  EXPECT_EQ(Api(server_->base_url(), "bearer " + server_->superuser_jwt())
                .req("GET", "/_db/streamforge/_api/collection")
                .status,
            200);
  // alg "none" is refused whatever the payload.
  std::string none_alg = b64(R"({"alg":"none","typ":"JWT"})", true) + "." +
                         b64(R"({"iss":"arangodb","server_id":"x"})", true) + ".";
  expect_error(Api(server_->base_url(), "bearer " + none_alg).req("GET", "/_api/version"), 401, 11);
}

TEST_F(ArangoDoubleTest, Databases) {
  json::value v = api_->get("/_api/database/current");
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(v.at("error"), false);
  EXPECT_EQ(v.at("result").at("name"), "_system");
  EXPECT_EQ(v.at("result").at("isSystem"), true);
  v = api_->get("/_db/streamforge/_api/database/current");
  EXPECT_EQ(v.at("result").at("name"), "streamforge");
  EXPECT_EQ(v.at("result").at("isSystem"), false);
  EXPECT_TRUE(v.at("result").at("id").is_string());
  EXPECT_TRUE(v.at("result").at("path").is_string());

  api_->get("/_db/nope/_api/database/current");
  expect_error(api_->last, 404, 1228);
  api_->get("/_db/nope/_api/version");
  expect_error(api_->last, 404, 1228);

  json::value created =
      api_->call("POST", "/_db/_system/_api/database", json::object{{"name", "db2"}});
  EXPECT_EQ(api_->last.status, 201);
  EXPECT_EQ(created, json::parse(R"({"error":false,"code":201,"result":true})"));
  EXPECT_EQ(api_->get("/_db/db2/_api/database/current").at("result").at("name"), "db2");
  api_->call("POST", "/_api/database", json::object{{"name", "db2"}});
  expect_error(api_->last, 409, 1207);
  for (const char* bad : {"", "1db", "a b", "a/b", "_x"}) {
    api_->call("POST", "/_api/database", json::object{{"name", bad}});
    expect_error(api_->last, 400, 1229);
  }
  api_->call("POST", "/_api/database", json::object{{"name", std::string(65, 'a')}});
  expect_error(api_->last, 400, 1229);
  api_->call("POST", "/_db/streamforge/_api/database", json::object{{"name", "db3"}});
  expect_error(api_->last, 403, 1230);
  json::value list = api_->get("/_api/database");
  EXPECT_EQ(list.at("result"), json::parse(R"(["_system","db2","streamforge"])"));
}

TEST_F(ArangoDoubleTest, Collections) {
  json::object ko;
  json::value p =
      api_->call("POST", "/_db/streamforge/_api/collection", json::object{{"name", "candles"}});
  ASSERT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(p.at("error"), false);
  EXPECT_EQ(p.at("name"), "candles");
  EXPECT_EQ(p.at("type"), 2);
  EXPECT_EQ(p.at("status"), 3);
  EXPECT_EQ(p.at("isSystem"), false);
  EXPECT_EQ(p.at("keyOptions").at("type"), "traditional");
  EXPECT_EQ(p.at("keyOptions").at("allowUserKeys"), true);
  EXPECT_TRUE(p.at("id").is_string());
  EXPECT_TRUE(p.at("globallyUniqueId").is_string());

  api_->call("POST", "/_db/streamforge/_api/collection", json::object{{"name", "candles"}});
  expect_error(api_->last, 409, 1207);
  // Names are case-sensitive: another collection.
  api_->call("POST", "/_db/streamforge/_api/collection", json::object{{"name", "Candles"}});
  EXPECT_EQ(api_->last.status, 200);
  for (std::string bad :
       {std::string(""), std::string("1abc"), std::string("a b"), std::string("a.b"),
        std::string("_sys"), std::string(257, 'x'), std::string("ü")}) {
    api_->call("POST", "/_db/streamforge/_api/collection", json::object{{"name", bad}});
    expect_error(api_->last, 400, 1208);
  }
  api_->call("POST", "/_db/streamforge/_api/collection",
             json::object{{"name", std::string(256, 'x')}});
  EXPECT_EQ(api_->last.status, 200);
  api_->call("POST", "/_db/streamforge/_api/collection", json::object{{"name", "t"}, {"type", 4}});
  expect_error(api_->last, 400, 1218);
  api_->call("POST", "/_db/streamforge/_api/collection",
             json::parse(R"({"name":"k","keyOptions":{"type":"nope"}})"));
  expect_error(api_->last, 400, 1232);

  json::value list = api_->get("/_db/streamforge/_api/collection?excludeSystem=true");
  EXPECT_EQ(list.at("result").as_array().size(), 3u);
  for (const auto& c : list.at("result").as_array()) {
    EXPECT_EQ(c.at("isSystem"), false);
    EXPECT_EQ(c.at("status"), 3);
  }
  list = api_->get("/_db/streamforge/_api/collection");
  EXPECT_GT(list.at("result").as_array().size(), 3u);  // system collections too

  api_->get("/_db/streamforge/_api/collection/nope");
  expect_error(api_->last, 404, 1203);
  json::value cnt = api_->get("/_db/streamforge/_api/collection/candles/count");
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(cnt.at("count"), 0);
  EXPECT_EQ(cnt.at("name"), "candles");
  insert("candles", json::object{{"a", 1}});
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/candles/count").at("count"), 1);
  json::value props = api_->get("/_db/streamforge/_api/collection/candles/properties");
  EXPECT_EQ(props.at("waitForSync"), false);

  json::value dropped = api_->call("DELETE", "/_db/streamforge/_api/collection/Candles", nullptr);
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(dropped.at("error"), false);
  EXPECT_TRUE(dropped.at("id").is_string());
  api_->get("/_db/streamforge/_api/collection/Candles");
  expect_error(api_->last, 404, 1203);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/candles").at("name"), "candles");
}

TEST_F(ArangoDoubleTest, KeyGenerators) {
  create("padded", 2, json::object{{"type", "padded"}});
  create("auto", 2, json::object{{"type", "autoincrement"}, {"increment", 5}, {"offset", 10}});
  create("trad");
  create("nouser", 2, json::object{{"type", "traditional"}, {"allowUserKeys", false}});
  std::vector<std::string> padded, autos, trad;
  for (int i = 0; i < 20; ++i) {
    padded.emplace_back(insert("padded", json::object{{"i", i}}).at("_key").as_string());
    autos.emplace_back(insert("auto", json::object{{"i", i}}).at("_key").as_string());
    trad.emplace_back(insert("trad", json::object{{"i", i}}).at("_key").as_string());
  }
  for (size_t i = 0; i < padded.size(); ++i) {
    EXPECT_EQ(padded[i].size(), 16u) << padded[i];
    EXPECT_EQ(padded[i].find_first_not_of("0123456789abcdef"), std::string::npos) << padded[i];
    if (i > 0) {
      EXPECT_LT(padded[i - 1], padded[i]);  // insertion order, lexicographically
      EXPECT_LT(std::stoull(trad[i - 1]), std::stoull(trad[i]));
    }
  }
  EXPECT_EQ(autos[0], "10");
  EXPECT_EQ(autos[1], "15");
  EXPECT_EQ(autos[2], "20");
  json::value ko = api_->get("/_db/streamforge/_api/collection/auto/properties").at("keyOptions");
  EXPECT_EQ(ko.at("type"), "autoincrement");
  EXPECT_EQ(ko.at("increment"), 5);
  EXPECT_EQ(ko.at("offset"), 10);

  insert("nouser", json::object{{"_key", "mine"}});
  expect_error(api_->last, 400, 1222);
  EXPECT_EQ(insert("nouser", json::object{{"x", 1}}).at("_key").is_string(), true);
}

TEST_F(ArangoDoubleTest, SingleDocuments) {
  create("docs");
  json::value r = insert(
      "docs", json::parse(R"({"_key":"k1","a":1,"o":{"x":1,"y":2},"_rev":"mine","_id":"x/y"})"));
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(r.at("_key"), "k1");
  EXPECT_EQ(r.at("_id"), "docs/k1");
  std::string rev1(r.at("_rev").as_string());
  EXPECT_NE(rev1, "mine");
  EXPECT_EQ(api_->last.header("Etag"), "\"" + rev1 + "\"");
  insert("docs", json::object{{"b", 1}}, "?waitForSync=true");
  EXPECT_EQ(api_->last.status, 201);

  json::value d = api_->get("/_db/streamforge/_api/document/docs/k1");
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(d.at("_id"), "docs/k1");
  EXPECT_EQ(d.at("_rev"), json::string(rev1));
  EXPECT_EQ(d.at("a"), 1);
  api_->get("/_db/streamforge/_api/document/docs/nope");
  expect_error(api_->last, 404, 1202);
  api_->get("/_db/streamforge/_api/document/nocol/k1");
  expect_error(api_->last, 404, 1203);
  insert("nocol", json::object{{"a", 1}});
  expect_error(api_->last, 404, 1203);

  // Keys: allowed characters only, 1..254 bytes, case-sensitive.
  for (std::string bad : {std::string("a b"), std::string("a/b"), std::string(""), std::string("ä"),
                          std::string(255, 'k'), std::string("a#b")}) {
    insert("docs", json::object{{"_key", bad}});
    expect_error(api_->last, 400, 1221);
  }
  insert("docs", json::object{{"_key", 12}});
  expect_error(api_->last, 400, 1221);
  insert("docs", json::object{{"_key", std::string(254, 'k')}});
  EXPECT_EQ(api_->last.status, 202);
  insert("docs", json::object{{"_key", "aZ09_-:.@()+,=;$!*'%"}});
  EXPECT_EQ(api_->last.status, 202) << api_->last.body;
  insert("docs", json::object{{"_key", "K1"}});
  EXPECT_EQ(api_->last.status, 202);
  insert("docs", json::array{1, 2}.at(0));
  expect_error(api_->last, 400, 1227);

  // Overwrite modes.
  insert("docs", json::object{{"_key", "k1"}, {"a", 2}});
  expect_error(api_->last, 409, 1210);
  insert("docs", json::object{{"_key", "k1"}, {"a", 2}}, "?overwriteMode=conflict");
  expect_error(api_->last, 409, 1210);
  r = insert("docs", json::object{{"_key", "k1"}, {"a", 2}}, "?overwriteMode=ignore");
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(r.at("_rev"), json::string(rev1));
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/k1").at("a"), 1);

  r = insert("docs", json::parse(R"({"_key":"k1","o":{"y":3,"z":4},"c":true})"),
             "?overwriteMode=update&returnOld=true&returnNew=true");
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(r.at("_oldRev"), json::string(rev1));
  std::string rev2(r.at("_rev").as_string());
  EXPECT_NE(rev2, rev1);
  EXPECT_EQ(r.at("old").at("a"), 1);
  d = api_->get("/_db/streamforge/_api/document/docs/k1");
  EXPECT_EQ(d.at("a"), 1);
  EXPECT_EQ(d.at("c"), true);
  EXPECT_EQ(d.at("o"), json::parse(R"({"x":1,"y":3,"z":4})"));  // objects merged
  EXPECT_EQ(r.at("new"), d);
  insert("docs", json::parse(R"({"_key":"k1","o":{"w":0}})"),
         "?overwriteMode=update&mergeObjects=false");
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/k1").at("o"), json::parse(R"({"w":0})"));

  r = insert("docs", json::object{{"_key", "k1"}, {"only", "this"}}, "?overwriteMode=replace");
  EXPECT_EQ(api_->last.status, 202);
  d = api_->get("/_db/streamforge/_api/document/docs/k1");
  EXPECT_EQ(d.at("only"), "this");
  EXPECT_FALSE(d.as_object().contains("a"));
  EXPECT_EQ(d.as_object().size(), 4u);  // _key _id _rev only
  insert("docs", json::object{{"_key", "k1"}, {"v", 9}}, "?overwrite=true");
  d = api_->get("/_db/streamforge/_api/document/docs/k1");
  EXPECT_EQ(d.at("v"), 9);
  EXPECT_FALSE(d.as_object().contains("only"));

  r = insert("docs", json::object{{"_key", "s1"}}, "?silent=true");
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(r, json::object{});

  // Single replace / update / delete by key.
  r = api_->call("PATCH", "/_db/streamforge/_api/document/docs/k1", json::object{{"w", 1}});
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/k1").at("v"), 9);
  api_->call("PUT", "/_db/streamforge/_api/document/docs/k1", json::object{{"w", 2}});
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_FALSE(api_->get("/_db/streamforge/_api/document/docs/k1").as_object().contains("v"));
  api_->call("PUT", "/_db/streamforge/_api/document/docs/nope", json::object{{"w", 2}});
  expect_error(api_->last, 404, 1202);
  EXPECT_EQ(api_->req("DELETE", "/_db/streamforge/_api/document/docs/k1").status, 202);
  api_->get("/_db/streamforge/_api/document/docs/k1");
  expect_error(api_->last, 404, 1202);
  auto del = api_->req("DELETE", "/_db/streamforge/_api/document/docs/k1");
  expect_error(del, 404, 1202);
}

TEST_F(ArangoDoubleTest, ArraysReportEachDocumentAndErrorCodes) {
  create("docs");
  insert("docs", json::object{{"_key", "a"}, {"v", 1}});
  json::value r =
      insert("docs", json::parse(R"([{"_key":"b","v":2},{"_key":"a","v":9},{"_key":"bad key"},
                                                  {"v":3},{"_key":"a"},42])"));
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), R"({"1210":2,"1221":1,"1227":1})");
  const json::array& a = r.as_array();
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[0].at("_key"), "b");
  EXPECT_EQ(a[1].at("error"), true);
  EXPECT_EQ(a[1].at("errorNum"), 1210);
  EXPECT_TRUE(a[1].at("errorMessage").is_string());
  EXPECT_EQ(a[2].at("errorNum"), 1221);
  EXPECT_TRUE(a[3].at("_key").is_string());
  EXPECT_EQ(a[4].at("errorNum"), 1210);
  EXPECT_EQ(a[5].at("errorNum"), 1227);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/a").at("v"), 1);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/b").at("v"), 2);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/docs/count").at("count"), 3);

  r = insert("docs", json::parse(R"([{"_key":"c"},{"_key":"d"}])"));
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), "");
  EXPECT_EQ(r.as_array().size(), 2u);

  r = insert("docs", json::parse(R"([{"_key":"a","w":1},{"_key":"e","w":1}])"),
             "?overwriteMode=update");
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), "");
  EXPECT_EQ(r.as_array()[0].at("_oldRev").is_string(), true);
  json::value da = api_->get("/_db/streamforge/_api/document/docs/a");
  EXPECT_EQ(da.at("v"), 1);
  EXPECT_EQ(da.at("w"), 1);

  // Reads of many keys: strings or {"_key"} objects.
  r = api_->call("PUT", "/_db/streamforge/_api/document/docs?onlyget=true",
                 json::parse(R"(["a",{"_key":"b"},"zz"])"));
  EXPECT_EQ(api_->last.status, 200);
  ASSERT_EQ(r.as_array().size(), 3u);
  EXPECT_EQ(r.as_array()[0].at("v"), 1);
  EXPECT_EQ(r.as_array()[1].at("v"), 2);
  EXPECT_EQ(r.as_array()[2].at("errorNum"), 1202);
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), R"({"1202":1})");

  r = api_->call("PATCH", "/_db/streamforge/_api/document/docs",
                 json::parse(R"([{"_key":"a","v":10},{"_key":"nope","v":1},{"v":1}])"));
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(r.as_array()[0].at("_key"), "a");
  EXPECT_EQ(r.as_array()[1].at("errorNum"), 1202);
  EXPECT_EQ(r.as_array()[2].at("error"), true);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/a").at("w"), 1);  // patched, kept w
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/a").at("v"), 10);

  // _rev preconditions only with ignoreRevs=false.
  std::string rev_a(api_->get("/_db/streamforge/_api/document/docs/a").at("_rev").as_string());
  r = api_->call("PATCH", "/_db/streamforge/_api/document/docs?ignoreRevs=false",
                 json::parse(R"([{"_key":"a","_rev":"stale","v":11}])"));
  EXPECT_EQ(r.as_array()[0].at("errorNum"), 1200);
  r = api_->call("PATCH", "/_db/streamforge/_api/document/docs",
                 json::parse(R"([{"_key":"a","_rev":"stale","v":11}])"));
  EXPECT_EQ(r.as_array()[0].at("_oldRev"), json::string(rev_a));

  r = api_->call("PUT", "/_db/streamforge/_api/document/docs",
                 json::parse(R"([{"_key":"a","only":1},{"_key":"nope"}])"));
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(r.as_array()[1].at("errorNum"), 1202);
  EXPECT_FALSE(api_->get("/_db/streamforge/_api/document/docs/a").as_object().contains("v"));

  r = api_->call("DELETE", "/_db/streamforge/_api/document/docs",
                 json::parse(R"(["a",{"_key":"b"},"nope"])"));
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(r.as_array()[0].at("_key"), "a");
  EXPECT_EQ(r.as_array()[1].at("_key"), "b");
  EXPECT_EQ(r.as_array()[2].at("errorNum"), 1202);
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), R"({"1202":1})");
  api_->get("/_db/streamforge/_api/document/docs/a");
  expect_error(api_->last, 404, 1202);
  r = api_->call("DELETE", "/_db/streamforge/_api/document/docs?waitForSync=true",
                 json::parse(R"(["c"])"));
  EXPECT_EQ(api_->last.status, 200);
}

TEST_F(ArangoDoubleTest, EdgesNeedFromAndTo) {
  create("edges", 3);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/edges").at("type"), 3);
  insert("edges", json::object{{"_from", "v/1"}});
  expect_error(api_->last, 400, 1233);
  insert("edges", json::object{{"_from", "v/1"}, {"_to", "nokey"}});
  expect_error(api_->last, 400, 1233);
  insert("edges", json::object{{"_from", "v/1"}, {"_to", 5}});
  expect_error(api_->last, 400, 1233);
  json::value r =
      insert("edges", json::parse(R"([{"_from":"v/1","_to":"w/2","x":1},{"_from":"v/1"}])"));
  EXPECT_EQ(r.as_array()[1].at("errorNum"), 1233);
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), R"({"1233":1})");
  json::value e = api_->get("/_db/streamforge/_api/document/edges/" +
                            std::string(r.as_array()[0].at("_key").as_string()));
  EXPECT_EQ(e.at("_from"), "v/1");
  EXPECT_EQ(e.at("_to"), "w/2");
  // A replace must keep them.
  std::string key(e.at("_key").as_string());
  api_->call("PUT", "/_db/streamforge/_api/document/edges/" + key, json::object{{"x", 2}});
  expect_error(api_->last, 400, 1233);
}

// The number after "\"name\":" in a JSON text, read with std::from_chars (exact).
double number_in(const std::string& text, const std::string& name) {
  const std::string tag = "\"" + name + "\":";
  const size_t at = text.find(tag);
  EXPECT_NE(at, std::string::npos) << name << " in " << text;
  if (at == std::string::npos) return 0;
  const char* first = text.data() + at + tag.size();
  double v = 0;
  auto [p, ec] = std::from_chars(first, text.data() + text.size(), v);
  EXPECT_TRUE(ec == std::errc()) << text.substr(at, 40);
  return v;
}

// ArangoDB parses a number with a fraction or an exponent correctly rounded (VelocyPack's
// parser uses atof) and prints doubles in a form that reads back the same: a stored double
// comes back bit for bit, from a document read and from AQL.
TEST_F(ArangoDoubleTest, DoublesComeBackBitForBit) {
  create("reals");
  const char* const texts[] = {"123456789.12345679",      "1.2345678912345679E8",
                               "0.30000000000000004",     "1e-300",
                               "1.7976931348623157e+308", "-0.3333333333333333",
                               "4.9406564584124654e-324", "0.010000000000000002"};
  std::string body = "{\"_key\":\"r\"";
  for (size_t i = 0; i < std::size(texts); ++i)
    body += ",\"x" + std::to_string(i) + "\":" + texts[i];
  body += "}";
  ASSERT_EQ(api_->req("POST", "/_db/streamforge/_api/document/reals", body).status, 202);
  const std::string doc = api_->req("GET", "/_db/streamforge/_api/document/reals/r").body;
  const std::string aql =
      api_->req("POST", "/_db/streamforge/_api/cursor",
                R"({"query":"FOR d IN reals FILTER d.x0 == 123456789.12345679 RETURN d"})")
          .body;
  for (size_t i = 0; i < std::size(texts); ++i) {
    SCOPED_TRACE(texts[i]);
    double want = 0;
    std::from_chars(texts[i], texts[i] + std::strlen(texts[i]), want);
    const std::string name = "x" + std::to_string(i);
    EXPECT_EQ(std::bit_cast<uint64_t>(number_in(doc, name)), std::bit_cast<uint64_t>(want));
    EXPECT_EQ(std::bit_cast<uint64_t>(number_in(aql, name)), std::bit_cast<uint64_t>(want));
  }
}

TEST_F(ArangoDoubleTest, ProtocolErrors) {
  create("docs");
  auto r = api_->req("POST", "/_db/streamforge/_api/document/docs", "{\"a\":");
  expect_error(r, 400, 600);
  r = api_->req("POST", "/_db/streamforge/_api/document/docs", "{\"a\":1,}");
  expect_error(r, 400, 600);
  r = api_->req("POST", "/_db/streamforge/_api/document/docs", "");
  expect_error(r, 400, 600);
  r = api_->req("POST", "/_db/streamforge/_api/cursor", "nope");
  expect_error(r, 400, 600);
  r = api_->req("GET", "/_api/nothing");
  expect_error(r, 404, 404);
  r = api_->req("GET", "/_db/streamforge/_api/document/docs/a/b");
  expect_error(r, 404, 404);
  r = api_->req("GET", "/nothing");
  expect_error(r, 404, 404);
  r = api_->req("PATCH", "/_api/version");
  expect_error(r, 405, 405);
  r = api_->req("GET", "/_db/streamforge/_api/cursor");
  expect_error(r, 405, 405);

  // Bodies over the limit: 413 (ArangoDB sends no body) and the connection closes.
  r = api_->req("POST", "/_db/streamforge/_api/document/docs",
                "{\"a\":\"" + std::string(1 << 20, 'x') + "\"}");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(api_->req("GET", "/_api/version").status, 200);
}

TEST_F(ArangoDoubleTest, StreamTransactionIsolationCommitAbort) {
  create("docs");
  create("other");
  auto begin = [&](const char* body) {
    json::value r =
        api_->call("POST", "/_db/streamforge/_api/transaction/begin", json::parse(body));
    EXPECT_EQ(api_->last.status, 201) << api_->last.body;
    EXPECT_EQ(r.at("result").at("status"), "running");
    return std::string(r.at("result").at("id").as_string());
  };
  // Commits (PUT) or aborts (DELETE) the transaction `id`.
  auto commit = [&](const std::string& id) {
    return api_->call("PUT", "/_db/streamforge/_api/transaction/" + id, nullptr);
  };
  auto abort_trx = [&](const std::string& id) {
    return api_->call("DELETE", "/_db/streamforge/_api/transaction/" + id, nullptr);
  };
  // The answer to finishing a transaction that was finished the other way (`how`): 400 1653.
  auto expect_already = [&](const std::string& how) {
    expect_error(api_->last, 400, 1653);
    EXPECT_NE(api_->last.body.find("transaction was already " + how), std::string::npos)
        << api_->last.body;
  };
  api_->call("POST", "/_db/streamforge/_api/transaction/begin",
             json::parse(R"({"collections":{"write":["nope"]}})"));
  expect_error(api_->last, 404, 1203);

  std::string t1 = begin(R"({"collections":{"write":["docs"]}})");
  EXPECT_FALSE(t1.empty());
  EXPECT_EQ(t1.find_first_not_of("0123456789"), std::string::npos);
  http::HeaderList in1{{"x-arango-trx-id", t1}};
  insert("docs", json::parse(R"([{"_key":"a","v":1},{"_key":"b","v":1}])"), "", in1);
  EXPECT_EQ(api_->last.status, 202);
  // Invisible outside, visible inside: GET, count and AQL.
  api_->get("/_db/streamforge/_api/document/docs/a");
  expect_error(api_->last, 404, 1202);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/a", in1).at("v"), 1);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/docs/count").at("count"), 0);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/docs/count", in1).at("count"), 2);
  EXPECT_EQ(query("FOR d IN docs RETURN d._key").size(), 0u);
  EXPECT_EQ(query("FOR d IN docs RETURN d._key", {}, in1), json::parse(R"(["a","b"])").as_array());

  // Writing an undeclared collection fails; reading one is allowed (allowImplicit).
  insert("other", json::object{{"x", 1}}, "", in1);
  expect_error(api_->last, 400, 1652);
  EXPECT_EQ(query("FOR d IN other RETURN d", {}, in1).size(), 0u);

  // Another writer of the same key: write-write conflict, in or outside a transaction.
  std::string t2 = begin(R"({"collections":{"write":"docs"}})");
  http::HeaderList in2{{"x-arango-trx-id", t2}};
  insert("docs", json::object{{"_key", "a"}, {"v", 2}}, "", in2);
  expect_error(api_->last, 409, 1200);
  insert("docs", json::object{{"_key", "a"}, {"v", 3}});
  expect_error(api_->last, 409, 1200);
  json::value arr = insert("docs", json::parse(R"([{"_key":"b"},{"_key":"c"}])"), "", in2);
  EXPECT_EQ(arr.as_array()[0].at("errorNum"), 1200);
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), R"({"1200":1})");

  json::value c = commit(t1);
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(c, json::parse(R"({"error":false,"code":200,"result":{"id":")" + t1 +
                           R"(","status":"committed"}})"));
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/a").at("v"), 1);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/docs/count").at("count"), 2);
  // t2 began before the commit: its snapshot does not have a or b, and writing them now
  // conflicts; c (its own) it sees.
  api_->get("/_db/streamforge/_api/document/docs/a", in2);
  expect_error(api_->last, 404, 1202);
  EXPECT_EQ(query("FOR d IN docs RETURN d._key", {}, in2), json::parse(R"(["c"])").as_array());
  insert("docs", json::object{{"_key", "a"}}, "?overwriteMode=replace", in2);
  expect_error(api_->last, 409, 1200);

  // Abort discards t2's writes; committing, aborting again behave as documented.
  json::value a = abort_trx(t2);
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(a.at("result").at("status"), "aborted");
  api_->get("/_db/streamforge/_api/document/docs/c");
  expect_error(api_->last, 404, 1202);
  abort_trx(t2);
  EXPECT_EQ(api_->last.status, 200);  // idempotent
  // The other one: ERROR_TRANSACTION_DISALLOWED_OPERATION, which ArangoDB answers with 400
  // (lib/Rest/GeneralResponse.cpp; the HTTP API page says 409).
  commit(t2);
  expect_already("aborted");
  commit(t1);
  EXPECT_EQ(api_->last.status, 200);  // idempotent
  abort_trx(t1);
  expect_already("committed");
  EXPECT_EQ(api_->get("/_db/streamforge/_api/transaction/" + t1).at("result").at("status"),
            "committed");

  // A finished or unknown transaction id on a request: 404 1655.
  insert("docs", json::object{{"x", 1}}, "", in1);
  expect_error(api_->last, 404, 1655);
  insert("docs", json::object{{"x", 1}}, "", {{"x-arango-trx-id", "12345"}});
  expect_error(api_->last, 404, 1655);
  commit("12345");
  expect_error(api_->last, 404, 1655);
  EXPECT_NE(api_->last.body.find("transaction 12345 not found on commit operation"),
            std::string::npos)
      << api_->last.body;
  api_->get("/_db/_system/_api/transaction/" + t1);  // another database's
  expect_error(api_->last, 404, 1655);

  // Commit applies a transaction's inserts, replaces and removes at once.
  std::string t3 = begin(R"({"collections":{"exclusive":["docs"]}})");
  http::HeaderList in3{{"x-arango-trx-id", t3}};
  api_->call("DELETE", "/_db/streamforge/_api/document/docs", json::parse(R"(["a"])"), in3);
  insert("docs", json::object{{"_key", "b"}, {"v", 5}}, "?overwriteMode=replace", in3);
  insert("docs", json::object{{"_key", "n"}}, "", in3);
  EXPECT_EQ(query("FOR d IN docs SORT d._key RETURN d._key"),
            json::parse(R"(["a","b"])").as_array());
  commit(t3);
  EXPECT_EQ(query("FOR d IN docs SORT d._key RETURN d._key"),
            json::parse(R"(["b","n"])").as_array());
  EXPECT_EQ(api_->get("/_db/streamforge/_api/document/docs/b").at("v"), 5);
}

class ArangoDoubleShortTrxTest : public ArangoDoubleTest {
 protected:
  ArangoDoubleShortTrxTest() { trx_timeout_ = 300ms; }
};

TEST_F(ArangoDoubleShortTrxTest, IdleTransactionIsAborted) {
  create("docs");
  json::value r = api_->call("POST", "/_db/streamforge/_api/transaction/begin",
                             json::parse(R"({"collections":{"write":["docs"]}})"));
  std::string id(r.at("result").at("id").as_string());
  http::HeaderList in{{"x-arango-trx-id", id}};
  insert("docs", json::object{{"_key", "a"}}, "", in);
  EXPECT_EQ(api_->last.status, 202);
  std::this_thread::sleep_for(150ms);
  insert("docs", json::object{{"_key", "b"}}, "", in);  // in use: the idle clock restarts
  EXPECT_EQ(api_->last.status, 202);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/transaction/" + id).at("result").at("status"),
            "running");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/transaction/" + id).at("result").at("status"),
            "aborted");
  insert("docs", json::object{{"_key", "c"}}, "", in);
  expect_error(api_->last, 404, 1655);
  EXPECT_NE(api_->last.body.find("transaction '" + id + "' not found"), std::string::npos)
      << api_->last.body;
  // Committing it: "already expired"; aborting it again is fine.
  api_->call("PUT", "/_db/streamforge/_api/transaction/" + id, nullptr);
  expect_error(api_->last, 400, 1653);
  EXPECT_NE(api_->last.body.find("transaction was already expired"), std::string::npos)
      << api_->last.body;
  api_->call("DELETE", "/_db/streamforge/_api/transaction/" + id, nullptr);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/docs/count").at("count"), 0);
  insert("docs", json::object{{"_key", "a"}});  // its lock is gone
  EXPECT_EQ(api_->last.status, 202);
}

// A finished transaction answers commit/abort/status for finished_trx_ttl, then is gone;
// one idle past its timeout is aborted and then forgotten the same way.
class ArangoDoubleShortTombstoneTest : public ArangoDoubleTest {
 protected:
  ArangoDoubleShortTombstoneTest() {
    trx_timeout_ = 600ms;
    finished_trx_ttl_ = 1000ms;
  }
};

TEST_F(ArangoDoubleShortTombstoneTest, FinishedTransactionsAreForgottenAfterTheirTtl) {
  create("docs");
  auto begin = [&] {
    json::value r = api_->call("POST", "/_db/streamforge/_api/transaction/begin",
                               json::parse(R"({"collections":{"write":["docs"]}})"));
    return std::string(r.at("result").at("id").as_string());
  };
  const std::string committed = begin();
  api_->call("PUT", "/_db/streamforge/_api/transaction/" + committed, nullptr);
  EXPECT_EQ(api_->last.status, 200);
  const std::string idle = begin();
  std::this_thread::sleep_for(700ms);  // idle past 600 ms: aborted at the next request
  EXPECT_EQ(api_->get("/_db/streamforge/_api/transaction/" + idle).at("result").at("status"),
            "aborted");
  // Still known: commit is idempotent, abort after commit is 400 1653.
  api_->call("PUT", "/_db/streamforge/_api/transaction/" + committed, nullptr);
  EXPECT_EQ(api_->last.status, 200);
  api_->call("DELETE", "/_db/streamforge/_api/transaction/" + committed, nullptr);
  expect_error(api_->last, 400, 1653);
  std::this_thread::sleep_for(650ms);  // committed about 1350 ms ago, aborted about 650 ms ago
  api_->get("/_db/streamforge/_api/transaction/" + committed);
  expect_error(api_->last, 404, 1655);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/transaction/" + idle).at("result").at("status"),
            "aborted");
  std::this_thread::sleep_for(700ms);
  api_->get("/_db/streamforge/_api/transaction/" + idle);
  expect_error(api_->last, 404, 1655);
}

// The stream-transaction size limit (ArangoDB: 128 MiB in 3.11, the startup option
// --transaction.streaming-max-transaction-size from 3.12), small here.
class ArangoDoubleSmallTrxTest : public ArangoDoubleTest {
 protected:
  ArangoDoubleSmallTrxTest() { trx_max_bytes_ = 4000; }

  std::string begin(const std::string& body = R"({"collections":{"write":["docs"]}})") {
    json::value r =
        api_->call("POST", "/_db/streamforge/_api/transaction/begin", json::parse(body));
    EXPECT_EQ(api_->last.status, 201) << api_->last.body;
    return std::string(r.at("result").at("id").as_string());
  }
};

TEST_F(ArangoDoubleSmallTrxTest, WritesPastTheSizeLimitAreRefusedWithErrorNum32) {
  create("docs");
  create("other");
  // What the double counts: the stored document's JSON (system attributes included).
  const std::string pad(300, 'p');
  auto key = [](int i) { return "k" + std::to_string(100 + i); };
  const size_t doc_bytes = json::serialize(json::object{{"_key", key(0)},
                                                        {"_id", "docs/" + key(0)},
                                                        {"_rev", std::string(11, 'r')},
                                                        {"p", pad}})
                               .size();
  const size_t fit = 4000 / doc_bytes;
  ASSERT_GT(fit, 1u);
  ASSERT_LT(fit, 20u);
  json::array docs;
  for (int i = 0; i < 20; ++i) docs.push_back(json::object{{"_key", key(i)}, {"p", pad}});

  const std::string t = begin();
  http::HeaderList in{{"x-arango-trx-id", t}};
  // An array: the entries up to the limit are written, the rest fail with 32, each
  // reported in place (HTTP 202 and X-Arango-Error-Codes, as for any per-document error).
  json::value r = insert("docs", docs, "", in);
  EXPECT_EQ(api_->last.status, 202) << api_->last.body;
  ASSERT_TRUE(r.is_array());
  ASSERT_EQ(r.as_array().size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    const json::object& e = r.as_array()[i].as_object();
    if (i < fit) {
      EXPECT_FALSE(e.contains("error")) << i << ": " << json::serialize(e);
    } else {
      EXPECT_EQ(e.at("errorNum"), 32) << i;
      EXPECT_EQ(e.at("errorMessage"), "Maximal transaction size limit of 4000 bytes is reached");
    }
  }
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"),
            R"({"32":)" + std::to_string(20 - fit) + "}");
  // Every later write of the transaction, however small, is refused: a single document
  // answers 500 (ERROR_RESOURCE_LIMIT is not in ArangoDB's status table).
  insert("docs", json::object{{"_key", "tiny"}}, "", in);
  expect_error(api_->last, 500, 32);
  api_->call("DELETE", "/_db/streamforge/_api/document/docs", json::parse(R"(["k100"])"), in);
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), R"({"32":1})");
  // Reads go on; writes outside a stream transaction are not limited.
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/docs/count", in).at("count"), fit);
  insert("other", docs);
  EXPECT_EQ(api_->last.header("X-Arango-Error-Codes"), "");
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/other/count").at("count"), 20);
  // The transaction is not aborted: commit stores what was accepted.
  api_->call("PUT", "/_db/streamforge/_api/transaction/" + t, nullptr);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/docs/count").at("count"), fit);

  // maxTransactionSize lowers the limit for one transaction, never raises it.
  for (const auto& [max, want] : {std::pair<int64_t, size_t>{1000, 1000 / doc_bytes},
                                  std::pair<int64_t, size_t>{1'000'000'000, fit}}) {
    const std::string small = begin(R"({"collections":{"write":["docs"]},"maxTransactionSize":)" +
                                    std::to_string(max) + "}");
    json::array more;
    for (int i = 20; i < 40; ++i) more.push_back(json::object{{"_key", key(i)}, {"p", pad}});
    r = insert("docs", more, "", {{"x-arango-trx-id", small}});
    size_t ok = 0;
    for (const auto& e : r.as_array()) ok += !e.as_object().contains("error");
    EXPECT_EQ(ok, want) << "maxTransactionSize " << max;
    api_->call("DELETE", "/_db/streamforge/_api/transaction/" + small, nullptr);
  }
}

TEST_F(ArangoDoubleTest, CursorTtlCountsFromTheLastUse) {
  create("docs");
  for (int i = 1; i <= 5; ++i) insert("docs", json::object{{"_key", "k" + std::to_string(i)}});
  json::value r =
      cursor(json::parse(R"({"query":"FOR d IN docs RETURN d._key","batchSize":1,"ttl":1})"));
  const std::string shortlived(r.at("id").as_string());
  r = cursor(json::parse(R"({"query":"FOR d IN docs RETURN d._key","batchSize":1,"ttl":30})"));
  const std::string longlived(r.at("id").as_string());
  // Each use restarts the ttl: 1.2 s after creation it still answers.
  std::this_thread::sleep_for(600ms);
  api_->call("POST", "/_db/streamforge/_api/cursor/" + shortlived, nullptr);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  std::this_thread::sleep_for(600ms);
  api_->call("POST", "/_db/streamforge/_api/cursor/" + shortlived, nullptr);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  std::this_thread::sleep_for(1500ms);
  api_->call("POST", "/_db/streamforge/_api/cursor/" + shortlived, nullptr);
  expect_error(api_->last, 404, 1600);
  r = api_->call("POST", "/_db/streamforge/_api/cursor/" + longlived, nullptr);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(r.at("result"), json::parse(R"(["k2"])"));
}

TEST_F(ArangoDoubleTest, CursorPaging) {
  create("docs");
  for (int i = 1; i <= 5; ++i)
    insert("docs", json::object{{"_key", "k" + std::to_string(i)}, {"i", i}});
  json::value r = cursor(json::parse(
      R"({"query":"FOR d IN @@c SORT d.i RETURN d.i","bindVars":{"@c":"docs"},"batchSize":2,"count":true})"));
  ASSERT_EQ(api_->last.status, 201) << api_->last.body;
  EXPECT_EQ(r.at("error"), false);
  EXPECT_EQ(r.at("code"), 201);
  EXPECT_EQ(r.at("result"), json::parse("[1,2]"));
  EXPECT_EQ(r.at("hasMore"), true);
  EXPECT_EQ(r.at("count"), 5);
  EXPECT_EQ(r.at("cached"), false);
  EXPECT_TRUE(r.at("extra").at("stats").is_object());
  std::string id(r.at("id").as_string());
  r = api_->call("POST", "/_db/streamforge/_api/cursor/" + id, nullptr);
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(r.at("result"), json::parse("[3,4]"));
  EXPECT_EQ(r.at("hasMore"), true);
  EXPECT_EQ(r.at("id"), json::string(id));
  r = api_->call("PUT", "/_db/streamforge/_api/cursor/" + id, nullptr);  // PUT still accepted
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(r.at("result"), json::parse("[5]"));
  EXPECT_EQ(r.at("hasMore"), false);
  EXPECT_FALSE(r.as_object().contains("id"));
  api_->call("POST", "/_db/streamforge/_api/cursor/" + id, nullptr);
  expect_error(api_->last, 404, 1600);

  // One batch: no id. DELETE of a live cursor: 202, then gone.
  r = cursor(json::parse(R"({"query":"FOR d IN docs RETURN d"})"));
  EXPECT_EQ(r.at("hasMore"), false);
  EXPECT_FALSE(r.as_object().contains("id"));
  EXPECT_FALSE(r.as_object().contains("count"));
  EXPECT_EQ(r.at("result").as_array().size(), 5u);
  r = cursor(json::parse(R"({"query":"FOR d IN docs RETURN d","batchSize":1})"));
  id = std::string(r.at("id").as_string());
  json::value del = api_->call("DELETE", "/_db/streamforge/_api/cursor/" + id, nullptr);
  EXPECT_EQ(api_->last.status, 202);
  EXPECT_EQ(del.at("id"), json::string(id));
  api_->call("PUT", "/_db/streamforge/_api/cursor/" + id, nullptr);
  expect_error(api_->last, 404, 1600);
  cursor(json::parse(R"({"query":"FOR d IN docs RETURN d","batchSize":0})"));
  expect_error(api_->last, 400, 10);

  // ttl: an idle cursor expires.
  r = cursor(json::parse(R"({"query":"FOR d IN docs RETURN d","batchSize":1,"ttl":0.2})"));
  id = std::string(r.at("id").as_string());
  std::this_thread::sleep_for(400ms);
  api_->call("POST", "/_db/streamforge/_api/cursor/" + id, nullptr);
  expect_error(api_->last, 404, 1600);
}

TEST_F(ArangoDoubleTest, AqlFiltersSortLimitCountOverMixedTypes) {
  create("m");
  // Values of every type under "v" (and one document without it).
  json::array docs = json::parse(R"([
    {"_key":"obj","v":{"a":1}}, {"_key":"arr2","v":[1,2]}, {"_key":"arr1","v":[1]},
    {"_key":"sB","v":"B"}, {"_key":"sa","v":"a"}, {"_key":"s10","v":"10"},
    {"_key":"n10","v":10}, {"_key":"n25","v":2.5}, {"_key":"nm1","v":-1},
    {"_key":"t","v":true}, {"_key":"f","v":false}, {"_key":"null","v":null}, {"_key":"missing"}])")
                         .as_array();
  insert("m", docs);
  ASSERT_EQ(api_->last.header("X-Arango-Error-Codes"), "");
  // AQL's type order; a missing attribute is null; SORT is stable (nulls in key order here
  // because the scan is by key, which the test does not rely on: it checks the set).
  json::array sorted = query("FOR d IN m SORT d.v RETURN d._key");
  ASSERT_EQ(sorted.size(), 13u);
  std::set<std::string> first_two{std::string(sorted[0].as_string()),
                                  std::string(sorted[1].as_string())};
  EXPECT_EQ(first_two, (std::set<std::string>{"missing", "null"}));
  std::vector<std::string> rest;
  for (size_t i = 2; i < sorted.size(); ++i) rest.emplace_back(sorted[i].as_string());
  EXPECT_EQ(rest, (std::vector<std::string>{"f", "t", "nm1", "n25", "n10", "s10", "sB", "sa",
                                            "arr1", "arr2", "obj"}));
  json::array desc = query("FOR d IN m SORT d.v DESC LIMIT 3 RETURN d._key");
  EXPECT_EQ(desc, json::parse(R"(["obj","arr2","arr1"])").as_array());

  EXPECT_EQ(query("FOR d IN m FILTER d.v == 10 RETURN d._key"),
            json::parse(R"(["n10"])").as_array());
  EXPECT_EQ(query("FOR d IN m FILTER d.v == 10.0 RETURN d._key"),
            json::parse(R"(["n10"])").as_array());
  EXPECT_EQ(query("FOR d IN m FILTER d.v == \"10\" RETURN d._key"),
            json::parse(R"(["s10"])").as_array());
  EXPECT_EQ(query("FOR d IN m FILTER d.v == null SORT d._key RETURN d._key"),
            json::parse(R"(["missing","null"])").as_array());
  EXPECT_EQ(query("for d in m filter d.v > 'a' sort d._key return d._key"),  // keywords any case
            json::parse(R"(["arr1","arr2","obj"])").as_array());
  EXPECT_EQ(query("FOR d IN m FILTER d.v >= -1 AND d.v < @hi SORT d.v RETURN d.v",
                  json::object{{"hi", 10}}),
            json::parse("[-1,2.5]").as_array());
  EXPECT_EQ(query("FOR d IN m FILTER d.v != null FILTER d.v <= true SORT d.v RETURN d._key"),
            json::parse(R"(["f","t"])").as_array());
  EXPECT_EQ(
      query("FOR d IN m FILTER d.v == @v RETURN d._key", json::object{{"v", json::parse("[1,2]")}}),
      json::parse(R"(["arr2"])").as_array());
  EXPECT_EQ(query("FOR d IN m FILTER d.v.a == 1 RETURN d._key"),
            json::parse(R"(["obj"])").as_array());
  EXPECT_EQ(query("FOR d IN m SORT d._key LIMIT 2, 3 RETURN d._key"),
            json::parse(R"(["f","missing","n10"])").as_array());
  EXPECT_EQ(
      query("FOR d IN m SORT d._key LIMIT @o, @n RETURN d._key", json::object{{"o", 11}, {"n", 5}}),
      json::parse(R"(["sa","t"])").as_array());  // keys by bytes: "sB" < "sa"
  EXPECT_EQ(query("FOR d IN m SORT d._key LIMIT 1 RETURN d._key"),
            json::parse(R"(["arr1"])").as_array());
  EXPECT_EQ(query("FOR d IN m SORT d.v ASC, d._key DESC LIMIT 2 RETURN d._key"),
            json::parse(R"(["null","missing"])").as_array());
  EXPECT_EQ(query("FOR d IN m COLLECT WITH COUNT INTO n RETURN n"), json::parse("[13]").as_array());
  EXPECT_EQ(query("FOR d IN @@c FILTER d.v == true COLLECT WITH COUNT INTO total RETURN total",
                  json::object{{"@c", "m"}}),
            json::parse("[1]").as_array());
  json::array whole = query("FOR d IN m FILTER d._key == 'obj' RETURN d");
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].at("_id"), "m/obj");
  EXPECT_EQ(whole[0].at("v"), json::parse(R"({"a":1})"));

  // Errors: syntax, bind parameters, collections.
  cursor(json::parse(R"({"query":"FOR d IN m FILTER d.v == 1 OR d.v == 2 RETURN d"})"));
  expect_error(api_->last, 400, 1501);
  cursor(json::parse(R"x({"query":"FOR d IN m RETURN LENGTH(d)"})x"));
  expect_error(api_->last, 400, 1501);
  cursor(json::parse(R"({"query":"INSERT {} INTO m"})"));
  expect_error(api_->last, 400, 1501);
  cursor(json::parse(R"({"query":"   "})"));
  expect_error(api_->last, 400, 1502);
  cursor(json::parse(R"({"query":"FOR d IN m FILTER d.v == @x RETURN d"})"));
  expect_error(api_->last, 400, 1551);
  cursor(json::parse(R"({"query":"FOR d IN m RETURN d","bindVars":{"x":1}})"));
  expect_error(api_->last, 400, 1552);
  cursor(json::parse(R"({"query":"FOR d IN @@c RETURN d","bindVars":{"@c":5}})"));
  expect_error(api_->last, 400, 1553);
  cursor(json::parse(R"({"query":"FOR d IN @@c RETURN d","bindVars":{"@c":"nope"}})"));
  expect_error(api_->last, 404, 1203);
  cursor(json::parse(R"({"query":"FOR d IN nope RETURN d"})"));
  expect_error(api_->last, 404, 1203);
  cursor(json::parse(R"({"query":"FOR d IN m RETURN d","bindVars":[1]})"));
  expect_error(api_->last, 400, 1550);
}

TEST_F(ArangoDoubleTest, GharialGraphs) {
  create("cells");  // an existing vertex collection is reused
  json::value r = api_->call("POST", "/_db/streamforge/_api/gharial", json::parse(R"({
      "name":"market","edgeDefinitions":[{"collection":"links","from":["symbols","cells"],"to":["cells"]}],
      "orphanCollections":["lonely"]})"));
  ASSERT_EQ(api_->last.status, 202) << api_->last.body;
  EXPECT_EQ(r.at("error"), false);
  EXPECT_EQ(r.at("code"), 202);
  const json::value& g = r.at("graph");
  EXPECT_EQ(g.at("name"), "market");
  EXPECT_EQ(g.at("_id"), "_graphs/market");
  EXPECT_EQ(g.at("edgeDefinitions"),
            json::parse(R"([{"collection":"links","from":["cells","symbols"],"to":["cells"]}])"));
  EXPECT_EQ(g.at("orphanCollections"), json::parse(R"(["lonely"])"));
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/links").at("type"), 3);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/symbols").at("type"), 2);
  EXPECT_EQ(api_->get("/_db/streamforge/_api/collection/lonely").at("type"), 2);

  json::value got = api_->get("/_db/streamforge/_api/gharial/market");
  EXPECT_EQ(api_->last.status, 200);
  EXPECT_EQ(got.at("graph"), g);
  json::value list = api_->get("/_db/streamforge/_api/gharial");
  EXPECT_EQ(list.at("graphs").as_array().size(), 1u);
  EXPECT_EQ(list.at("graphs").as_array()[0].at("name"), "market");

  api_->call("POST", "/_db/streamforge/_api/gharial", json::parse(R"({"name":"market"})"));
  expect_error(api_->last, 409, 1925);
  api_->get("/_db/streamforge/_api/gharial/nope");
  expect_error(api_->last, 404, 1924);
  api_->call("POST", "/_db/streamforge/_api/gharial", json::parse(R"({"edgeDefinitions":[]})"));
  expect_error(api_->last, 400, 1922);
  api_->call(
      "POST", "/_db/streamforge/_api/gharial",
      json::parse(
          R"({"name":"g2","edgeDefinitions":[{"collection":"cells","from":["a"],"to":["b"]}]})"));
  expect_error(api_->last, 400, 1944);
  api_->call(
      "POST", "/_db/streamforge/_api/gharial",
      json::parse(R"({"name":"g3","edgeDefinitions":[{"collection":"e","from":"a","to":["b"]}]})"));
  expect_error(api_->last, 400, 1923);
}

TEST_F(ArangoDoubleTest, FaultInjectionAndRequestLog) {
  server_->clear_requests();
  server_->fail_next(2);
  expect_error(api_->req("GET", "/_api/version"), 503, 503);
  expect_error(api_->req("GET", "/_api/version"), 503, 503);
  EXPECT_EQ(api_->req("GET", "/_api/version").status, 200);
  server_->fail_next(1, 500, 4);
  expect_error(api_->req("GET", "/_api/version"), 500, 4);

  server_->delay_next(1, 300ms);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api_->req("GET", "/_api/version").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api_->req("GET", "/_api/version").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);

  // A fresh connection each (the Client retries once on a reused one the server closed).
  auto fresh = [&] { return Api(server_->base_url(), basic("root", kPassword)); };
  server_->drop_next(1);
  auto dropped = fresh().raw("GET", "/_api/version?x=1");
  EXPECT_FALSE(dropped.ok());  // the connection closed without an answer
  EXPECT_EQ(api_->req("GET", "/_api/version").status, 200);

  auto log = server_->requests();
  ASSERT_GE(log.size(), 8u);
  EXPECT_EQ(log.front(), "GET /_api/version");
  EXPECT_NE(std::find(log.begin(), log.end(), "GET /_api/version?x=1"), log.end());
  server_->clear_requests();
  EXPECT_TRUE(server_->requests().empty());

  // The same over HTTP (double-only, same auth, not counted or logged).
  Api none(server_->base_url(), "");
  expect_error(none.req("POST", "/_double/faults", R"({"fail":1})"), 401, 11);
  api_->call("POST", "/_double/faults", json::parse(R"({"fail":1,"status":503,"errorNum":503})"));
  EXPECT_EQ(api_->last.status, 200);
  expect_error(api_->req("GET", "/_api/version"), 503, 503);
  api_->call("POST", "/_double/faults", json::parse(R"({"delay_ms":200,"count":1})"));
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(api_->req("GET", "/_api/version").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  api_->call("POST", "/_double/faults", json::parse(R"({"drop":1})"));
  EXPECT_FALSE(fresh().raw("GET", "/_api/version").ok());
  json::value reqs = api_->get("/_double/requests");
  EXPECT_EQ(reqs.at("requests").as_array().size(), 3u);
  api_->call("POST", "/_double/faults", json::parse(R"({"fail":"x"})"));
  expect_error(api_->last, 400, 400);
}

// /_api/index: persistent indexes as metadata, with ArangoDB 3.11's answers (201 new,
// 200 identical, the primary and edge indexes listed first, errors as documented).
TEST_F(ArangoDoubleTest, PersistentIndexesAreCreatedListedAndDropped) {
  create("events");
  const std::string base = "/_db/streamforge/_api/index";
  json::value list = api_->get(base + "?collection=events");
  ASSERT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(list.at("error"), false);
  EXPECT_EQ(list.at("code"), 200);
  ASSERT_EQ(list.at("indexes").as_array().size(), 1u);
  const json::value& primary = list.at("indexes").as_array()[0];
  EXPECT_EQ(primary.at("type"), "primary");
  EXPECT_EQ(primary.at("id"), "events/0");
  EXPECT_EQ(primary.at("fields"), json::parse(R"(["_key"])"));
  EXPECT_EQ(primary.at("unique"), true);
  EXPECT_EQ(list.at("identifiers").at("events/0"), primary);

  json::value made = api_->call("POST", base + "?collection=events",
                                json::parse(R"({"type":"persistent","fields":["queue_id","_key"],
                                                "unique":false,"sparse":false})"));
  ASSERT_EQ(api_->last.status, 201) << api_->last.body;
  EXPECT_EQ(made.at("isNewlyCreated"), true);
  EXPECT_EQ(made.at("error"), false);
  EXPECT_EQ(made.at("code"), 201);
  EXPECT_EQ(made.at("type"), "persistent");
  EXPECT_EQ(made.at("fields"), json::parse(R"(["queue_id","_key"])"));
  EXPECT_EQ(made.at("unique"), false);
  EXPECT_EQ(made.at("sparse"), false);
  EXPECT_EQ(made.at("deduplicate"), true);
  EXPECT_EQ(made.at("estimates"), true);
  EXPECT_EQ(made.at("cacheEnabled"), false);
  const std::string handle(made.at("id").as_string());
  ASSERT_EQ(handle.rfind("events/", 0), 0u);
  const std::string id = handle.substr(7);
  EXPECT_EQ(std::string(made.at("name").as_string()).rfind("idx_", 0), 0u);

  // The same definition again: 200, the existing index (unique/sparse default to false).
  json::value again =
      api_->call("POST", base + "?collection=events",
                 json::parse(R"({"type":"persistent","fields":["queue_id","_key"]})"));
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(again.at("isNewlyCreated"), false);
  EXPECT_EQ(again.at("id"), json::string(handle));
  EXPECT_EQ(again.at("code"), 200);
  // Other fields order, sparsity, a name, the hash alias: new indexes.
  api_->call("POST", base + "?collection=events",
             json::parse(R"({"type":"persistent","fields":["_key","queue_id"]})"));
  EXPECT_EQ(api_->last.status, 201) << api_->last.body;
  api_->call("POST", base + "?collection=events",
             json::parse(R"({"type":"persistent","fields":["queue_id","_key"],"sparse":true})"));
  EXPECT_EQ(api_->last.status, 201) << api_->last.body;
  json::value named =
      api_->call("POST", base + "?collection=events",
                 json::parse(R"({"type":"persistent","fields":["batch"],"name":"by_batch"})"));
  EXPECT_EQ(api_->last.status, 201) << api_->last.body;
  EXPECT_EQ(named.at("name"), "by_batch");
  json::value alias = api_->call("POST", base + "?collection=events",
                                 json::parse(R"({"type":"hash","fields":["timestamp"]})"));
  EXPECT_EQ(api_->last.status, 201) << api_->last.body;
  EXPECT_EQ(alias.at("type"), "persistent");

  list = api_->get(base + "?collection=events");
  ASSERT_EQ(list.at("indexes").as_array().size(), 6u);
  EXPECT_EQ(list.at("indexes").as_array()[1].at("id"), json::string(handle));
  EXPECT_EQ(list.at("identifiers").as_object().size(), 6u);
  EXPECT_FALSE(list.at("indexes").as_array()[1].as_object().contains("isNewlyCreated"));
  json::value one = api_->get(base + "/events/" + id);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(one.at("fields"), json::parse(R"(["queue_id","_key"])"));
  EXPECT_EQ(api_->get(base + "/events/by_batch").at("fields"), json::parse(R"(["batch"])"));

  // Refused definitions: 400 errorNum 10 (bad parameter), 1208 for an illegal name, 1207 for
  // a taken one; unknown collections 404 1203; a body that is not JSON 400 600.
  for (const char* bad :
       {R"({"type":"nope","fields":["a"]})", R"({"fields":["a"]})", R"({"type":"persistent"})",
        R"({"type":"persistent","fields":[]})", R"({"type":"persistent","fields":"a"})",
        R"({"type":"persistent","fields":[1]})", R"({"type":"persistent","fields":["_id"]})",
        R"({"type":"persistent","fields":["a._id"]})", R"({"type":"persistent","fields":["a",""]})",
        R"({"type":"persistent","fields":["a","a"]})",
        R"({"type":"persistent","fields":["a"],"unique":true})", R"({"type":"geo","fields":["a"]})",
        R"([1])"}) {
    api_->call("POST", base + "?collection=events", json::parse(bad));
    expect_error(api_->last, 400, 10);
  }
  api_->call("POST", base + "?collection=events",
             json::parse(R"({"type":"persistent","fields":["x"],"name":"9lives"})"));
  expect_error(api_->last, 400, 1208);
  api_->call("POST", base + "?collection=events",
             json::parse(R"({"type":"persistent","fields":["y"],"name":"by_batch"})"));
  expect_error(api_->last, 400, 1207);
  api_->call("POST", base + "?collection=nope",
             json::parse(R"({"type":"persistent","fields":["a"]})"));
  expect_error(api_->last, 404, 1203);
  api_->call("POST", base, json::parse(R"({"type":"persistent","fields":["a"]})"));
  expect_error(api_->last, 404, 1203);
  expect_error(api_->req("POST", base + "?collection=events", "{nope"), 400, 600);
  api_->get(base + "?collection=nope");
  expect_error(api_->last, 404, 1203);
  api_->get(base + "/events/424242");
  expect_error(api_->last, 404, 1212);

  // Drop: 200 with the handle, then it is gone; the primary index cannot be dropped.
  json::value dropped = api_->call("DELETE", base + "/events/" + id, nullptr);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  EXPECT_EQ(dropped.at("id"), json::string(handle));
  EXPECT_EQ(dropped.at("error"), false);
  api_->call("DELETE", base + "/events/" + id, nullptr);
  expect_error(api_->last, 404, 1212);
  EXPECT_EQ(api_->get(base + "?collection=events").at("indexes").as_array().size(), 5u);
  api_->call("DELETE", base + "/events/by_batch", nullptr);
  EXPECT_EQ(api_->last.status, 200) << api_->last.body;
  api_->call("DELETE", base + "/events/0", nullptr);
  expect_error(api_->last, 403, 11);
  api_->call("DELETE", base + "/events", nullptr);
  expect_error(api_->last, 400, 400);
  api_->call("DELETE", base + "/nope/1", nullptr);
  expect_error(api_->last, 404, 1203);

  // Metadata only: queries over indexed attributes answer as before.
  insert("events", json::parse(R"([{"queue_id":"q","n":1},{"queue_id":"r","n":2}])"));
  EXPECT_EQ(query("FOR d IN events FILTER d.queue_id == @q RETURN d.n", {{"q", "q"}}),
            json::parse("[1]").as_array());

  // Edge collections list their edge index; a dropped and re-created collection has none.
  create("links", 3);
  list = api_->get(base + "?collection=links");
  ASSERT_EQ(list.at("indexes").as_array().size(), 2u);
  EXPECT_EQ(list.at("indexes").as_array()[1].at("type"), "edge");
  EXPECT_EQ(list.at("indexes").as_array()[1].at("fields"), json::parse(R"(["_from","_to"])"));
  api_->call("DELETE", "/_db/streamforge/_api/collection/events", nullptr);
  create("events");
  EXPECT_EQ(api_->get(base + "?collection=events").at("indexes").as_array().size(), 1u);
}

}  // namespace
}  // namespace sf::testing
