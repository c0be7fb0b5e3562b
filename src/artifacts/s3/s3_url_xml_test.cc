// The S3 store's configuration URL and its XML reading (no server needed).
#include <gtest/gtest.h>

#include "artifacts/s3/s3_artifact_store.h"
#include "artifacts/s3/xml.h"

namespace sf::artifacts {
namespace {

TEST(S3Url, BucketPrefixEndpointAndRegion) {
  auto c =
      parse_s3_url("s3://models-bucket/team/runs?endpoint=http://127.0.0.1:7070&region=eu-west-1");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->bucket, "models-bucket");
  EXPECT_EQ(c->prefix, "team/runs");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:7070");
  EXPECT_EQ(c->region, "eu-west-1");
  auto d = parse_s3_url("s3://bkt?endpoint=https://s3.example.com");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->prefix, "");
  EXPECT_EQ(d->region, "us-east-1");
}

TEST(S3Url, BadUrlsAreRefusedWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"http://bkt?endpoint=http://h", "must look like s3://"},
      {"s3://Bad_Bucket?endpoint=http://h", "not an S3 bucket name"},
      {"s3://ab?endpoint=http://h", "not an S3 bucket name"},
      {"s3://bkt/../x?endpoint=http://h", "prefix"},
      {"s3://bkt/p", "endpoint="},
      {"s3://bkt/p?endpoint=ftp://h", "endpoint="},
      {"s3://bkt/p?endpoint=http://h&secret=x", "unknown artifact URL parameter 'secret'"},
  };
  for (const auto& [url, why] : bad) {
    auto c = parse_s3_url(url);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_EQ(c.error().code, Errc::invalid_argument) << url;
    EXPECT_NE(c.error().message.find(why), std::string::npos) << url << ": " << c.error().message;
  }
}

TEST(S3Xml, LeavesInDocumentOrderWithEntitiesResolved) {
  auto l = s3::xml_leaves(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Contents><Key>a&amp;b</Key><Size>12</Size></Contents><Contents><Key>c</Key><Size>0</Size></Contents>
<IsTruncated>false</IsTruncated></ListBucketResult>)");
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(*l, (s3::XmlLeaves{{"ListBucketResult/Name", "b"},
                               {"ListBucketResult/Contents/Key", "a&b"},
                               {"ListBucketResult/Contents/Size", "12"},
                               {"ListBucketResult/Contents/Key", "c"},
                               {"ListBucketResult/Contents/Size", "0"},
                               {"ListBucketResult/IsTruncated", "false"}}));
  EXPECT_EQ(s3::xml_first(*l, "ListBucketResult/Contents/Key"), "a&b");
  EXPECT_EQ(s3::xml_first(*l, "ListBucketResult/Missing"), "");
}

TEST(S3Xml, MalformedOrHugeIsAParseError) {
  for (std::string doc : {std::string("<a><b></a>"), std::string("<a>"), std::string("not xml"),
                          std::string(s3::kMaxXmlBytes + 1, ' ')}) {
    auto l = s3::xml_leaves(doc);
    ASSERT_FALSE(l.ok()) << doc.substr(0, 20);
    EXPECT_EQ(l.error().code, Errc::parse_error);
  }
}

TEST(S3Store, OpenRefusesMissingCredentialsBeforeAnyRequest) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:1";
  c.bucket = "bkt";
  auto s = S3ArtifactStore::open(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::invalid_argument);
  EXPECT_NE(s.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

}  // namespace
}  // namespace sf::artifacts
