// Prometheus metrics shared by all services: a Registry of counters, gauges and
// histograms, exposed in the text exposition format 0.0.4 (what GET /metrics serves).
//
// Contract:
// - Registration (counter(), gauge_family(), ...) validates names and returns a reference
//   that stays valid as long as the Registry. Invalid input is a programming error and
//   throws std::invalid_argument: a name not matching [a-zA-Z_:][a-zA-Z0-9_:]*, a counter
//   name not ending in "_total", a bad label name, unsorted buckets, or re-registering a
//   name with a different type, help, label names or buckets. Registering the same
//   definition again returns the existing metric (components may register independently).
// - Updating a metric (inc, set, observe) is lock-free (atomics) and safe from any thread.
//   Family::with() takes a mutex to find or create the child: on hot paths call it once
//   and keep the reference.
// - expose() is thread-safe and may run concurrently with updates; each value is read
//   atomically, and a histogram's _count always equals its +Inf bucket.
// - Families are exposed sorted by name, children sorted by label values; a labelled
//   family with no children yet is omitted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sf::metrics {

// Label name -> value, in any order (matched against the family's label names).
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing value (exposed as `<name>`, which ends in "_total").
class Counter {
 public:
  // Adds v; negative or NaN v is ignored (a counter never goes down).
  void inc(double v = 1.0);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0.0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0);
  void dec(double v = 1.0) { inc(-v); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0.0};
};

class Histogram {
 public:
  // bounds: strictly increasing finite upper bounds (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;  // == cumulative.back()
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative
  std::atomic<double> sum_{0.0};
};

enum class Type { counter, gauge, histogram };

// The common part of a metric family: name, help, type, label names.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends this family's exposition text (nothing if it has no children).
  virtual void expose(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> labels);
  // Label values in the family's label-name order; throws std::invalid_argument when the
  // label names differ from the family's.
  std::vector<std::string> values_for(const Labels& labels) const;

  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> label_names_;
};

// A metric with one child per set of label values. M is Counter, Gauge or Histogram.
template <typename M>
class Family final : public FamilyBase {
 public:
  // The child for these label values, created at first use. The reference is stable.
  // Throws std::invalid_argument if the label names are not exactly the family's.
  M& with(const Labels& labels = {});
  void expose(std::string& out) const override;

  // Used by Registry.
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> buckets = {});
  const std::vector<double>& buckets() const { return buckets_; }

 private:
  std::vector<double> buckets_;  // histograms only
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A single metric: registers the family (label names taken from `labels`) and returns
  // the child for those label values. counter("jobs_total", "Jobs done.").inc();
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> buckets,
                       const Labels& labels = {});

  // A family whose children are chosen at run time: family.with({{"queue_id", id}}).
  CounterFamily& counter_family(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names);
  GaugeFamily& gauge_family(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names);
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::vector<double> buckets,
                                    std::vector<std::string> label_names);

  // Runs at the start of every expose(), e.g. to refresh gauges read from the system.
  // Hooks run on the exposing thread, outside the registry's lock.
  void on_collect(std::function<void()> hook);

  // The text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).
  std::string expose() const;

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";
  // Prometheus' default buckets, in seconds: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
  static std::vector<double> default_buckets();
  // start, start*factor, ... (count bounds); throws std::invalid_argument if start <= 0,
  // factor <= 1 or count < 1.
  static std::vector<double> exponential_buckets(double start, double factor, int count);

 private:
  template <typename M>
  Family<M>& family(std::string_view name, std::string_view help, Type type,
                    std::vector<std::string> label_names, std::vector<double> buckets);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_;
  std::vector<std::function<void()>> hooks_;
};

// Registers process_resident_memory_bytes, process_virtual_memory_bytes (from
// /proc/self/statm), process_open_fds and process_start_time_seconds, refreshed at each
// expose(). On systems without /proc the values stay 0.
void register_process_metrics(Registry& registry);

// Formats a sample value as Prometheus expects ("1", "0.25", "1e+21", "+Inf", "NaN").
std::string format_value(double v);

}  // namespace sf::metrics
