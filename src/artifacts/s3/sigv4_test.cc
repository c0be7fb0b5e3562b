#include "artifacts/s3/sigv4.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace sf::artifacts::s3 {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int from_hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && from_hex(s[i + 1]) >= 0 && from_hex(s[i + 2]) >= 0) {
      r += static_cast<char>(from_hex(s[i + 1]) * 16 + from_hex(s[i + 2]));
      i += 2;
    } else {
      r += s[i];
    }
  }
  return r;
}

int64_t parse_iso(const std::string& t) {  // "2015-08-30T12:36:00Z"
  tm u{};
  std::istringstream in(t);
  in >> std::get_time(&u, "%Y-%m-%dT%H:%M:%SZ");
  return static_cast<int64_t>(timegm(&u));
}

// A test case's request.txt: request line, headers (continuation lines folded), body.
struct Parsed {
  SigningRequest req;
  std::string body;
};
Parsed parse_request(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  const size_t sp = line.find(' ');
  const size_t ver = line.rfind(" HTTP/");
  p.req.method = line.substr(0, sp);
  std::string target = line.substr(sp + 1, ver - sp - 1);
  const size_t q = target.find('?');
  p.req.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string query = target.substr(q + 1);
    size_t start = 0;
    while (start <= query.size() && !query.empty()) {
      const size_t amp = std::min(query.find('&', start), query.size());
      const std::string pair = query.substr(start, amp - start);
      const size_t eq = pair.find('=');
      p.req.query.emplace_back(percent_decode(pair.substr(0, eq)),
                               eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1)));
      start = amp + 1;
    }
  }
  while (std::getline(in, line)) {
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !p.req.headers.empty()) {
      p.req.headers.back().second += " " + line;
      continue;
    }
    const size_t colon = line.find(':');
    p.req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  std::ostringstream rest;
  rest << in.rdbuf();
  p.body = rest.str();
  return p;
}

TEST(SigV4, AwsPublishedTestVectors) {
  const fs::path root = SF_SIGV4_VECTORS_DIR;
  int cases = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    SCOPED_TRACE(dir.path().filename().string());
    const auto ctx = boost::json::parse(read(dir.path() / "context.json")).as_object();
    const auto& c = ctx.at("credentials").as_object();
    Credentials cred{std::string(c.at("access_key_id").as_string()),
                     std::string(c.at("secret_access_key").as_string()),
                     c.contains("token") ? std::string(c.at("token").as_string()) : ""};
    SigningOptions opt;
    opt.region = std::string(ctx.at("region").as_string());
    opt.service = std::string(ctx.at("service").as_string());
    opt.time_s = parse_iso(std::string(ctx.at("timestamp").as_string()));
    opt.normalize_path = ctx.at("normalize").as_bool();
    opt.omit_session_token =
        ctx.contains("omit_session_token") && ctx.at("omit_session_token").as_bool();
    Parsed p = parse_request(read(dir.path() / "request.txt"));
    p.req.payload_sha256 = sha256_hex(p.body);
    if (ctx.at("sign_body").as_bool())
      p.req.headers.emplace_back("X-Amz-Content-Sha256", p.req.payload_sha256);
    const Signature s = sign(p.req, cred, opt);
    EXPECT_EQ(s.canonical_request, read(dir.path() / "header-canonical-request.txt"));
    EXPECT_EQ(s.string_to_sign, read(dir.path() / "header-string-to-sign.txt"));
    EXPECT_EQ(s.signature, read(dir.path() / "header-signature.txt"));
    // The header names the scope (the string to sign's third line) and the signed headers
    // (the canonical request's line before the payload hash).
    auto lines = [](const std::string& t) {
      std::vector<std::string> v;
      std::istringstream in(t);
      for (std::string l; std::getline(in, l);) v.push_back(l);
      return v;
    };
    const auto sts = lines(s.string_to_sign), cr = lines(s.canonical_request);
    ASSERT_GE(sts.size(), 3u);
    ASSERT_GE(cr.size(), 2u);
    EXPECT_EQ(s.authorization, "AWS4-HMAC-SHA256 Credential=" + cred.access_key_id + "/" + sts[2] +
                                   ", SignedHeaders=" + cr[cr.size() - 2] +
                                   ", Signature=" + s.signature);
    ++cases;
  }
  EXPECT_EQ(cases, 38) << "every published header-signing case";
}

// A wrong secret gives another signature (what a server then refuses), the same request
// the same one.
TEST(SigV4, TheSignatureDependsOnTheSecretAndNothingElseVaries) {
  SigningRequest r{
      "PUT", "/bucket/models/q1/model.pt", {}, {{"Host", "127.0.0.1:9000"}}, sha256_hex("weights")};
  SigningOptions o{"us-east-1", "s3", 1'700'000'000};
  const auto a = sign(r, {"AK", "secret-1", ""}, o);
  EXPECT_EQ(a.signature, sign(r, {"AK", "secret-1", ""}, o).signature);
  EXPECT_NE(a.signature, sign(r, {"AK", "secret-2", ""}, o).signature);
  EXPECT_EQ(a.authorization.find("secret"), std::string::npos) << "the secret is never sent";
  EXPECT_EQ(a.added, (Headers{{"X-Amz-Date", "20231114T221320Z"}}));
}

TEST(SigV4, PathsAreEncodedOnceAndNormalizedOnlyWhenAsked) {
  EXPECT_EQ(canonical_path("/bucket/a b/ሴ/x~y", false), "/bucket/a%20b/%E1%88%B4/x~y");
  EXPECT_EQ(canonical_path("/bucket//a/./b/../c", false), "/bucket//a/./b/../c") << "S3";
  EXPECT_EQ(canonical_path("/bucket//a/./b/../c", true), "/bucket/a/c");
  EXPECT_EQ(canonical_path("", false), "/");
  EXPECT_EQ(uri_encode("a/b=c&d", true), "a%2Fb%3Dc%26d");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace sf::artifacts::s3
