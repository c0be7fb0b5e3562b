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
#include "store/sqlite/wal_checkpointer.h"

namespace sf::store {
namespace {

using namespace sqlite_util;  // NOLINT: the shared RAII helpers of this folder
using market::FieldInfo;
using market::Kind;
using market::KindInfo;

// Identifiers reaching SQL are validated names and the schema's field names; they are
// double-quoted anyway so a keyword ("interval", "open", "close") is never misread.
std::string sql_ident(std::string_view id) {
  std::string out = "\"";
  out += id;
  out += '"';
  return out;
}

// The kind's columns from `first` to `last` as `"a", "b"`, each through `fmt`.
template <class Fmt>
std::string columns(const KindInfo& k, size_t first, size_t last, Fmt fmt) {
  std::string out;
  for (size_t i = first; i < last; ++i) {
    if (i > first) out += ", ";
    out += fmt(sql_ident(k.fields[i].name));
  }
  return out;
}
std::string key_columns(const KindInfo& k) {
  return columns(k, 0, k.key_fields, [](std::string c) { return c; });
}

// Text and decimals are TEXT (the exchange's exact text), integers and booleans INTEGER,
// reals REAL.
const char* column_type(market::FieldType t) {
  switch (t) {
    case market::FieldType::text:
    case market::FieldType::decimal:
      return " TEXT";
    case market::FieldType::real:
      return " REAL";
    case market::FieldType::integer:
    case market::FieldType::boolean:
      break;
  }
  return " INTEGER";
}

std::string create_table_sql(const std::string& name, Kind kind) {
  const KindInfo& k = market::kind_info(kind);
  return "CREATE TABLE " + sql_ident(name) + " (" +
         columns(k, 0, k.fields.size(),
                 [&, i = size_t{0}](std::string c) mutable {
                   return c + column_type(k.fields[i++].type) + " NOT NULL";
                 }) +
         ", PRIMARY KEY (" + key_columns(k) + ")) WITHOUT ROWID";
}

// Rows per statement of the batched upsert: fewer statement executions per batch (each
// step() re-enters the VDBE, and the row loop is then SQLite's), within SQLite's bound
// parameter limit (32,766 since 3.32; 64 candles bind 896).
constexpr size_t kRowsPerStatement = 64;

// The leading key columns every row of a batch usually shares: the leading text key fields
// (the symbol, and the interval for candles). A statement "with shared columns" binds them
// once (?1 ...) for all its rows.
size_t shared_columns(Kind kind) {
  const KindInfo& k = market::kind_info(kind);
  size_t n = 0;
  while (n < k.key_fields && k.fields[n].type == market::FieldType::text) ++n;
  return n;
}

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
  const KindInfo& k = market::kind_info(kind);
  std::string params;
  const int ncols = static_cast<int>(k.fields.size());
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
  std::string sql = "INSERT INTO " + sql_ident(name) + " (" +
                    columns(k, 0, k.fields.size(), std::identity()) + ") VALUES " + params +
                    " ON CONFLICT (" + key_columns(k) + ") DO UPDATE SET " +
                    columns(k, k.key_fields, k.fields.size(),
                            [](const std::string& c) { return c + " = excluded." + c; });
  // A final record (a closed candle) stays: one without the flag with the same key (an
  // older run's record delivered again) never replaces it.
  if (!k.final_flag.empty()) {
    const std::string f = sql_ident(k.final_flag);
    sql += " WHERE " + sql_ident(name) + "." + f + " = 0 OR excluded." + f + " = 1";
  }
  return sql;
}

// Binds a record as one row of an upsert statement (parameters as `p` says; shared
// columns, parameter 0, are skipped here and bound by bind_shared()).
struct RowBinder {
  Use& u;
  RowParams p;
  void text(const FieldInfo&, size_t i, const std::string& v) {
    if (const int n = p.param(static_cast<int>(i))) u.text(n, v);
  }
  void decimal(const FieldInfo& f, size_t i, const std::string& v) { text(f, i, v); }
  void integer(const FieldInfo&, size_t i, int64_t v) {
    if (const int n = p.param(static_cast<int>(i))) u.int64(n, v);
  }
  void boolean(const FieldInfo& f, size_t i, bool v) { integer(f, i, v ? 1 : 0); }
  void real(const FieldInfo&, size_t i, double v) {
    if (const int n = p.param(static_cast<int>(i))) u.real(n, v);
  }
};

// Binds the shared columns (see shared_columns(), all text) of a record as ?1 ...
struct SharedBinder {
  Use& u;
  size_t shared;
  void text(const FieldInfo&, size_t i, const std::string& v) {
    if (i < shared) u.text(static_cast<int>(i) + 1, v);
  }
  void decimal(const FieldInfo&, size_t, const std::string&) {}
  void integer(const FieldInfo&, size_t, int64_t) {}
  void boolean(const FieldInfo&, size_t, bool) {}
  void real(const FieldInfo&, size_t, double) {}
};

void bind_shared(Use& u, const market::Record& r, size_t shared) {
  std::visit([&](const auto& rec) { market::visit_fields(rec, SharedBinder{u, shared}); }, r);
}

// True if `a` and `b` (of one kind) have the same shared columns.
bool same_shared(const market::Record& a, const market::Record& b, size_t shared) {
  return std::visit(
      [&](const auto& x) {
        using R = std::remove_cvref_t<decltype(x)>;
        const R& y = std::get<R>(b);
        bool same = true;
        market::for_each_field<R>([&](const auto& f, size_t i) {
          if (i < shared) same = same && x.*f.member == y.*f.member;
        });
        return same;
      },
      a);
}

// Reads a result row of select_columns() into a record.
struct RowReader {
  const Use& u;
  void text(const FieldInfo&, size_t i, std::string& v) { v = u.col_text(static_cast<int>(i)); }
  void decimal(const FieldInfo& f, size_t i, std::string& v) { text(f, i, v); }
  void integer(const FieldInfo&, size_t i, int64_t& v) { v = u.col_int64(static_cast<int>(i)); }
  void boolean(const FieldInfo&, size_t i, bool& v) { v = u.col_int64(static_cast<int>(i)) != 0; }
  void real(const FieldInfo&, size_t i, double& v) { v = u.col_real(static_cast<int>(i)); }
};

market::Record read_record(const Use& u, Kind kind) {
  return market::with_kind(kind, [&](auto type) {
    typename decltype(type)::type r;
    market::visit_fields(r, RowReader{u});
    return market::Record(std::move(r));
  });
}

std::string select_columns(Kind kind) {
  const KindInfo& k = market::kind_info(kind);
  return columns(k, 0, k.fields.size(), std::identity());
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
  // Declared after db, so it goes first: checkpoints of db's WAL, off the commits.
  std::unique_ptr<WalCheckpointer> checkpointer;
  StmtPtr begin_write, commit, rollback, select_catalogue, insert_catalogue, list_catalogue;
  std::mutex mu;
  std::map<std::string, Collection> cache;  // by lower-case name (SQLite's table identity)

  // upsert() / upsert_decoded(); the decimal check only with `check_decimals_too`.
  Status upsert(const std::string& name, Kind kind, std::span<const market::Record> records,
                bool check_decimals_too);

  // The catalogue entry for `name` (any case), prepared for use; nullptr with ok status if
  // there is none. Caller holds mu.
  Result<Collection*> lookup(const std::string& name) {
    const std::string key = lower_ascii(name);
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
    SF_TRY_ASSIGN(kind, catalogue_kind(kind_text, "sqlite"));
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
        SF_TRY_ASSIGN(k, catalogue_kind(found->second, "sqlite"));
        SF_TRY(txn.commit(commit.get()));
        SF_TRY_ASSIGN(c, add_to_cache(lower_ascii(name), found->first, k));
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
          SF_TRY(u.run(db.get(), "register collection " + name));
        }
        SF_TRY(txn.commit(commit.get()));
        SF_TRY_ASSIGN(c, add_to_cache(lower_ascii(name), name, kind));
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
    const KindInfo& k = market::kind_info(c.kind);
    std::string sql = "SELECT " + what + " FROM " + sql_ident(c.name) + " WHERE 1";
    if (q.symbol) sql += " AND \"symbol\" = ?1";
    if (q.interval && k.has("interval")) sql += " AND \"interval\" = ?2";
    if (q.from_ms != std::numeric_limits<int64_t>::min())
      sql += " AND " + sql_ident(k.time_field) + " >= ?3";
    if (q.to_ms != std::numeric_limits<int64_t>::max())
      sql += " AND " + sql_ident(k.time_field) + " < ?4";
    if (ordered) {
      sql += " ORDER BY " + key_columns(k);
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
    if (q.interval && market::kind_info(c.kind).has("interval")) u.text(2, *q.interval);
    if (q.from_ms != std::numeric_limits<int64_t>::min()) u.int64(3, q.from_ms);
    if (q.to_ms != std::numeric_limits<int64_t>::max()) u.int64(4, q.to_ms);
    if (ordered && q.limit > 0)
      u.int64(5, static_cast<int64_t>(std::min<size_t>(q.limit, INT64_MAX)));
  }
};

Result<std::unique_ptr<SqliteDataStore>> SqliteDataStore::open(const std::string& data_dir,
                                                               Options options) {
  auto impl = std::make_unique<Impl>();
  SF_TRY_ASSIGN(impl->path, database_path(data_dir, kFileName));
  SF_TRY_ASSIGN(impl->db, open_database(impl->path));
  sqlite3* db = impl->db.get();
  if (options.checkpoint_in_background)
    impl->checkpointer = WalCheckpointer::start_or_warn(db, impl->path);
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
  SF_TRY(check_collection(name, kind));
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
  SF_TRY(check_batch(name, kind, records, check_decimals_too));
  std::lock_guard lock(mu);
  Collection* c = nullptr;
  SF_TRY_ASSIGN(c, ensure(name, kind));
  if (records.empty()) return {};
  sqlite3* conn = db.get();
  Txn txn(conn, rollback.get());
  SF_TRY(txn.begin(begin_write.get()));
  const int ncols = static_cast<int>(market::kind_info(kind).fields.size());
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
        same = same_shared(records[i], records[i + r], shared);
      Use& u = same ? many_shared : many;
      if (same) bind_shared(u, records[i], shared);
      const int sh = same ? shared : 0;
      for (size_t r = 0; r < kRowsPerStatement; ++r) {
        const RowParams p{ncols, sh, static_cast<int>(r)};
        std::visit(
            [&](const auto& rec) {
              market::visit_fields(rec, RowBinder{u, p});
            },
            records[i + r]);
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
      std::visit(
          [&](const auto& rec) {
            market::visit_fields(rec, RowBinder{one, p});
          },
          records[i]);
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
    SF_TRY_ASSIGN(info.kind, catalogue_kind(u.col_text(1), "sqlite"));
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

Result<TimeBounds> SqliteDataStore::time_bounds(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  const std::string t = sql_ident(market::kind_info(c->kind).time_field);
  StmtPtr stmt;
  SF_TRY_ASSIGN(stmt,
                impl_->prepare_query(*c, "COUNT(*), MIN(" + t + "), MAX(" + t + ")", q, false));
  Use u(stmt.get());
  Impl::bind_query(u, *c, q, false);
  int rc = u.step();
  if (rc != SQLITE_ROW) return sql_error(impl_->db.get(), rc, "time bounds of " + name);
  TimeBounds b{u.col_int64(0), std::nullopt, std::nullopt};
  if (b.records > 0) {
    b.first = u.col_int64(1);
    b.last = u.col_int64(2);
  }
  return b;
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
  // A page asked for is usually full: no moves of records while it grows.
  if (q.limit > 0) out.reserve(std::min<size_t>(q.limit, 1 << 20));
  int rc;
  while ((rc = u.step()) == SQLITE_ROW) out.push_back(read_record(u, c->kind));
  if (rc != SQLITE_DONE) return sql_error(impl_->db.get(), rc, "scan " + name);
  return out;
}

Result<size_t> SqliteDataStore::scan_json(const std::string& name, const Query& q, std::string& out,
                                          const std::vector<size_t>& picked) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  const auto& fields = market::kind_info(c->kind).fields;
  std::vector<size_t> cols;
  SF_TRY_ASSIGN(cols, resolve_fields(c->kind, picked));
  std::string select;
  for (size_t i : cols) select += (select.empty() ? "" : ", ") + sql_ident(fields[i].name);
  StmtPtr stmt;
  SF_TRY_ASSIGN(stmt, impl_->prepare_query(*c, select, q, true));
  Use u(stmt.get());
  Impl::bind_query(u, *c, q, true);
  sqlite3_stmt* s = stmt.get();
  size_t n = 0;
  int rc;
  while ((rc = u.step()) == SQLITE_ROW) {
    if (n++) out += ',';
    market::JsonRecordWriter w(c->kind, out);
    for (size_t j = 0; j < cols.size(); ++j) {
      const size_t i = cols[j];
      const int col = static_cast<int>(j);
      switch (fields[i].type) {
        case market::FieldType::text:
        case market::FieldType::decimal: {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
          w.text(i, p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s, col)))
                      : std::string_view());
          break;
        }
        case market::FieldType::integer:
          w.integer(i, sqlite3_column_int64(s, col));
          break;
        case market::FieldType::boolean:
          w.boolean(i, sqlite3_column_int64(s, col) != 0);
          break;
        case market::FieldType::real:
          w.real(i, sqlite3_column_double(s, col));
          break;
      }
    }
    w.end();
  }
  if (rc != SQLITE_DONE) return sql_error(impl_->db.get(), rc, "scan " + name);
  return n;
}

Result<std::vector<int64_t>> SqliteDataStore::times(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  StmtPtr stmt;
  SF_TRY_ASSIGN(
      stmt, impl_->prepare_query(*c, sql_ident(market::kind_info(c->kind).time_field), q, true));
  Use u(stmt.get());
  Impl::bind_query(u, *c, q, true);
  std::vector<int64_t> out;
  int rc;
  while ((rc = u.step()) == SQLITE_ROW) out.push_back(u.col_int64(0));
  if (rc != SQLITE_DONE) return sql_error(impl_->db.get(), rc, "read times of " + name);
  return out;
}

Result<std::vector<IdRange>> SqliteDataStore::missing_ids(const std::string& name,
                                                          const IdGapQuery& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  SF_TRY(check_id_gap_query(name, c->kind, q));
  sqlite3* db = impl_->db.get();
  const std::string id = sql_ident(trade_id_field(c->kind));
  const std::string time = sql_ident(market::kind_info(c->kind).time_field);
  const std::string range = " FROM " + sql_ident(c->name) + " WHERE \"symbol\" = ?1 AND " + time +
                            " >= ?2 AND " + time + " < ?3";
  auto prepare = [&](const std::string& sql) -> Result<StmtPtr> {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return sql_error(db, rc, "prepare the id check of " + name);
    return stmt;
  };
  StoredIds stored;
  {
    StmtPtr stmt;
    SF_TRY_ASSIGN(stmt, prepare("SELECT COUNT(*), MIN(" + id + "), MAX(" + id + ")" + range));
    Use u(stmt.get());
    u.text(1, q.symbol).int64(2, q.from_ms).int64(3, q.to_ms);
    const int rc = u.step();
    if (rc != SQLITE_ROW) return sql_error(db, rc, "count the ids of " + name);
    stored = {u.col_int64(0), u.col_int64(1), u.col_int64(2)};
  }
  std::vector<IdRange> gaps;
  std::optional<int64_t> last_gap_last;
  // Unique ids: as many as the span between the lowest and the highest means no gap.
  if (stored.count > 0 && stored.high - stored.low + 1 != stored.count) {
    // The gaps between consecutive ids, from the first (ASC) or the last (DESC).
    auto read_gaps = [&](const char* order, size_t limit) -> Status {
      StmtPtr stmt;
      SF_TRY_ASSIGN(stmt, prepare("SELECT prev + 1, " + id + " - 1 FROM (SELECT " + id + ", LAG(" +
                                  id + ") OVER (ORDER BY " + id + ") AS prev" + range + ") WHERE " +
                                  id + " > prev + 1 ORDER BY " + id + " " + order + " LIMIT ?4"));
      Use u(stmt.get());
      u.text(1, q.symbol).int64(2, q.from_ms).int64(3, q.to_ms);
      u.int64(4, static_cast<int64_t>(limit));
      int rc;
      while ((rc = u.step()) == SQLITE_ROW) {
        if (order[0] == 'A')
          gaps.push_back({u.col_int64(0), u.col_int64(1)});
        else
          last_gap_last = u.col_int64(1);
      }
      if (rc != SQLITE_DONE) return sql_error(db, rc, "read the id gaps of " + name);
      return {};
    };
    SF_TRY(read_gaps("ASC", q.max_ranges + 1));
    if (gaps.size() > q.max_ranges) SF_TRY(read_gaps("DESC", 1));
  }
  return assemble_missing_ids(q, stored, std::move(gaps), last_gap_last);
}

std::string SqliteDataStore::describe() const { return "sqlite:" + impl_->path; }

const std::string& SqliteDataStore::path() const { return impl_->path; }

}  // namespace sf::store
