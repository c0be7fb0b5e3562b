// The S3 artifact store against a real S3 server: versitygw, started by scripts/s3 (CTest
// fixture s3). The contract suite, multipart upload included (part size 5 MiB, the large
// blob 6 MiB), then the errors a user meets first: a wrong secret, an unknown key, a bucket
// that does not exist.
#include "artifacts/s3/s3_artifact_store.h"

#include <gtest/gtest.h>

#include "tests/contract/artifact_store_contract.h"
#include "tests/support/s3.h"

namespace sf::artifacts {
namespace {

// A store of its own under a fresh prefix of the fixture's bucket (tests share the bucket).
S3Config config_for(const testing::S3TestServer& s) {
  S3Config c;
  c.endpoint = s.endpoint;
  c.bucket = s.bucket;
  c.region = s.region;
  c.credentials = {s.access_key, s.secret_key, ""};
  std::string prefix = testing::s3_unique_prefix("artifacts");
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  c.prefix = prefix;
  c.part_bytes = size_t{5} << 20;  // S3's minimum: the contract's large blob goes in parts
  c.backoff = std::chrono::milliseconds(50);
  return c;
}

}  // namespace

namespace contract {

struct S3Factory {
  static std::unique_ptr<ArtifactStore> make(const std::filesystem::path&) {
    auto server = testing::s3_server_or_fail();
    if (!server.ok()) return nullptr;
    auto s = S3ArtifactStore::open(config_for(server));
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(S3, ArtifactStoreContract, ::testing::Types<S3Factory>);

}  // namespace contract

namespace {

TEST(S3ArtifactStore, AWrongSecretIsAClearErrorThatDoesNotShowIt) {
  auto server = testing::s3_server_or_fail();
  ASSERT_TRUE(server.ok());
  S3Config c = config_for(server);
  c.credentials.secret_access_key = "not-the-secret-" + server.secret_key.substr(0, 4);
  auto s = S3ArtifactStore::open(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::invalid_argument);
  EXPECT_NE(s.error().message.find("SignatureDoesNotMatch"), std::string::npos)
      << s.error().message;
  EXPECT_NE(s.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos)
      << s.error().message;
  EXPECT_EQ(s.error().message.find(c.credentials.secret_access_key), std::string::npos);
  EXPECT_EQ(s.error().message.find(server.secret_key), std::string::npos);
}

TEST(S3ArtifactStore, AnUnknownKeyAndAMissingBucketAreNamed) {
  auto server = testing::s3_server_or_fail();
  ASSERT_TRUE(server.ok());
  S3Config c = config_for(server);
  c.credentials.access_key_id = "NOSUCHKEY0000000";
  auto s = S3ArtifactStore::open(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::invalid_argument);
  EXPECT_NE(s.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << s.error().message;

  c = config_for(server);
  c.bucket = "no-such-bucket-here";
  s = S3ArtifactStore::open(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::not_found) << s.error().message;
  EXPECT_NE(s.error().message.find("no-such-bucket-here"), std::string::npos) << s.error().message;
}

TEST(S3ArtifactStore, AServerThatIsDownIsUnavailableAfterTheRetries) {
  auto server = testing::s3_server_or_fail();
  ASSERT_TRUE(server.ok());
  S3Config c = config_for(server);
  c.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  c.attempts = 2;
  auto s = S3ArtifactStore::open(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::unavailable) << s.error().message;
}

TEST(S3ArtifactStore, BlobsAreObjectsUnderThePrefix) {
  auto server = testing::s3_server_or_fail();
  ASSERT_TRUE(server.ok());
  const S3Config c = config_for(server);
  auto s = S3ArtifactStore::open(c);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)->describe(), "s3://" + c.bucket + "/" + c.prefix + " at " + c.endpoint);
  ASSERT_TRUE((*s)->put("models/q1/metrics.json", "{}").ok());
  // The same object seen through a store without the prefix: PREFIX/NAME.
  S3Config root = c;
  root.prefix = "";
  auto whole = S3ArtifactStore::open(root);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  auto got = (*whole)->get(c.prefix + "/models/q1/metrics.json");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, "{}");
  ASSERT_TRUE((*s)->remove("models/q1/metrics.json").ok());
}

}  // namespace
}  // namespace sf::artifacts
