#include "artifacts/local/local_artifact_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/contract/artifact_store_contract.h"

namespace sf::artifacts::contract {

struct LocalFactory {
  static std::unique_ptr<ArtifactStore> make(const std::filesystem::path& scratch) {
    auto s = LocalArtifactStore::open(scratch / "artifacts");
    return s ? std::move(*s) : nullptr;
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Local, ArtifactStoreContract, ::testing::Types<LocalFactory>);

}  // namespace sf::artifacts::contract

namespace sf::artifacts {
namespace {

TEST(LocalArtifactStore, BlobsAreFilesUnderTheRootAndEmptyFoldersGo) {
  testing::TempDir dir("sf-artifacts");
  auto s = LocalArtifactStore::open(dir.path() / "a" / "b");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)->describe(), "file:" + (dir.path() / "a" / "b").string());
  ASSERT_TRUE((*s)->put("models/q1/model.pt", "w").ok());
  std::ifstream in(dir.path() / "a" / "b" / "models" / "q1" / "model.pt");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "w");
  ASSERT_TRUE((*s)->remove("models/q1/model.pt").ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "a" / "b" / "models"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "a" / "b")) << "the root stays";
}

TEST(LocalArtifactStore, ANameThatIsAFolderCannotBeABlob) {
  testing::TempDir dir("sf-artifacts");
  auto s = LocalArtifactStore::open(dir.path());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->put("a/b", "x").ok());
  auto p = (*s)->put("a", "y");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::io_error);
  EXPECT_NE(p.error().message.find("a folder of artifacts has this name"), std::string::npos)
      << p.error().message;
  EXPECT_EQ(*(*s)->list(""), (std::vector<ArtifactInfo>{{"a/b", 1}}));
}

TEST(LocalArtifactStore, ARootThatIsAFileIsAnError) {
  testing::TempDir dir("sf-artifacts");
  std::ofstream(dir.path() / "file") << "x";
  auto s = LocalArtifactStore::open(dir.path() / "file");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::io_error);
}

}  // namespace
}  // namespace sf::artifacts
