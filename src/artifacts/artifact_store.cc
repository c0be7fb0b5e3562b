#include "artifacts/artifact_store.h"

namespace sf::artifacts {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Error refused(std::string_view name, const std::string& why) {
  // The name is shown only while it is short and printable.
  std::string shown(name.substr(0, 80));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return Error(Errc::invalid_argument, "artifact name '" + shown + "': " + why, "name");
}

}  // namespace

Status check_artifact_name(std::string_view name) {
  if (name.empty()) return refused(name, "empty");
  if (name.size() > kMaxArtifactNameBytes)
    return refused(name, "longer than " + std::to_string(kMaxArtifactNameBytes) + " bytes");
  size_t start = 0;
  for (;;) {
    const size_t slash = name.find('/', start);
    const std::string_view seg = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty()) return refused(name, "empty segment (leading, trailing or double '/')");
    if (seg.size() > kMaxArtifactSegmentBytes)
      return refused(
          name, "a segment is longer than " + std::to_string(kMaxArtifactSegmentBytes) + " bytes");
    if (!alnum(seg.front()))
      return refused(name, "each segment must start with a letter or a digit");
    for (char c : seg)
      if (!name_char(c))
        return refused(name, "only letters, digits, '.', '_', '-' and '/' are allowed");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return ok_status();
}

}  // namespace sf::artifacts
