// The artifact store: named blobs (a trained model's weights, its metrics.json), the fourth
// interface of the architecture (docs/architecture.md). Implementations: a local directory
// (artifacts/local, the embedded default) and the S3 API (artifacts/s3). Every
// implementation passes tests/contract/artifact_store_contract.h.
//
// Names are relative paths such as "models/q1/metrics.json": 1 to 1024 bytes, segments
// separated by '/', each segment 1 to 255 bytes of [A-Za-z0-9._-] starting with a letter or
// a digit (so no "." or ".." segment, no hidden file, no empty segment, no leading or
// trailing '/'). check_artifact_name() refuses anything else (invalid_argument naming the
// name): a name is used as a file path and as an S3 key, never interpolated unchecked.
//
// Errors: invalid_argument (a refused name), not_found (get() of an absent name),
// unavailable (the backing server or disk failed; a retry may succeed), io_error.
//
// Threading: every method may be called from any thread, concurrently; a blob is replaced
// whole (a reader sees the old content or the new, never a mixture).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sf::artifacts {

inline constexpr size_t kMaxArtifactNameBytes = 1024;
inline constexpr size_t kMaxArtifactSegmentBytes = 255;

Status check_artifact_name(std::string_view name);

struct ArtifactInfo {
  std::string name;
  int64_t size = 0;  // bytes
  bool operator==(const ArtifactInfo&) const = default;
};

class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;

  // Stores `data` under `name`, replacing what was there, all or nothing.
  virtual Status put(const std::string& name, std::string_view data) = 0;
  // The blob; not_found if there is none.
  virtual Result<std::string> get(const std::string& name) = 0;
  // Every blob whose name starts with `prefix` ("" for all), ascending by name. The prefix
  // is a plain string prefix ("models/q1" also lists "models/q10/..."); end it with '/' for
  // a folder.
  virtual Result<std::vector<ArtifactInfo>> list(const std::string& prefix) = 0;
  // Deletes the blob; ok if there was none (as S3's DeleteObject).
  virtual Status remove(const std::string& name) = 0;
  // Where it keeps blobs, for logs ("file:/data/artifacts", "s3://bucket/prefix at URL");
  // never credentials.
  virtual std::string describe() const = 0;
};

}  // namespace sf::artifacts
