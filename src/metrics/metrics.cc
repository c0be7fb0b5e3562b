#include "metrics/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "base/enum_names.h"

namespace sf::metrics {

namespace {

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  auto head = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  if (!head(n[0])) return false;
  return std::all_of(n.begin() + 1, n.end(),
                     [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.substr(0, 2) == "__") return false;  // "__" is reserved by Prometheus
  auto head = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!head(n[0])) return false;
  return std::all_of(n.begin() + 1, n.end(),
                     [&](char c) { return head(c) || (c >= '0' && c <= '9'); });
}

// Lock-free add for atomic<double> (fetch_add on floating atomics is C++20, but a CAS loop
// is what it compiles to anyway and keeps relaxed ordering explicit).
void atomic_add(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

// The exposition format's escapes: backslash and line feed in HELP text, and the double
// quote as well in label values.
void escape(std::string& out, std::string_view v, bool quotes) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}
void escape_label_value(std::string& out, std::string_view v) { escape(out, v, true); }
void escape_help(std::string& out, std::string_view v) { escape(out, v, false); }

constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
const char* type_name(Type t) { return enum_name(t, kTypeNames, "untyped"); }

// {a="x",b="y"} with an optional extra label (histogram "le") last; "" when empty.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    escape_label_value(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    escape_label_value(out, extra_value);
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::string>& names, const std::vector<std::string>& values,
                   double v, std::string_view extra_name = {}, std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  append_labels(out, names, values, extra_name, extra_value);
  out += ' ';
  out += format_value(v);
  out += '\n';
}

std::vector<double> check_buckets(std::vector<double> b) {
  if (!b.empty() && std::isinf(b.back()) && b.back() > 0) b.pop_back();  // +Inf is implicit
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(b[i])) throw std::invalid_argument("histogram bucket bounds must be finite");
    if (i > 0 && !(b[i] > b[i - 1])) {
      throw std::invalid_argument("histogram bucket bounds must be strictly increasing");
    }
  }
  return b;
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Shortest representation that round-trips; Go's ParseFloat (Prometheus) reads it.
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// ---------------------------------------------------------------------------------------
// Metrics

void Counter::inc(double v) {
  if (!(v >= 0)) return;
  atomic_add(v_, v);
}

void Gauge::inc(double v) { atomic_add(v_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(check_buckets(std::move(bounds))),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // le is inclusive: v lands in the first bucket whose bound is >= v (NaN goes to +Inf).
  size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = acc;
  }
  s.count = acc;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------------------
// Families

FamilyBase::FamilyBase(std::string name, std::string help, Type type,
                       std::vector<std::string> labels)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(labels)) {}

std::vector<std::string> FamilyBase::values_for(const Labels& labels) const {
  auto mismatch = [&] {
    std::string want;
    for (const auto& n : label_names_) want += (want.empty() ? "" : ",") + n;
    std::string got;
    for (const auto& [n, v] : labels) got += (got.empty() ? "" : ",") + n;
    return std::invalid_argument("metric " + name_ + " has labels {" + want + "}, got {" + got +
                                 "}");
  };
  if (labels.size() != label_names_.size()) throw mismatch();
  std::vector<std::string> values(label_names_.size());
  std::vector<bool> seen(label_names_.size(), false);
  for (const auto& [n, v] : labels) {
    auto it = std::find(label_names_.begin(), label_names_.end(), n);
    if (it == label_names_.end()) throw mismatch();
    size_t i = static_cast<size_t>(it - label_names_.begin());
    if (seen[i]) throw mismatch();
    seen[i] = true;
    values[i] = v;
  }
  return values;
}

template <typename M>
Family<M>::Family(std::string name, std::string help, Type type,
                  std::vector<std::string> label_names, std::vector<double> buckets)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      buckets_(std::move(buckets)) {}

template <typename M>
M& Family<M>::with(const Labels& labels) {
  std::vector<std::string> values = values_for(labels);
  std::lock_guard lk(mu_);
  auto& slot = children_[std::move(values)];
  if (!slot) {
    if constexpr (std::is_same_v<M, Histogram>) {
      slot = std::make_unique<Histogram>(buckets_);
    } else {
      slot = std::make_unique<M>();
    }
  }
  return *slot;
}

template <typename M>
void Family<M>::expose(std::string& out) const {
  std::lock_guard lk(mu_);
  if (children_.empty()) return;
  out += "# HELP ";
  out += name_;
  out += ' ';
  escape_help(out, help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  for (const auto& [values, m] : children_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      Histogram::Snapshot s = m->snapshot();
      const auto& b = m->bounds();
      for (size_t i = 0; i < b.size(); ++i) {
        append_sample(out, name_, "_bucket", label_names_, values,
                      static_cast<double>(s.cumulative[i]), "le", format_value(b[i]));
      }
      append_sample(out, name_, "_bucket", label_names_, values,
                    static_cast<double>(s.cumulative.back()), "le", "+Inf");
      append_sample(out, name_, "_sum", label_names_, values, s.sum);
      append_sample(out, name_, "_count", label_names_, values, static_cast<double>(s.count));
    } else {
      append_sample(out, name_, "", label_names_, values, m->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------------------
// Registry

Registry::Registry() = default;
Registry::~Registry() = default;

template <typename M>
Family<M>& Registry::family(std::string_view name, std::string_view help, Type type,
                            std::vector<std::string> label_names, std::vector<double> buckets) {
  std::string n(name);
  if (!valid_metric_name(n)) throw std::invalid_argument("invalid metric name '" + n + "'");
  if (type == Type::counter && (n.size() <= 6 || n.compare(n.size() - 6, 6, "_total") != 0)) {
    throw std::invalid_argument("counter name '" + n + "' must end in _total");
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const auto& l = label_names[i];
    if (!valid_label_name(l)) {
      throw std::invalid_argument("metric " + n + ": invalid label name '" + l + "'");
    }
    if (type == Type::histogram && l == "le") {
      throw std::invalid_argument("histogram " + n + " must not have a label named le");
    }
    if (std::find(label_names.begin(), label_names.begin() + static_cast<long>(i), l) !=
        label_names.begin() + static_cast<long>(i)) {
      throw std::invalid_argument("metric " + n + ": duplicate label name '" + l + "'");
    }
  }
  if (type == Type::histogram) buckets = check_buckets(std::move(buckets));

  std::lock_guard lk(mu_);
  auto it = families_.find(n);
  if (it != families_.end()) {
    auto* f = dynamic_cast<Family<M>*>(it->second.get());
    if (!f || f->type() != type || f->help() != help || f->label_names() != label_names ||
        f->buckets() != buckets) {
      throw std::invalid_argument("metric " + n + " is already registered differently");
    }
    return *f;
  }
  auto f = std::make_unique<Family<M>>(n, std::string(help), type, std::move(label_names),
                                       std::move(buckets));
  auto& ref = *f;
  if (ref.label_names().empty()) ref.with({});  // an unlabelled metric is exposed from the start
  families_.emplace(std::move(n), std::move(f));
  return ref;
}

namespace {
std::vector<std::string> names_of(const Labels& labels) {
  std::vector<std::string> names;
  names.reserve(labels.size());
  for (const auto& [n, v] : labels) names.push_back(n);
  return names;
}
}  // namespace

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  return family<Counter>(name, help, Type::counter, names_of(labels), {}).with(labels);
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return family<Gauge>(name, help, Type::gauge, names_of(labels), {}).with(labels);
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::vector<double> buckets, const Labels& labels) {
  return family<Histogram>(name, help, Type::histogram, names_of(labels), std::move(buckets))
      .with(labels);
}

CounterFamily& Registry::counter_family(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names) {
  return family<Counter>(name, help, Type::counter, std::move(label_names), {});
}

GaugeFamily& Registry::gauge_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names) {
  return family<Gauge>(name, help, Type::gauge, std::move(label_names), {});
}

HistogramFamily& Registry::histogram_family(std::string_view name, std::string_view help,
                                            std::vector<double> buckets,
                                            std::vector<std::string> label_names) {
  return family<Histogram>(name, help, Type::histogram, std::move(label_names), std::move(buckets));
}

void Registry::on_collect(std::function<void()> hook) {
  std::lock_guard lk(mu_);
  hooks_.push_back(std::move(hook));
}

std::string Registry::expose() const {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lk(mu_);
    hooks = hooks_;
  }
  for (auto& h : hooks) h();
  std::string out;
  std::lock_guard lk(mu_);
  for (const auto& [name, f] : families_) f->expose(out);
  return out;
}

std::vector<double> Registry::default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> Registry::exponential_buckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    throw std::invalid_argument("exponential_buckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> b;
  b.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
  return b;
}

// ---------------------------------------------------------------------------------------
// Process metrics

namespace {

// Seconds since the epoch when this process started: its start time in clock ticks after
// boot (/proc/self/stat field 22) plus the boot time (/proc/stat btime).
double process_start_time() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  auto rparen = line.rfind(')');  // the command name may contain spaces and parentheses
  if (rparen == std::string::npos) return 0;
  std::istringstream fields(line.substr(rparen + 2));
  std::string f;
  unsigned long long start_ticks = 0;
  for (int i = 3; i <= 22 && fields >> f; ++i) {
    if (i == 22) start_ticks = std::strtoull(f.c_str(), nullptr, 10);
  }
  std::ifstream pstat("/proc/stat");
  unsigned long long btime = 0;
  while (std::getline(pstat, line)) {
    if (line.rfind("btime ", 0) == 0) btime = std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  long hz = sysconf(_SC_CLK_TCK);
  if (btime == 0 || hz <= 0) return 0;
  return static_cast<double>(btime) + static_cast<double>(start_ticks) / static_cast<double>(hz);
}

}  // namespace

void register_process_metrics(Registry& registry) {
  Gauge& rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  Gauge& vms = registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  Gauge& fds = registry.gauge("process_open_fds", "Number of open file descriptors.");
  Gauge& start = registry.gauge("process_start_time_seconds",
                                "Start time of the process since unix epoch in seconds.");
  start.set(process_start_time());
  registry.on_collect([&rss, &vms, &fds] {
    std::ifstream statm("/proc/self/statm");
    double pages_total = 0, pages_resident = 0;
    if (statm >> pages_total >> pages_resident) {
      double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      vms.set(pages_total * page);
      rss.set(pages_resident * page);
    }
    std::error_code ec;
    double n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
         it.increment(ec)) {
      ++n;
    }
    if (!ec) fds.set(n);
  });
}

}  // namespace sf::metrics
