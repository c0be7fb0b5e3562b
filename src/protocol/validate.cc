#include "protocol/validate.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <optional>

#include "base/civil.h"

namespace sf::protocol {
namespace {

bool is_upper_or_digit(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Parses exactly `n` digits at s[pos..]; advances pos.
bool digits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Parses one instant at s[pos..]; advances pos past it. Returns epoch ms or an error text.
bool parse_instant(std::string_view s, size_t& pos, int64_t& out_ms, std::string& why) {
  int y, mo, d, h = 0, mi = 0, se = 0;
  size_t p = pos;
  if (!digits(s, p, 4, y) || p >= s.size() || s[p++] != '-' || !digits(s, p, 2, mo) ||
      p >= s.size() || s[p++] != '-' || !digits(s, p, 2, d)) {
    why = "expected a date YYYY-MM-DD";
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || y < 1970) {
    why = "'" + std::string(s.substr(pos, p - pos)) + "' is not a valid date";
    return false;
  }
  if (p < s.size() && s[p] == 'T') {
    ++p;
    if (!digits(s, p, 2, h) || p >= s.size() || s[p++] != ':' || !digits(s, p, 2, mi)) {
      why = "expected a time HH:MM[:SS] after 'T'";
      return false;
    }
    // Seconds are optional: ":SS" counts as seconds only when followed by the end, the
    // range separator ':' or 'Z' (the separator is followed by a 4-digit year instead).
    if (p < s.size() && s[p] == ':') {
      size_t q = p + 1;
      int tmp;
      if (digits(s, q, 2, tmp) && (q == s.size() || s[q] == ':' || s[q] == 'Z')) {
        se = tmp;
        p = q;
      }
    }
    if (p < s.size() && s[p] == 'Z') ++p;
    if (h > 23 || mi > 59 || se > 59) {
      why = "'" + std::string(s.substr(pos, p - pos)) + "' is not a valid time";
      return false;
    }
  }
  out_ms = ((days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400) +
            h * 3600 + mi * 60 + se) *
           1000;
  pos = p;
  return true;
}

// The refusal of `field`'s value: invalid_argument, "field '<field>': <what>".
Error field_error(const std::string& field, const std::string& what) {
  return Error(Errc::invalid_argument, "field '" + field + "': " + what, field);
}

}  // namespace

int64_t days_from_civil(int y, unsigned m, unsigned d) { return sf::days_from_civil(y, m, d); }

std::string format_instant(int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t sod = secs - days * 86400;
  const CivilDate c = civil_from_days(days);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld",
                static_cast<long long>(c.year), static_cast<long long>(c.month),
                static_cast<long long>(c.day), static_cast<long long>(sod / 3600),
                static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60));
  return buf;
}

std::string format_time_range(int64_t start_ms, int64_t end_ms) {
  return format_instant(start_ms) + ":" + format_instant(end_ms);
}

bool is_id_range_text(std::string_view text) { return text.starts_with("id:"); }

Result<IdRange> parse_id_range(std::string_view text, const std::string& field) {
  auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_argument,
                 "id range '" + std::string(text.substr(0, 60)) + "' " + why +
                     " (expected id:FROM-TO, e.g. id:1000-1999)",
                 field);
  };
  if (!is_id_range_text(text)) return bad("does not start with 'id:'");
  std::string_view rest = text.substr(3);
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos) return bad("has no '-'");
  // A decimal integer: digits only, no leading zero, within int64.
  auto number = [](std::string_view d) -> std::optional<int64_t> {
    if (d.empty() || d.size() > 19 || (d.size() > 1 && d[0] == '0')) return std::nullopt;
    uint64_t v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v);
  };
  auto first = number(rest.substr(0, dash));
  auto last = number(rest.substr(dash + 1));
  if (!first || !last) return bad("needs two non-negative integers without sign or leading zero");
  if (*first > *last) return bad("ends before it starts");
  return IdRange{*first, *last};
}

std::string format_id_range(int64_t first, int64_t last) {
  return "id:" + std::to_string(first) + "-" + std::to_string(last);
}

bool is_reserved_queue_id(std::string_view s) {
  for (auto r : kReservedQueueIds)
    if (s == r) return true;
  return false;
}

bool is_kline_interval(std::string_view s) {
  for (auto i : kKlineIntervals)
    if (s == i) return true;
  return false;
}

const std::string& time_range_pattern() {
  // Years from 1970; days per month, 29 February in leap years only.
  static const std::string kPattern = [] {
    const std::string year = "(?:19[7-9][0-9]|[2-9][0-9]{3})";
    const std::string leap_year =
        "(?:19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])|"
        "(?:[2468][048]|[3579][26])00)";
    const std::string month_day =
        "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|"
        "02-(?:0[1-9]|1[0-9]|2[0-8]))";
    const std::string date = "(?:" + year + "-" + month_day + "|" + leap_year + "-02-29)";
    const std::string instant = date + "(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?Z?)?";
    return "^" + instant + ":" + instant + "$";
  }();
  return kPattern;
}

bool is_valid_symbol(std::string_view s) {
  if (s.size() < 2 || s.size() > 20) return false;
  for (char c : s)
    if (!is_upper_or_digit(c)) return false;
  return true;
}

bool is_safe_name(std::string_view s) {
  if (s.empty() || s.size() > 200 || !is_alnum(s[0])) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

bool is_safe_collection(std::string_view s) {
  if (s.empty() || s.size() > 63 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '_') return false;
  return true;
}

Status check_symbol(std::string_view s, const std::string& field) {
  if (is_valid_symbol(s)) return {};
  return field_error(field, "symbol '" + std::string(s) +
                                "' must be 2-20 upper-case letters or digits, like BTCUSDT");
}

Status check_safe_name(std::string_view s, const std::string& field) {
  if (is_safe_name(s)) return {};
  return field_error(field, "'" + std::string(s) +
                                "' is not a safe name (letters, digits, '.', '_', '-'; starting "
                                "with a letter or digit; at most 200 characters)");
}

Status check_collection(std::string_view s, const std::string& field) {
  if (is_safe_collection(s)) return {};
  return field_error(field, "'" + std::string(s) +
                                "' is not a safe collection name (a letter, then letters, "
                                "digits or '_'; at most 63 characters)");
}

Result<TimeRange> parse_time_range(std::string_view text, const std::string& field) {
  auto fail = [&](const std::string& why) {
    return field_error(field, "'" + std::string(text) +
                                  "' is not a time range YYYY-MM-DD:YYYY-MM-DD (or "
                                  "YYYY-MM-DDTHH:MM[:SS]:YYYY-MM-DDTHH:MM[:SS]): " +
                                  why);
  };
  TimeRange r;
  size_t pos = 0;
  std::string why;
  if (!parse_instant(text, pos, r.start_ms, why)) return fail(why);
  if (pos >= text.size() || text[pos] != ':') return fail("expected ':' between start and end");
  ++pos;
  if (!parse_instant(text, pos, r.end_ms, why)) return fail(why);
  if (pos != text.size()) return fail("unexpected text after the end");
  if (r.end_ms <= r.start_ms)
    return field_error(field,
                       "end of time range '" + std::string(text) + "' must be after its start");
  return r;
}

Status check_id_bounds(const std::optional<int64_t>& first, const std::optional<int64_t>& last,
                       const std::string& first_field, const std::string& last_field) {
  if (first && *first < 0)
    return Error(Errc::invalid_argument, "trade ids are not negative", first_field);
  if (last && *last < 0)
    return Error(Errc::invalid_argument, "trade ids are not negative", last_field);
  if (first && last && *first > *last)
    return Error(Errc::invalid_argument,
                 first_field + " (" + std::to_string(*first) + ") comes after " + last_field +
                     " (" + std::to_string(*last) + ")",
                 first_field);
  return {};
}

}  // namespace sf::protocol
