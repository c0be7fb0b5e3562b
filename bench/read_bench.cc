// Read API benchmark (issue 14), run by `make bench` (bench/run, with the PostgreSQL cluster
// it starts), never by `make test`: GET /data/collections/{name}/records with limit=100000,
// every field and the fields a candle chart draws (fields=open_time,open,high,low,close,volume),
// through a real http::Server (src/manager/read_api.h) and http::Client on 127.0.0.1, over
// 100,000 stored 1m candles, from SQLite (a temp dir) and, with --pg-url-file, PostgreSQL.
// A request's time is from sending it to having its whole body (~24 MB of JSON); each run
// makes 5 requests after one unrecorded one, its figure is their median; the medians of
// --runs (default 3) are printed and, with --markdown FILE, written between the read-bench
// markers. Target: under 100 ms a request.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "artifacts/local/local_artifact_store.h"
#include "bench/bench_util.h"
#include "http/client.h"
#include "http/server.h"
#include "manager/read_api.h"
#include "market/schema.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/postgres_data_store.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/temp_dir.h"

namespace {

constexpr int64_t kCandles = 100'000;
constexpr const char* kCollection = "read_bench_candles_1m";

struct Figures {
  double median_ms = 0;
  size_t bytes = 0;
  double scan_ms = 0;  // diagnosis: the store's scan_json() alone (the page's text)
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

constexpr const char* kChartFields = "open_time,open,high,low,close,volume";

// One run: 1 unrecorded request, then 5 timed ones; their median. `fields`: the request's
// fields parameter (empty: every field).
Figures time_requests(sf::store::DataStore& store, const std::string& fields) {
  sf::http::Server server;
  sf::manager::register_read_api(server, &store, nullptr);
  if (auto st = server.start(); !st) throw std::runtime_error(st.error().message);
  sf::http::Client client(server.base_url());
  const std::string path = std::string("/data/collections/") + kCollection +
                           "/records?symbol=BTCUSDT&interval=1m&limit=100000" +
                           (fields.empty() ? "" : "&fields=" + fields);
  std::vector<double> ms;
  Figures f;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = client.get(path);
    const double took =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!r || r->status != 200)
      throw std::runtime_error(
          "GET " + path + ": " +
          (r ? std::to_string(r->status) + " " + r->body.substr(0, 200) : r.error().message));
    // The page must hold every candle: count the open times.
    size_t n = 0;
    for (size_t at = r->body.find("\"open_time\""); at != std::string::npos;
         at = r->body.find("\"open_time\"", at + 1))
      ++n;
    if (n != static_cast<size_t>(kCandles))
      throw std::runtime_error("the page holds " + std::to_string(n) + " candles, not " +
                               std::to_string(kCandles));
    f.bytes = r->body.size();
    if (i > 0) ms.push_back(took);
  }
  f.median_ms = sf::bench::median(ms);
  // Where the time goes: the same page's text from the store, without HTTP.
  sf::store::Query q;
  q.symbol = "BTCUSDT";
  q.interval = "1m";
  q.limit = kCandles;
  // The same fields as indexes into the candle schema.
  std::vector<size_t> picked;
  const auto& schema = sf::market::kind_info(sf::market::Kind::candle).fields;
  for (size_t i = 0; i < schema.size(); ++i)
    if (!fields.empty() &&
        ("," + fields + ",").find("," + std::string(schema[i].name) + ",") != std::string::npos)
      picked.push_back(i);
  std::string text;
  text.reserve(kCandles * 400);  // as the read API reserves
  auto t0 = std::chrono::steady_clock::now();
  auto n = store.scan_json(kCollection, q, text, picked);
  f.scan_ms = ms_since(t0);
  if (!n) throw std::runtime_error("scan_json: " + n.error().message);
  return f;
}

void fill(sf::store::DataStore& store) {
  const auto candles = sf::bench::synthetic_candles(kCandles);
  std::vector<sf::market::Record> batch;
  for (size_t i = 0; i < candles.size(); i += 5000) {
    batch.assign(candles.begin() + static_cast<std::ptrdiff_t>(i),
                 candles.begin() + static_cast<std::ptrdiff_t>(std::min(candles.size(), i + 5000)));
    if (auto st = store.upsert(kCollection, sf::market::Kind::candle, batch); !st)
      throw std::runtime_error("fill: " + st.error().message);
  }
}

// The reference for PostgreSQL: the server's own time for the chart's rows, as a binary
// COPY to a client that only receives them (libpq, nothing decoded or written). A request
// cannot beat it without a second connection, and 2 cores leave no room for one.
double pg_floor_ms(const std::string& url) {
  auto parsed = sf::store::pg::parse_url(url);
  if (!parsed) throw std::runtime_error("postgres: " + parsed.error().message);
  const std::string table = sf::store::pg::quote_ident(parsed->schema) + "." + kCollection;
  sf::store::pg::Connection conn(*parsed);
  const std::string sql =
      std::string("COPY (SELECT open_time, open, high, low, close, volume FROM ") + table +
      " WHERE symbol = 'BTCUSDT' AND interval = '1m' ORDER BY open_time "
      "LIMIT 100000) TO STDOUT (FORMAT binary)";
  std::vector<double> ms;
  for (int i = 0; i < 6; ++i) {
    size_t messages = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto st = conn.copy_out(
        sql,
        [&](std::string_view) {
          ++messages;
          return sf::Status{};
        },
        "floor");
    if (!st) throw std::runtime_error("postgres floor: " + st.error().message);
    if (messages < static_cast<size_t>(kCandles))
      throw std::runtime_error("postgres floor: " + std::to_string(messages) + " rows");
    if (i > 0) ms.push_back(ms_since(t0));
  }
  return sf::bench::median(ms);
}

std::string read_first_line(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  if (line.empty()) throw std::runtime_error("cannot read a URL from " + file);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Read API benchmark: 100,000 candles a request from SQLite and PostgreSQL"};
  int runs = 3;
  std::string markdown, pg_url_file;
  sf::bench::add_run_options(app, runs, markdown);
  app.add_option("--pg-url-file", pg_url_file, "a file holding a postgresql:// URL (optional)");
  CLI11_PARSE(app, argc, argv);
  const std::string command = sf::bench::command_line(argc, argv);
  const double load = sf::bench::load_average();
  std::printf("load average %.2f\n", load);

  struct Backend {
    std::string name;
    std::unique_ptr<sf::store::DataStore> store;
    std::vector<double> ms, chart_ms, text_ms, chart_text_ms, floor_ms;
    size_t bytes = 0, chart_bytes = 0;
  };
  std::vector<Backend> backends;
  sf::testing::TempDir dir("sf-read-bench");
  try {
    auto sqlite = sf::store::SqliteDataStore::open(dir.str());
    if (!sqlite) throw std::runtime_error("sqlite: " + sqlite.error().message);
    backends.push_back({"SQLite", std::move(*sqlite), {}, {}, {}, {}, {}, 0, 0});
    if (!pg_url_file.empty()) {
      auto pg = sf::store::PostgresDataStore::open(read_first_line(pg_url_file));
      if (!pg) throw std::runtime_error("postgres: " + pg.error().message);
      backends.push_back({"PostgreSQL", std::move(*pg), {}, {}, {}, {}, {}, 0, 0});
    }
    for (auto& b : backends) fill(*b.store);
    for (int r = 0; r < runs; ++r) {
      for (auto& b : backends) {
        for (const std::string& fields : {std::string(), std::string(kChartFields)}) {
          const Figures f = time_requests(*b.store, fields);
          (fields.empty() ? b.ms : b.chart_ms).push_back(f.median_ms);
          (fields.empty() ? b.text_ms : b.chart_text_ms).push_back(f.scan_ms);
          (fields.empty() ? b.bytes : b.chart_bytes) = f.bytes;
          std::printf(
              "run %d %s, %s: %.1f ms a request of %zu bytes (the store's text alone "
              "%.1f ms)\n",
              r + 1, b.name.c_str(), fields.empty() ? "every field" : "chart fields", f.median_ms,
              f.bytes, f.scan_ms);
        }
        if (b.name == "PostgreSQL") {
          b.floor_ms.push_back(pg_floor_ms(read_first_line(pg_url_file)));
          std::printf(
              "run %d PostgreSQL alone, the chart's rows by binary COPY to libpq: %.1f ms\n", r + 1,
              b.floor_ms.back());
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "read_bench: %s\n", e.what());
    return 1;
  }

  std::ostringstream md;
  md << "## Read API (issue 14)\n\n"
     << "Command: `" << command
     << "` (`make bench` runs it through bench/run with the PostgreSQL cluster it starts). "
        "`GET /data/collections/{name}/records?symbol=BTCUSDT&interval=1m&limit=100000` "
        "through the manager's read API on a real HTTP server on 127.0.0.1, over 100,000 stored "
        "1m candles; a request's time runs from sending it to holding its whole body; each run "
        "is the median of 5 requests after one unrecorded. Load average "
     << load << " at the start.\n\n"
     << "| measure | median of " << runs << " runs | target | ratio (figure / target) |\n"
     << "|---|---|---|---|\n";
  for (const auto& b : backends) {
    char line[512];
    std::snprintf(line, sizeof line,
                  "| 100,000 candles a request from %s, the chart's fields (`fields=%s`, %.1f MB "
                  "of JSON) | %.1f ms | < 100 ms | %s |\n"
                  "| same, every field of the records (%.1f MB) | %.1f ms | | |\n"
                  "| diagnosis: the store's text alone (scan_json), chart fields / every field | "
                  "%.1f / %.1f ms | | |\n",
                  b.name.c_str(), kChartFields, static_cast<double>(b.chart_bytes) / 1e6,
                  sf::bench::median(b.chart_ms),
                  sf::bench::ratio(sf::bench::median(b.chart_ms), 100, false).c_str(),
                  static_cast<double>(b.bytes) / 1e6, sf::bench::median(b.ms),
                  sf::bench::median(b.chart_text_ms), sf::bench::median(b.text_ms));
    md << line;
    std::printf("%s", line);
    if (!b.floor_ms.empty()) {
      const double floor = sf::bench::median(b.floor_ms);
      std::snprintf(line, sizeof line,
                    "| reference: PostgreSQL alone, the chart's 100,000 rows by binary COPY to a "
                    "client that only receives them (same run) | %.1f ms | | request / "
                    "reference: %.2f |\n",
                    floor, sf::bench::median(b.chart_ms) / floor);
      md << line;
      std::printf("%s", line);
    }
  }
  return sf::bench::record_markdown(markdown, "read-bench", md.str());
}
