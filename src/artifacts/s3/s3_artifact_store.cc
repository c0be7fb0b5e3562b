#include "artifacts/s3/s3_artifact_store.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <ctime>
#include <thread>

#include "artifacts/s3/xml.h"

namespace sf::artifacts {

namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

// S3's bucket naming rules (the common subset): 3-63 of [a-z0-9.-], starting and ending
// with a letter or digit.
bool valid_bucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(b.front()) || !alnum(b.back())) return false;
  return std::all_of(b.begin(), b.end(), [&](char c) { return alnum(c) || c == '.' || c == '-'; });
}

bool retryable(const Error& e) {
  return e.code == Errc::unavailable || e.code == Errc::timeout || e.code == Errc::io_error;
}

bool retryable(int status) { return status == 429 || status >= 500; }

}  // namespace

Result<S3Config> parse_s3_url(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "s3")
    return Error(Errc::invalid_argument,
                 "artifact URL must look like s3://BUCKET[/PREFIX]?endpoint=URL", "artifacts");
  S3Config c;
  c.bucket = std::string(u->host());
  if (!valid_bucket(c.bucket))
    return Error(Errc::invalid_argument,
                 "'" + c.bucket + "' is not an S3 bucket name (3-63 of a-z 0-9 . -)", "artifacts");
  std::string path = std::string(u->path());
  while (!path.empty() && path.front() == '/') path.erase(path.begin());
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.empty()) {
    if (auto s = check_artifact_name(path); !s)
      return Error(Errc::invalid_argument, "the artifact URL's prefix: " + s.error().message,
                   "artifacts");
    c.prefix = path;
  }
  for (auto p : u->params()) {
    if (p.key == "endpoint") {
      c.endpoint = p.value;
    } else if (p.key == "region") {
      c.region = p.value;
    } else {
      return Error(Errc::invalid_argument,
                   "unknown artifact URL parameter '" + std::string(p.key) +
                       "' (endpoint and region are known)",
                   "artifacts");
    }
  }
  auto e = boost::urls::parse_uri(c.endpoint);
  if (c.endpoint.empty() || !e || (e->scheme() != "http" && e->scheme() != "https") ||
      e->host().empty())
    return Error(Errc::invalid_argument,
                 "the artifact URL needs endpoint=http[s]://HOST[:PORT] (path-style S3)",
                 "artifacts");
  if (c.region.empty()) return Error(Errc::invalid_argument, "empty region", "artifacts");
  return c;
}

S3ArtifactStore::S3ArtifactStore(S3Config config) : cfg_(std::move(config)) {
  auto e = boost::urls::parse_uri(cfg_.endpoint);
  host_ = std::string(e->host());
  if (e->has_port()) host_ += ":" + std::string(e->port());
}

Result<std::unique_ptr<S3ArtifactStore>> S3ArtifactStore::open(S3Config config) {
  auto e = boost::urls::parse_uri(config.endpoint);
  if (!e || e->host().empty())
    return Error(Errc::invalid_argument, "bad S3 endpoint '" + config.endpoint + "'", "endpoint");
  if (!valid_bucket(config.bucket))
    return Error(Errc::invalid_argument, "'" + config.bucket + "' is not an S3 bucket name",
                 "bucket");
  if (config.credentials.access_key_id.empty() || config.credentials.secret_access_key.empty())
    return Error(Errc::invalid_argument,
                 "no S3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", "credentials");
  config.part_bytes = std::max(config.part_bytes, size_t{5} << 20);
  std::unique_ptr<S3ArtifactStore> s(new S3ArtifactStore(std::move(config)));
  auto r = s->call("GET", "", {{"list-type", "2"}, {"max-keys", "1"}}, {});
  if (!r) return r.error();
  if (r->status != 200) return s->refusal(*r, "cannot list bucket " + s->cfg_.bucket);
  return s;
}

std::string S3ArtifactStore::key_of(const std::string& name) const {
  return cfg_.prefix.empty() ? name : cfg_.prefix + "/" + name;
}

std::string S3ArtifactStore::describe() const {
  return "s3://" + cfg_.bucket + (cfg_.prefix.empty() ? "" : "/" + cfg_.prefix) + " at " +
         cfg_.endpoint;
}

// One request, signed, retried on transport failures, 5xx and throttling.
Result<http::ClientResponse> S3ArtifactStore::call(const std::string& method,
                                                   const std::string& key, Query query,
                                                   std::string_view body) const {
  const std::string path = "/" + cfg_.bucket + (key.empty() ? "" : "/" + key);
  const std::string sha = s3::sha256_hex(body);
  std::string target = s3::canonical_path(path, false);
  {
    Query q;
    for (const auto& [k, v] : query)
      q.emplace_back(s3::uri_encode(k, true), s3::uri_encode(v, true));
    std::sort(q.begin(), q.end());
    for (size_t i = 0; i < q.size(); ++i)
      target += (i ? "&" : "?") + q[i].first + "=" + q[i].second;
  }
  std::chrono::milliseconds wait = cfg_.backoff;
  for (int attempt = 1;; ++attempt) {
    s3::SigningRequest req{
        method, path, query, {{"Host", host_}, {"x-amz-content-sha256", sha}}, sha};
    const auto sig = s3::sign(req, cfg_.credentials,
                              {cfg_.region, "s3", static_cast<int64_t>(std::time(nullptr))});
    http::HeaderList headers = req.headers;
    for (const auto& h : sig.added) headers.push_back(h);
    headers.emplace_back("Authorization", sig.authorization);
    http::Client client(cfg_.endpoint, "", cfg_.timeout, cfg_.tls);
    auto r = client.request(method, target, body, "application/octet-stream", headers);
    const bool again = r ? retryable(r->status) : retryable(r.error());
    if (!again || attempt >= cfg_.attempts) {
      if (!r)
        return Error(Errc::unavailable, "S3 " + method + " " + path + " at " + cfg_.endpoint +
                                            ": " + r.error().message);
      if (again)
        return Error(Errc::unavailable, "S3 " + method + " " + path + " at " + cfg_.endpoint +
                                            ": HTTP " + std::to_string(r->status) + " after " +
                                            std::to_string(attempt) + " attempts");
      return r;
    }
    std::this_thread::sleep_for(wait);
    wait *= 2;
  }
}

// An answer that is not a success, as an error naming S3's code and message.
Error S3ArtifactStore::refusal(const http::ClientResponse& r, const std::string& what) const {
  std::string code, message;
  if (auto leaves = s3::xml_leaves(r.body); leaves) {
    code = s3::xml_first(*leaves, "Error/Code");
    message = s3::xml_first(*leaves, "Error/Message");
  }
  std::string text = what + ": HTTP " + std::to_string(r.status);
  if (!code.empty()) text += " " + code;
  if (!message.empty()) text += " (" + message + ")";
  if (code == "SignatureDoesNotMatch")
    return Error(Errc::invalid_argument,
                 text + "; the secret key (AWS_SECRET_ACCESS_KEY) does not match the access key",
                 "credentials");
  // versitygw answers an unknown key with 404 XAdminUserNotFound.
  if (code == "InvalidAccessKeyId" || code == "XAdminUserNotFound")
    return Error(Errc::invalid_argument,
                 text + "; the server does not know the access key (AWS_ACCESS_KEY_ID)",
                 "credentials");
  if (code == "AccessDenied" || r.status == 403)
    return Error(Errc::invalid_argument, text + "; the credentials may not do this", "credentials");
  if (code == "NoSuchBucket")
    return Error(Errc::not_found, text + "; create bucket " + cfg_.bucket + " first", "bucket");
  if (r.status == 404) return Error(Errc::not_found, text);
  return Error(Errc::io_error, text);
}

Status S3ArtifactStore::put(const std::string& name, std::string_view data) {
  SF_TRY(check_artifact_name(name));
  const std::string key = key_of(name);
  if (data.size() > cfg_.part_bytes) return put_multipart(key, data);
  auto r = call("PUT", key, {}, data);
  if (!r) return r.error();
  if (r->status != 200) return refusal(*r, "cannot store " + name);
  return ok_status();
}

Status S3ArtifactStore::put_multipart(const std::string& key, std::string_view data) {
  auto r = call("POST", key, {{"uploads", ""}}, {});
  if (!r) return r.error();
  if (r->status != 200) return refusal(*r, "cannot start the upload of " + key);
  auto leaves = s3::xml_leaves(r->body);
  if (!leaves) return leaves.error();
  const std::string upload = s3::xml_first(*leaves, "InitiateMultipartUploadResult/UploadId");
  if (upload.empty())
    return Error(Errc::io_error, "S3 started an upload of " + key + " without an UploadId");
  auto abort = [&](Error e) {
    (void)call("DELETE", key, {{"uploadId", upload}}, {});
    return e;
  };
  std::string complete = "<CompleteMultipartUpload>";
  int part = 1;
  for (size_t off = 0; off < data.size(); off += cfg_.part_bytes, ++part) {
    const std::string_view chunk = data.substr(off, cfg_.part_bytes);
    auto p = call("PUT", key, {{"partNumber", std::to_string(part)}, {"uploadId", upload}}, chunk);
    if (!p) return abort(p.error());
    if (p->status != 200)
      return abort(refusal(*p, "cannot upload part " + std::to_string(part) + " of " + key));
    const std::string etag(p->header("ETag"));
    if (etag.empty())
      return abort(Error(Errc::io_error, "S3 answered part " + std::to_string(part) + " of " + key +
                                             " without an ETag"));
    // An ETag is a quoted hex digest: nothing to escape but the quotes, which XML text allows.
    complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + etag +
                "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  auto c = call("POST", key, {{"uploadId", upload}}, complete);
  if (!c) return abort(c.error());
  // S3 may answer 200 and still report an error in the body.
  if (c->status != 200 || c->body.find("<Error>") != std::string::npos)
    return abort(refusal(*c, "cannot complete the upload of " + key));
  return ok_status();
}

Result<std::string> S3ArtifactStore::get(const std::string& name) {
  SF_TRY(check_artifact_name(name));
  auto r = call("GET", key_of(name), {}, {});
  if (!r) return r.error();
  if (r->status == 404) {
    Error e = refusal(*r, "no artifact '" + name + "'");
    if (e.field != "bucket")
      return Error(Errc::not_found, "no artifact '" + name + "' in " + describe());
    return e;
  }
  if (r->status != 200) return refusal(*r, "cannot read " + name);
  return std::move(r->body);
}

Result<std::vector<ArtifactInfo>> S3ArtifactStore::list(const std::string& prefix) {
  const std::string base = cfg_.prefix.empty() ? "" : cfg_.prefix + "/";
  std::vector<ArtifactInfo> out;
  std::string token;
  for (;;) {
    Query q{{"list-type", "2"}, {"prefix", base + prefix}};
    if (!token.empty()) q.emplace_back("continuation-token", token);
    auto r = call("GET", "", q, {});
    if (!r) return r.error();
    if (r->status != 200) return refusal(*r, "cannot list " + describe());
    auto leaves = s3::xml_leaves(r->body);
    if (!leaves) return leaves.error();
    std::optional<ArtifactInfo> cur;
    auto flush = [&] {
      if (cur && cur->name.compare(0, base.size(), base) == 0) {
        cur->name.erase(0, base.size());
        if (check_artifact_name(cur->name)) out.push_back(std::move(*cur));  // else not ours
      }
      cur.reset();
    };
    for (const auto& [path, text] : *leaves) {
      if (path == "ListBucketResult/Contents/Key") {
        flush();
        cur = ArtifactInfo{text, 0};
      } else if (path == "ListBucketResult/Contents/Size" && cur) {
        try {
          cur->size = std::stoll(text);
        } catch (...) {
          return Error(Errc::parse_error, "S3 listed " + cur->name + " with size '" + text + "'");
        }
      }
    }
    flush();
    if (s3::xml_first(*leaves, "ListBucketResult/IsTruncated") != "true") break;
    token = s3::xml_first(*leaves, "ListBucketResult/NextContinuationToken");
    if (token.empty())
      return Error(Errc::io_error, "S3 cut a listing short without a continuation token");
  }
  std::sort(out.begin(), out.end(),
            [](const ArtifactInfo& a, const ArtifactInfo& b) { return a.name < b.name; });
  return out;
}

Status S3ArtifactStore::remove(const std::string& name) {
  SF_TRY(check_artifact_name(name));
  auto r = call("DELETE", key_of(name), {}, {});
  if (!r) return r.error();
  if (r->status != 204 && r->status != 200) return refusal(*r, "cannot remove " + name);
  return ok_status();
}

}  // namespace sf::artifacts
