#include "store/sqlite/sqlite_data_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "store/sqlite/sqlite_util.h"

namespace sf::store {
namespace {

using namespace sqlite_util;  // NOLINT: the shared RAII helpers of this folder
using market::Kind;

enum class ColType { text, decimal, integer, boolean };

struct Column {
  const char* name;
  ColType type;
};

// Column order is the bind/read order below and the record's field order.
constexpr Column kCandleColumns[] = {
    {"symbol", ColType::text},
    {"interval", ColType::text},
    {"open_time", ColType::integer},
    {"close_time", ColType::integer},
    {"open", ColType::decimal},
    {"high", ColType::decimal},
    {"low", ColType::decimal},
    {"close", ColType::decimal},
    {"volume", ColType::decimal},
    {"quote_volume", ColType::decimal},
    {"trades", ColType::integer},
    {"taker_buy_base_volume", ColType::decimal},
    {"taker_buy_quote_volume", ColType::decimal},
    {"closed", ColType::boolean},
};
constexpr Column kAggTradeColumns[] = {
    {"symbol", ColType::text},
    {"agg_id", ColType::integer},
    {"price", ColType::decimal},
    {"qty", ColType::decimal},
    {"first_trade_id", ColType::integer},
    {"last_trade_id", ColType::integer},
    {"time", ColType::integer},
    {"is_buyer_maker", ColType::boolean},
    {"is_best_match", ColType::boolean},
};
constexpr Column kTradeColumns[] = {
    {"symbol", ColType::text},
    {"trade_id", ColType::integer},
    {"price", ColType::decimal},
    {"qty", ColType::decimal},
    {"quote_qty", ColType::decimal},
    {"time", ColType::integer},
    {"is_buyer_maker", ColType::boolean},
    {"is_best_match", ColType::boolean},
};

struct Schema {
  std::span<const Column> columns;
  size_t key_columns;       // the first N columns form the natural key
  const char* time_column;  // what Query::from_ms/to_ms filter on
};

Schema schema_of(Kind k) {
  switch (k) {
    case Kind::candle:
      return {kCandleColumns, 3, "open_time"};
    case Kind::agg_trade:
      return {kAggTradeColumns, 2, "time"};
    case Kind::trade:
      return {kTradeColumns, 2, "time"};
  }
  return {kCandleColumns, 3, "open_time"};
}

Result<Kind> kind_from_string(std::string_view s) {
  for (Kind k : {Kind::candle, Kind::agg_trade, Kind::trade})
    if (s == market::to_string(k)) return k;
  return Error(Errc::internal, "sqlite: unknown collection kind '" + std::string(s) + "'");
}

Kind kind_of(const market::Record& r) {
  switch (r.index()) {
    case 0:
      return Kind::candle;
    case 1:
      return Kind::agg_trade;
    default:
      return Kind::trade;
  }
}

// Identifiers reaching SQL are validated names and the fixed column names above; they are
// double-quoted anyway so a keyword ("interval", "open", "close") is never misread.
std::string sql_ident(std::string_view id) {
  std::string out = "\"";
  out += id;
  out += '"';
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string create_table_sql(const std::string& name, Kind kind) {
  const Schema s = schema_of(kind);
  std::string sql = "CREATE TABLE " + sql_ident(name) + " (";
  for (const Column& c : s.columns) {
    sql += sql_ident(c.name);
    sql += c.type == ColType::text || c.type == ColType::decimal ? " TEXT" : " INTEGER";
    sql += " NOT NULL, ";
  }
  sql += "PRIMARY KEY (";
  for (size_t i = 0; i < s.key_columns; ++i) {
    if (i) sql += ", ";
    sql += sql_ident(s.columns[i].name);
  }
  sql += ")) WITHOUT ROWID";
  return sql;
}

// Rows per statement of the batched upsert: fewer statement executions per batch (each
// step() re-enters the VDBE, and the row loop is then SQLite's), within SQLite's bound
// parameter limit (32,766 since 3.32; 64 candles bind 896).
constexpr size_t kRowsPerStatement = 64;

// The leading key columns every row of a batch usually shares: the symbol, and the
// interval for candles. A statement "with shared columns" binds them once (?1 ...) for all
// its rows.
size_t shared_columns(Kind kind) { return kind == Kind::candle ? 2 : 1; }

// Parameter numbers of one row of an upsert statement: with `shared` > 0, columns
// [0, shared) are ?1 .. ?shared for every row and the others follow row by row; with 0,
// row r binds r * columns + 1 ... (column i of row r is ?param(i)).
struct RowParams {
  int columns;
  int shared;
  int row;
  // 0 for a shared column (bound once per statement by bind_shared()).
  int param(int i) const {
    if (i < shared) return 0;
    return shared + row * (columns - shared) + (i - shared) + 1;
  }
};

// INSERT ... VALUES (...), (...) ... for `rows` rows, parameters numbered as RowParams
// says. A later row with the key of an earlier one in the same statement updates it, as
// consecutive single-row statements would.
std::string upsert_sql(const std::string& name, Kind kind, size_t rows, size_t shared) {
  const Schema s = schema_of(kind);
  std::string cols, params, key, set;
  const int ncols = static_cast<int>(s.columns.size());
  for (size_t r = 0; r < rows; ++r) {
    params += r ? ", (" : "(";
    const RowParams rp{ncols, static_cast<int>(shared), static_cast<int>(r)};
    for (int i = 0; i < ncols; ++i) {
      if (i) params += ", ";
      const int n = rp.param(i);
      params += "?" + std::to_string(n == 0 ? i + 1 : n);
    }
    params += ')';
  }
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const std::string c = sql_ident(s.columns[i].name);
    if (i) cols += ", ";
    cols += c;
    if (i < s.key_columns) {
      if (i) key += ", ";
      key += c;
    } else {
      if (!set.empty()) set += ", ";
      set += c + " = excluded." + c;
    }
  }
  std::string sql = "INSERT INTO " + sql_ident(name) + " (" + cols + ") VALUES " + params +
                    " ON CONFLICT (" + key + ") DO UPDATE SET " + set;
  // A closed candle is final: a non-closed one with the same key (an older run's record
  // delivered again) never replaces it.
  if (kind == Kind::candle) {
    sql += " WHERE " + sql_ident(name) + ".\"closed\" = 0 OR excluded.\"closed\" = 1";
  }
  return sql;
}

std::string select_columns(Kind kind) {
  std::string cols;
  for (const Column& c : schema_of(kind).columns) {
    if (!cols.empty()) cols += ", ";
    cols += sql_ident(c.name);
  }
  return cols;
}

// Binds a record as one row of an upsert statement (parameters as `p` says; shared
// columns are skipped here and bound by bind_shared()). The leading key columns come
// first in every kind, so shared columns are always a prefix.
void bind(Use& u, const market::Candle& c, RowParams p) {
  if (p.shared == 0) u.text(p.param(0), c.symbol).text(p.param(1), c.interval);
  u.int64(p.param(2), c.open_time)
      .int64(p.param(3), c.close_time)
      .text(p.param(4), c.open)
      .text(p.param(5), c.high)
      .text(p.param(6), c.low)
      .text(p.param(7), c.close)
      .text(p.param(8), c.volume)
      .text(p.param(9), c.quote_volume)
      .int64(p.param(10), c.trades)
      .text(p.param(11), c.taker_buy_base_volume)
      .text(p.param(12), c.taker_buy_quote_volume)
      .int64(p.param(13), c.closed ? 1 : 0);
}
void bind(Use& u, const market::AggTrade& t, RowParams p) {
  if (p.shared == 0) u.text(p.param(0), t.symbol);
  u.int64(p.param(1), t.agg_id)
      .text(p.param(2), t.price)
      .text(p.param(3), t.qty)
      .int64(p.param(4), t.first_trade_id)
      .int64(p.param(5), t.last_trade_id)
      .int64(p.param(6), t.time)
      .int64(p.param(7), t.is_buyer_maker ? 1 : 0)
      .int64(p.param(8), t.is_best_match ? 1 : 0);
}
void bind(Use& u, const market::Trade& t, RowParams p) {
  if (p.shared == 0) u.text(p.param(0), t.symbol);
  u.int64(p.param(1), t.trade_id)
      .text(p.param(2), t.price)
      .text(p.param(3), t.qty)
      .text(p.param(4), t.quote_qty)
      .int64(p.param(5), t.time)
      .int64(p.param(6), t.is_buyer_maker ? 1 : 0)
      .int64(p.param(7), t.is_best_match ? 1 : 0);
}

// The shared columns of a statement with shared columns (?1 ...), from one of its rows.
void bind_shared(Use& u, const market::Record& r) {
  if (const auto* c = std::get_if<market::Candle>(&r)) {
    u.text(1, c->symbol).text(2, c->interval);
  } else if (const auto* a = std::get_if<market::AggTrade>(&r)) {
    u.text(1, a->symbol);
  } else {
    u.text(1, std::get<market::Trade>(r).symbol);
  }
}

// True if `a` and `b` have the same shared columns (see shared_columns()).
bool same_shared(const market::Record& a, const market::Record& b) {
  if (const auto* c = std::get_if<market::Candle>(&a)) {
    const auto& d = std::get<market::Candle>(b);
    return c->symbol == d.symbol && c->interval == d.interval;
  }
  if (const auto* t = std::get_if<market::AggTrade>(&a))
    return t->symbol == std::get<market::AggTrade>(b).symbol;
  return std::get<market::Trade>(a).symbol == std::get<market::Trade>(b).symbol;
}

int column_count(Kind kind) { return static_cast<int>(schema_of(kind).columns.size()); }
static_assert(std::size(kCandleColumns) == 14 && std::size(kAggTradeColumns) == 9 &&
              std::size(kTradeColumns) == 8);

market::Record read_record(const Use& u, Kind kind) {
  switch (kind) {
    case Kind::candle: {
      market::Candle c;
      c.symbol = u.col_text(0);
      c.interval = u.col_text(1);
      c.open_time = u.col_int64(2);
      c.close_time = u.col_int64(3);
      c.open = u.col_text(4);
      c.high = u.col_text(5);
      c.low = u.col_text(6);
      c.close = u.col_text(7);
      c.volume = u.col_text(8);
      c.quote_volume = u.col_text(9);
      c.trades = u.col_int64(10);
      c.taker_buy_base_volume = u.col_text(11);
      c.taker_buy_quote_volume = u.col_text(12);
      c.closed = u.col_int64(13) != 0;
      return c;
    }
    case Kind::agg_trade: {
      market::AggTrade t;
      t.symbol = u.col_text(0);
      t.agg_id = u.col_int64(1);
      t.price = u.col_text(2);
      t.qty = u.col_text(3);
      t.first_trade_id = u.col_int64(4);
      t.last_trade_id = u.col_int64(5);
      t.time = u.col_int64(6);
      t.is_buyer_maker = u.col_int64(7) != 0;
      t.is_best_match = u.col_int64(8) != 0;
      return t;
    }
    case Kind::trade:
      break;
  }
  market::Trade t;
  t.symbol = u.col_text(0);
  t.trade_id = u.col_int64(1);
  t.price = u.col_text(2);
  t.qty = u.col_text(3);
  t.quote_qty = u.col_text(4);
  t.time = u.col_int64(5);
  t.is_buyer_maker = u.col_int64(6) != 0;
  t.is_best_match = u.col_int64(7) != 0;
  return t;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct SqliteDataStore::Impl {
  struct Collection {
    std::string name;  // as created
    Kind kind = Kind::candle;
    StmtPtr upsert;              // one row
    StmtPtr upsert_many;         // kRowsPerStatement rows
    StmtPtr upsert_many_shared;  // kRowsPerStatement rows sharing symbol (and interval)
  };

  DbPtr db;
  std::string path;
  StmtPtr begin_write, commit, rollback, select_catalogue, insert_catalogue, list_catalogue;
  std::mutex mu;
  std::map<std::string, Collection> cache;  // by lower-case name (SQLite's table identity)

  // upsert() / upsert_decoded(); the decimal check only with `check_decimals_too`.
  Status upsert(const std::string& name, Kind kind, std::span<const market::Record> records,
                bool check_decimals_too);

  // The catalogue entry for `name` (any case), prepared for use; nullptr with ok status if
  // there is none. Caller holds mu.
  Result<Collection*> lookup(const std::string& name) {
    const std::string key = lower(name);
    if (auto it = cache.find(key); it != cache.end()) return &it->second;
    std::string stored_name, kind_text;
    {
      Use u(select_catalogue.get());
      u.text(1, name);
      int rc = u.step();
      if (rc == SQLITE_DONE) return static_cast<Collection*>(nullptr);
      if (rc != SQLITE_ROW) return sql_error(db.get(), rc, "look up collection " + name);
      stored_name = u.col_text(0);
      kind_text = u.col_text(1);
    }
    Kind kind;
    SF_TRY_ASSIGN(kind, kind_from_string(kind_text));
    return add_to_cache(key, stored_name, kind);
  }

  Result<Collection*> add_to_cache(const std::string& key, const std::string& stored_name,
                                   Kind kind) {
    auto one = prepare_persistent(db.get(), upsert_sql(stored_name, kind, 1, 0));
    if (!one) return one.error();
    auto many = prepare_persistent(db.get(), upsert_sql(stored_name, kind, kRowsPerStatement, 0));
    if (!many) return many.error();
    auto shared = prepare_persistent(
        db.get(), upsert_sql(stored_name, kind, kRowsPerStatement, shared_columns(kind)));
    if (!shared) return shared.error();
    Collection& c = cache[key];
    c.name = stored_name;
    c.kind = kind;
    c.upsert = std::move(*one);
    c.upsert_many = std::move(*many);
    c.upsert_many_shared = std::move(*shared);
    return &c;
  }

  // The collection for a write: created if missing; invalid_argument on a kind or spelling
  // conflict. Caller holds mu.
  Result<Collection*> ensure(const std::string& name, Kind kind) {
    Collection* c = nullptr;
    SF_TRY_ASSIGN(c, lookup(name));
    if (c == nullptr) {
      // Created under the write lock with the catalogue re-read inside it, so two
      // connections (or processes) creating the same collection do not both try.
      Txn txn(db.get(), rollback.get());
      SF_TRY(txn.begin(begin_write.get()));
      std::optional<std::pair<std::string, std::string>> found;  // name, kind
      {
        Use u(select_catalogue.get());
        u.text(1, name);
        int rc = u.step();
        if (rc == SQLITE_ROW) {
          found.emplace(u.col_text(0), u.col_text(1));
        } else if (rc != SQLITE_DONE) {
          return sql_error(db.get(), rc, "look up collection " + name);
        }
      }
      if (found) {  // created by another connection since lookup()
        Kind k;
        SF_TRY_ASSIGN(k, kind_from_string(found->second));
        SF_TRY(txn.commit(commit.get()));
        SF_TRY_ASSIGN(c, add_to_cache(lower(name), found->first, k));
      }
      if (c == nullptr) {
        const std::string sql = create_table_sql(name, kind);
        char* err = nullptr;
        int rc = sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &err);
        sqlite3_free(err);
        if (rc != SQLITE_OK) {
          Error e = sql_error(db.get(), rc, "create collection " + name);
          if ((rc & 0xff) == SQLITE_ERROR) {
            // "table ... already exists": a table we did not create; never adopt it.
            e.code = Errc::invalid_argument;
            e.field = "collection_name";
          }
          return e;
        }
        {
          Use u(insert_catalogue.get());
          u.text(1, name).text(2, market::to_string(kind)).real(3, now_seconds());
          rc = u.step();
          if (rc != SQLITE_DONE) return sql_error(db.get(), rc, "register collection " + name);
        }
        SF_TRY(txn.commit(commit.get()));
        SF_TRY_ASSIGN(c, add_to_cache(lower(name), name, kind));
      }
    }
    if (c->name != name) {
      return Error(Errc::invalid_argument,
                   "collection '" + name + "' differs only in case from existing collection '" +
                       c->name + "' (SQLite table names are case-insensitive)",
                   "collection_name");
    }
    if (c->kind != kind) {
      return Error(Errc::invalid_argument,
                   "collection '" + name + "' holds " + market::to_string(c->kind) +
                       " records, not " + market::to_string(kind),
                   "collection_name");
    }
    return c;
  }

  // The collection for a read; not_found if missing or spelled differently. Caller holds mu.
  Result<Collection*> existing(const std::string& name) {
    SF_TRY(check_collection_name(name));
    Collection* c = nullptr;
    SF_TRY_ASSIGN(c, lookup(name));
    if (c == nullptr || c->name != name) {
      return Error(Errc::not_found, "collection '" + name + "' does not exist", "collection_name");
    }
    return c;
  }

  // SELECT <what> FROM <c> WHERE <q's filters> [ORDER BY key] [LIMIT]; values are bound.
  Result<StmtPtr> prepare_query(const Collection& c, const std::string& what, const Query& q,
                                bool ordered) {
    const Schema s = schema_of(c.kind);
    std::string sql = "SELECT " + what + " FROM " + sql_ident(c.name) + " WHERE 1";
    if (q.symbol) sql += " AND \"symbol\" = ?1";
    if (q.interval && c.kind == Kind::candle) sql += " AND \"interval\" = ?2";
    if (q.from_ms != std::numeric_limits<int64_t>::min())
      sql += " AND " + sql_ident(s.time_column) + " >= ?3";
    if (q.to_ms != std::numeric_limits<int64_t>::max())
      sql += " AND " + sql_ident(s.time_column) + " < ?4";
    if (ordered) {
      sql += " ORDER BY ";
      for (size_t i = 0; i < s.key_columns; ++i) {
        if (i) sql += ", ";
        sql += sql_ident(s.columns[i].name);
      }
      if (q.limit > 0) sql += " LIMIT ?5";
    }
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return sql_error(db.get(), rc, "prepare query on " + c.name);
    return stmt;
  }

  static void bind_query(Use& u, const Collection& c, const Query& q, bool ordered) {
    // Binding a parameter the SQL does not have can fail (SQLITE_RANGE), so bind exactly
    // what prepare_query() put in.
    if (q.symbol) u.text(1, *q.symbol);
    if (q.interval && c.kind == Kind::candle) u.text(2, *q.interval);
    if (q.from_ms != std::numeric_limits<int64_t>::min()) u.int64(3, q.from_ms);
    if (q.to_ms != std::numeric_limits<int64_t>::max()) u.int64(4, q.to_ms);
    if (ordered && q.limit > 0)
      u.int64(5, static_cast<int64_t>(std::min<size_t>(q.limit, INT64_MAX)));
  }
};

Result<std::unique_ptr<SqliteDataStore>> SqliteDataStore::open(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    return Error(Errc::io_error,
                 "sqlite: cannot create data directory " + data_dir + ": " + ec.message());
  }
  fs::path abs = fs::absolute(fs::path(data_dir) / kFileName, ec);
  if (ec) return Error(Errc::io_error, "sqlite: cannot resolve " + data_dir + ": " + ec.message());

  auto impl = std::make_unique<Impl>();
  impl->path = abs.lexically_normal().string();
  SF_TRY_ASSIGN(impl->db, open_database(impl->path));
  sqlite3* db = impl->db.get();
  SF_TRY(exec(db,
              "CREATE TABLE IF NOT EXISTS sf_collections ("
              " name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,"
              " kind TEXT NOT NULL,"
              " created_at REAL NOT NULL)",
              "create sf_collections"));
  struct Entry {
    StmtPtr* slot;
    const char* sql;
  };
  const Entry entries[] = {
      // IMMEDIATE takes the write lock up front, so a busy database fails at BEGIN (after
      // the busy timeout) instead of part-way through a batch.
      {&impl->begin_write, "BEGIN IMMEDIATE"},
      {&impl->commit, "COMMIT"},
      {&impl->rollback, "ROLLBACK"},
      {&impl->select_catalogue, "SELECT name, kind FROM sf_collections WHERE name = ?1"},
      {&impl->insert_catalogue,
       "INSERT INTO sf_collections(name, kind, created_at) VALUES(?1, ?2, ?3)"},
      {&impl->list_catalogue, "SELECT name, kind FROM sf_collections ORDER BY name"},
  };
  for (const Entry& e : entries) SF_TRY_ASSIGN(*e.slot, prepare_persistent(db, e.sql));
  return std::unique_ptr<SqliteDataStore>(new SqliteDataStore(std::move(impl)));
}

SqliteDataStore::SqliteDataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteDataStore::~SqliteDataStore() {
  std::lock_guard lock(impl_->mu);
  // Members are destroyed in reverse order: statements are finalized before the
  // connection closes.
  sqlite3_exec(impl_->db.get(), "PRAGMA optimize", nullptr, nullptr, nullptr);
}

Status SqliteDataStore::ensure_collection(const std::string& name, Kind kind) {
  SF_TRY(check_collection_name(name));
  std::lock_guard lock(impl_->mu);
  auto c = impl_->ensure(name, kind);
  if (!c) return c.error();
  return {};
}

Status SqliteDataStore::upsert(const std::string& name, Kind kind,
                               std::span<const market::Record> records) {
  return impl_->upsert(name, kind, records, /*check_decimals=*/true);
}

Status SqliteDataStore::upsert_decoded(const std::string& name, Kind kind,
                                       std::span<const market::Record> records) {
  // market::decode_into() checked every decimal with market::is_decimal already.
  return impl_->upsert(name, kind, records, /*check_decimals=*/false);
}

Status SqliteDataStore::Impl::upsert(const std::string& name, Kind kind,
                                     std::span<const market::Record> records,
                                     bool check_decimals_too) {
  // Everything that can be refused is refused before the database is touched.
  SF_TRY(check_collection_name(name));
  for (size_t i = 0; i < records.size(); ++i) {
    if (kind_of(records[i]) != kind) {
      return Error(Errc::invalid_argument, "record " + std::to_string(i) + " is a " +
                                               market::to_string(kind_of(records[i])) +
                                               ", the batch is for " + market::to_string(kind));
    }
    if (check_decimals_too) SF_TRY(check_decimals(records[i], i));
  }
  std::lock_guard lock(mu);
  Collection* c = nullptr;
  SF_TRY_ASSIGN(c, ensure(name, kind));
  if (records.empty()) return {};
  sqlite3* conn = db.get();
  Txn txn(conn, rollback.get());
  SF_TRY(txn.begin(begin_write.get()));
  const int ncols = column_count(kind);
  const auto shared = static_cast<int>(shared_columns(kind));
  auto failed = [&](int rc, size_t first, size_t rows) -> Status {
    const std::string which = rows == 1
                                  ? market::natural_key(records[first])
                                  : "records " + market::natural_key(records[first]) + " .. " +
                                        market::natural_key(records[first + rows - 1]);
    return sql_error(conn, rc, "upsert " + which + " into " + name);
  };
  // Whole chunks of kRowsPerStatement rows (binding symbol and interval once when the
  // chunk's rows share them, as a workflow's batch does), then the rest one row at a time.
  size_t i = 0;
  {
    Use many(c->upsert_many.get());
    Use many_shared(c->upsert_many_shared.get());
    for (; i + kRowsPerStatement <= records.size(); i += kRowsPerStatement) {
      bool same = true;
      for (size_t r = 1; r < kRowsPerStatement && same; ++r)
        same = same_shared(records[i], records[i + r]);
      Use& u = same ? many_shared : many;
      if (same) bind_shared(u, records[i]);
      const int sh = same ? shared : 0;
      for (size_t r = 0; r < kRowsPerStatement; ++r) {
        const RowParams p{ncols, sh, static_cast<int>(r)};
        std::visit([&](const auto& rec) { bind(u, rec, p); }, records[i + r]);
      }
      const int rc = u.step();
      if (rc != SQLITE_DONE) return failed(rc, i, kRowsPerStatement);
      u.rearm();
    }
  }
  {
    Use one(c->upsert.get());
    for (; i < records.size(); ++i) {
      const RowParams p{ncols, 0, 0};
      std::visit([&](const auto& rec) { bind(one, rec, p); }, records[i]);
      const int rc = one.step();
      if (rc != SQLITE_DONE) return failed(rc, i, 1);
      one.rearm();
    }
  }
  return txn.commit(commit.get());
}

Result<std::vector<CollectionInfo>> SqliteDataStore::collections() {
  std::lock_guard lock(impl_->mu);
  std::vector<CollectionInfo> out;
  Use u(impl_->list_catalogue.get());
  int rc;
  while ((rc = u.step()) == SQLITE_ROW) {
    CollectionInfo info;
    info.name = u.col_text(0);
    SF_TRY_ASSIGN(info.kind, kind_from_string(u.col_text(1)));
    out.push_back(std::move(info));
  }
  if (rc != SQLITE_DONE) return sql_error(impl_->db.get(), rc, "list collections");
  return out;
}

Result<Kind> SqliteDataStore::collection_kind(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  return c->kind;
}

Result<int64_t> SqliteDataStore::count(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  StmtPtr stmt;
  SF_TRY_ASSIGN(stmt, impl_->prepare_query(*c, "COUNT(*)", q, false));
  Use u(stmt.get());
  Impl::bind_query(u, *c, q, false);
  int rc = u.step();
  if (rc != SQLITE_ROW) return sql_error(impl_->db.get(), rc, "count " + name);
  return u.col_int64(0);
}

Result<std::vector<market::Record>> SqliteDataStore::scan(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  StmtPtr stmt;
  SF_TRY_ASSIGN(stmt, impl_->prepare_query(*c, select_columns(c->kind), q, true));
  Use u(stmt.get());
  Impl::bind_query(u, *c, q, true);
  std::vector<market::Record> out;
  int rc;
  while ((rc = u.step()) == SQLITE_ROW) out.push_back(read_record(u, c->kind));
  if (rc != SQLITE_DONE) return sql_error(impl_->db.get(), rc, "scan " + name);
  return out;
}

Result<std::vector<int64_t>> SqliteDataStore::times(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  StmtPtr stmt;
  SF_TRY_ASSIGN(stmt, impl_->prepare_query(*c, sql_ident(schema_of(c->kind).time_column), q, true));
  Use u(stmt.get());
  Impl::bind_query(u, *c, q, true);
  std::vector<int64_t> out;
  int rc;
  while ((rc = u.step()) == SQLITE_ROW) out.push_back(u.col_int64(0));
  if (rc != SQLITE_DONE) return sql_error(impl_->db.get(), rc, "read times of " + name);
  return out;
}

std::string SqliteDataStore::describe() const { return "sqlite:" + impl_->path; }

const std::string& SqliteDataStore::path() const { return impl_->path; }

}  // namespace sf::store
