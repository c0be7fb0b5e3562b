#include "artifacts/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>
#include <map>

namespace sf::artifacts::s3 {

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string hex(const unsigned char* p, size_t n) {
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

// Leading and trailing whitespace dropped, inner runs collapsed to one space.
std::string trim_collapse(std::string_view v) {
  std::string r;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !r.empty();
      continue;
    }
    if (space) r += ' ';
    space = false;
    r += c;
  }
  return r;
}

// Dot segments resolved and empty segments dropped (RFC 3986 5.2.4 plus AWS's collapsing
// of repeated slashes); a trailing slash is kept.
std::string normalize(std::string_view path) {
  std::vector<std::string_view> segs;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view seg = path.substr(start, slash - start);
    if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
    start = slash + 1;
  }
  std::string r;
  for (auto s : segs) r.append("/").append(s);
  if (r.empty()) return "/";
  if (!path.empty() && path.back() == '/') r += '/';
  return r;
}

}  // namespace

std::string uri_encode(std::string_view s, bool encode_slash) {
  std::string r;
  r.reserve(s.size());
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (c == '/' && !encode_slash)) {
      r += static_cast<char>(c);
    } else {
      r += '%';
      r += "0123456789ABCDEF"[c >> 4];
      r += "0123456789ABCDEF"[c & 15];
    }
  }
  return r;
}

std::string canonical_path(std::string_view path, bool normalize_path) {
  if (path.empty()) return "/";
  return uri_encode(normalize_path ? normalize(path) : std::string(path), false);
}

std::string sha256_hex(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return hex(out, sizeof out);
}

std::string amz_date(int64_t time_s) {
  const time_t t = static_cast<time_t>(time_s);
  tm u{};
  gmtime_r(&t, &u);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &u);
  return buf;
}

Signature sign(const SigningRequest& req, const Credentials& cred, const SigningOptions& opt) {
  Signature out;
  const std::string date_time = amz_date(opt.time_s);
  const std::string date = date_time.substr(0, 8);
  out.added.emplace_back("X-Amz-Date", date_time);
  if (!cred.session_token.empty() && !opt.omit_session_token)
    out.added.emplace_back("X-Amz-Security-Token", cred.session_token);

  // Headers by lowercase name (sorted), values of repeated names joined by ',' in order.
  std::map<std::string, std::string> headers;
  auto add = [&](const std::string& name, const std::string& value) {
    auto [it, fresh] = headers.try_emplace(lower(name), trim_collapse(value));
    if (!fresh) it->second += "," + trim_collapse(value);
  };
  for (const auto& [n, v] : req.headers) add(n, v);
  for (const auto& [n, v] : out.added) add(n, v);
  std::string canonical_headers, signed_headers;
  for (const auto& [n, v] : headers) {
    canonical_headers += n + ":" + v + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += n;
  }

  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [k, v] : req.query) query.emplace_back(uri_encode(k, true), uri_encode(v, true));
  std::sort(query.begin(), query.end());
  std::string canonical_query;
  for (const auto& [k, v] : query) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query += k + "=" + v;
  }

  out.canonical_request = req.method + "\n" + canonical_path(req.path, opt.normalize_path) + "\n" +
                          canonical_query + "\n" + canonical_headers + "\n" + signed_headers +
                          "\n" + req.payload_sha256;
  const std::string scope = date + "/" + opt.region + "/" + opt.service + "/aws4_request";
  out.string_to_sign =
      "AWS4-HMAC-SHA256\n" + date_time + "\n" + scope + "\n" + sha256_hex(out.canonical_request);
  const std::string key =
      hmac(hmac(hmac(hmac("AWS4" + cred.secret_access_key, date), opt.region), opt.service),
           "aws4_request");
  const std::string mac = hmac(key, out.string_to_sign);
  out.signature = hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + cred.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature;
  return out;
}

}  // namespace sf::artifacts::s3
