#include "artifacts/open.h"

#include <filesystem>

#include "artifacts/local/local_artifact_store.h"
#include "artifacts/s3/s3_artifact_store.h"

namespace sf::artifacts {

bool is_s3_url(const std::string& url) { return url.starts_with("s3://"); }

Result<std::unique_ptr<ArtifactStore>> open_artifact_store(const std::string& url,
                                                           const std::string& data_dir,
                                                           const Env& env) {
  if (url.empty() || url.starts_with("file:")) {
    std::filesystem::path root = url.empty() ? std::filesystem::path(data_dir) / "artifacts"
                                             : std::filesystem::path(url.substr(5));
    if (root.empty())
      return Error(Errc::invalid_argument, "--artifacts file: needs a directory", "artifacts");
    auto s = LocalArtifactStore::open(root);
    if (!s) return s.error();
    return std::unique_ptr<ArtifactStore>(std::move(*s));
  }
  if (is_s3_url(url)) {
    auto cfg = parse_s3_url(url);
    if (!cfg) return Error(cfg.error().code, "--artifacts: " + cfg.error().message, "artifacts");
    cfg->credentials.access_key_id = env.get_or(kAccessKeyIdVar, "");
    cfg->credentials.secret_access_key = env.get_or(kSecretAccessKeyVar, "");
    cfg->credentials.session_token = env.get_or(kSessionTokenVar, "");
    if (cfg->credentials.access_key_id.empty() || cfg->credentials.secret_access_key.empty())
      return Error(Errc::invalid_argument,
                   std::string("--artifacts s3://...: set ") + kAccessKeyIdVar + " and " +
                       kSecretAccessKeyVar + " in the environment",
                   "artifacts");
    auto s = S3ArtifactStore::open(std::move(*cfg));
    if (!s) return s.error();
    return std::unique_ptr<ArtifactStore>(std::move(*s));
  }
  return Error(Errc::invalid_argument,
               "--artifacts must be empty (<data-dir>/artifacts), file:PATH or "
               "s3://BUCKET[/PREFIX]?endpoint=URL[&region=R], not '" +
                   url.substr(0, url.find('?')).substr(0, 80) + "'",
               "artifacts");
}

}  // namespace sf::artifacts
