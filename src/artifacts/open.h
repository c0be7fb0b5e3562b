// The artifact-store factory: one place that turns an --artifacts value into a store
// (library sf_artifacts_open). The service and the worker process call it.
//
//   ""                                  a local directory: <data_dir>/artifacts (the default)
//   "file:PATH"                         a local directory at PATH
//   "s3://BUCKET[/PREFIX]?endpoint=URL[&region=R]"
//                                       the S3 API (artifacts/s3); the keys from the
//                                       environment given: AWS_ACCESS_KEY_ID,
//                                       AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)
//
// Errors: invalid_argument naming the field "artifacts" for another value or missing keys,
// else what opening the store returns (unavailable, not_found for a missing bucket,
// invalid_argument for refused credentials). Messages never contain a secret.
#pragma once

#include <memory>
#include <string>

#include "artifacts/artifact_store.h"
#include "base/env.h"
#include "base/result.h"

namespace sf::artifacts {

inline constexpr const char* kAccessKeyIdVar = "AWS_ACCESS_KEY_ID";
inline constexpr const char* kSecretAccessKeyVar = "AWS_SECRET_ACCESS_KEY";
inline constexpr const char* kSessionTokenVar = "AWS_SESSION_TOKEN";

Result<std::unique_ptr<ArtifactStore>> open_artifact_store(const std::string& url_or_empty,
                                                           const std::string& data_dir,
                                                           const Env& env);

// True for an s3:// value (whose worker processes need the AWS_* variables passed on).
bool is_s3_url(const std::string& url_or_empty);

}  // namespace sf::artifacts
