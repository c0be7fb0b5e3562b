#include "market/data_topic.h"

#include <optional>

#include "base/text.h"
#include "json/json.h"

namespace sf::market {

std::string encode_end_marker(const EndMarker& m) {
  std::string out;
  json::Writer w(out);
  w.begin_object().kv_bool("end_of_data", true).kv_int("published", m.published);
  if (m.first_id && m.last_id) w.kv_int("first_id", *m.first_id).kv_int("last_id", *m.last_id);
  w.end_object();
  return out;
}

Result<EndMarker> decode_end_marker(std::string_view value) {
  auto obj = json::parse_object(value, 4096);
  if (!obj) return obj.error();
  json::Fields f(*obj);
  SF_TRY(f.only({"end_of_data", "published", "first_id", "last_id"}));
  std::optional<bool> end;
  SF_TRY_ASSIGN(end, f.opt_bool("end_of_data"));
  if (!end || !*end) {
    return Error(Errc::invalid_argument, "end marker needs \"end_of_data\": true", "end_of_data");
  }
  EndMarker m;
  SF_TRY_ASSIGN(m.published, f.int64("published"));
  if (m.published < 0) {
    return Error(Errc::invalid_argument, "end marker 'published' must not be negative",
                 "published");
  }
  SF_TRY_ASSIGN(m.first_id, f.opt_int64("first_id"));
  SF_TRY_ASSIGN(m.last_id, f.opt_int64("last_id"));
  if (m.first_id.has_value() != m.last_id.has_value())
    return Error(Errc::invalid_argument, "end marker 'first_id' and 'last_id' go together",
                 m.first_id ? "last_id" : "first_id");
  if (m.first_id && (*m.first_id < 0 || *m.first_id > *m.last_id))
    return Error(Errc::invalid_argument,
                 "end marker 'first_id' must be a non-negative id not after 'last_id'", "first_id");
  return m;
}

std::string encode_dlq_entry(std::string_view reason, const bus::Record& source) {
  const bool utf8 = is_valid_utf8(source.value);
  // The reason may quote the bad input (decoder messages do); keep the entry valid JSON.
  const std::string safe_reason =
      is_valid_utf8(reason) ? std::string(reason) : "(reason not valid UTF-8)";
  std::string out;
  json::Writer w(out);
  w.begin_object()
      .kv("reason", safe_reason)
      .kv("source_topic", source.topic)
      .kv_int("source_partition", source.partition)
      .kv_int("source_offset", source.offset)
      .kv("original", utf8 ? source.value : base64_encode(source.value))
      .kv_bool("original_base64", !utf8)
      .end_object();
  return out;
}

}  // namespace sf::market
