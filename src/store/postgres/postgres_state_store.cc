#include "store/postgres/postgres_state_store.h"

#include <chrono>
#include <cstdint>
#include <iterator>
#include <limits>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "store/postgres/pg_conn.h"
#include "store/state_fields.h"

namespace sf::store {
namespace {

using pg::quote_ident;

// Forward-only migrations. Entry i takes the schema from version i to i + 1; never edit a
// released entry, append a new one. `@` stands for the quoted schema name.
struct Migration {
  const char* description;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {"workflow state: queues, targets, events", R"sql(
CREATE TABLE @.queues (
  queue_id     TEXT NOT NULL PRIMARY KEY,
  symbol       TEXT NOT NULL,
  type         TEXT NOT NULL,
  time_range   TEXT NOT NULL,
  status       TEXT NOT NULL,
  message      TEXT NOT NULL,
  created_at   DOUBLE PRECISION NOT NULL,
  updated_at   DOUBLE PRECISION NOT NULL,
  request_json TEXT NOT NULL,
  seq          BIGINT GENERATED ALWAYS AS IDENTITY  -- creation order among equal created_at
);
CREATE INDEX queues_by_created ON @.queues (created_at, seq);

CREATE TABLE @.targets (
  queue_id        TEXT NOT NULL REFERENCES @.queues (queue_id) ON DELETE CASCADE,
  telemetry_id    TEXT NOT NULL,
  ordinal         BIGINT NOT NULL,  -- position in the start request, then append order
  target          TEXT NOT NULL,
  status          TEXT NOT NULL,
  message         TEXT NOT NULL,
  records_written BIGINT NOT NULL,
  updated_at      DOUBLE PRECISION NOT NULL,
  config_json     TEXT NOT NULL,
  PRIMARY KEY (queue_id, telemetry_id)
);

CREATE TABLE @.events (
  id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue_id  TEXT NOT NULL REFERENCES @.queues (queue_id) ON DELETE CASCADE,
  timestamp DOUBLE PRECISION NOT NULL,
  json      TEXT NOT NULL
);
CREATE INDEX events_by_queue ON @.events (queue_id, id);
)sql"},
};

constexpr int kLatestVersion = static_cast<int>(std::size(kMigrations));

// Serialises migrations of every process sharing the database.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7310506712263181313)";

std::string with_schema(std::string_view sql, const std::string& schema) {
  std::string out;
  for (char c : sql) {
    if (c == '@') {
      out += schema;
    } else {
      out += c;
    }
  }
  return out;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string clamp_to_int64(size_t n) {
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  return std::to_string(std::min<uint64_t>(n, kMax));
}

// A column of a result row into a field of its type.
void read_column(const PGresult* r, int row, int col, std::string& v) { v = pg::text(r, row, col); }
void read_column(const PGresult* r, int row, int col, double& v) {
  v = pg::to_double(pg::text(r, row, col));
}
void read_column(const PGresult* r, int row, int col, int64_t& v) {
  v = pg::to_int64(pg::text(r, row, col));
}

// A queue or target row whose fields (state_fields.h) start at column `first`: a queue row
// at 0; a target row at 1, after its queue_id, which the caller reads to place the target.
template <class R>
R read_row(const PGresult* r, int row, int first) {
  R out;
  int col = first;
  StateFields<R>::for_each(
      [&](const char*, auto member) { read_column(r, row, col++, out.*member); });
  return out;
}

}  // namespace

struct PostgresStateStore::Impl {
  explicit Impl(pg::Url u) : conn(std::move(u)) {}
  pg::Connection conn;
  std::string schema;  // quoted
  std::mutex mu;

  std::string t(const char* table) const { return schema + "." + table; }

  Result<pg::ResultPtr> run(const char* name, const std::string& sql,
                            const std::vector<const char*>& params, const std::string& what) {
    return conn.prepared(name, sql, params, what);
  }

  Status migrate() {
    for (;;) {
      pg::Txn txn(conn);
      SF_TRY(txn.begin());
      SF_TRY(conn.exec(kMigrationLock, "lock migrations"));
      SF_TRY(conn.exec("CREATE SCHEMA IF NOT EXISTS " + schema + "; CREATE TABLE IF NOT EXISTS " +
                           t("schema_version") +
                           " (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL,"
                           " description TEXT NOT NULL)",
                       "create schema_version"));
      auto v = conn.exec("SELECT COALESCE(MAX(version), 0) FROM " + t("schema_version"),
                         "read schema version");
      if (!v) return v.error();
      const int current = static_cast<int>(pg::to_int64(pg::text(v->get(), 0, 0)));
      if (current > kLatestVersion) {
        return Error(Errc::invalid_argument,
                     "postgres: " + conn.url().redacted + " has schema version " +
                         std::to_string(current) + ", newer than this build supports (" +
                         std::to_string(kLatestVersion) +
                         "); run a newer streamforge or use another schema");
      }
      if (current == kLatestVersion) return txn.commit();
      const Migration& m = kMigrations[current];
      SF_TRY(conn.exec(with_schema(m.sql, schema),
                       "migrate to schema version " + std::to_string(current + 1)));
      const std::string ver = std::to_string(current + 1), at = pg::param(now_seconds());
      const char* params[] = {ver.c_str(), at.c_str(), m.description};
      auto ins = conn.exec_params("INSERT INTO " + t("schema_version") +
                                      " (version, applied_at, description) VALUES ($1, $2, $3)",
                                  {params, params + 3}, "record schema version");
      if (!ins) return ins.error();
      SF_TRY(txn.commit());
    }
  }

  Result<std::vector<TargetState>> targets_of(const std::string& queue_id) {
    auto r = run("sf_targets_of",
                 "SELECT " SF_TARGET_COLUMNS " FROM " + t("targets") +
                     " WHERE queue_id = $1 ORDER BY ordinal",
                 {queue_id.c_str()}, "select targets of " + queue_id);
    if (!r) return r.error();
    std::vector<TargetState> out;
    for (int i = 0; i < PQntuples(r->get()); ++i)
      out.push_back(read_row<TargetState>(r->get(), i, 1));
    return out;
  }
};

int PostgresStateStore::schema_version() { return kLatestVersion; }

Result<std::unique_ptr<PostgresStateStore>> PostgresStateStore::open(const std::string& url) {
  pg::Url u;
  SF_TRY_ASSIGN(u, pg::parse_url(url));
  auto impl = std::make_unique<Impl>(std::move(u));
  impl->schema = quote_ident(impl->conn.url().schema);
  SF_TRY(impl->migrate());
  return std::unique_ptr<PostgresStateStore>(new PostgresStateStore(std::move(impl)));
}

PostgresStateStore::PostgresStateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresStateStore::~PostgresStateStore() = default;

Status PostgresStateStore::create_queue(const QueueState& q) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  pg::Txn txn(s.conn);
  SF_TRY(txn.begin());
  {
    const std::string created = pg::param(q.created_at), updated = pg::param(q.updated_at);
    // ON CONFLICT DO NOTHING: a taken id is an answer (no row), not an aborted transaction.
    auto r = s.run("sf_insert_queue",
                   "INSERT INTO " + s.t("queues") +
                       " (" SF_QUEUE_COLUMNS
                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                       " ON CONFLICT (queue_id) DO NOTHING",
                   {q.queue_id.c_str(), q.symbol.c_str(), q.type.c_str(), q.time_range.c_str(),
                    q.status.c_str(), q.message.c_str(), created.c_str(), updated.c_str(),
                    q.request_json.c_str()},
                   "insert queue " + q.queue_id);
    if (!r) return r.error();
    if (std::string_view(PQcmdTuples(r->get())) == "0") {
      return Error(Errc::already_exists, "queue " + q.queue_id + " already exists", "queue_id");
    }
  }
  for (size_t i = 0; i < q.targets.size(); ++i) {
    const TargetState& tg = q.targets[i];
    const std::string ordinal = std::to_string(i), written = std::to_string(tg.records_written),
                      updated = pg::param(tg.updated_at);
    auto r = s.run("sf_insert_target",
                   "INSERT INTO " + s.t("targets") +
                       " (queue_id, telemetry_id, ordinal, target, status, message,"
                       " records_written, updated_at, config_json)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                       " ON CONFLICT (queue_id, telemetry_id) DO NOTHING",
                   {q.queue_id.c_str(), tg.telemetry_id.c_str(), ordinal.c_str(), tg.target.c_str(),
                    tg.status.c_str(), tg.message.c_str(), written.c_str(), updated.c_str(),
                    tg.config_json.c_str()},
                   "insert target " + tg.telemetry_id);
    if (!r) return r.error();
    if (std::string_view(PQcmdTuples(r->get())) == "0") {
      return Error(Errc::invalid_argument,
                   "queue " + q.queue_id + ": duplicate telemetry_id " + tg.telemetry_id,
                   "targets");
    }
  }
  return txn.commit();
}

Result<QueueState> PostgresStateStore::get_queue(const std::string& queue_id) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  pg::Txn txn(s.conn);
  SF_TRY(txn.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  QueueState q;
  {
    auto r = s.run("sf_select_queue",
                   "SELECT " SF_QUEUE_COLUMNS " FROM " + s.t("queues") + " WHERE queue_id = $1",
                   {queue_id.c_str()}, "select queue " + queue_id);
    if (!r) return r.error();
    if (PQntuples(r->get()) == 0) return Error(Errc::not_found, "queue " + queue_id + " not found");
    q = read_row<QueueState>(r->get(), 0, 0);
  }
  SF_TRY_ASSIGN(q.targets, s.targets_of(queue_id));
  SF_TRY(txn.commit());
  return q;
}

Result<std::vector<QueueState>> PostgresStateStore::list_queues() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  pg::Txn txn(s.conn);
  SF_TRY(txn.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  // Two scans joined in memory: one query per queue would be 10,000 round trips.
  std::vector<QueueState> queues;
  std::unordered_map<std::string, size_t> index;
  {
    auto r =
        s.run("sf_all_queues",
              "SELECT " SF_QUEUE_COLUMNS " FROM " + s.t("queues") + " ORDER BY created_at, seq", {},
              "select queues");
    if (!r) return r.error();
    const int n = PQntuples(r->get());
    queues.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) queues.push_back(read_row<QueueState>(r->get(), i, 0));
  }
  index.reserve(queues.size());
  for (size_t i = 0; i < queues.size(); ++i) index.emplace(queues[i].queue_id, i);
  {
    auto r =
        s.run("sf_all_targets",
              "SELECT " SF_TARGET_COLUMNS " FROM " + s.t("targets") + " ORDER BY queue_id, ordinal",
              {}, "select targets");
    if (!r) return r.error();
    for (int i = 0; i < PQntuples(r->get()); ++i) {
      auto it = index.find(std::string(pg::text(r->get(), i, 0)));
      if (it != index.end())
        queues[it->second].targets.push_back(read_row<TargetState>(r->get(), i, 1));
    }
  }
  SF_TRY(txn.commit());
  return queues;
}

Status PostgresStateStore::apply(const StateBatch& batch) {
  if (batch.queue_updates.empty() && batch.target_updates.empty() && batch.events.empty()) {
    return ok_status();
  }
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  pg::Txn txn(s.conn);
  SF_TRY(txn.begin());
  for (const QueueState& q : batch.queue_updates) {
    const std::string updated = pg::param(q.updated_at);
    auto r = s.run("sf_update_queue",
                   "UPDATE " + s.t("queues") +
                       " SET status = $2, message = $3, updated_at = $4 WHERE queue_id = $1",
                   {q.queue_id.c_str(), q.status.c_str(), q.message.c_str(), updated.c_str()},
                   "update queue " + q.queue_id);
    if (!r) return r.error();
  }
  for (const auto& [queue_id, tg] : batch.target_updates) {
    const std::string written = std::to_string(tg.records_written),
                      updated = pg::param(tg.updated_at);
    // The SELECT ... WHERE EXISTS skips targets of unknown queues (the contract ignores
    // them). A new target goes after the queue's existing ones; an existing one keeps its
    // position.
    auto r =
        s.run("sf_upsert_target",
              "INSERT INTO " + s.t("targets") +
                  " (queue_id, telemetry_id, ordinal, target, status, message, records_written,"
                  " updated_at, config_json)"
                  " SELECT $1, $2, (SELECT COALESCE(MAX(ordinal) + 1, 0) FROM " +
                  s.t("targets") +
                  " WHERE queue_id = $1), $3, $4, $5, $6, $7, $8"
                  " WHERE EXISTS (SELECT 1 FROM " +
                  s.t("queues") +
                  " WHERE queue_id = $1)"
                  " ON CONFLICT (queue_id, telemetry_id) DO UPDATE SET"
                  " target = EXCLUDED.target, status = EXCLUDED.status, message = EXCLUDED.message,"
                  " records_written = EXCLUDED.records_written, updated_at = EXCLUDED.updated_at,"
                  " config_json = EXCLUDED.config_json",
              {queue_id.c_str(), tg.telemetry_id.c_str(), tg.target.c_str(), tg.status.c_str(),
               tg.message.c_str(), written.c_str(), updated.c_str(), tg.config_json.c_str()},
              "upsert target " + queue_id + "/" + tg.telemetry_id);
    if (!r) return r.error();
  }
  for (const StoredEvent& e : batch.events) {
    const std::string ts = pg::param(e.timestamp);
    auto r =
        s.run("sf_insert_event",
              "INSERT INTO " + s.t("events") +
                  " (queue_id, timestamp, json) SELECT $1, $2, $3"
                  " WHERE EXISTS (SELECT 1 FROM " +
                  s.t("queues") + " WHERE queue_id = $1)",
              {e.queue_id.c_str(), ts.c_str(), e.json.c_str()}, "insert event for " + e.queue_id);
    if (!r) return r.error();
  }
  return txn.commit();
}

Result<std::vector<StoredEvent>> PostgresStateStore::recent_events(const std::string& queue_id,
                                                                   size_t limit) {
  std::vector<StoredEvent> out;
  if (limit == 0) return out;
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  const std::string n = clamp_to_int64(limit);
  auto r = s.run(
      "sf_recent_events",
      "SELECT queue_id, timestamp, json FROM (SELECT id, queue_id, timestamp, json FROM " +
          s.t("events") + " WHERE queue_id = $1 ORDER BY id DESC LIMIT $2) newest ORDER BY id",
      {queue_id.c_str(), n.c_str()}, "select events of " + queue_id);
  if (!r) return r.error();
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    out.push_back(StoredEvent{std::string(pg::text(r->get(), i, 0)),
                              pg::to_double(pg::text(r->get(), i, 1)),
                              std::string(pg::text(r->get(), i, 2))});
  }
  return out;
}

Status PostgresStateStore::trim_events(const std::string& queue_id, size_t keep) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  const std::string n = clamp_to_int64(keep);
  // Deletes everything at or below the (keep+1)-th newest id; no-op when there are `keep`
  // or fewer events (the subquery is NULL).
  auto r =
      s.run("sf_trim_events",
            "DELETE FROM " + s.t("events") + " WHERE queue_id = $1 AND id <= (SELECT id FROM " +
                s.t("events") + " WHERE queue_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
            {queue_id.c_str(), n.c_str()}, "trim events of " + queue_id);
  if (!r) return r.error();
  return {};
}

std::string PostgresStateStore::describe() const { return impl_->conn.url().redacted; }

}  // namespace sf::store
