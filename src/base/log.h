// JSON-lines logging: one object per line with time, level, service, queue_id (when known)
// and message. Thread-safe; writes to stderr by default. Secrets must never be passed in
// messages: callers log URLs through `redact_url()`.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace sf::log {

enum class Level { debug = 0, info, warn, error };

// Process-wide settings; set once by apps/ at start-up.
void set_service(std::string service);
void set_level(Level level);
void set_sink(std::FILE* sink);  // default stderr
bool parse_level(std::string_view name, Level* out);
// Whether messages of `level` are written: lets hot paths skip building debug messages.
bool enabled(Level level);

void write(Level level, std::string_view message, std::string_view queue_id = {},
           std::string_view service_override = {});

inline void debug(std::string_view m, std::string_view q = {}) { write(Level::debug, m, q); }
inline void info(std::string_view m, std::string_view q = {}) { write(Level::info, m, q); }
inline void warn(std::string_view m, std::string_view q = {}) { write(Level::warn, m, q); }
inline void error(std::string_view m, std::string_view q = {}) { write(Level::error, m, q); }

// Returns the URL with any userinfo password and token-like query values replaced by "***".
std::string redact_url(std::string_view url);

}  // namespace sf::log
