// The proleptic Gregorian calendar in days since 1970-01-01, by Howard Hinnant's
// public-domain algorithms: what time ranges (protocol) and calendar-month intervals (the
// exchange simulator) are computed with. Pure, constexpr, no validation.
#pragma once

#include <cstdint>

namespace sf {

struct CivilDate {
  int64_t year, month, day;  // month 1..12, day 1..31
};

// Days since 1970-01-01 of a date (negative before it).
constexpr int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The date `days` days after 1970-01-01: the inverse of days_from_civil().
constexpr CivilDate civil_from_days(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (m <= 2), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2024, 8, 1) == 19936);
static_assert(civil_from_days(19936).year == 2024 && civil_from_days(19936).month == 8 &&
              civil_from_days(19936).day == 1);
static_assert(civil_from_days(-1).year == 1969 && civil_from_days(-1).day == 31);

}  // namespace sf
