#include "base/result.h"

namespace sf {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::ok:
      return "ok";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::parse_error:
      return "parse_error";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::too_large:
      return "too_large";
    case Errc::unavailable:
      return "unavailable";
    case Errc::timeout:
      return "timeout";
    case Errc::io_error:
      return "io_error";
    case Errc::closed:
      return "closed";
    case Errc::internal:
      return "internal";
  }
  return "unknown";
}

}  // namespace sf
