// PostgreSQL store benchmark (issue 5), run by `make bench` (bench/run starts a cluster with
// scripts/postgres), never by `make test`:
//   1. connector upserts/s: the real store-connector worker (run_connector) draining 500,000
//      candles (plus the end marker) from a pre-filled memory bus into PostgresDataStore
//      (decode, batches of 5,000, each one transaction: binary COPY straight into the table
//      while the keys are new, offsets committed after it);
//   2. the same 500,000 candles upserted with PostgresDataStore::upsert directly (records
//      already decoded, batches of 5,000): the store's share of the connector's time;
//   3. the ceiling: psql's own `\copy` of the same rows as CSV into an empty table of the
//      same shape (same columns and primary key), in the same run.
// Each run measures 3, 1, 3 again back to back, each after a CHECKPOINT (the faster ceiling
// counts), then 2; every part writes a fresh schema's empty table, made beforehand with
// autovacuum off, dropped afterwards. Medians of --runs (default 3) are printed and, with
// --markdown FILE, written between the pg-bench markers; the target is judged on the median
// of each run's connector / ceiling. --only connector|store|copy runs one part (profiling;
// not written to the markdown).
#include <libpq-fe.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/log.h"
#include "bench_util.h"
#include "bus/memory/memory_bus.h"
#include "connector_run.h"
#include "market/data_topic.h"
#include "market/records.h"
#include "protocol/messages.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/postgres_data_store.h"
#include "workers/connector.h"
#include "workers/worker.h"

using namespace std::chrono;
namespace sw = sf::workers;
namespace sp = sf::protocol;

namespace {

constexpr const char* kSymbol = "BTCUSDT";
constexpr int64_t kRecords = 500'000;
constexpr double kTargetRatio = 0.7;  // of the \copy ceiling
constexpr const char* kCollection = "bench_btcusdt_1m";
constexpr const char* kNoAutovacuum =
    " SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)";

using sf::bench::check;
using sf::bench::cpu_seconds;
using sf::bench::secs_since;

// Runs SQL on the server with plain libpq; throws on failure.
void sql(const std::string& url, const std::string& text) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("connect: " + e);
  }
  PGresult* r = PQexec(c, ("SET client_min_messages = warning; " + text).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  std::string e = ok ? "" : PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error(text.substr(0, 80) + ": " + e);
}

// The URL for `schema`; the server's notices ("relation ... already exists, skipping" when
// a part opens a store on a schema prepared before) are not printed.
std::string with_schema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?schema=" : "&schema=") + schema +
         "&options=-c%20client_min_messages%3Dwarning";
}

// 1. The real connector worker into PostgreSQL.
// `cpu`: the process's CPU time (every thread) during the run, i.e. the client's share.
double bench_connector(const std::string& url, const std::vector<std::string>& values,
                       double* cpu) {
  auto store = sf::store::PostgresDataStore::open(url);
  if (!store) throw std::runtime_error("postgres open: " + store.error().message);
  const auto run =
      sf::bench::run_connector_on(**store, "wf-pg-bench", kSymbol, kCollection, values);
  *cpu = run.cpu;
  return run.per_s;
}

struct StoreRates {
  double fresh = 0;     // every key new (the direct COPY path)
  double existing = 0;  // the same records again: every key exists (the staging-table upsert)
};

// 2. PostgresDataStore::upsert alone, batches of 5,000 decoded records, twice.
StoreRates bench_store(const std::string& url, const std::vector<sf::market::Candle>& candles) {
  auto store = sf::store::PostgresDataStore::open(url);
  if (!store) throw std::runtime_error("postgres open: " + store.error().message);
  std::vector<sf::market::Record> recs(candles.begin(), candles.end());
  constexpr size_t kBatch = 5000;
  check((*store)->ensure_collection(kCollection, sf::market::Kind::candle), "ensure");
  StoreRates out;
  for (double* rate : {&out.fresh, &out.existing}) {
    const auto t0 = steady_clock::now();
    for (size_t i = 0; i < recs.size(); i += kBatch) {
      const size_t n = std::min(kBatch, recs.size() - i);
      check((*store)->upsert(kCollection, sf::market::Kind::candle,
                             std::span<const sf::market::Record>(recs.data() + i, n)),
            "upsert");
    }
    *rate = static_cast<double>(recs.size()) / secs_since(t0);
  }
  auto rows = (*store)->count(kCollection);
  if (!rows || *rows != static_cast<int64_t>(recs.size()))
    throw std::runtime_error("the store holds " + (rows ? std::to_string(*rows) : "?") + " rows");
  return out;
}

// 3. psql's \copy of the CSV into `table` (created like the store's table). Wall time of the
// psql process, connection included.
double bench_psql_copy(const std::string& psql, const std::string& base_url,
                       const std::string& password, const std::string& table,
                       const std::string& csv, int64_t rows) {
  const std::string cols =
      "symbol, \"interval\", open_time, close_time, open, high, low, close, volume, "
      "quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume, closed";
  const std::string cmd = "PGPASSWORD='" + password + "' '" + psql +
                          "' -X -q -v ON_ERROR_STOP=1 '" + base_url + "' -c \"\\copy " + table +
                          " (" + cols + ") FROM '" + csv + "' WITH (FORMAT csv)\"";
  const auto t0 = steady_clock::now();
  const int rc = std::system(cmd.c_str());
  const double secs = secs_since(t0);
  if (rc != 0) throw std::runtime_error("psql \\copy failed (exit " + std::to_string(rc) + ")");
  return static_cast<double>(rows) / secs;
}

std::string csv_of(const std::vector<sf::market::Candle>& candles) {
  std::string out;
  out.reserve(candles.size() * 160);
  for (const auto& c : candles) {
    out += c.symbol + "," + c.interval + "," + std::to_string(c.open_time) + "," +
           std::to_string(c.close_time) + "," + c.open + "," + c.high + "," + c.low + "," +
           c.close + "," + c.volume + "," + c.quote_volume + "," + std::to_string(c.trades) + "," +
           c.taker_buy_base_volume + "," + c.taker_buy_quote_volume + "," + (c.closed ? "t" : "f") +
           "\n";
  }
  return out;
}

std::string password_of(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  const size_t at = url.find('@', scheme + 3), colon = url.find(':', scheme + 3);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return "";
  return url.substr(colon + 1, at - colon - 1);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::string markdown, url, psql = "/usr/lib/postgresql/15/bin/psql";
  std::string only;  // --only connector|store|copy: one part (for profiling), no markdown
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--markdown" && i + 1 < argc) {
      markdown = argv[++i];
    } else if (a == "--url" && i + 1 < argc) {
      url = argv[++i];
    } else if (a == "--url-file" && i + 1 < argc) {
      std::ifstream in(argv[++i]);
      std::getline(in, url);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--psql" && i + 1 < argc) {
      psql = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: pg_bench (--url postgresql://... | --url-file FILE) [--runs N] "
                   "[--markdown FILE] [--psql PATH] [--only connector|store|copy]\n");
      return 2;
    }
  }
  if (url.empty()) {
    std::fprintf(stderr, "pg_bench: no server URL (--url or --url-file; scripts/postgres start)\n");
    return 2;
  }
  sf::log::set_level(sf::log::Level::warn);
  const std::string command = sf::bench::command_line(argc, argv, [](std::string a) {
    return a.find("://") == std::string::npos ? a : sf::store::pg::redact_url(a);
  });
  const double load_at_start = sf::bench::load_average();
  std::printf("load average %.2f\n", load_at_start);
  const std::string password = password_of(url);
  const std::string base_url = sf::store::pg::redact_url(url);  // psql gets PGPASSWORD

  std::vector<double> conn, conn_cpu, store, restore, copy, copy_before, copy_after, ratios, loads;
  std::string per_run;
  const std::string csv_path = (std::filesystem::temp_directory_path() /
                                ("sf-pg-bench-" + std::to_string(::getpid()) + ".csv"))
                                   .string();
  try {
    const auto candles = sf::bench::synthetic_candles(kRecords);
    std::vector<std::string> values;
    values.reserve(candles.size());
    for (const auto& c : candles) values.push_back(sf::market::encode(c));
    {
      std::ofstream out(csv_path);
      out << csv_of(candles);
      if (!out) throw std::runtime_error("cannot write " + csv_path);
    }
    for (int r = 0; r < runs; ++r) {
      const std::string s_conn = "sfbench_conn_" + std::to_string(r),
                        s_store = "sfbench_store_" + std::to_string(r),
                        s_copy = "sfbench_copy_" + std::to_string(r);
      for (const auto& s : {s_conn, s_store, s_copy})
        sql(url, "DROP SCHEMA IF EXISTS " + s + " CASCADE");
      if (const double l = sf::bench::load_average(); l >= 0) loads.push_back(l);
      auto part = [&](const char* name) { return only.empty() || only == name; };
      // Every table is made before its part is timed, with autovacuum off: an autovacuum
      // worker that the launcher happens to start during one part (it wakes once a minute)
      // would slow that part alone. The ceiling's table is made LIKE the connector's.
      for (const auto& schema : {s_conn, s_store}) {
        auto st = sf::store::PostgresDataStore::open(with_schema(url, schema));
        if (!st) throw std::runtime_error("postgres open: " + st.error().message);
        check((*st)->ensure_collection(kCollection, sf::market::Kind::candle), "ensure");
        sql(url, "ALTER TABLE " + schema + "." + kCollection + kNoAutovacuum);
      }
      sql(url, "CREATE SCHEMA " + s_copy + "; CREATE TABLE " + s_copy + ".t (LIKE " + s_conn + "." +
                   kCollection + " INCLUDING ALL); ALTER TABLE " + s_copy + ".t" + kNoAutovacuum +
                   "; CREATE TABLE " + s_copy + ".t2 (LIKE " + s_conn + "." + kCollection +
                   " INCLUDING ALL); ALTER TABLE " + s_copy + ".t2" + kNoAutovacuum);
      // Connector and ceiling back to back (a change of load between them moves both), each
      // into its empty table after a CHECKPOINT, so neither pays for the other's dirty
      // buffers; the store-alone figures after them.
      // The ceiling is measured just before and just after the connector, each part after a
      // CHECKPOINT, and the faster of the two counts: whichever part follows another finds
      // the server as that one left it (shared buffers full of its table, the WAL it wrote,
      // the disk's writeback) and a load that changes during the run moves both; taking the
      // better \copy never flatters the connector.
      double cpu = 0;
      auto run_ceiling_part = [&](const std::string& table) {
        sql(url, "CHECKPOINT");
        return part("copy") ? bench_psql_copy(psql, base_url, password, table, csv_path, kRecords)
                            : 0;
      };
      const double before = run_ceiling_part(s_copy + ".t");
      sql(url, "CHECKPOINT");
      conn.push_back(part("connector") ? bench_connector(with_schema(url, s_conn), values, &cpu)
                                       : 0);
      conn_cpu.push_back(cpu);
      const double after = run_ceiling_part(s_copy + ".t2");
      copy.push_back(std::max(before, after));
      copy_before.push_back(before);
      copy_after.push_back(after);
      ratios.push_back(copy.back() > 0 ? conn.back() / copy.back() : 0);
      sql(url, "CHECKPOINT");
      const StoreRates sr =
          part("store") ? bench_store(with_schema(url, s_store), candles) : StoreRates{};
      store.push_back(sr.fresh);
      restore.push_back(sr.existing);
      for (const auto& s : {s_conn, s_store, s_copy})
        sql(url, "DROP SCHEMA IF EXISTS " + s + " CASCADE");
      char line[320];
      std::snprintf(line, sizeof line,
                    "run %d (load %.2f): psql \\copy %.0f rows/s, connector %.0f upserts/s "
                    "(client CPU %.2f s), psql \\copy %.0f rows/s; connector / ceiling %.2f; "
                    "store alone %.0f/s new keys, %.0f/s existing keys\n",
                    r + 1, loads.back(), copy_before.back(), conn.back(), conn_cpu.back(),
                    copy_after.back(), ratios.back(), store.back(), restore.back());
      std::fputs(line, stdout);
      per_run += std::string("- ") + line;
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_bench failed: %s\n", e.what());
    std::filesystem::remove(csv_path);
    return 1;
  }
  std::filesystem::remove(csv_path);
  using sf::bench::median;
  // The target is judged on each run's own ratio (connector and ceiling measured back to
  // back), which a load that changes between runs moves less than the ratio of the medians.
  const double ratio = median(ratios);
  char table[2048];
  std::snprintf(
      table, sizeof table,
      "| measure | median of %d runs | target | ratio (figure / target) |\n|---|---|---|---|\n"
      "| connector upserts/s into PostgreSQL, %lld candles (run_connector, memory bus, "
      "batches of 5,000) | %.0f | | |\n"
      "| psql `\\copy` of the same rows (CSV) into an empty table of the same shape (ceiling: "
      "the faster of the runs just before and just after the connector) | %.0f | | |\n"
      "| connector / ceiling, each run's own ratio | %.2f | >= %.1f | %s |\n"
      "| (the ratio of the two medians above) | %.2f | | |\n"
      "| the connector's client CPU time (decode, encode, bus; every thread), s | %.2f | | |\n"
      "| `PostgresDataStore::upsert` alone, decoded records, batches of 5,000, new keys | %.0f "
      "| | |\n"
      "| the same records again (every key exists: staging table + ON CONFLICT) | %.0f | | |\n",
      runs, static_cast<long long>(kRecords), median(conn), median(copy), ratio, kTargetRatio,
      sf::bench::ratio(ratio, kTargetRatio, true).c_str(), median(conn) / median(copy),
      median(conn_cpu), median(store), median(restore));
  std::printf("\n%s", table);
  if (markdown.empty()) return 0;
  if (!only.empty()) {
    std::fprintf(stderr, "pg_bench: --only runs are not written to %s\n", markdown.c_str());
    return 2;
  }
  const double load_median = loads.empty() ? -1 : median(loads);
  char intro[6144];
  std::snprintf(
      intro, sizeof intro,
      "## PostgreSQL store (issue 5)\n\n"
      "Command: `%s` (`make bench` runs it through bench/run as `build/bench/pg_bench "
      "--url-file build/postgres-bench/url --runs 3 --markdown docs/benchmarks.md` on a "
      "cluster of its own from `scripts/postgres start --dir build/postgres-bench`, stopped "
      "and removed afterwards). Load average %.2f at start, "
      "median %.2f at the start of the runs (2 cores shared with other work: figures are wall "
      "time and move with the load).\n\n"
      "Each run, back to back, each part after a `CHECKPOINT`: the ceiling, the connector, "
      "the ceiling again (into a second table), and the faster of the two ceilings counts (a "
      "part that follows another finds the server as that one left it, and the load may "
      "change during a run: the better `\\copy` never flatters the connector); then the "
      "store alone. Every part writes an empty table in a fresh "
      "schema (dropped afterwards), created before the part is timed with autovacuum off for "
      "it (an autovacuum worker started during one part would slow that part alone).\n\n"
      "- *connector*: the real `store-connector` worker (`run_connector`) drains %lld candles "
      "and the end marker from a pre-filled `MemoryBus` into `PostgresDataStore`: decode, "
      "batches of 5,000, each batch one transaction (binary `COPY` straight into the table "
      "under a savepoint, as every key is new here, sent in 64 KB pieces while the batch is "
      "encoded), offsets committed after it. The connector's thread polls and decodes the "
      "next batch while a writer thread upserts the current one (at most one batch in "
      "flight). Rate = candles / wall time from the start command to the worker's return; "
      "its client CPU time is the process's (every thread) over the same interval.\n"
      "- *ceiling*: `psql -c \"\\copy schema.t (...) FROM 'file.csv' WITH (FORMAT csv)\"` of "
      "the same rows into an empty table created `LIKE` the connector's (same columns, types "
      "and primary key), one transaction; wall time of the psql process. The server is the "
      "scripts/postgres cluster (PostgreSQL 15, fsync on, shared_buffers 128MB, on the same 2 "
      "cores).\n"
      "- *store alone*: the same candles, already decoded, through `upsert()` directly; then "
      "the same batches again, where every key exists, so each batch's direct COPY is not "
      "tried (or fails at its first row) and the batch goes through the binary `COPY` into "
      "the temporary staging table and one `INSERT ... SELECT ... ON CONFLICT DO UPDATE`; "
      "the values are the stored ones, so the update writes no row (a rerun or a redelivery "
      "into a complete store).\n\n",
      command.c_str(), load_at_start, load_median, static_cast<long long>(kRecords));
  return sf::bench::record_markdown(markdown, "pg-bench",
                                    std::string(intro) + table + "\nPer run:\n\n" + per_run);
}
