// Result<T>: the value-or-error type every library returns for expected failures
// (bad input, network, exchange or database errors). Exceptions are reserved for bugs
// and start-up misconfiguration.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace sf {

// One error enum for the whole project; each domain uses the subset that applies.
// `http_status()` in src/http maps these to status codes at the edge.
enum class Errc {
  ok = 0,
  invalid_argument,  // input failed validation (HTTP 422)
  parse_error,       // input is not well-formed (HTTP 400)
  not_found,         // HTTP 404
  already_exists,    // HTTP 409
  too_large,         // HTTP 413
  unavailable,       // transient: retry may succeed
  timeout,
  io_error,
  closed,  // the object was closed/shut down, or the call was cancelled
  internal,
  permission_denied,  // the caller's credentials lack a right (HTTP 403)
};

const char* errc_name(Errc c);

struct Error {
  Errc code = Errc::internal;
  std::string message;
  std::string field;  // the offending input field, when there is one

  Error() = default;
  Error(Errc c, std::string msg, std::string fld = {})
      : code(c), message(std::move(msg)), field(std::move(fld)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error err) : v_(std::move(err)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error err) : err_(std::move(err)) {}  // NOLINT

  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(!ok());
    return *err_;
  }

 private:
  std::optional<Error> err_;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace sf

// Early-return helpers for functions returning Result<...> or Status.
#define SF_TRY(expr)                      \
  do {                                    \
    auto sf_try_ = (expr);                \
    if (!sf_try_) return sf_try_.error(); \
  } while (0)

#define SF_TRY_ASSIGN(lhs, expr)          \
  do {                                    \
    auto sf_try_ = (expr);                \
    if (!sf_try_) return sf_try_.error(); \
    lhs = std::move(*sf_try_);            \
  } while (0)
