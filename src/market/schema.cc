#include "market/schema.h"

#include "base/enum_names.h"

namespace sf::market {

Status Schema<Candle>::check(const Candle& c) {
  if (c.close_time < c.open_time)
    return Error(Errc::invalid_argument, "field 'close_time' is before 'open_time'", "close_time");
  return {};
}

Status Schema<AggTrade>::check(const AggTrade& t) {
  if (t.last_trade_id < t.first_trade_id)
    return Error(Errc::invalid_argument, "field 'last_trade_id' is below 'first_trade_id'",
                 "last_trade_id");
  return {};
}

Status Schema<BookDiff>::check(const BookDiff& d) {
  if (d.last_update_id < d.first_update_id)
    return Error(Errc::invalid_argument, "field 'last_update_id' is below 'first_update_id'",
                 "last_update_id");
  return {};
}

namespace {
Status check_window(int64_t start, int64_t end) {
  if (end <= start)
    return Error(Errc::invalid_argument, "field 'window_end' is not after 'window_start'",
                 "window_end");
  return {};
}
}  // namespace

Status Schema<GraphNode>::check(const GraphNode& n) {
  SF_TRY(check_window(n.window_start, n.window_end));
  if (n.volatility < 0)
    return Error(Errc::invalid_argument, "field 'volatility' is negative", "volatility");
  if (n.volume < 0) return Error(Errc::invalid_argument, "field 'volume' is negative", "volume");
  return {};
}

Status Schema<GraphEdge>::check(const GraphEdge& e) {
  SF_TRY(check_window(e.window_start, e.window_end));
  if (e.symbol == e.target)
    return Error(Errc::invalid_argument, "an edge joins a symbol to itself", "target");
  if (!(e.correlation >= -1 && e.correlation <= 1))
    return Error(Errc::invalid_argument, "field 'correlation' is outside [-1, 1]", "correlation");
  return {};
}

size_t KindInfo::index_of(std::string_view field) const {
  size_t i = 0;
  while (i < fields.size() && fields[i].name != field) ++i;
  return i;
}

namespace {

template <class R>
KindInfo make_info() {
  using S = Schema<R>;
  const std::span<const FieldInfo> f = field_infos<R>();
  size_t keys = 0;
  while (keys < f.size() && f[keys].key) ++keys;
  std::string_view final_flag;
  for_each_field<R>([&](const auto& field, size_t) {
    if constexpr (std::remove_cvref_t<decltype(field)>::type == FieldType::boolean)
      if (S::final_flag != nullptr && field.member == S::final_flag) final_flag = field.info.name;
  });
  return {S::kind, S::name, S::title,      S::workflow_type, S::live_type,
          f,       keys,    S::time_field, final_flag};
}

}  // namespace

const KindInfo& kind_info(Kind k) {
  static const auto kInfos = []<size_t... I>(std::index_sequence<I...>) {
    return std::array<KindInfo, kKindCount>{make_info<std::variant_alternative_t<I, Record>>()...};
  }
  (std::make_index_sequence<kKindCount>{});
  return kInfos[static_cast<size_t>(k)];
}

const char* to_string(Kind k) { return kind_info(k).name.data(); }

namespace {
// True if `type` is the workflow type `pattern` ("<interval>" standing for a kline interval).
bool type_matches(std::string_view type, std::string_view pattern) {
  if (pattern.empty()) return false;
  constexpr std::string_view kIntervalSuffix = "<interval>";
  if (!pattern.ends_with(kIntervalSuffix)) return type == pattern;
  const std::string_view prefix = pattern.substr(0, pattern.size() - kIntervalSuffix.size());
  return type.starts_with(prefix) && interval_ms(type.substr(prefix.size())) >= 0;
}
}  // namespace

Result<Kind> kind_for_type(std::string_view type) {
  std::string expected;
  for (Kind k : kAllKinds) {
    const KindInfo& info = kind_info(k);
    if (type_matches(type, info.workflow_type) || type_matches(type, info.live_type)) return k;
    for (std::string_view t : {info.workflow_type, info.live_type}) {
      if (t.empty() || expected.find(std::string(t) + ",") != std::string::npos ||
          expected.ends_with(t))
        continue;
      expected += expected.empty() ? "" : ", ";
      expected += t;
    }
  }
  return Error(Errc::invalid_argument,
               "unknown data type '" + std::string(type) + "' (expected one of " + expected + ")",
               "type");
}

bool is_live_type(std::string_view type) {
  for (Kind k : kAllKinds)
    if (type_matches(type, kind_info(k).live_type)) return true;
  return false;
}

std::optional<Kind> kind_from_string(std::string_view s) {
  for (Kind k : kAllKinds)
    if (s == to_string(k)) return k;
  return std::nullopt;
}

namespace {

// Three-way comparison of the key fields of two records of one type.
template <class R>
int compare_keys(const R& a, const R& b) {
  int result = 0;
  for_each_field<R>([&](const auto& field, size_t) {
    if (result != 0 || !field.info.key) return;
    const auto& x = a.*field.member;
    const auto& y = b.*field.member;
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, std::string>) {
      const int c = x.compare(y);  // one memcmp for the usual equal symbol (x < y, y < x: two)
      result = (c > 0) - (c < 0);
    } else {
      result = x < y ? -1 : (y < x ? 1 : 0);
    }
  });
  return result;
}

}  // namespace

bool key_less(const Record& a, const Record& b) {
  return std::visit(
      [&](const auto& x) {
        using R = std::remove_cvref_t<decltype(x)>;
        return compare_keys(x, std::get<R>(b)) < 0;
      },
      a);
}

bool is_final(const Record& r) {
  return std::visit(
      [](const auto& x) {
        using R = std::remove_cvref_t<decltype(x)>;
        if constexpr (Schema<R>::final_flag != nullptr) {
          return x.*Schema<R>::final_flag;
        } else {
          return false;
        }
      },
      r);
}

bool replaces(const Record& later, const Record& earlier) {
  return is_final(later) || !is_final(earlier);
}

int64_t time_of(const Record& r) {
  return std::visit(
      [](const auto& x) {
        using R = std::remove_cvref_t<decltype(x)>;
        int64_t t = 0;
        for_each_field<R>([&](const auto& field, size_t) {
          if constexpr (std::remove_cvref_t<decltype(field)>::type == FieldType::integer)
            if (field.info.name == Schema<R>::time_field) t = x.*field.member;
        });
        return t;
      },
      r);
}

std::optional<std::string_view> text_of(const Record& r, std::string_view field) {
  std::optional<std::string_view> out;
  std::visit(
      [&](const auto& x) {
        using R = std::remove_cvref_t<decltype(x)>;
        for_each_field<R>([&](const auto& f, size_t) {
          if constexpr (std::remove_cvref_t<decltype(f)>::type == FieldType::text)
            if (f.info.name == field) out = x.*f.member;
        });
      },
      r);
  return out;
}

std::string natural_key(const Record& r) {
  std::string out;
  std::visit(
      [&](const auto& x) {
        visit_fields(x, AnyField{[&](const FieldInfo& f, size_t, const auto& v) {
                       if (!f.key) return;
                       if (!out.empty()) out += '|';
                       using T = std::remove_cvref_t<decltype(v)>;
                       if constexpr (std::is_same_v<T, std::string>) {
                         out += v;
                       } else if constexpr (std::is_same_v<T, int64_t>) {
                         out += std::to_string(v);
                       }  // key fields are text or integers
                     }});
      },
      r);
  return out;
}

namespace {

// The JSON type docs/data.md names for each FieldType, in FieldType order.
constexpr const char* kDocTypes[] = {"string", "string (decimal text)", "integer", "boolean",
                                     "number (finite)"};
const char* doc_type(FieldType t) { return enum_name(t, kDocTypes, "string"); }

}  // namespace

std::string schema_markdown() {
  std::string out;
  for (Kind k : kAllKinds) {
    const KindInfo& info = kind_info(k);
    if (!out.empty()) out += '\n';
    std::string types;
    for (std::string_view t : {info.workflow_type, info.live_type}) {
      if (t.empty()) continue;
      types += (types.empty() ? "`type`: `" : " or `") + std::string(t) + "`";
    }
    if (types.empty()) types = "written by the graph-builder";
    out += "### " + std::string(info.title) + " (" + types + ", kind `" + std::string(info.name) +
           "`)\n\n";
    out += "| field | type | key | notes |\n|---|---|---|---|\n";
    for (size_t i = 0; i < info.fields.size(); ++i) {
      const FieldInfo& f = info.fields[i];
      out += "| `" + std::string(f.name) + "` | " + doc_type(f.type) + " | " +
             (f.key ? std::to_string(i + 1) : std::string()) + " | " + std::string(f.doc) + " |\n";
    }
  }
  return out;
}

}  // namespace sf::market
