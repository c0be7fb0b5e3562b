#include "base/result.h"

#include "base/enum_names.h"

namespace sf {

namespace {
constexpr const char* kErrcNames[] = {"ok",          "invalid_argument", "parse_error",
                                      "not_found",   "already_exists",   "too_large",
                                      "unavailable", "timeout",          "io_error",
                                      "closed",      "internal",         "permission_denied"};
}  // namespace

const char* errc_name(Errc c) { return enum_name(c, kErrcNames, "unknown"); }

}  // namespace sf
