// Integration test: Prometheus' own linter accepts our exposition. promtool comes from
// Debian's `prometheus` package (scripts/bootstrap installs it); when it is missing the
// test fails rather than skips, so a broken environment cannot pass silently.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "metrics/metrics.h"

namespace sf::metrics {
namespace {

std::string find_promtool() {
  if (std::filesystem::exists("/usr/bin/promtool")) return "/usr/bin/promtool";
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::filesystem::path candidate =
        std::filesystem::path(p.substr(start, end - start)) / "promtool";
    if (!p.substr(start, end - start).empty() && std::filesystem::exists(candidate)) {
      return candidate.string();
    }
    start = end + 1;
  }
  return {};
}

TEST(MetricsPromtool, ExpositionPassesPromtoolCheckMetrics) {
  std::string promtool = find_promtool();
  ASSERT_FALSE(promtool.empty())
      << "promtool not found (it comes from Debian's prometheus package): run scripts/bootstrap";

  Registry r;
  r.counter("sf_records_total", "Records written.").inc(42);
  auto& per_queue =
      r.counter_family("sf_queue_records_total", "Records per queue.", {"queue_id", "target"});
  per_queue.with({{"queue_id", "q\"1\\x\ny"}, {"target", "loader"}}).inc(3);
  per_queue.with({{"queue_id", "q2"}, {"target", "connector"}}).inc(0.5);
  r.gauge("sf_queue_depth", "Queued records.", {{"queue_id", "q2"}}).set(-7.25);
  r.gauge("sf_up", "Whether the service is up.\nMultiline help with \\ backslash.").set(1);
  auto& lat = r.histogram_family("sf_request_duration_seconds", "Request duration.",
                                 Registry::default_buckets(), {"route"});
  lat.with({{"route", "/queues/{queue_id}"}}).observe(0.003);
  lat.with({{"route", "/queues/{queue_id}"}}).observe(0.3);
  lat.with({{"route", "/health"}}).observe(12);
  r.histogram("sf_batch_size_records", "Records per batch.", Registry::exponential_buckets(1, 4, 6))
      .observe(100);
  register_process_metrics(r);

  std::string text = r.expose();
  auto dir = std::filesystem::temp_directory_path();
  auto file = dir / ("sf_metrics_promtool_" + std::to_string(::getpid()) + ".prom");
  {
    std::ofstream out(file);
    out << text;
  }
  std::string cmd = promtool + " check metrics < " + file.string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr) << "cannot run " << cmd;
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  int status = ::pclose(p);
  std::filesystem::remove(file);

  ASSERT_TRUE(WIFEXITED(status)) << "promtool did not exit normally";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "promtool output:\n" << output << "\nexposition:\n" << text;
  EXPECT_EQ(output, "") << "promtool lint output for exposition:\n" << text;
}

}  // namespace
}  // namespace sf::metrics
