// The local artifact store (the embedded default): blob "models/q1/metrics.json" is the
// file <root>/models/q1/metrics.json. put() writes a hidden temporary file beside the
// target (".put-..."), fsyncs it and renames it over the target, so a blob is replaced whole
// and survives a crash once put() returned. remove() also removes folders it leaves empty.
// A name cannot be a blob and a folder at once here (S3 allows "a" beside "a/b"): put()
// then fails with io_error. Thread-safe; several processes may share a root.
#pragma once

#include <filesystem>
#include <memory>

#include "artifacts/artifact_store.h"

namespace sf::artifacts {

class LocalArtifactStore final : public ArtifactStore {
 public:
  // Creates `root` (and its parents) if needed; io_error if it cannot.
  static Result<std::unique_ptr<LocalArtifactStore>> open(const std::filesystem::path& root);

  Status put(const std::string& name, std::string_view data) override;
  Result<std::string> get(const std::string& name) override;
  Result<std::vector<ArtifactInfo>> list(const std::string& prefix) override;
  Status remove(const std::string& name) override;
  std::string describe() const override;

 private:
  explicit LocalArtifactStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

}  // namespace sf::artifacts
