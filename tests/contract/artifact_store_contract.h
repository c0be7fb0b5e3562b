// The artifact store contract suite: what every sf::artifacts::ArtifactStore implementation
// guarantees (src/artifacts/artifact_store.h), as the trainer and the UI rely on it.
//
// To run it against an implementation, define a factory type with
//
//     // A fresh, empty store; `scratch` is a directory it may use that outlives it.
//     static std::unique_ptr<sf::artifacts::ArtifactStore> make(
//         const std::filesystem::path& scratch);
//
// and instantiate the typed suite in a test binary:
//
//     #include "tests/contract/artifact_store_contract.h"
//     namespace sf::artifacts::contract {
//     struct LocalFactory { static std::unique_ptr<ArtifactStore> make(...); };
//     INSTANTIATE_TYPED_TEST_SUITE_P(Local, ArtifactStoreContract,
//                                    ::testing::Types<LocalFactory>);
//     }  // namespace sf::artifacts::contract
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "artifacts/artifact_store.h"
#include "tests/support/temp_dir.h"

namespace sf::artifacts::contract {

// Bigger than one S3 multipart part (5 MiB) and than any single read buffer.
inline constexpr size_t kLargeBlobBytes = (6 << 20) + 12345;

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

template <typename Factory>
class ArtifactStoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Factory::make(scratch_.path());
    ASSERT_TRUE(store_);
  }

  void put(const std::string& name, const std::string& data) {
    auto s = store_->put(name, data);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error().message;
  }
  std::vector<ArtifactInfo> list(const std::string& prefix) {
    auto l = store_->list(prefix);
    EXPECT_TRUE(l.ok()) << l.error().message;
    return l ? *l : std::vector<ArtifactInfo>{};
  }

  testing::TempDir scratch_{"sf-artifacts"};
  std::unique_ptr<ArtifactStore> store_;
};

TYPED_TEST_SUITE_P(ArtifactStoreContract);

TYPED_TEST_P(ArtifactStoreContract, PutThenGetReturnsTheSameBytes) {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::vector<std::pair<std::string, std::string>> blobs = {
      {"models/q1/metrics.json", R"({"epochs":[]})"},
      {"models/q1/model.pt", all_bytes},
      {"empty", ""},
      {"large/blob.bin", random_bytes(kLargeBlobBytes, 7)},
  };
  for (const auto& [name, data] : blobs) this->put(name, data);
  for (const auto& [name, data] : blobs) {
    auto got = this->store_->get(name);
    ASSERT_TRUE(got.ok()) << name << ": " << got.error().message;
    EXPECT_EQ(got->size(), data.size()) << name;
    EXPECT_TRUE(*got == data) << name << ": the bytes differ";
  }
}

TYPED_TEST_P(ArtifactStoreContract, PutReplacesTheWholeBlob) {
  this->put("a/b.txt", std::string(1000, 'x'));
  this->put("a/b.txt", "short");
  auto got = this->store_->get("a/b.txt");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, "short");
  EXPECT_EQ(this->list(""), (std::vector<ArtifactInfo>{{"a/b.txt", 5}}));
}

TYPED_TEST_P(ArtifactStoreContract, GetOfAnAbsentNameIsNotFound) {
  this->put("models/q1/model.pt", "w");
  for (const char* name : {"models/q2/model.pt", "models/q1", "models"}) {
    auto got = this->store_->get(name);
    ASSERT_FALSE(got.ok()) << name;
    EXPECT_EQ(got.error().code, Errc::not_found) << name << ": " << got.error().message;
  }
}

TYPED_TEST_P(ArtifactStoreContract, ListIsOrderedFilteredByPrefixWithSizes) {
  EXPECT_TRUE(this->list("").empty()) << "a fresh store is empty";
  this->put("models/q10/model.pt", "1234567");
  this->put("models/q1/metrics.json", "{}");
  this->put("models/q1/model.pt", "12345");
  this->put("graphs/g1.json", "[]");
  EXPECT_EQ(this->list(""), (std::vector<ArtifactInfo>{{"graphs/g1.json", 2},
                                                       {"models/q1/metrics.json", 2},
                                                       {"models/q1/model.pt", 5},
                                                       {"models/q10/model.pt", 7}}));
  EXPECT_EQ(this->list("models/q1/"),
            (std::vector<ArtifactInfo>{{"models/q1/metrics.json", 2}, {"models/q1/model.pt", 5}}));
  EXPECT_EQ(this->list("models/q1"), (std::vector<ArtifactInfo>{{"models/q1/metrics.json", 2},
                                                                {"models/q1/model.pt", 5},
                                                                {"models/q10/model.pt", 7}}))
      << "a plain string prefix";
  EXPECT_EQ(this->list("models/q1/met"),
            (std::vector<ArtifactInfo>{{"models/q1/metrics.json", 2}}));
  EXPECT_TRUE(this->list("models/q2/").empty());
  EXPECT_TRUE(this->list("zzz").empty());
}

TYPED_TEST_P(ArtifactStoreContract, RemoveDeletesAndIsIdempotent) {
  this->put("models/q1/model.pt", "w");
  this->put("models/q1/metrics.json", "m");
  ASSERT_TRUE(this->store_->remove("models/q1/model.pt").ok());
  auto got = this->store_->get("models/q1/model.pt");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::not_found);
  EXPECT_EQ(this->list(""), (std::vector<ArtifactInfo>{{"models/q1/metrics.json", 1}}));
  EXPECT_TRUE(this->store_->remove("models/q1/model.pt").ok()) << "removing twice is fine";
  EXPECT_TRUE(this->store_->remove("never/was").ok());
  ASSERT_TRUE(this->store_->remove("models/q1/metrics.json").ok());
  EXPECT_TRUE(this->list("").empty());
  this->put("models/q1/model.pt", "again");  // the name is free again
  EXPECT_EQ(this->list(""), (std::vector<ArtifactInfo>{{"models/q1/model.pt", 5}}));
}

TYPED_TEST_P(ArtifactStoreContract, RefusedNamesAreInvalidArgumentAndStoreNothing) {
  const std::vector<std::string> bad = {"",
                                        "/abs",
                                        "trailing/",
                                        "a//b",
                                        "../escape",
                                        "a/../../b",
                                        "a/./b",
                                        ".hidden",
                                        "a b",
                                        "a\\b",
                                        std::string("a\0b", 3),
                                        "q?x=1",
                                        "%2e%2e",
                                        std::string(kMaxArtifactNameBytes + 1, 'a'),
                                        "a/" + std::string(256, 'b')};
  for (const auto& name : bad) {
    auto p = this->store_->put(name, "x");
    ASSERT_FALSE(p.ok()) << "put accepted '" << name << "'";
    EXPECT_EQ(p.error().code, Errc::invalid_argument) << p.error().message;
    auto g = this->store_->get(name);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.error().code, Errc::invalid_argument) << g.error().message;
    auto r = this->store_->remove(name);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().message;
  }
  EXPECT_TRUE(this->list("").empty()) << "nothing was stored";
  const std::string longest = std::string(255, 'a') + "/" + std::string(255, 'b');
  this->put(longest, "ok");  // the limits themselves are fine
  this->put("A-z_0.9/x.y-z", "ok");
}

TYPED_TEST_P(ArtifactStoreContract, ConcurrentPutsOfOneNameLeaveOneWholeBlob) {
  const std::string a = random_bytes(1 << 20, 1), b = random_bytes(1 << 20, 2);
  std::vector<std::thread> writers;
  for (int i = 0; i < 4; ++i)
    writers.emplace_back([&, i] {
      for (int n = 0; n < 3; ++n) EXPECT_TRUE(this->store_->put("race.bin", i % 2 ? a : b).ok());
    });
  for (auto& t : writers) t.join();
  auto got = this->store_->get("race.bin");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_TRUE(*got == a || *got == b) << "a mixture of two puts";
  EXPECT_EQ(this->list(""), (std::vector<ArtifactInfo>{{"race.bin", 1 << 20}}))
      << "no temporary left behind";
}

REGISTER_TYPED_TEST_SUITE_P(ArtifactStoreContract, PutThenGetReturnsTheSameBytes,
                            PutReplacesTheWholeBlob, GetOfAnAbsentNameIsNotFound,
                            ListIsOrderedFilteredByPrefixWithSizes, RemoveDeletesAndIsIdempotent,
                            RefusedNamesAreInvalidArgumentAndStoreNothing,
                            ConcurrentPutsOfOneNameLeaveOneWholeBlob);

}  // namespace sf::artifacts::contract
