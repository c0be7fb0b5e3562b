// Pipeline benchmark (issue 11, part 2), run by `make bench` (bench/run gives it a broker of
// its own from scripts/kafka and a cluster of its own from scripts/postgres); never part of
// `make test`. Each run:
//   1. end to end, worker processes: a real `streamforge sim --no-limits --kline-cache-mb`
//      (one for every run: it renders the pages in the first, a warm-up, and serves them
//      from memory after, as a remote exchange costs this host nothing) and a real
//      `streamforge up --bus kafka://... --store postgresql://<fresh database>
//      --launcher process`, one year of BTCUSDT 1m candles (525,600) through
//      `POST /queues/start-test-flow` (historical_candles); records / wall time from the
//      POST to the queue's `finished` with every candle written;
//   2. the workers' own figures from the "profile:" line each worker process logs when it
//      ends (workers/profile.h): CPU time (getrusage: user + sys) of loader + connector per
//      record, and the start-up (ms from the launch to the loader's first produce and to
//      the connector's first record);
//   3. the reference in the same run: `psql \copy` of the rows just stored (exported to CSV)
//      into an empty table created LIKE the store's (same columns, types and keys);
//   4. the same flow embedded: `streamforge up` with its defaults (memory bus, SQLite,
//      in-process workers).
// Medians of --runs (default 3); with --markdown FILE they are written into FILE between the
// pipeline-bench markers with the command line and the load average.
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/bench_child.h"
#include "bench/bench_util.h"
#include "http/client.h"
#include "support/process.h"

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono;
using sf::bench::Child;
using sf::bench::load_average;
using sf::bench::median;

namespace {

constexpr int64_t kCandles = 525'600;  // 2021, one year of 1m candles
constexpr const char* kRange = "2021-01-01:2022-01-01";
constexpr double kRateTarget = 150'000, kCopyRatioTarget = 0.8, kCpuUsTarget = 2.0,
                 kEmbeddedTarget = 200'000, kStartupTargetMs = 300;

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void psql(const std::string& url, const std::string& sql) {
  const std::string cmd =
      "psql -X -q -v ON_ERROR_STOP=1 " + sh_quote(url) + " -c " + sh_quote(sql) + " >/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("psql failed: " + sql);
}

// The URL with its database replaced.
std::string with_database(const std::string& url, const std::string& db) {
  return url.substr(0, url.rfind('/') + 1) + db;
}

// Starts the historical_candles flow and waits for it; the wall time, POST to finished.
double one_load(const std::string& api_url) {
  sf::http::Client api(api_url, {}, seconds(30));
  bj::object body{
      {"flow_name", "historical_candles"}, {"symbol", "BTCUSDT"}, {"time_range", kRange}};
  return sf::bench::run_test_flow(api, body, milliseconds(10), kCandles);
}

struct WorkerProfile {
  std::string line;                  // the whole profile message
  double cpu_s = 0;                  // user + sys
  std::map<std::string, double> ms;  // marks, ms since launch
};

// The "profile:" line of each worker log under `logs` (workers/profile.h), by role.
std::map<std::string, WorkerProfile> read_profiles(const std::string& logs) {
  static const std::regex cpu(R"(cpu user ([0-9.]+) s sys ([0-9.]+) s)");
  static const std::regex mark(R"(([a-z_.]+) ([0-9.]+)(,|;))");
  std::map<std::string, WorkerProfile> out;
  for (const auto& e : fs::recursive_directory_iterator(logs)) {
    if (e.path().extension() != ".log") continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) {
      auto at = line.find("profile: cpu user");
      if (at == std::string::npos) continue;
      const std::string msg(bj::parse(line).at("message").as_string());
      const std::string role =
          e.path().filename().string().substr(0, e.path().filename().string().find("__"));
      WorkerProfile p;
      p.line = msg;
      std::smatch m;
      if (std::regex_search(msg, m, cpu)) p.cpu_s = std::stod(m[1]) + std::stod(m[2]);
      const std::string marks =
          msg.substr(msg.find("marks"), msg.find("; stages") - msg.find("marks"));
      for (auto it = std::sregex_iterator(marks.begin(), marks.end(), mark);
           it != std::sregex_iterator(); ++it)
        p.ms[(*it)[1]] = std::stod((*it)[2]);
      out[role] = p;
    }
  }
  return out;
}

struct Run {
  double rate = 0, copy_rate = 0, cpu_us = 0, loader_start_ms = 0, connector_start_ms = 0,
         embedded_rate = 0, load = 0;
  std::string profile_loader, profile_connector;
};

Run one_run(const std::string& dir, const std::string& kafka, const std::string& pg_url, int n,
            const std::string& kafka_config, const std::string& sim_url) {
  Run run;
  run.load = load_average();
  const std::string bin = sf::testing::streamforge_binary();
  const std::string db = "sfbench_" + std::to_string(::getpid()) + "_" + std::to_string(n);
  psql(pg_url, "CREATE DATABASE " + db);
  const std::string url = with_database(pg_url, db);
  {
    std::vector<std::string> args{bin,
                                  "up",
                                  "--port",
                                  "0",
                                  "--data-dir",
                                  dir + "/data",
                                  "--bus",
                                  "kafka://" + kafka,
                                  "--store",
                                  url,
                                  "--launcher",
                                  "process",
                                  "--exchange-url",
                                  sim_url,
                                  "--exchange-weight-fraction",
                                  "1"};
    if (!kafka_config.empty()) args.insert(args.end(), {"--kafka-config", kafka_config});
    Child up(args, dir + "/up.log", "streamforge up");
    run.rate = static_cast<double>(kCandles) / one_load(up.url);
  }
  auto profiles = read_profiles(dir + "/data/logs");
  const WorkerProfile& l = profiles["loader-producer"];
  const WorkerProfile& c = profiles["store-connector"];
  if (l.ms.empty() || c.ms.empty()) throw std::runtime_error("no worker profile lines in " + dir);
  run.cpu_us = (l.cpu_s + c.cpu_s) * 1e6 / static_cast<double>(kCandles);
  run.profile_loader = l.line;
  run.profile_connector = c.line;
  run.loader_start_ms = l.ms.count("loader.first_produce") ? l.ms.at("loader.first_produce") : -1;
  run.connector_start_ms =
      c.ms.count("connector.first_record") ? c.ms.at("connector.first_record") : -1;
  // The reference: psql \copy of the same rows into an empty table of the same shape.
  const std::string csv = dir + "/rows.csv";
  psql(url, "\\copy public.btcusdt_candles_1m TO '" + csv + "' WITH (FORMAT csv)");
  psql(url, "CREATE TABLE copy_ref (LIKE public.btcusdt_candles_1m INCLUDING ALL)");
  psql(url, "CHECKPOINT");
  const auto t0 = steady_clock::now();
  psql(url, "\\copy copy_ref FROM '" + csv + "' WITH (FORMAT csv)");
  run.copy_rate =
      static_cast<double>(kCandles) / duration<double>(steady_clock::now() - t0).count();
  fs::remove(csv);
  psql(pg_url, "DROP DATABASE " + db);
  // Embedded: memory bus, SQLite, in-process workers.
  {
    Child up({bin, "up", "--port", "0", "--data-dir", dir + "/embedded", "--exchange-url", sim_url,
              "--exchange-weight-fraction", "1"},
             dir + "/up2.log", "streamforge up (embedded)");
    run.embedded_rate = static_cast<double>(kCandles) / one_load(up.url);
  }
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::string markdown, kafka, pg_url_file;
  CLI::App app{"End to end on Kafka + PostgreSQL with worker processes (bench/run starts both)."};
  app.add_option("--kafka", kafka, "broker, HOST:PORT")->required();
  app.add_option("--pg-url-file", pg_url_file, "file holding the postgresql:// URL")
      ->required()
      ->check(CLI::ExistingFile);
  sf::bench::add_run_options(app, runs, markdown);
  bool show_profiles = false;
  int warmups = 1;
  app.add_option("--warmup", warmups,
                 "whole runs before the measured ones, not recorded: a broker just started "
                 "(bench/run starts one) compiles its hot paths during its first loads")
      ->check(CLI::Range(0, 10));
  std::string kafka_config;
  app.add_option("--kafka-config", kafka_config,
                 "librdkafka properties file for every client (streamforge up --kafka-config), "
                 "to try a tuning; the figures to report are the defaults users get")
      ->check(CLI::ExistingFile);
  app.add_flag("--profiles", show_profiles,
               "also print each run's loader and connector \"profile:\" lines (stage times, "
               "CPU; src/workers/profile.h)");
  CLI11_PARSE(app, argc, argv);
  std::string pg_url;
  std::ifstream(pg_url_file) >> pg_url;
  sf::log::set_level(sf::log::Level::warn);
  const std::string root = sf::testing::make_temp_dir("sf-pipeline");
  std::vector<Run> all;
  const double load_start = load_average();
  try {
    // One simulator for every run: it keeps the pages it rendered for the first (a warm-up
    // unless --warmup 0) and serves them from memory after, as a remote exchange costs this
    // host nothing but the socket; the \copy reference reads rows made before it too.
    // Its exchangeInfo advertises a budget no run spends (the runs' loaders page it within
    // one weight window; the default 6,000 held the third load of a minute back).
    Child sim({sf::testing::streamforge_binary(), "sim", "--port", "0", "--no-limits",
               "--weight-limit", "1000000000", "--kline-cache-mb", "256"},
              root + "/sim.log", "streamforge sim");
    for (int r = -warmups; r < runs; ++r) {
      const std::string dir = root + "/run" + std::to_string(r + warmups);
      fs::create_directories(dir);
      Run run = one_run(dir, kafka, pg_url, r + warmups, kafka_config, sim.url);
      std::printf(
          "%s %d (load %.2f): kafka+postgres %.0f records/s, psql \\copy %.0f rows/s (%.2f), "
          "worker CPU %.2f us/record, first produce %.0f ms / first record %.0f ms after "
          "launch, embedded %.0f records/s\n",
          r < 0 ? "warm-up run (not recorded)" : "run", r < 0 ? r + warmups + 1 : r + 1, run.load,
          run.rate, run.copy_rate, run.rate / run.copy_rate, run.cpu_us, run.loader_start_ms,
          run.connector_start_ms, run.embedded_rate);
      if (show_profiles)
        std::printf("  loader: %s\n  connector: %s\n", run.profile_loader.c_str(),
                    run.profile_connector.c_str());
      std::fflush(stdout);
      if (r >= 0) all.push_back(run);
      fs::remove_all(dir);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pipeline_bench failed: %s (files kept in %s)\n", e.what(), root.c_str());
    return 1;
  }
  fs::remove_all(root);
  std::vector<double> rate, copy, ratios, cpu, ls, cs, emb, loads;
  for (const Run& r : all) {
    rate.push_back(r.rate);
    copy.push_back(r.copy_rate);
    ratios.push_back(r.rate / r.copy_rate);
    cpu.push_back(r.cpu_us);
    ls.push_back(r.loader_start_ms);
    cs.push_back(r.connector_start_ms);
    emb.push_back(r.embedded_rate);
    loads.push_back(r.load);
  }
  using sf::bench::ratio;
  char buf[8192];
  int n = std::snprintf(
      buf, sizeof buf,
      "Load average %.2f at the start, median %.2f at the start of the runs; %d whole run(s) "
      "before them not recorded (`--warmup`: the broker bench/run has just started compiles "
      "its hot paths during its first loads).\n\n"
      "| measure | median of %d runs | target (reference measured in the same run) | ratio "
      "(figure / target) |\n|---|---|---|---|\n"
      "| end to end, 525,600 candles, worker processes, Kafka + PostgreSQL (records/s) | %.0f "
      "| >= 150,000 | %s |\n"
      "| psql `\\copy` of the same rows into an empty table of the same shape (rows/s) | %.0f "
      "| (reference) | |\n"
      "| end to end / psql `\\copy`, each run's own ratio | %.2f | >= 0.8 | %s |\n"
      "| loader + connector CPU (user + sys, getrusage) per record | %.2f us | <= 2 us | %s |\n"
      "| embedded (memory bus, SQLite, in-process workers), records/s | %.0f | >= 200,000 | "
      "%s |\n"
      "| loader process: launch to first produce | %.0f ms | < 300 ms | %s |\n"
      "| connector process: launch to first record consumed | %.0f ms | < 300 ms | %s |\n\n",
      load_start, median(loads), warmups, runs, median(rate),
      ratio(median(rate), kRateTarget, true).c_str(), median(copy), median(ratios),
      ratio(median(ratios), kCopyRatioTarget, true).c_str(), median(cpu),
      ratio(median(cpu), kCpuUsTarget, false).c_str(), median(emb),
      ratio(median(emb), kEmbeddedTarget, true).c_str(), median(ls),
      ratio(median(ls), kStartupTargetMs, false).c_str(), median(cs),
      ratio(median(cs), kStartupTargetMs, false).c_str());
  std::string md(buf, static_cast<size_t>(n));
  for (size_t r = 0; r < all.size(); ++r) {
    const Run& x = all[r];
    std::snprintf(buf, sizeof buf,
                  "- run %zu (load %.2f): %.0f records/s, \\copy %.0f rows/s, CPU %.2f us/record, "
                  "first produce %.0f ms, first record %.0f ms, embedded %.0f records/s\n",
                  r + 1, x.load, x.rate, x.copy_rate, x.cpu_us, x.loader_start_ms,
                  x.connector_start_ms, x.embedded_rate);
    md += buf;
  }
  std::printf("\n%s", md.c_str());
  const std::string cmd = "build/bench/pipeline_bench --kafka ADDR --pg-url-file FILE --runs " +
                          std::to_string(runs) + " --warmup " + std::to_string(warmups) +
                          " --markdown " + markdown;
  return sf::bench::record_markdown(
      markdown, "pipeline-bench",
      "Command: `" + cmd +
          "` (`make bench` runs it through bench/run on a broker "
          "and a cluster of its own). One `streamforge sim "
          "--no-limits --weight-limit 1000000000 --kline-cache-mb 256` serves every run: "
          "it renders the pages in the first (a warm-up) and "
          "serves them from memory after, as a remote exchange "
          "costs this host nothing but the socket (the `\\copy` "
          "reference reads rows made before it too).\n\n" +
          md);
}
