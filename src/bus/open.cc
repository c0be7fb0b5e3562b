#include "bus/open.h"

#include <cctype>

#include "base/log.h"
#include "bus/kafka/kafka_bus.h"
#include "bus/memory/memory_bus.h"

namespace sf::bus {

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

Result<std::unique_ptr<Bus>> open_bus(const BusConfig& cfg) {
  if (cfg.url == "memory") {
    if (cfg.default_partitions < 1) {
      return Error(Errc::invalid_argument, "default_partitions must be >= 1", "default_partitions");
    }
    MemoryBus::Options opts;
    opts.default_partitions = cfg.default_partitions;
    return std::unique_ptr<Bus>(std::make_unique<MemoryBus>(opts));
  }
  if (cfg.url.rfind("kafka://", 0) == 0) {
    std::unique_ptr<KafkaBus> bus;
    SF_TRY_ASSIGN(bus, KafkaBus::open(cfg));
    return std::unique_ptr<Bus>(std::move(bus));
  }
  return Error(Errc::invalid_argument,
               "unknown bus URL \"" + log::redact_url(cfg.url) +
                   "\" (expected memory or kafka://HOST:PORT[,HOST:PORT])",
               "url");
}

Result<std::map<std::string, std::string>> parse_kafka_properties(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  for (int line_no = 1; start < text.size(); ++line_no) {
    size_t nl = text.find('\n', start);
    std::string line =
        trim(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    start = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    std::string where = "kafka properties line " + std::to_string(line_no);
    if (eq == std::string::npos) {
      return Error(Errc::invalid_argument, where + ": expected key=value", "kafka_properties");
    }
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (key.empty()) {
      return Error(Errc::invalid_argument, where + ": empty key", "kafka_properties");
    }
    for (char c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
        return Error(Errc::invalid_argument, where + ": key has invalid characters",
                     "kafka_properties");
      }
    }
    if (!out.emplace(key, value).second) {
      return Error(Errc::invalid_argument, where + ": duplicate key \"" + key + "\"",
                   "kafka_properties");
    }
  }
  return out;
}

std::string redact_kafka_properties(const std::map<std::string, std::string>& props) {
  std::string out;
  for (const auto& [k, v] : props) {
    if (!out.empty()) out += ", ";
    out += k + "=" + (is_secret_kafka_property(k) ? std::string("***") : v);
  }
  return out;
}

}  // namespace sf::bus
