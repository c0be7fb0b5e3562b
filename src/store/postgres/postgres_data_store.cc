#include "store/postgres/postgres_data_store.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "store/postgres/pg_conn.h"

namespace sf::store {
namespace {

using market::Kind;
using pg::quote_ident;

enum class ColType { text, decimal, integer, boolean };

struct Column {
  const char* name;
  ColType type;
};

// Column order is the COPY/read order below and the record's field order.
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
  return Error(Errc::internal, "postgres: unknown collection kind '" + std::string(s) + "'");
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

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

const char* sql_type(ColType t) {
  switch (t) {
    case ColType::text:
      return "TEXT";
    case ColType::decimal:
      return "NUMERIC";
    case ColType::integer:
      return "BIGINT";
    case ColType::boolean:
      return "BOOLEAN";
  }
  return "TEXT";
}

// Every column of a table of `kind`: the record's, then the <decimal>_text ones.
std::string column_list(Kind kind) {
  std::string cols, texts;
  for (const Column& c : schema_of(kind).columns) {
    if (!cols.empty()) cols += ", ";
    cols += quote_ident(c.name);
    if (c.type == ColType::decimal) texts += ", " + quote_ident(std::string(c.name) + "_text");
  }
  return cols + texts;
}

std::string column_defs(Kind kind, bool with_key) {
  const Schema s = schema_of(kind);
  std::string sql, texts;
  for (const Column& c : s.columns) {
    sql += quote_ident(c.name) + " " + sql_type(c.type) + " NOT NULL, ";
    if (c.type == ColType::decimal) {
      texts += quote_ident(std::string(c.name) + "_text") + " TEXT, ";
    }
  }
  sql += texts;
  if (!with_key) {
    sql.resize(sql.size() - 2);
    return sql;
  }
  sql += "PRIMARY KEY (";
  for (size_t i = 0; i < s.key_columns; ++i) {
    if (i) sql += ", ";
    sql += quote_ident(s.columns[i].name);
  }
  return sql + ")";
}

const char* stage_table(Kind kind) {
  switch (kind) {
    case Kind::candle:
      return "pg_temp.sf_stage_candle";
    case Kind::agg_trade:
      return "pg_temp.sf_stage_agg_trade";
    case Kind::trade:
      return "pg_temp.sf_stage_trade";
  }
  return "pg_temp.sf_stage_candle";
}

std::string upsert_sql(const std::string& table, Kind kind) {
  const Schema s = schema_of(kind);
  const std::string cols = column_list(kind);
  std::string key, set;
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const std::string c = quote_ident(s.columns[i].name);
    if (i < s.key_columns) {
      if (i) key += ", ";
      key += c;
    } else {
      if (!set.empty()) set += ", ";
      set += c + " = EXCLUDED." + c;
    }
  }
  for (const Column& c : s.columns) {
    if (c.type != ColType::decimal) continue;
    const std::string t = quote_ident(std::string(c.name) + "_text");
    set += ", " + t + " = EXCLUDED." + t;
  }
  std::string sql = "INSERT INTO " + table + " (" + cols + ") SELECT " + cols + " FROM " +
                    stage_table(kind) + " ON CONFLICT (" + key + ") DO UPDATE SET " + set;
  // A closed candle is final: a non-closed one with the same key (an older run's record
  // delivered again) never replaces it.
  if (kind == Kind::candle) sql += " WHERE NOT " + table + ".\"closed\" OR EXCLUDED.\"closed\"";
  return sql;
}

// True when NUMERIC prints `s` back exactly: no leading zero before other integer digits
// and no negative zero. Input is market::is_decimal text.
bool numeric_keeps(std::string_view s) {
  const bool neg = !s.empty() && s[0] == '-';
  std::string_view digits = neg ? s.substr(1) : s;
  const size_t dot = digits.find('.');
  const std::string_view int_part = digits.substr(0, dot);
  if (int_part.size() > 1 && int_part[0] == '0') return false;
  if (neg && digits.find_first_not_of("0.") == std::string_view::npos) return false;
  return true;
}

// COPY binary format (the server parses no text: a third less server time than text COPY
// for candles). Big-endian integers; each field an int32 length (-1: NULL) and its bytes.
//
// Bytes appends to a reused std::string that only grows (its bytes are [0, size())), so
// an append is a bounds check and a fixed-size copy rather than a char at a time.
class Bytes {
 public:
  explicit Bytes(std::string& s) : s_(s) {}
  size_t size() const { return n_; }
  std::string_view view(size_t from = 0) const { return {s_.data() + from, n_ - from}; }
  void put(const void* data, size_t k) { std::memcpy(grab(k), data, k); }
  void put8(uint8_t v) { *grab(1) = static_cast<char>(v); }
  void put16(uint16_t v) {
    v = __builtin_bswap16(v);
    put(&v, 2);
  }
  void put32(uint32_t v) {
    v = __builtin_bswap32(v);
    put(&v, 4);
  }
  void put64(uint64_t v) {
    v = __builtin_bswap64(v);
    put(&v, 8);
  }

 private:
  char* grab(size_t k) {
    if (n_ + k > s_.size()) s_.resize(std::max(2 * s_.size(), n_ + k + 4096));
    char* p = s_.data() + n_;
    n_ += k;
    return p;
  }
  std::string& s_;
  size_t n_ = 0;
};
static_assert(std::endian::native == std::endian::little, "Bytes swaps to big-endian");

void copy_header(Bytes& out) {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // + the terminating NUL: 11 bytes
  out.put(kSignature, sizeof kSignature);
  out.put32(0);  // flags
  out.put32(0);  // header extension length
}
void copy_trailer(Bytes& out) { out.put16(0xffff); }

// NUMERIC's binary form (numeric_send): ndigits, weight, sign, dscale, then base-10000
// digits, most significant first; value = sum digit[i] * 10000^(weight - i). dscale is the
// number of decimal places of the text, which is what keeps "0.00010000" at scale 8.
// `s` is market::is_decimal text (at most 64 bytes).
void put_numeric(Bytes& out, std::string_view s) {
  const bool neg = s[0] == '-';
  std::string_view digits = neg ? s.substr(1) : s;
  const size_t dot = digits.find('.');
  std::string_view ip = digits.substr(0, dot);
  std::string_view fp = dot == std::string_view::npos ? std::string_view() : digits.substr(dot + 1);
  // Integer part left-padded and fraction right-padded to whole groups of 4 decimal digits.
  char buf[80];
  size_t n = 0;
  for (size_t pad = (4 - ip.size() % 4) % 4; pad > 0; --pad) buf[n++] = '0';
  const size_t int_groups = (ip.size() + 3) / 4;
  std::memcpy(buf + n, ip.data(), ip.size());
  n += ip.size();
  std::memcpy(buf + n, fp.data(), fp.size());
  n += fp.size();
  while (n % 4 != 0) buf[n++] = '0';
  uint16_t groups[20];
  size_t g = 0;
  for (size_t i = 0; i < n; i += 4) {
    groups[g++] = static_cast<uint16_t>((buf[i] - '0') * 1000 + (buf[i + 1] - '0') * 100 +
                                        (buf[i + 2] - '0') * 10 + (buf[i + 3] - '0'));
  }
  int weight = static_cast<int>(int_groups) - 1;
  size_t first = 0, last = g;
  while (first < last && groups[first] == 0) {
    ++first;
    --weight;
  }
  while (last > first && groups[last - 1] == 0) --last;
  const size_t nd = last - first;
  if (nd == 0) weight = 0;
  out.put32(static_cast<uint32_t>(8 + 2 * nd));
  out.put16(static_cast<uint16_t>(nd));
  out.put16(static_cast<uint16_t>(static_cast<int16_t>(weight)));
  out.put16(nd > 0 && neg ? 0x4000 : 0x0000);
  out.put16(static_cast<uint16_t>(fp.size()));
  for (size_t i = first; i < last; ++i) out.put16(groups[i]);
}

// Appends one COPY row: the record's fields, then the <decimal>_text columns.
struct RowWriter {
  Bytes& out;
  // The <decimal>_text fields, written after the record's: the text, or nullptr for NULL.
  const std::string* texts[8] = {};
  size_t n_texts = 0;
  void begin(int record_fields, int decimal_fields) {
    out.put16(static_cast<uint16_t>(record_fields + decimal_fields));
  }
  void text(std::string_view s) {
    out.put32(static_cast<uint32_t>(s.size()));
    out.put(s.data(), s.size());
  }
  void dec(const std::string& s) {
    put_numeric(out, s);
    texts[n_texts++] = numeric_keeps(s) ? nullptr : &s;
  }
  void integer(int64_t v) {
    out.put32(8);
    out.put64(static_cast<uint64_t>(v));
  }
  void boolean(bool b) {
    out.put32(1);
    out.put8(b ? 1 : 0);
  }
  void end() {
    for (size_t i = 0; i < n_texts; ++i) {
      if (texts[i] == nullptr) {
        out.put32(0xffffffffu);  // NULL
      } else {
        text(*texts[i]);
      }
    }
    n_texts = 0;
  }
};

void append_row(RowWriter& w, const market::Candle& c) {
  w.begin(14, 8);
  w.text(c.symbol);
  w.text(c.interval);
  w.integer(c.open_time);
  w.integer(c.close_time);
  w.dec(c.open);
  w.dec(c.high);
  w.dec(c.low);
  w.dec(c.close);
  w.dec(c.volume);
  w.dec(c.quote_volume);
  w.integer(c.trades);
  w.dec(c.taker_buy_base_volume);
  w.dec(c.taker_buy_quote_volume);
  w.boolean(c.closed);
  w.end();
}
void append_row(RowWriter& w, const market::AggTrade& t) {
  w.begin(9, 2);
  w.text(t.symbol);
  w.integer(t.agg_id);
  w.dec(t.price);
  w.dec(t.qty);
  w.integer(t.first_trade_id);
  w.integer(t.last_trade_id);
  w.integer(t.time);
  w.boolean(t.is_buyer_maker);
  w.boolean(t.is_best_match);
  w.end();
}
void append_row(RowWriter& w, const market::Trade& t) {
  w.begin(8, 3);
  w.text(t.symbol);
  w.integer(t.trade_id);
  w.dec(t.price);
  w.dec(t.qty);
  w.dec(t.quote_qty);
  w.integer(t.time);
  w.boolean(t.is_buyer_maker);
  w.boolean(t.is_best_match);
  w.end();
}

// SELECT list for reads: decimals as their exact text.
std::string select_columns(Kind kind) {
  std::string cols;
  for (const Column& c : schema_of(kind).columns) {
    if (!cols.empty()) cols += ", ";
    if (c.type == ColType::decimal) {
      cols += "COALESCE(" + quote_ident(std::string(c.name) + "_text") + ", " +
              quote_ident(c.name) + "::text)";
    } else {
      cols += quote_ident(c.name);
    }
  }
  return cols;
}

bool to_bool(std::string_view s) { return s == "t"; }

market::Record read_record(const PGresult* r, int row, Kind kind) {
  auto s = [&](int col) { return std::string(pg::text(r, row, col)); };
  auto i = [&](int col) { return pg::to_int64(pg::text(r, row, col)); };
  auto b = [&](int col) { return to_bool(pg::text(r, row, col)); };
  switch (kind) {
    case Kind::candle: {
      market::Candle c;
      c.symbol = s(0);
      c.interval = s(1);
      c.open_time = i(2);
      c.close_time = i(3);
      c.open = s(4);
      c.high = s(5);
      c.low = s(6);
      c.close = s(7);
      c.volume = s(8);
      c.quote_volume = s(9);
      c.trades = i(10);
      c.taker_buy_base_volume = s(11);
      c.taker_buy_quote_volume = s(12);
      c.closed = b(13);
      return c;
    }
    case Kind::agg_trade: {
      market::AggTrade t;
      t.symbol = s(0);
      t.agg_id = i(1);
      t.price = s(2);
      t.qty = s(3);
      t.first_trade_id = i(4);
      t.last_trade_id = i(5);
      t.time = i(6);
      t.is_buyer_maker = b(7);
      t.is_best_match = b(8);
      return t;
    }
    case Kind::trade:
      break;
  }
  market::Trade t;
  t.symbol = s(0);
  t.trade_id = i(1);
  t.price = s(2);
  t.qty = s(3);
  t.quote_qty = s(4);
  t.time = i(5);
  t.is_buyer_maker = b(6);
  t.is_best_match = b(7);
  return t;
}

// Strict key order of two records of one kind (symbol, [interval,] id/time).
bool key_less(const market::Record& a, const market::Record& b) {
  if (const auto* x = std::get_if<market::Candle>(&a)) {
    const auto& y = std::get<market::Candle>(b);
    return std::tie(x->symbol, x->interval, x->open_time) <
           std::tie(y.symbol, y.interval, y.open_time);
  }
  if (const auto* x = std::get_if<market::AggTrade>(&a)) {
    const auto& y = std::get<market::AggTrade>(b);
    return std::tie(x->symbol, x->agg_id) < std::tie(y.symbol, y.agg_id);
  }
  const auto& x = std::get<market::Trade>(a);
  const auto& y = std::get<market::Trade>(b);
  return std::tie(x.symbol, x.trade_id) < std::tie(y.symbol, y.trade_id);
}

// Whether `later` replaces `earlier` (same key), as consecutive upserts would decide.
bool replaces(const market::Record& later, const market::Record& earlier) {
  if (const auto* l = std::get_if<market::Candle>(&later)) {
    return !std::get<market::Candle>(earlier).closed || l->closed;
  }
  return true;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Serialises catalogue changes of every process sharing the database.
constexpr const char* kCatalogueLock = "SELECT pg_advisory_xact_lock(7310506712263181312)";

}  // namespace

struct PostgresDataStore::Impl {
  struct Collection {
    std::string name;
    Kind kind = Kind::candle;
    std::string table;        // "schema"."name"
    std::string upsert_sql;   // INSERT ... SELECT FROM the staging table
    std::string statement;    // its prepared-statement name
    int direct_cooldown = 0;  // batches to upsert through the staging table before trying
                              // a direct COPY again
  };
  static constexpr int kDirectCooldown = 16;
  // COPY data goes to the server in pieces of about this size while the batch is encoded.
  static constexpr size_t kPiece = 64 * 1024;

  explicit Impl(pg::Url u) : conn(std::move(u)) {}

  pg::Connection conn;
  std::string schema;  // quoted
  std::mutex mu;
  std::map<std::string, Collection> cache;    // by exact name
  uint64_t staged_generation[3] = {0, 0, 0};  // connection generation of each staging table
  int next_statement = 0;
  std::string buffer;  // COPY data, reused between batches

  std::string catalogue() const { return schema + ".sf_collections"; }

  Collection* add(const std::string& name, Kind kind) {
    Collection& c = cache[name];
    c.name = name;
    c.kind = kind;
    c.table = schema + "." + quote_ident(name);
    c.upsert_sql = upsert_sql(c.table, kind);
    c.statement = "sf_upsert_" + std::to_string(next_statement++);
    return &c;
  }

  // The collection `name` (exact), nullptr if there is none. Caller holds mu.
  Result<Collection*> lookup(const std::string& name) {
    if (auto it = cache.find(name); it != cache.end()) return &it->second;
    auto r =
        conn.prepared("sf_catalogue_get", "SELECT kind FROM " + catalogue() + " WHERE name = $1",
                      {name.c_str()}, "look up collection " + name);
    if (!r) return r.error();
    if (PQntuples(r->get()) == 0) return static_cast<Collection*>(nullptr);
    Kind kind;
    SF_TRY_ASSIGN(kind, kind_from_string(pg::text(r->get(), 0, 0)));
    return add(name, kind);
  }

  Result<Collection*> existing(const std::string& name) {
    SF_TRY(check_collection_name(name));
    Collection* c = nullptr;
    SF_TRY_ASSIGN(c, lookup(name));
    if (c == nullptr) return Error(Errc::not_found, "collection " + name + " does not exist");
    return c;
  }

  // The collection, created with `kind` if missing. Caller holds mu.
  Result<Collection*> ensure(const std::string& name, Kind kind) {
    Collection* c = nullptr;
    SF_TRY_ASSIGN(c, lookup(name));
    if (c == nullptr) {
      pg::Txn txn(conn);
      SF_TRY(txn.begin());
      auto locked = conn.exec(kCatalogueLock, "lock the catalogue");
      if (!locked) return locked.error();
      // Another process may have created it (or a name differing only in case) meanwhile.
      auto r = conn.prepared("sf_catalogue_get_ci",
                             "SELECT name, kind FROM " + catalogue() + " WHERE lower(name) = $1",
                             {lower(name).c_str()}, "look up collection " + name);
      if (!r) return r.error();
      if (PQntuples(r->get()) > 0) {
        const std::string stored(pg::text(r->get(), 0, 0));
        if (stored != name) {
          return Error(Errc::invalid_argument,
                       "collection name '" + name + "' differs only in case from the existing '" +
                           stored + "'",
                       "collection_name");
        }
        SF_TRY(txn.commit());
        Kind k;
        SF_TRY_ASSIGN(k, kind_from_string(pg::text(r->get(), 0, 1)));
        c = add(name, k);
      } else {
        const std::string table = schema + "." + quote_ident(name);
        // No IF NOT EXISTS: a table of that name the catalogue does not know (made by hand)
        // is never adopted (duplicate_table -> invalid_argument).
        SF_TRY(conn.exec("CREATE TABLE " + table + " (" + column_defs(kind, true) + ")",
                         "create collection " + name));
        const std::string now = pg::param(now_seconds());
        auto ins = conn.prepared(
            "sf_catalogue_add",
            "INSERT INTO " + catalogue() + " (name, kind, created_at) VALUES ($1, $2, $3)",
            {name.c_str(), market::to_string(kind), now.c_str()}, "register collection " + name);
        if (!ins) return ins.error();
        SF_TRY(txn.commit());
        c = add(name, kind);
      }
    }
    if (c->kind != kind) {
      return Error(Errc::invalid_argument,
                   "collection " + name + " holds " + market::to_string(c->kind) +
                       " records, not " + market::to_string(kind),
                   "collection_name");
    }
    return c;
  }

  // Creates the staging table of `kind` on this connection if it has not yet.
  Status stage(Kind kind) {
    SF_TRY(conn.connect());
    uint64_t& gen = staged_generation[static_cast<int>(kind)];
    if (gen == conn.generation()) return {};
    auto r = conn.exec(std::string("CREATE TEMP TABLE IF NOT EXISTS ") + stage_table(kind) + " (" +
                           column_defs(kind, false) + ") ON COMMIT DELETE ROWS",
                       "create staging table");
    if (!r) return r.error();
    gen = conn.generation();
    return {};
  }

  // The filter of the read helpers as SQL with $n parameters, into `params`.
  std::string where(const Collection& c, const Query& q, std::vector<std::string>& params) {
    std::string sql;
    auto add_cond = [&](const std::string& cond, std::string value) {
      params.push_back(std::move(value));
      sql += sql.empty() ? " WHERE " : " AND ";
      sql += cond + "$" + std::to_string(params.size());
    };
    if (q.symbol) add_cond("\"symbol\" = ", *q.symbol);
    if (q.interval && c.kind == Kind::candle) add_cond("\"interval\" = ", *q.interval);
    const std::string tc = quote_ident(schema_of(c.kind).time_column);
    if (q.from_ms != std::numeric_limits<int64_t>::min()) {
      add_cond(tc + " >= ", std::to_string(q.from_ms));
    }
    if (q.to_ms != std::numeric_limits<int64_t>::max()) {
      add_cond(tc + " < ", std::to_string(q.to_ms));
    }
    return sql;
  }

  std::string order_by(const Collection& c, const Query& q) {
    const Schema s = schema_of(c.kind);
    std::string sql = " ORDER BY ";
    for (size_t i = 0; i < s.key_columns; ++i) {
      if (i) sql += ", ";
      // COLLATE "C": byte order, the same order as SQLite's BINARY for text keys.
      sql += quote_ident(s.columns[i].name);
      if (s.columns[i].type == ColType::text) sql += " COLLATE \"C\"";
    }
    if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
    return sql;
  }

  Result<pg::ResultPtr> select(const Collection& c, const std::string& what_cols, const Query& q,
                               bool ordered, const std::string& what) {
    std::vector<std::string> params;
    std::string sql = "SELECT " + what_cols + " FROM " + c.table + where(c, q, params);
    if (ordered) sql += order_by(c, q);
    std::vector<const char*> ptrs;
    for (const auto& p : params) ptrs.push_back(p.c_str());
    return conn.exec_params(sql, ptrs, what);
  }

  // upsert() / upsert_decoded(); the decimal check only with `check_decimals_too`.
  Status upsert(const std::string& name, Kind kind, std::span<const market::Record> records,
                bool check_decimals_too) {
    // Everything that can be refused is refused before the database is touched.
    SF_TRY(check_collection_name(name));
    bool ordered = true;  // strictly increasing keys: no duplicates to fold
    for (size_t i = 0; i < records.size(); ++i) {
      if (kind_of(records[i]) != kind) {
        return Error(Errc::invalid_argument, "record " + std::to_string(i) + " is a " +
                                                 market::to_string(kind_of(records[i])) +
                                                 ", the batch is for " + market::to_string(kind));
      }
      if (check_decimals_too) SF_TRY(check_decimals(records[i], i));
      if (i > 0 && ordered && !key_less(records[i - 1], records[i])) ordered = false;
    }
    std::lock_guard lock(mu);
    Collection* c = nullptr;
    SF_TRY_ASSIGN(c, ensure(name, kind));
    if (records.empty()) return {};

    // ON CONFLICT cannot touch a row twice in one statement: fold duplicate keys first.
    std::vector<const market::Record*> rows;
    rows.reserve(records.size());
    if (ordered) {
      for (const auto& r : records) rows.push_back(&r);
    } else {
      std::unordered_map<std::string, size_t> at;
      at.reserve(records.size());
      for (const auto& r : records) {
        auto [it, fresh] = at.try_emplace(market::natural_key(r), rows.size());
        if (fresh) {
          rows.push_back(&r);
        } else if (replaces(r, *rows[it->second])) {
          rows[it->second] = &r;
        }
      }
    }

    SF_TRY(stage(kind));
    pg::Txn txn(conn);
    // Fast path while the collection's batches are new keys (a load): COPY straight into
    // the table under a savepoint, which is all psql's \copy does. A key that exists
    // already fails it with unique_violation: roll back to the savepoint, upsert through
    // the staging table, and skip the fast path for the next kDirectCooldown batches (a
    // reload conflicts on every batch, and a failed attempt costs up to a whole COPY).
    const bool direct = c->direct_cooldown == 0;
    if (!direct) --c->direct_cooldown;
    SF_TRY(txn.begin(direct ? "BEGIN; SAVEPOINT sf_direct" : "BEGIN"));  // one round trip
    const std::string columns = column_list(kind);
    const std::string n = std::to_string(rows.size());
    const std::string what = (direct ? "copy " : "stage ") + n + " records into " + name;
    SF_TRY(conn.copy_start("COPY " + (direct ? c->table : std::string(stage_table(kind))) + " (" +
                               columns + ") FROM STDIN (FORMAT binary)",
                           what));
    // The rows are encoded while the server parses what went before (pieces of kPiece
    // bytes); `buffer` keeps the whole stream for the staging table if the fast path fails.
    Bytes buf(buffer);
    copy_header(buf);
    RowWriter w{buf};
    size_t sent = 0;
    Status put;
    for (const market::Record* r : rows) {
      std::visit([&](const auto& rec) { append_row(w, rec); }, *r);
      if (buf.size() - sent >= kPiece && put.ok()) {
        put = conn.copy_put(buf.view(sent), what);
        sent = buf.size();
      }
    }
    copy_trailer(buf);
    if (put.ok()) put = conn.copy_put(buf.view(sent), what);
    Status copied = conn.copy_end(what);
    if (!put.ok()) return put.error();
    if (direct) {
      if (copied.ok()) return txn.commit();
      if (conn.last_sqlstate() != "23505") return copied.error();
      SF_TRY(conn.exec("ROLLBACK TO SAVEPOINT sf_direct", "roll back to savepoint"));
      c->direct_cooldown = kDirectCooldown;
      SF_TRY(conn.copy_in(std::string("COPY ") + stage_table(kind) + " (" + columns +
                              ") FROM STDIN (FORMAT binary)",
                          buf.view(), "stage " + n + " records for " + name));
    } else if (!copied.ok()) {
      return copied.error();
    }
    auto r =
        conn.prepared(c->statement, c->upsert_sql, {}, "upsert " + n + " records into " + name);
    if (!r) return r.error();
    return txn.commit();
  }
};

Result<std::unique_ptr<PostgresDataStore>> PostgresDataStore::open(const std::string& url) {
  pg::Url u;
  SF_TRY_ASSIGN(u, pg::parse_url(url));
  auto impl = std::make_unique<Impl>(std::move(u));
  impl->schema = quote_ident(impl->conn.url().schema);
  {
    pg::Txn txn(impl->conn);
    SF_TRY(txn.begin());
    SF_TRY(impl->conn.exec(kCatalogueLock, "lock the catalogue"));
    SF_TRY(impl->conn.exec("CREATE SCHEMA IF NOT EXISTS " + impl->schema +
                               ";"
                               "CREATE TABLE IF NOT EXISTS " +
                               impl->catalogue() +
                               " (name TEXT NOT NULL PRIMARY KEY, kind TEXT NOT NULL,"
                               " created_at DOUBLE PRECISION NOT NULL);"
                               "CREATE UNIQUE INDEX IF NOT EXISTS sf_collections_lower ON " +
                               impl->catalogue() + " (lower(name))",
                           "create the catalogue in " + impl->conn.url().redacted));
    SF_TRY(txn.commit());
  }
  return std::unique_ptr<PostgresDataStore>(new PostgresDataStore(std::move(impl)));
}

PostgresDataStore::PostgresDataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresDataStore::~PostgresDataStore() = default;

Status PostgresDataStore::ensure_collection(const std::string& name, Kind kind) {
  SF_TRY(check_collection_name(name));
  std::lock_guard lock(impl_->mu);
  auto c = impl_->ensure(name, kind);
  if (!c) return c.error();
  return {};
}

Status PostgresDataStore::upsert(const std::string& name, Kind kind,
                                 std::span<const market::Record> records) {
  return impl_->upsert(name, kind, records, /*check_decimals_too=*/true);
}

Status PostgresDataStore::upsert_decoded(const std::string& name, Kind kind,
                                         std::span<const market::Record> records) {
  return impl_->upsert(name, kind, records, /*check_decimals_too=*/false);
}

Result<std::vector<CollectionInfo>> PostgresDataStore::collections() {
  std::lock_guard lock(impl_->mu);
  auto r = impl_->conn.prepared(
      "sf_catalogue_list",
      "SELECT name, kind FROM " + impl_->catalogue() + " ORDER BY name COLLATE \"C\"", {},
      "list collections");
  if (!r) return r.error();
  std::vector<CollectionInfo> out;
  for (int i = 0; i < PQntuples(r->get()); ++i) {
    CollectionInfo info;
    info.name = std::string(pg::text(r->get(), i, 0));
    SF_TRY_ASSIGN(info.kind, kind_from_string(pg::text(r->get(), i, 1)));
    out.push_back(std::move(info));
  }
  return out;
}

Result<Kind> PostgresDataStore::collection_kind(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  return c->kind;
}

Result<int64_t> PostgresDataStore::count(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  auto r = impl_->select(*c, "COUNT(*)", q, false, "count " + name);
  if (!r) return r.error();
  return pg::to_int64(pg::text(r->get(), 0, 0));
}

Result<std::vector<market::Record>> PostgresDataStore::scan(const std::string& name,
                                                            const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  auto r = impl_->select(*c, select_columns(c->kind), q, true, "scan " + name);
  if (!r) return r.error();
  std::vector<market::Record> out;
  const int n = PQntuples(r->get());
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(read_record(r->get(), i, c->kind));
  return out;
}

Result<std::vector<int64_t>> PostgresDataStore::times(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  auto r = impl_->select(*c, quote_ident(schema_of(c->kind).time_column), q, true,
                         "read times of " + name);
  if (!r) return r.error();
  std::vector<int64_t> out;
  const int n = PQntuples(r->get());
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(pg::to_int64(pg::text(r->get(), i, 0)));
  return out;
}

std::string PostgresDataStore::describe() const { return impl_->conn.url().redacted; }

}  // namespace sf::store
