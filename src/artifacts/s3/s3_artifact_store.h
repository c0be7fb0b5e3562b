// The S3 artifact store: blobs as objects of one bucket under a key prefix, over the S3 API
// of any S3 server (AWS S3, versitygw, MinIO, ...), path-style (ENDPOINT/BUCKET/KEY), every
// request signed with SigV4 (sigv4.h) and carrying x-amz-content-sha256. A blob larger than
// part_bytes is uploaded in parts (multipart upload, aborted on failure); 5xx answers,
// throttling (429, 503 SlowDown) and transport failures are retried with a doubling
// backoff. Credentials never appear in messages or logs.
//
// Configured by URL: s3://BUCKET[/PREFIX]?endpoint=URL[&region=R] (parse_s3_url), the keys
// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), read by apps/.
//
// Errors beyond ArtifactStore's: open() and every call return invalid_argument naming the
// cause when the server refuses the credentials (a wrong secret: SignatureDoesNotMatch; an
// unknown key: InvalidAccessKeyId), not_found for a missing bucket; unavailable once the
// retries are spent. Thread-safe: every call uses its own connection.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "artifacts/artifact_store.h"
#include "artifacts/s3/sigv4.h"
#include "http/client.h"

namespace sf::artifacts {

struct S3Config {
  std::string endpoint;  // http[s]://host[:port]
  std::string bucket;
  std::string prefix;  // "" or an artifact name: keys are PREFIX/NAME
  std::string region = "us-east-1";
  s3::Credentials credentials;
  size_t part_bytes = size_t{8} << 20;  // multipart above this; S3's minimum part is 5 MiB
  int attempts = 4;                     // per request, the first included
  std::chrono::milliseconds backoff{200};
  std::chrono::milliseconds timeout{60'000};  // per request
  http::ClientTlsOptions tls;
};

// s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]: invalid_argument naming what is wrong (a
// bucket name S3 refuses, a prefix that is not an artifact name, no endpoint, an unknown
// parameter). Credentials are not part of the URL.
Result<S3Config> parse_s3_url(std::string_view url);

class S3ArtifactStore final : public ArtifactStore {
 public:
  // Checks the bucket and the credentials with one listing request.
  static Result<std::unique_ptr<S3ArtifactStore>> open(S3Config config);

  Status put(const std::string& name, std::string_view data) override;
  Result<std::string> get(const std::string& name) override;
  Result<std::vector<ArtifactInfo>> list(const std::string& prefix) override;
  Status remove(const std::string& name) override;
  std::string describe() const override;

 private:
  explicit S3ArtifactStore(S3Config config);
  Result<http::ClientResponse> call(const std::string& method, const std::string& key,
                                    std::vector<std::pair<std::string, std::string>> query,
                                    std::string_view body) const;
  Error refusal(const http::ClientResponse& r, const std::string& what) const;
  std::string key_of(const std::string& name) const;
  Status put_multipart(const std::string& key, std::string_view data);

  S3Config cfg_;
  std::string host_;  // the Host header, as signed
};

}  // namespace sf::artifacts
