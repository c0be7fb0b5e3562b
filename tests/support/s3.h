// Test support: where the test S3 server is. `make test` starts one server for the
// integration and e2e labels (a CTest fixture `s3` running `scripts/s3 start`: versitygw with
// its posix backend on 127.0.0.1, see tests/CMakeLists.txt) and stops it, removing its data,
// after. Header-only; a binary including it links gtest.
//
// Lookup order: the environment variable SF_TEST_S3_ENDPOINT (a server you started yourself;
// then SF_TEST_S3_ACCESS_KEY and SF_TEST_S3_SECRET_KEY give its keys, SF_TEST_S3_BUCKET an
// existing bucket, default "streamforge-test", and SF_TEST_S3_REGION, default "us-east-1"),
// else the files the fixture's server wrote in its folder SF_TEST_S3_DIR (a compile definition
// set by sf_test(... FIXTURES s3); nullptr in a binary without that fixture): endpoint,
// access_key, secret_key, bucket, region. Tests that need a server fail, not skip, when neither
// gives one: under `make test` there always is one.
//
// The bucket is shared by every test of the run (ctest -j): give each test a key prefix of its
// own (s3_unique_prefix()).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include "test_server.h"

namespace sf::testing {

// One S3 server and the bucket tests may use (requests signed with AWS Signature V4 for
// `region`, path-style: endpoint + "/" + bucket + "/" + key).
struct S3TestServer {
  std::string endpoint;    // "http://127.0.0.1:PORT", no trailing slash
  std::string access_key;  // the root user's access key id
  std::string secret_key;  // its secret access key
  std::string bucket;      // exists; "streamforge-test" for the fixture's server
  std::string region;      // "us-east-1" for the fixture's server

  bool ok() const { return !endpoint.empty(); }
};

namespace s3_detail {

// The first line of `path`, or "" when it cannot be read.
inline std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

inline std::string env_or(const char* name, const char* fallback) {
  const char* e = std::getenv(name);
  return e && *e ? std::string(e) : std::string(fallback);
}

// Why s3_server() has nothing, for the failure message.
inline std::string why_none() {
  if (const char* e = std::getenv("SF_TEST_S3_ENDPOINT"); e && *e)
    return "SF_TEST_S3_ENDPOINT is set but SF_TEST_S3_ACCESS_KEY or SF_TEST_S3_SECRET_KEY is not";
  const char* dir = SF_TEST_S3_DIR;
  if (dir == nullptr)
    return "this test binary was not built with the s3 fixture (sf_test(... FIXTURES s3)); "
           "set SF_TEST_S3_ENDPOINT, SF_TEST_S3_ACCESS_KEY and SF_TEST_S3_SECRET_KEY";
  return std::string("the s3 fixture's server is not running (no ") + dir +
         "/endpoint or keys): run under ctest, which starts it (setup test s3_start), or "
         "`scripts/s3 start --dir " +
         dir + "`; or set SF_TEST_S3_ENDPOINT and its keys";
}

}  // namespace s3_detail

// The test S3 server, or nullopt when there is none (see the lookup order above).
inline std::optional<S3TestServer> s3_server() {
  S3TestServer s;
  if (const char* e = std::getenv("SF_TEST_S3_ENDPOINT"); e && *e) {
    s.endpoint = e;
    s.access_key = s3_detail::env_or("SF_TEST_S3_ACCESS_KEY", "");
    s.secret_key = s3_detail::env_or("SF_TEST_S3_SECRET_KEY", "");
    s.bucket = s3_detail::env_or("SF_TEST_S3_BUCKET", "streamforge-test");
    s.region = s3_detail::env_or("SF_TEST_S3_REGION", "us-east-1");
  } else {
    const char* dir = SF_TEST_S3_DIR;
    if (dir == nullptr) return std::nullopt;
    const std::string d(dir);
    s.endpoint = s3_detail::first_line(d + "/endpoint");  // only while the server runs
    s.access_key = s3_detail::first_line(d + "/access_key");
    s.secret_key = s3_detail::first_line(d + "/secret_key");
    s.bucket = s3_detail::first_line(d + "/bucket");
    s.region = s3_detail::first_line(d + "/region");
    if (s.bucket.empty()) s.bucket = "streamforge-test";
    if (s.region.empty()) s.region = "us-east-1";
  }
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  if (s.endpoint.empty() || s.access_key.empty() || s.secret_key.empty()) return std::nullopt;
  return s;
}

// s3_server() for a test that needs the server: a test failure (not a skip) saying why, and
// an empty server (ok() false) when there is none.
inline S3TestServer s3_server_or_fail() {
  auto s = s3_server();
  if (!s) {
    ADD_FAILURE() << "no test S3 server: " << s3_detail::why_none();
    return {};
  }
  return *s;
}

// The state folder of the fixture's server (for tests that stop and restart it with
// `scripts/s3 stop|start --dir`; such a test must be SERIAL and leave it running), or nullopt
// when the server came from the environment.
inline std::optional<std::string> s3_fixture_dir() {
  return test_fixture_dir("SF_TEST_S3_ENDPOINT", SF_TEST_S3_DIR);
}

// A key prefix no other test of the run uses: "sf-test/<tag>-<pid>-<n>-<random>/" (letters,
// digits, '-', '_' and '/' only, so it needs no escaping in a URL path).
inline std::string s3_unique_prefix(const std::string& tag = "t") {
  static std::atomic<int> counter{0};
  std::random_device rd;
  std::string clean;
  for (char ch : tag)
    clean += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ? ch : '_';
  return "sf-test/" + clean + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
         "-" + std::to_string(rd() % 1000000) + "/";
}

}  // namespace sf::testing
