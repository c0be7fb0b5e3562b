#include "base/log.h"

#include "base/enum_names.h"
#include "base/json_escape.h"

#include <atomic>
#include <chrono>
#include <ctime>

namespace sf::log {
namespace {

std::mutex g_mu;
std::string g_service = "streamforge";
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::FILE* g_sink = stderr;

constexpr const char* kLevelNames[] = {"debug", "info", "warn", "error"};
const char* level_name(Level l) { return enum_name(l, kLevelNames, "info"); }

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

void set_service(std::string service) {
  std::lock_guard lk(g_mu);
  g_service = std::move(service);
}
void set_level(Level level) { g_level = static_cast<int>(level); }
bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}
void set_sink(std::FILE* sink) {
  std::lock_guard lk(g_mu);
  g_sink = sink;
}

bool parse_level(std::string_view name, Level* out) {
  if (name == "debug")
    *out = Level::debug;
  else if (name == "info")
    *out = Level::info;
  else if (name == "warn" || name == "warning")
    *out = Level::warn;
  else if (name == "error")
    *out = Level::error;
  else
    return false;
  return true;
}

void write(Level level, std::string_view message, std::string_view queue_id,
           std::string_view service_override) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(128 + message.size());
  line += "{\"time\":\"";
  line += now_iso8601();
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"service\":\"";
  std::lock_guard lk(g_mu);
  append_json_escaped(line,
                      service_override.empty() ? std::string_view(g_service) : service_override);
  line += '"';
  if (!queue_id.empty()) {
    line += ",\"queue_id\":\"";
    append_json_escaped(line, queue_id);
    line += '"';
  }
  line += ",\"message\":\"";
  append_json_escaped(line, message);
  line += "\"}\n";
  std::fwrite(line.data(), 1, line.size(), g_sink);
  std::fflush(g_sink);
}

std::string redact_url(std::string_view url) {
  std::string out(url);
  // userinfo: scheme://user:password@host -> scheme://user:***@host
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    auto at = out.find('@', scheme + 3);
    auto slash = out.find('/', scheme + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      auto colon = out.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // query values of secret-looking keys
  for (const char* key : {"password=", "token=", "secret=", "apikey=", "api_key="}) {
    size_t pos = 0;
    std::string k(key);
    while ((pos = out.find(k, pos)) != std::string::npos) {
      size_t start = pos + k.size();
      size_t end = out.find('&', start);
      if (end == std::string::npos) end = out.size();
      out.replace(start, end - start, "***");
      pos = start + 3;
    }
  }
  return out;
}

}  // namespace sf::log
