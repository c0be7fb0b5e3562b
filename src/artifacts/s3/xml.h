// The few XML answers of the S3 API (ListObjectsV2, InitiateMultipartUpload, Error),
// read with expat: every leaf element's text with its path from the root, in document
// order ("ListBucketResult/Contents/Key"). Entities are resolved; a document that is not
// well-formed, or larger than kMaxXmlBytes, is a parse_error. Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace sf::artifacts::s3 {

inline constexpr size_t kMaxXmlBytes = 16 << 20;

using XmlLeaves = std::vector<std::pair<std::string, std::string>>;  // (path, text)

Result<XmlLeaves> xml_leaves(std::string_view document);

// The text of the first leaf at `path`, or "" if none.
std::string xml_first(const XmlLeaves& leaves, std::string_view path);

}  // namespace sf::artifacts::s3
