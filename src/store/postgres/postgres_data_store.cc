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
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "base/enum_names.h"
#include "base/log.h"
#include "store/postgres/pg_conn.h"

namespace sf::store {
namespace {

using market::Kind;
using pg::quote_ident;

using market::FieldInfo;
using market::FieldType;
using market::KindInfo;

// The column type of each FieldType, in FieldType order.
constexpr const char* kSqlTypes[] = {"TEXT", "NUMERIC", "BIGINT", "BOOLEAN", "DOUBLE PRECISION"};
const char* sql_type(FieldType t) { return enum_name(t, kSqlTypes, "TEXT"); }

// The exact-text companion of a decimal column (see put_numeric()).
std::string text_column(const FieldInfo& f) { return quote_ident(std::string(f.name) + "_text"); }

// The kind's fields from `first` on, each through `fmt(field, quoted name)`, then (with
// `texts`) its decimal fields' <decimal>_text columns through `text_fmt`, comma-separated.
template <class Fmt, class TextFmt>
std::string columns(const KindInfo& k, size_t first, size_t last, Fmt fmt, TextFmt text_fmt) {
  std::string out, texts;
  for (size_t i = first; i < last; ++i) {
    const FieldInfo& f = k.fields[i];
    out += (out.empty() ? "" : ", ") + fmt(f, quote_ident(f.name));
    if (f.type == FieldType::decimal) {
      const std::string t = text_fmt(text_column(f));
      if (!t.empty()) texts += ", " + t;
    }
  }
  return out + texts;
}
std::string same(const FieldInfo&, const std::string& c) { return c; }
std::string same_text(const std::string& c) { return c; }
std::string none(const std::string&) { return {}; }

// Every column of a table of `kind`: the record's, then the <decimal>_text ones.
std::string column_list(Kind kind) {
  const KindInfo& k = market::kind_info(kind);
  return columns(k, 0, k.fields.size(), same, same_text);
}

std::string key_columns(const KindInfo& k) { return columns(k, 0, k.key_fields, same, none); }

std::string column_defs(Kind kind, bool with_key) {
  const KindInfo& k = market::kind_info(kind);
  // Text key columns in byte order: the primary key's index then holds the order reads
  // ask for (ORDER BY ... COLLATE "C"), and no read sorts. Tables made before this have
  // the database's collation; their reads sort when a text key column is not pinned.
  std::string sql = columns(
      k, 0, k.fields.size(),
      [&](const FieldInfo& f, const std::string& c) {
        const bool text_key =
            f.type == FieldType::text && static_cast<size_t>(&f - k.fields.data()) < k.key_fields;
        return c + " " + sql_type(f.type) + (text_key ? " COLLATE \"C\"" : "") + " NOT NULL";
      },
      [](const std::string& t) { return t + " TEXT"; });
  if (with_key) sql += ", PRIMARY KEY (" + key_columns(k) + ")";
  return sql;
}

std::string stage_table(Kind kind) {
  return std::string("pg_temp.sf_stage_") + market::to_string(kind);
}

std::string upsert_sql(const std::string& table, Kind kind) {
  const KindInfo& k = market::kind_info(kind);
  auto set = [](const std::string& c) { return c + " = EXCLUDED." + c; };
  const std::string cols = column_list(kind);
  std::string sql = "INSERT INTO " + table + " (" + cols + ") SELECT " + cols + " FROM " +
                    stage_table(kind) + " ON CONFLICT (" + key_columns(k) + ") DO UPDATE SET " +
                    columns(
                        k, k.key_fields, k.fields.size(),
                        [&](const FieldInfo&, const std::string& c) { return set(c); }, set);
  // A record delivered again with the values it has (a rerun, a redelivery after a
  // rebalance) writes nothing: no new row version for VACUUM to clear, no WAL. NUMERIC
  // equality ignores the scale, so the scales are compared too ("1.5" then "1.50" updates).
  auto values = [&](const std::string& t) {
    return "(" +
           columns(
               k, k.key_fields, k.fields.size(),
               [&](const FieldInfo& f, const std::string& c) {
                 const std::string col = t + "." + c;
                 return f.type == FieldType::decimal ? col + ", scale(" + col + ")" : col;
               },
               [&](const std::string& c) { return t + "." + c; }) +
           ")";
  };
  sql += " WHERE " + values(table) + " IS DISTINCT FROM " + values("EXCLUDED");
  // A final record (a closed candle) stays: one without the flag with the same key (an
  // older run's record delivered again) never replaces it.
  if (!k.final_flag.empty()) {
    const std::string f = quote_ident(k.final_flag);
    sql += " AND (NOT " + table + "." + f + " OR EXCLUDED." + f + ")";
  }
  return sql;
}

// COPY binary format (the server parses no text: a third less server time than text COPY
// for candles). Big-endian integers; each field an int32 length (-1: NULL) and its bytes.
//
// Bytes appends to a reused std::string that only grows (its bytes are [0, size())): an
// append is a pointer check and a fixed-size copy (growing is out of line), since a row
// is a few dozen small appends.
class Bytes {
 public:
  explicit Bytes(std::string& s) : s_(s), at_(s.data()), end_(s.data() + s.size()) {}
  size_t size() const { return static_cast<size_t>(at_ - s_.data()); }
  std::string_view view(size_t from = 0) const { return {s_.data() + from, size() - from}; }
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
    if (static_cast<size_t>(end_ - at_) < k) [[unlikely]]
      grow(k);
    char* p = at_;
    at_ += k;
    return p;
  }
  [[gnu::noinline]] void grow(size_t k) {
    const size_t n = size();
    s_.resize(std::max(2 * s_.size(), n + k + 4096));
    at_ = s_.data() + n;
    end_ = s_.data() + s_.size();
  }
  std::string& s_;
  char* at_;
  char* end_;
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
// `s` is market::is_decimal text (at most 64 bytes). Returns whether NUMERIC prints `s`
// back exactly: false for a leading zero before other integer digits ("007.5") and for a
// negative zero ("-0.00"), whose text then goes into the <decimal>_text column.
bool put_numeric(Bytes& out, std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  const bool neg = *p == '-';
  if (neg) ++p;
  const char* dot = p;
  while (dot < end && *dot != '.') ++dot;
  const char* const frac = dot < end ? dot + 1 : end;
  auto d = [](const char* q) { return static_cast<unsigned>(*q - '0'); };
  // Base-10000 groups: the integer part from its end, the fraction from its start.
  uint16_t groups[20];
  size_t g = 0;
  const char* q = p;
  if (const size_t lead = static_cast<size_t>(dot - p) % 4; lead != 0) {
    unsigned v = 0;
    for (size_t i = 0; i < lead; ++i) v = v * 10 + d(q++);
    groups[g++] = static_cast<uint16_t>(v);
  }
  for (; q < dot; q += 4)
    groups[g++] = static_cast<uint16_t>(d(q) * 1000 + d(q + 1) * 100 + d(q + 2) * 10 + d(q + 3));
  const size_t int_groups = g;
  for (q = frac; end - q >= 4; q += 4)
    groups[g++] = static_cast<uint16_t>(d(q) * 1000 + d(q + 1) * 100 + d(q + 2) * 10 + d(q + 3));
  if (q < end) {
    unsigned v = 0;
    size_t k = 0;
    for (; q < end; ++k) v = v * 10 + d(q++);
    for (; k < 4; ++k) v *= 10;
    groups[g++] = static_cast<uint16_t>(v);
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
  out.put16(static_cast<uint16_t>(end - frac));
  for (size_t i = first; i < last; ++i) out.put16(groups[i]);
  const bool leading_zero = dot - p > 1 && *p == '0';
  return !leading_zero && !(neg && nd == 0);
}

// NUMERIC's binary form (put_numeric() above) as numeric_out prints it: '-' if negative,
// the integer digits ("0" when there are none), then exactly dscale fraction digits.
// Appends to `out`; false for NaN, infinities or a malformed value.
bool numeric_text(std::string_view bin, std::string& out) {
  auto u16 = [&](size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(bin[at]) << 8) |
                                 static_cast<uint8_t>(bin[at + 1]));
  };
  if (bin.size() < 8) return false;
  const size_t nd = u16(0);
  const int weight = static_cast<int16_t>(u16(2));
  const uint16_t sign = u16(4);
  const size_t dscale = u16(6);
  if (bin.size() != 8 + 2 * nd || (sign != 0 && sign != 0x4000) || dscale > 1000) return false;
  auto digit = [&](int i) -> unsigned {  // base-10000 digit i (0 = weight), 0 outside
    return i >= 0 && static_cast<size_t>(i) < nd ? u16(8 + 2 * static_cast<size_t>(i)) : 0;
  };
  for (size_t i = 0; i < nd; ++i)
    if (digit(static_cast<int>(i)) > 9999) return false;
  if (sign == 0x4000) out += '-';
  char four[4];
  auto put4 = [&](unsigned v) {
    for (int k = 3; k >= 0; --k, v /= 10) four[k] = static_cast<char>('0' + v % 10);
  };
  if (weight < 0) {
    out += '0';
  } else {
    char first[8];
    auto [end, ec] = std::to_chars(first, first + sizeof first, digit(0));
    out.append(first, end);
    for (int i = 1; i <= weight; ++i) {
      put4(digit(i));
      out.append(four, 4);
    }
  }
  if (dscale > 0) {
    out += '.';
    // The group of 10000^-1 is digit weight + 1 (negative: a leading zero group).
    int i = weight + 1;
    for (size_t written = 0; written < dscale; ++i) {
      put4(digit(i));
      const size_t n = std::min<size_t>(4, dscale - written);
      out.append(four, n);
      written += n;
    }
  }
  return true;
}

// Columns of a kind's COPY row: its fields plus one <decimal>_text per decimal field.
template <class R>
constexpr size_t kDecimalFields = [] {
  size_t n = 0;
  for (const FieldInfo& f : market::detail::kFieldInfos<R>) n += f.type == FieldType::decimal;
  return n;
}();

// Appends one COPY row (market::visit_fields() calls it field by field): the record's
// fields, then, in end(), the <decimal>_text columns.
template <class R>
struct RowWriter {
  Bytes& out;
  // The <decimal>_text fields, written after the record's: the text, or nullptr for NULL.
  const std::string* texts[kDecimalFields<R> + 1] = {};
  size_t n_texts = 0;
  void begin() { out.put16(static_cast<uint16_t>(market::kFieldCount<R> + kDecimalFields<R>)); }
  void text(const FieldInfo&, size_t, std::string_view s) { put_text(s); }
  void put_text(std::string_view s) {
    out.put32(static_cast<uint32_t>(s.size()));
    out.put(s.data(), s.size());
  }
  void decimal(const FieldInfo&, size_t, const std::string& s) {
    texts[n_texts++] = put_numeric(out, s) ? nullptr : &s;
  }
  void integer(const FieldInfo&, size_t, int64_t v) {
    out.put32(8);
    out.put64(static_cast<uint64_t>(v));
  }
  void boolean(const FieldInfo&, size_t, bool b) {
    out.put32(1);
    out.put8(b ? 1 : 0);
  }
  void real(const FieldInfo&, size_t, double v) {  // float8: the IEEE-754 bits, big-endian
    out.put32(8);
    out.put64(std::bit_cast<uint64_t>(v));
  }
  void end() {
    for (size_t i = 0; i < n_texts; ++i) {
      if (texts[i] == nullptr) {
        out.put32(0xffffffffu);  // NULL
      } else {
        put_text(*texts[i]);
      }
    }
  }
};

template <class R>
void append_row(Bytes& out, const R& rec) {
  RowWriter<R> w{out};
  w.begin();
  market::visit_fields(rec, w);
  w.end();
}

// A field as a read selects it: a decimal as its exact text.
std::string select_expr(const FieldInfo& f, const std::string& c) {
  return f.type == FieldType::decimal ? "COALESCE(" + text_column(f) + ", " + c + "::text)" : c;
}

// SELECT list for reads: every field, decimals as their exact text.
std::string select_columns(Kind kind) {
  const KindInfo& k = market::kind_info(kind);
  return columns(k, 0, k.fields.size(), select_expr, none);
}

// Reads a result row of select_columns() into a record.
struct RowReader {
  const PGresult* r;
  int row;
  std::string_view at(size_t col) const { return pg::text(r, row, static_cast<int>(col)); }
  void text(const FieldInfo&, size_t i, std::string& v) const { v = at(i); }
  void decimal(const FieldInfo&, size_t i, std::string& v) const { v = at(i); }
  void integer(const FieldInfo&, size_t i, int64_t& v) const { v = pg::to_int64(at(i)); }
  void boolean(const FieldInfo&, size_t i, bool& v) const { v = at(i) == "t"; }
  // PostgreSQL 12+ prints float8 in the shortest text that reads back exactly.
  void real(const FieldInfo&, size_t i, double& v) const {
    const std::string_view t = at(i);
    v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
  }
};

market::Record read_record(const PGresult* r, int row, Kind kind) {
  return market::with_kind(kind, [&](auto type) {
    typename decltype(type)::type rec;
    market::visit_fields(rec, RowReader{r, row});
    return market::Record(std::move(rec));
  });
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

  // A batch of at least this many rows is written in two halves at once, on two
  // connections (see upsert()).
  static constexpr size_t kSplitRows = 1000;
  // After the second connection failed to connect: large batches written on the first alone.
  static constexpr int kSecondLaneCooldown = 100;

  // A connection that writes, with its per-connection state.
  struct Lane {
    explicit Lane(pg::Url u) : conn(std::move(u)) {}
    pg::Connection conn;
    uint64_t staged_generation[market::kKindCount] =
        {};              // connection generation of each staging table
    std::string buffer;  // COPY data, reused between batches
  };

  explicit Impl(pg::Url u) : main(u), conn(main.conn), second(std::move(u)) {}

  Lane main;             // every read and catalogue change, and the writes
  pg::Connection& conn;  // main.conn
  Lane second;           // the other half of large batches (connected on first use)
  int second_cooldown = 0;
  std::string schema;  // quoted
  std::mutex mu;
  std::map<std::string, Collection> cache;  // by exact name
  int next_statement = 0;

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
    SF_TRY_ASSIGN(kind, catalogue_kind(pg::text(r->get(), 0, 0), "postgres"));
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
                             {lower_ascii(name).c_str()}, "look up collection " + name);
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
        SF_TRY_ASSIGN(k, catalogue_kind(pg::text(r->get(), 0, 1), "postgres"));
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

  // Creates the staging table of `kind` on the lane's connection if it has not yet.
  static Status stage(Lane& lane, Kind kind) {
    pg::Connection& conn = lane.conn;
    SF_TRY(conn.connect());
    uint64_t& gen = lane.staged_generation[static_cast<int>(kind)];
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
    return where_with(c, q, [&](std::string value) {
      params.push_back(std::move(value));
      return "$" + std::to_string(params.size());
    });
  }
  // The same with each value through `bind`, which returns what stands for it in the SQL.
  template <class Bind>
  std::string where_with(const Collection& c, const Query& q, Bind bind) {
    std::string sql;
    auto add_cond = [&](const std::string& cond, std::string value) {
      sql += sql.empty() ? " WHERE " : " AND ";
      sql += cond + bind(std::move(value));
    };
    if (q.symbol) add_cond("\"symbol\" = ", *q.symbol);
    const KindInfo& k = market::kind_info(c.kind);
    if (q.interval && k.has("interval")) add_cond("\"interval\" = ", *q.interval);
    const std::string tc = quote_ident(k.time_field);
    if (q.from_ms != std::numeric_limits<int64_t>::min()) {
      add_cond(tc + " >= ", std::to_string(q.from_ms));
    }
    if (q.to_ms != std::numeric_limits<int64_t>::max()) {
      add_cond(tc + " < ", std::to_string(q.to_ms));
    }
    return sql;
  }

  // The key order, without the key columns where_with() pins to one value: ordering by
  // them changes nothing, and their COLLATE "C" would keep the planner from reading the
  // order off the primary key of a table whose text keys have another collation.
  std::string order_by(const Collection& c, const Query& q) {
    const KindInfo& k = market::kind_info(c.kind);
    std::string keys;
    for (size_t i = 0; i < k.key_fields; ++i) {
      const FieldInfo& f = k.fields[i];
      if ((f.name == "symbol" && q.symbol) || (f.name == "interval" && q.interval)) continue;
      // COLLATE "C": byte order, the same order as SQLite's BINARY for text keys.
      keys += (keys.empty() ? "" : ", ") + quote_ident(f.name) +
              (f.type == FieldType::text ? " COLLATE \"C\"" : "");
    }
    std::string sql = keys.empty() ? "" : " ORDER BY " + keys;
    if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
    return sql;
  }

  // Reads in key order walk the primary key, which holds that order. Once a table is
  // analyzed, the planner prefers a sequential scan and a sort for a range covering most of
  // it: the sort spills past work_mem and holds back the first row until the last is read
  // (docs/benchmarks.md, read API). A sort stays possible where nothing else gives the
  // order, and then its penalty cost must not start JIT compilation (150 ms for nothing on
  // such a scan). Both settings end with the transaction.
  static constexpr const char* kOrderedRead =
      "BEGIN READ ONLY; SET LOCAL enable_sort = off; SET LOCAL jit = off";

  Result<pg::ResultPtr> select(const Collection& c, const std::string& what_cols, const Query& q,
                               bool ordered, const std::string& what) {
    std::vector<std::string> params;
    std::string sql = "SELECT " + what_cols + " FROM " + c.table + where(c, q, params);
    if (ordered) sql += order_by(c, q);
    std::vector<const char*> ptrs;
    for (const auto& p : params) ptrs.push_back(p.c_str());
    if (!ordered) return conn.exec_params(sql, ptrs, what);
    pg::Txn txn(conn);
    SF_TRY(txn.begin(kOrderedRead));
    auto r = conn.exec_params(sql, ptrs, what);
    if (r) SF_TRY(txn.commit());
    return r;
  }

  // upsert() / upsert_decoded(); the decimal check only with `check_decimals_too`.
  Status upsert(const std::string& name, Kind kind, std::span<const market::Record> records,
                bool check_decimals_too) {
    // Everything that can be refused is refused before the database is touched.
    SF_TRY(check_batch(name, kind, records, check_decimals_too));
    bool ordered = true;  // strictly increasing keys: no duplicates to fold
    for (size_t i = 1; i < records.size() && ordered; ++i)
      ordered = market::key_less(records[i - 1], records[i]);
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
        } else if (market::replaces(r, *rows[it->second])) {
          rows[it->second] = &r;
        }
      }
    }

    // Fast path while the collection's batches are new keys (a load): COPY straight into
    // the table under a savepoint, which is all psql's \copy does. A key that exists
    // already fails it with unique_violation: roll back to the savepoint, upsert through
    // the staging table, and skip the fast path for the next kDirectCooldown batches (a
    // reload conflicts on every batch, and a failed attempt costs up to a whole COPY).
    const bool direct = c->direct_cooldown == 0;
    if (!direct) --c->direct_cooldown;
    // A large batch is written in two halves at once, each in a transaction of its own on a
    // connection of its own: two server processes parse, insert and index it, so the server
    // keeps pace with a connector on a machine with a core to spare (docs/benchmarks.md,
    // issue 11: one backend was 80% busy while a core idled). The halves hold different
    // keys (duplicates were folded above), and the next batch starts only when both are
    // committed, so a key's writes stay in order. If one half fails, the other may be
    // committed: the caller retries the whole batch, which upserts the same rows again.
    std::span<const market::Record* const> all(rows);
    const size_t half = second_lane_for(rows.size()) ? rows.size() / 2 : rows.size();
    bool conflict_a = false, conflict_b = false;
    Status second_status;
    std::thread other;
    if (half < rows.size())
      other = std::thread(
          [&] { second_status = write(second, *c, kind, all.subspan(half), direct, &conflict_b); });
    Status first_status = write(main, *c, kind, all.first(half), direct, &conflict_a);
    if (other.joinable()) other.join();
    if (conflict_a || conflict_b) c->direct_cooldown = kDirectCooldown;
    return first_status.ok() ? second_status : first_status;
  }

  // Whether a batch of `n` rows goes in two halves: large enough, and the second connection
  // usable (after it failed to connect, not for the next kSecondLaneCooldown large batches).
  bool second_lane_for(size_t n) {
    if (n < kSplitRows) return false;
    if (second_cooldown > 0) {
      --second_cooldown;
      return false;
    }
    if (auto s = second.conn.connect(); !s) {
      log::warn("postgres: a second connection for large batches failed (" + s.error().message +
                "); writing on one for the next " + std::to_string(kSecondLaneCooldown) +
                " large batches");
      second_cooldown = kSecondLaneCooldown;
      return false;
    }
    return true;
  }

  // Writes `rows` in one transaction on `lane`: a direct COPY into the table, or (when not
  // `direct`, or when the direct COPY met an existing key: *conflict) a COPY into the
  // staging table and the prepared upsert. Reads only constant parts of `c`: safe beside a
  // write on the other lane.
  static Status write(Lane& lane, const Collection& c, Kind kind,
                      std::span<const market::Record* const> rows, bool direct, bool* conflict) {
    pg::Connection& conn = lane.conn;
    SF_TRY(stage(lane, kind));
    pg::Txn txn(conn);
    SF_TRY(txn.begin(direct ? "BEGIN; SAVEPOINT sf_direct" : "BEGIN"));  // one round trip
    const std::string columns = column_list(kind);
    const std::string n = std::to_string(rows.size());
    const std::string what = (direct ? "copy " : "stage ") + n + " records into " + c.name;
    SF_TRY(conn.copy_start("COPY " + (direct ? c.table : stage_table(kind)) + " (" + columns +
                               ") FROM STDIN (FORMAT binary)",
                           what));
    // The rows are encoded while the server parses what went before (pieces of kPiece
    // bytes); the lane's buffer keeps the whole stream for the staging table if the fast
    // path fails.
    Bytes buf(lane.buffer);
    copy_header(buf);
    size_t sent = 0;
    Status put;
    for (const market::Record* r : rows) {
      std::visit([&](const auto& rec) { append_row(buf, rec); }, *r);
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
      *conflict = true;
      SF_TRY(conn.copy_in(
          "COPY " + stage_table(kind) + " (" + columns + ") FROM STDIN (FORMAT binary)", buf.view(),
          "stage " + n + " records for " + c.name));
    } else if (!copied.ok()) {
      return copied.error();
    }
    auto r =
        conn.prepared(c.statement, c.upsert_sql, {}, "upsert " + n + " records into " + c.name);
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
  SF_TRY(check_collection(name, kind));
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
    SF_TRY_ASSIGN(info.kind, catalogue_kind(pg::text(r->get(), i, 1), "postgres"));
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

Result<TimeBounds> PostgresDataStore::time_bounds(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  const std::string t = pg::quote_ident(market::kind_info(c->kind).time_field);
  auto r = impl_->select(*c, "COUNT(*), MIN(" + t + "), MAX(" + t + ")", q, false,
                         "time bounds of " + name);
  if (!r) return r.error();
  TimeBounds b{pg::to_int64(pg::text(r->get(), 0, 0)), std::nullopt, std::nullopt};
  if (b.records > 0) {
    b.first = pg::to_int64(pg::text(r->get(), 0, 1));
    b.last = pg::to_int64(pg::text(r->get(), 0, 2));
  }
  return b;
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

// scan_json() reads a binary COPY of the rows as the server sends it: no numeric_out on the
// server, no result held in memory, and the JSON is written while the server still scans
// (docs/benchmarks.md, read API: 223 ms for 100,000 candles through a text result).
Result<size_t> PostgresDataStore::scan_json(const std::string& name, const Query& q,
                                            std::string& out, const std::vector<size_t>& picked) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  const auto& fields = market::kind_info(c->kind).fields;
  std::vector<size_t> cols;
  SF_TRY_ASSIGN(cols, resolve_fields(c->kind, picked));
  // The fields, then the <decimal>_text column of each decimal field (NULL unless NUMERIC
  // cannot print the text back, see put_numeric()).
  std::string select, texts;
  std::vector<size_t> text_at(cols.size(), 0);  // column of field j's text companion
  size_t ncols = cols.size();
  for (size_t j = 0; j < cols.size(); ++j) {
    const FieldInfo& f = fields[cols[j]];
    select += (select.empty() ? "" : ", ") + quote_ident(f.name);
    if (f.type == FieldType::decimal) {
      texts += ", " + text_column(f);
      text_at[j] = ncols++;
    }
  }
  std::optional<Error> quote_error;
  std::string sql = "COPY (SELECT " + select + texts + " FROM " + c->table +
                    impl_->where_with(*c, q,
                                      [&](std::string v) {
                                        auto l = impl_->conn.literal(v, "scan " + name);
                                        if (!l) {
                                          quote_error = l.error();
                                          return std::string("NULL");
                                        }
                                        return *l;
                                      }) +
                    impl_->order_by(*c, q) + ") TO STDOUT (FORMAT binary)";
  if (quote_error) return *quote_error;

  size_t rows = 0;
  bool header = false;
  std::vector<std::string_view> col(ncols);
  std::string number;
  auto bad = [&](const std::string& why) {
    return Error(Errc::io_error, "postgres: scan " + name + ": unexpected COPY data: " + why);
  };
  auto bad_field = [&](const char* what, size_t i) {
    return bad(std::string(what) + " " + std::string(fields[i].name));
  };
  auto on_row = [&](std::string_view m) -> Status {
    size_t at = 0;
    auto take = [&](size_t n, std::string_view* v) {
      if (m.size() - at < n) return false;
      *v = m.substr(at, n);
      at += n;
      return true;
    };
    auto be = [](std::string_view v) {
      uint64_t x = 0;
      for (char ch : v) x = (x << 8) | static_cast<uint8_t>(ch);
      return x;
    };
    std::string_view v;
    if (!header) {  // signature, flags, header extension length, the extension
      static constexpr std::string_view kSignature("PGCOPY\n\377\r\n\0", 11);
      if (!take(11, &v) || v != kSignature) return bad("no binary COPY signature");
      if (!take(4, &v) || !take(4, &v) || !take(be(v), &v)) return bad("short header");
      header = true;
    }
    if (at == m.size()) return {};
    if (!take(2, &v)) return bad("short row");
    const auto n = static_cast<int16_t>(be(v));
    if (n == -1) return {};  // the trailer
    if (static_cast<size_t>(n) != ncols) return bad("a row of " + std::to_string(n) + " columns");
    for (size_t k = 0; k < ncols; ++k) {
      if (!take(4, &v)) return bad("short row");
      const auto len = static_cast<int32_t>(be(v));
      if (len == -1) {
        col[k] = std::string_view();  // data() == nullptr marks NULL
      } else if (len < 0 || !take(static_cast<size_t>(len), &col[k])) {
        return bad("short row");
      }
    }
    if (at != m.size()) return bad("bytes after a row");
    if (rows++) out += ',';
    market::JsonRecordWriter w(c->kind, out);
    for (size_t j = 0; j < cols.size(); ++j) {
      const size_t i = cols[j];
      const std::string_view t = col[j];
      if (t.data() == nullptr) return bad_field("NULL in", i);
      switch (fields[i].type) {
        case FieldType::text:
          w.text(i, t);
          break;
        case FieldType::decimal:
          if (col[text_at[j]].data() != nullptr) {
            w.text(i, col[text_at[j]]);
          } else {
            number.clear();
            if (!numeric_text(t, number)) return bad_field("NUMERIC", i);
            w.text(i, number);
          }
          break;
        case FieldType::integer:
          if (t.size() != 8) return bad_field("BIGINT", i);
          w.integer(i, static_cast<int64_t>(be(t)));
          break;
        case FieldType::boolean:
          if (t.size() != 1) return bad_field("BOOLEAN", i);
          w.boolean(i, t[0] != 0);
          break;
        case FieldType::real:
          if (t.size() != 8) return bad_field("DOUBLE PRECISION", i);
          w.real(i, std::bit_cast<double>(be(t)));
          break;
      }
    }
    w.end();
    return {};
  };
  pg::Txn txn(impl_->conn);
  SF_TRY(txn.begin(Impl::kOrderedRead));
  SF_TRY(impl_->conn.copy_out(sql, on_row, "scan " + name));
  SF_TRY(txn.commit());
  return rows;
}

Result<std::vector<int64_t>> PostgresDataStore::times(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  auto r = impl_->select(*c, quote_ident(market::kind_info(c->kind).time_field), q, true,
                         "read times of " + name);
  if (!r) return r.error();
  std::vector<int64_t> out;
  const int n = PQntuples(r->get());
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(pg::to_int64(pg::text(r->get(), i, 0)));
  return out;
}

Result<std::vector<IdRange>> PostgresDataStore::missing_ids(const std::string& name,
                                                            const IdGapQuery& q) {
  std::lock_guard lock(impl_->mu);
  Impl::Collection* c = nullptr;
  SF_TRY_ASSIGN(c, impl_->existing(name));
  SF_TRY(check_id_gap_query(name, c->kind, q));
  const std::string id = quote_ident(trade_id_field(c->kind));
  const std::string time = quote_ident(market::kind_info(c->kind).time_field);
  const std::string range =
      " FROM " + c->table + " WHERE \"symbol\" = $1 AND " + time + " >= $2 AND " + time + " < $3";
  const std::string from = std::to_string(q.from_ms), to = std::to_string(q.to_ms);
  StoredIds stored;
  {
    auto r = impl_->conn.exec_params("SELECT COUNT(*), MIN(" + id + "), MAX(" + id + ")" + range,
                                     {q.symbol.c_str(), from.c_str(), to.c_str()},
                                     "count the ids of " + name);
    if (!r) return r.error();
    stored.count = pg::to_int64(pg::text(r->get(), 0, 0));
    if (stored.count > 0) {
      stored.low = pg::to_int64(pg::text(r->get(), 0, 1));
      stored.high = pg::to_int64(pg::text(r->get(), 0, 2));
    }
  }
  std::vector<IdRange> gaps;
  std::optional<int64_t> last_gap_last;
  // Unique ids: as many as the span between the lowest and the highest means no gap.
  if (stored.count > 0 && stored.high - stored.low + 1 != stored.count) {
    // The gaps between consecutive ids, from the first (ASC) or the last (DESC).
    auto read_gaps = [&](const char* order, size_t limit) -> Status {
      const std::string n = std::to_string(limit);
      auto r = impl_->conn.exec_params(
          "SELECT prev + 1, " + id + " - 1 FROM (SELECT " + id + ", LAG(" + id +
              ") OVER (ORDER BY " + id + ") AS prev" + range + ") AS ids WHERE " + id +
              " > prev + 1 ORDER BY " + id + " " + order + " LIMIT $4",
          {q.symbol.c_str(), from.c_str(), to.c_str(), n.c_str()}, "read the id gaps of " + name);
      if (!r) return r.error();
      for (int i = 0; i < PQntuples(r->get()); ++i) {
        const IdRange g{pg::to_int64(pg::text(r->get(), i, 0)),
                        pg::to_int64(pg::text(r->get(), i, 1))};
        if (order[0] == 'A')
          gaps.push_back(g);
        else
          last_gap_last = g.last;
      }
      return {};
    };
    SF_TRY(read_gaps("ASC", q.max_ranges + 1));
    if (gaps.size() > q.max_ranges) SF_TRY(read_gaps("DESC", 1));
  }
  return assemble_missing_ids(q, stored, std::move(gaps), last_gap_last);
}

std::string PostgresDataStore::describe() const { return impl_->conn.url().redacted; }

}  // namespace sf::store
