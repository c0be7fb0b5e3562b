#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sf::metrics {
namespace {

TEST(Metrics, CounterExposition) {
  Registry r;
  Counter& c = r.counter("jobs_total", "Jobs processed.");
  c.inc();
  c.inc(2);
  c.inc(-5);  // ignored: counters only go up
  EXPECT_EQ(r.expose(),
            "# HELP jobs_total Jobs processed.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total 3\n");
}

TEST(Metrics, LabelledGaugeWithEscaping) {
  Registry r;
  GaugeFamily& f = r.gauge_family("queue_depth", "Depth of a queue.\nIn records \\ messages.",
                                  {"queue_id", "kind"});
  f.with({{"queue_id", "b"}, {"kind", "data"}}).set(2.5);
  // Labels may be given in any order; children come out sorted by label values.
  f.with({{"kind", "x"}, {"queue_id", "a\"q\\z\nw"}}).set(-1);
  EXPECT_EQ(&f.with({{"queue_id", "b"}, {"kind", "data"}}),
            &f.with({{"kind", "data"}, {"queue_id", "b"}}));
  EXPECT_EQ(r.expose(),
            "# HELP queue_depth Depth of a queue.\\nIn records \\\\ messages.\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth{queue_id=\"a\\\"q\\\\z\\nw\",kind=\"x\"} -1\n"
            "queue_depth{queue_id=\"b\",kind=\"data\"} 2.5\n");
}

TEST(Metrics, HistogramExposition) {
  Registry r;
  Histogram& h =
      r.histogram("latency_seconds", "Request latency.", {0.25, 1, 2.5}, {{"route", "/q"}});
  h.observe(0.125);
  h.observe(0.25);  // le is inclusive
  h.observe(0.5);
  h.observe(4);
  EXPECT_EQ(r.expose(),
            "# HELP latency_seconds Request latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"/q\",le=\"0.25\"} 2\n"
            "latency_seconds_bucket{route=\"/q\",le=\"1\"} 3\n"
            "latency_seconds_bucket{route=\"/q\",le=\"2.5\"} 3\n"
            "latency_seconds_bucket{route=\"/q\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{route=\"/q\"} 4.875\n"
            "latency_seconds_count{route=\"/q\"} 4\n");
}

TEST(Metrics, FamiliesSortedAndEmptyFamiliesOmitted) {
  Registry r;
  r.counter_family("b_total", "B.", {"queue_id"});  // no children yet: omitted
  r.gauge("a", "A.").set(1e21);
  r.gauge("c", "C.").set(std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.expose(),
            "# HELP a A.\n# TYPE a gauge\na 1e+21\n"
            "# HELP c C.\n# TYPE c gauge\nc +Inf\n");
}

TEST(Metrics, ReRegistrationReturnsSameMetric) {
  Registry r;
  Counter& a = r.counter("x_total", "X.", {{"k", "v"}});
  Counter& b = r.counter("x_total", "X.", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(r.counter("x_total", "other help", {{"k", "v"}}), std::invalid_argument);
  EXPECT_THROW(r.gauge("x_total", "X.", {{"k", "v"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("x_total", "X.", {{"j", "v"}}), std::invalid_argument);
}

TEST(Metrics, InvalidDefinitionsThrow) {
  Registry r;
  EXPECT_THROW(r.gauge("1abc", "h"), std::invalid_argument);
  EXPECT_THROW(r.gauge("a-b", "h"), std::invalid_argument);
  EXPECT_THROW(r.gauge("", "h"), std::invalid_argument);
  EXPECT_NO_THROW(r.gauge("ns:sub_name", "h"));
  EXPECT_THROW(r.counter("requests", "h"), std::invalid_argument);  // must end in _total
  EXPECT_THROW(r.gauge("g", "h", {{"__reserved", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.gauge("g2", "h", {{"bad-label", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h1", "h", {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h2", "h", {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h3", "h", {1}, {{"le", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.gauge_family("g3", "h", {"a", "a"}), std::invalid_argument);
  auto& f = r.gauge_family("g4", "h", {"a"});
  EXPECT_THROW(f.with({}), std::invalid_argument);
  EXPECT_THROW(f.with({{"b", "x"}}), std::invalid_argument);
  EXPECT_THROW(f.with({{"a", "x"}, {"b", "y"}}), std::invalid_argument);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter& c = r.counter("n_total", "N.");
  Histogram& h = r.histogram("h_seconds", "H.", Registry::default_buckets());
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.value(), 40000);
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.sum, 20000);
}

TEST(Metrics, FormatValue) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(42), "42");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(-2.5), "-2.5");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(Metrics, Buckets) {
  EXPECT_EQ(Registry::exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_THROW(Registry::exponential_buckets(0, 2, 4), std::invalid_argument);
  EXPECT_EQ(Registry::default_buckets().size(), 11u);
}

TEST(Metrics, ProcessMetrics) {
  Registry r;
  register_process_metrics(r);
  std::string text = r.expose();
  EXPECT_NE(text.find("# TYPE process_resident_memory_bytes gauge\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE process_start_time_seconds gauge\n"), std::string::npos);
  EXPECT_GT(r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").value(),
            1e5);
  double start = r.gauge("process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.")
                     .value();
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 3600);
  EXPECT_LE(start, now + 1);
  EXPECT_GT(r.gauge("process_open_fds", "Number of open file descriptors.").value(), 2);
}

}  // namespace
}  // namespace sf::metrics
