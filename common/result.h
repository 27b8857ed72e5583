// Errors as values at module boundaries.
//
// A `Result<T>` holds either a value or an `Error` whose message is written for a person: it is
// what a chat user or a terminal sees, so it names the thing that failed and why, in one line.
//
// An Error also carries a kind, so a caller can decide what to do (retry, ask for credentials,
// re-read and try again) without searching the message text. The kind is set where the failure
// is first known (the HTTP client, the API client); code that adds context to an error keeps
// its kind (`prefix_error`). `internal` is the default: anything not classified.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace shipmate {

enum class ErrorKind {
  internal,     // a bug, or nothing more specific is known
  invalid,      // the request or input was refused as malformed (HTTP 400/422, a bad URL)
  not_found,    // the thing asked for does not exist (HTTP 404/410)
  conflict,     // the state changed underneath; re-read and retry may work (HTTP 409/412)
  auth,         // credentials missing, rejected, or lacking a permission (HTTP 401/403)
  unavailable,  // the other side could not be reached or is overloaded (DNS, refused connection,
                // timeouts, HTTP 5xx/429): trying again later may work
  tls,          // TLS could not be established (certificate verification, client certificate)
};

// How far a request got before a transport failure ended it. The kind says what a caller may do
// about a failure; this says whether the other side can have acted on the request, which a
// caller needs before sending a non-idempotent request again, or to tell "too slow" from "not
// there". The network clients set it where they know (integrations/net); it is `unknown`
// everywhere else, and prefix_error keeps it.
enum class Reach {
  unknown,    // not a transport failure, or nothing is known
  not_sent,   // failed before any byte of the request left: DNS, connect, proxy, TLS handshake
  sent,       // (part of) the request left and no usable answer came: it may have been acted on
  timed_out,  // sent, and no complete answer arrived within the deadline
};

// "auth", "not found", ...: for logs and tests.
inline const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::internal:
      return "internal";
    case ErrorKind::invalid:
      return "invalid";
    case ErrorKind::not_found:
      return "not found";
    case ErrorKind::conflict:
      return "conflict";
    case ErrorKind::auth:
      return "auth";
    case ErrorKind::unavailable:
      return "unavailable";
    case ErrorKind::tls:
      return "tls";
  }
  return "internal";
}

struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::internal;
  Reach reach = Reach::unknown;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

// For operations that return nothing on success.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(std::string message, ErrorKind kind = ErrorKind::internal,
                        Reach reach = Reach::unknown) {
  return Error{std::move(message), kind, reach};
}

// The same error with context in front of its message ("GitHub: trigger workflow: " + ...); the
// kind and the reach are kept.
inline Error prefix_error(std::string_view prefix, Error error) {
  error.message.insert(0, prefix);
  return error;
}

}  // namespace shipmate
