// AWS Signature Version 4 for the S3 artifact store: the Authorization header of a request,
// computed as AWS documents it (canonical request, string to sign, signing key derived from
// the secret by date, region and service). Tested against AWS's published test vectors
// (s3/testdata/sigv4). Small on purpose: no maintained C++ S3 client is packaged in Debian.
//
// S3 signs the path as sent: URI-encoded once, '/' kept, no dot-segment normalization
// (normalize_path false, the default); other AWS services normalize it.
//
// Pure functions; any thread. The secret never leaves sign() except as the derived,
// per-day signing key inside it; nothing here logs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sf::artifacts::s3 {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none (long-term keys)
};

struct SigningRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // not encoded: "/bucket/models/q1/model.pt"
  std::vector<std::pair<std::string, std::string>> query;  // not encoded; order free
  Headers headers;             // as sent, Host included; every one is signed
  std::string payload_sha256;  // hex SHA-256 of the body (S3: also x-amz-content-sha256)
};

struct SigningOptions {
  std::string region;   // "us-east-1"
  std::string service;  // "s3"
  int64_t time_s = 0;   // seconds since the epoch (UTC): the request's X-Amz-Date
  bool normalize_path = false;
  // true: the session token is sent (X-Amz-Security-Token) but not signed (STS's style);
  // the caller adds it after signing.
  bool omit_session_token = false;
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header's value
  // The headers sign() added and the request must carry as well: X-Amz-Date, and
  // X-Amz-Security-Token with a session token.
  Headers added;
};

Signature sign(const SigningRequest& request, const Credentials& credentials,
               const SigningOptions& options);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
// (A-Z a-z 0-9 - . _ ~) as they are, every other byte as %XX (uppercase); '/' kept unless
// encode_slash.
std::string uri_encode(std::string_view s, bool encode_slash);
// The path as it is signed (and must be sent): normalized if asked, encoded, "/" if empty.
std::string canonical_path(std::string_view path, bool normalize);
std::string sha256_hex(std::string_view data);
// "20150830T123600Z"
std::string amz_date(int64_t time_s);

}  // namespace sf::artifacts::s3
