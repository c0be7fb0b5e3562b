#include "aql.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <boost/json/serialize.hpp>

namespace sf::testing::aql {

namespace json = boost::json;

namespace {

enum class Tok { ident, bind, collection_bind, number, string, op, dot, comma, end };

struct Token {
  Tok kind = Tok::end;
  std::string text;  // identifier, bind name (without @/@@), string contents, operator
  json::value number;
  size_t pos = 0;  // offset in the query, for messages
};

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

Error syntax(size_t pos, const std::string& what) {
  return Error(Errc::parse_error,
               "AQL: " + what + " at position " + std::to_string(pos) +
                   " (the ArangoDB test double implements only the FOR/FILTER/SORT/LIMIT/RETURN "
                   "subset in its README)");
}

Result<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (c == '/' && i + 1 < s.size() && (s[i + 1] == '/' || s[i + 1] == '*')) {
      // AQL comments: // to end of line, /* ... */
      if (s[i + 1] == '/') {
        while (i < s.size() && s[i] != '\n') ++i;
      } else {
        size_t end = s.find("*/", i + 2);
        if (end == std::string_view::npos) return syntax(i, "unterminated comment");
        i = end + 2;
      }
      continue;
    }
    if (ident_start(c)) {
      size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      t.kind = Tok::ident;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '@') {
      size_t j = i + 1;
      t.kind = Tok::bind;
      if (j < s.size() && s[j] == '@') {
        t.kind = Tok::collection_bind;
        ++j;
      }
      size_t start = j;
      while (j < s.size() && ident_char(s[j])) ++j;
      if (j == start) return syntax(i, "bind parameter without a name");
      t.text = std::string(s.substr(start, j - start));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < s.size() &&
                std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i + 1;
      bool is_float = false;
      while (j < s.size() &&
             (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.' || s[j] == 'e' ||
              s[j] == 'E' ||
              ((s[j] == '+' || s[j] == '-') && (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        if (!std::isdigit(static_cast<unsigned char>(s[j]))) is_float = true;
        ++j;
      }
      std::string text(s.substr(i, j - i));
      char* end = nullptr;
      if (!is_float) {
        errno = 0;
        long long v = std::strtoll(text.c_str(), &end, 10);
        if (errno != 0 || *end != '\0')
          is_float = true;
        else
          t.number = static_cast<int64_t>(v);
      }
      if (is_float) {
        double d = std::strtod(text.c_str(), &end);
        if (*end != '\0' || !std::isfinite(d)) return syntax(i, "invalid number '" + text + "'");
        t.number = d;
      }
      t.kind = Tok::number;
      i = j;
    } else if (c == '"' || c == '\'') {
      size_t j = i + 1;
      std::string v;
      bool closed = false;
      while (j < s.size()) {
        char d = s[j];
        if (d == '\\') {
          if (j + 1 >= s.size()) break;
          char e = s[j + 1];
          switch (e) {
            case 'n':
              v += '\n';
              break;
            case 't':
              v += '\t';
              break;
            case 'r':
              v += '\r';
              break;
            case 'b':
              v += '\b';
              break;
            case 'f':
              v += '\f';
              break;
            default:
              v += e;
              break;  // \" \' \\ \/
          }
          j += 2;
          continue;
        }
        if (d == c) {
          closed = true;
          ++j;
          break;
        }
        v += d;
        ++j;
      }
      if (!closed) return syntax(i, "unterminated string");
      t.kind = Tok::string;
      t.text = std::move(v);
      i = j;
    } else if (c == '=' || c == '!' || c == '<' || c == '>') {
      size_t j = i + 1;
      if (j < s.size() && s[j] == '=') ++j;
      t.text = std::string(s.substr(i, j - i));
      if (t.text == "=" || t.text == "!") return syntax(i, "unexpected '" + t.text + "'");
      t.kind = Tok::op;
      i = j;
    } else if (c == '.') {
      t.kind = Tok::dot;
      ++i;
    } else if (c == ',') {
      t.kind = Tok::comma;
      ++i;
    } else {
      return syntax(i, std::string("unexpected character '") + c + "'");
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = s.size();
  out.push_back(end);
  return out;
}

bool keyword_eq(const Token& t, std::string_view kw) {
  if (t.kind != Tok::ident || t.text.size() != kw.size()) return false;
  for (size_t i = 0; i < kw.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(t.text[i])) != kw[i]) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<Query> run() {
    Query q;
    SF_TRY(expect_kw("FOR"));
    if (peek().kind != Tok::ident || is_keyword(peek())) return unexpected("a variable name");
    q.variable = next().text;
    SF_TRY(expect_kw("IN"));
    if (peek().kind == Tok::collection_bind) {
      q.collection_bind = next().text;
    } else if (peek().kind == Tok::ident && !is_keyword(peek())) {
      q.collection = next().text;
    } else {
      return unexpected("a collection name or @@bind parameter");
    }
    while (keyword_eq(peek(), "FILTER")) {
      next();
      while (true) {
        Condition c;
        SF_TRY_ASSIGN(c.path, path(q.variable));
        if (peek().kind != Tok::op) return unexpected("a comparison operator");
        const std::string op = next().text;
        if (op == "==")
          c.op = CmpOp::eq;
        else if (op == "!=")
          c.op = CmpOp::ne;
        else if (op == "<")
          c.op = CmpOp::lt;
        else if (op == "<=")
          c.op = CmpOp::le;
        else if (op == ">")
          c.op = CmpOp::gt;
        else
          c.op = CmpOp::ge;
        SF_TRY_ASSIGN(c.rhs, operand());
        q.filters.push_back(std::move(c));
        if (!keyword_eq(peek(), "AND")) break;
        next();
      }
    }
    if (keyword_eq(peek(), "COLLECT")) {
      next();
      SF_TRY(expect_kw("WITH"));
      SF_TRY(expect_kw("COUNT"));
      SF_TRY(expect_kw("INTO"));
      if (peek().kind != Tok::ident || is_keyword(peek())) return unexpected("a variable name");
      q.count_variable = next().text;
      SF_TRY(expect_kw("RETURN"));
      if (peek().kind != Tok::ident || peek().text != q.count_variable) {
        return unexpected("RETURN " + q.count_variable);
      }
      next();
      q.ret = ReturnKind::count;
      return finish(std::move(q));
    }
    if (keyword_eq(peek(), "SORT")) {
      next();
      while (true) {
        SortKey k;
        SF_TRY_ASSIGN(k.path, path(q.variable));
        if (keyword_eq(peek(), "ASC")) {
          next();
        } else if (keyword_eq(peek(), "DESC")) {
          next();
          k.descending = true;
        }
        q.sort.push_back(std::move(k));
        if (peek().kind != Tok::comma) break;
        next();
      }
    }
    if (keyword_eq(peek(), "LIMIT")) {
      next();
      LimitValue first;
      SF_TRY_ASSIGN(first, limit_value());
      if (peek().kind == Tok::comma) {
        next();
        q.offset = std::move(first);
        LimitValue second;
        SF_TRY_ASSIGN(second, limit_value());
        q.limit = std::move(second);
      } else {
        q.limit = std::move(first);
      }
    }
    SF_TRY(expect_kw("RETURN"));
    if (peek().kind != Tok::ident || peek().text != q.variable) {
      return unexpected("RETURN " + q.variable + " or " + q.variable + ".<attribute>");
    }
    if (t_[i_ + 1].kind == Tok::dot) {
      SF_TRY_ASSIGN(q.return_path, path(q.variable));
      q.ret = ReturnKind::attribute;
    } else {
      next();
      q.ret = ReturnKind::document;
    }
    return finish(std::move(q));
  }

 private:
  const Token& peek() const { return t_[i_]; }
  const Token& next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }

  static bool is_keyword(const Token& t) {
    for (std::string_view kw :
         {"FOR", "IN", "FILTER", "SORT", "LIMIT", "RETURN", "COLLECT", "WITH", "COUNT", "INTO",
          "AND", "OR", "NOT", "ASC", "DESC", "LET", "TRUE", "FALSE", "NULL"}) {
      if (keyword_eq(t, kw)) return true;
    }
    return false;
  }

  Error unexpected(const std::string& wanted) const {
    const Token& t = peek();
    std::string got = t.kind == Tok::end ? "end of query" : "'" + token_text(t) + "'";
    return syntax(t.pos, "expected " + wanted + ", found " + got);
  }

  static std::string token_text(const Token& t) {
    switch (t.kind) {
      case Tok::bind:
        return "@" + t.text;
      case Tok::collection_bind:
        return "@@" + t.text;
      case Tok::number:
        return json::serialize(t.number);
      case Tok::string:
        return "\"" + t.text + "\"";
      case Tok::dot:
        return ".";
      case Tok::comma:
        return ",";
      default:
        return t.text;
    }
  }

  Status expect_kw(std::string_view kw) {
    if (!keyword_eq(peek(), kw)) return unexpected(std::string(kw));
    next();
    return ok_status();
  }

  Result<std::vector<std::string>> path(const std::string& var) {
    if (peek().kind != Tok::ident || peek().text != var) return unexpected(var + ".<attribute>");
    next();
    std::vector<std::string> out;
    while (peek().kind == Tok::dot) {
      next();
      if (peek().kind != Tok::ident) return unexpected("an attribute name");
      out.push_back(next().text);
    }
    if (out.empty()) return unexpected("'.' and an attribute name after " + var);
    return out;
  }

  Result<Operand> operand() {
    Operand o;
    const Token& t = peek();
    if (t.kind == Tok::bind) {
      o.bind = next().text;
    } else if (t.kind == Tok::number) {
      o.literal = next().number;
    } else if (t.kind == Tok::string) {
      o.literal = json::string(next().text);
    } else if (keyword_eq(t, "TRUE")) {
      next();
      o.literal = true;
    } else if (keyword_eq(t, "FALSE")) {
      next();
      o.literal = false;
    } else if (keyword_eq(t, "NULL")) {
      next();
      o.literal = nullptr;
    } else {
      return unexpected("a bind parameter or a literal value");
    }
    return o;
  }

  Result<LimitValue> limit_value() {
    LimitValue v;
    const Token& t = peek();
    if (t.kind == Tok::bind) {
      v.bind = next().text;
      return v;
    }
    if (t.kind == Tok::number && t.number.is_int64() && t.number.as_int64() >= 0) {
      v.value = next().number.as_int64();
      return v;
    }
    return unexpected("a non-negative integer or bind parameter in LIMIT");
  }

  Result<Query> finish(Query q) {
    if (peek().kind != Tok::end) return unexpected("end of query");
    return q;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
};

int type_rank(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return 0;
    case json::kind::bool_:
      return 1;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return 2;
    case json::kind::string:
      return 3;
    case json::kind::array:
      return 4;
    case json::kind::object:
      return 5;
  }
  return 0;
}

int compare_numbers(const json::value& a, const json::value& b) {
  // Exact for integers of either sign, doubles otherwise (AQL numbers are doubles).
  if (a.is_int64() && b.is_int64()) {
    return a.get_int64() < b.get_int64() ? -1 : a.get_int64() > b.get_int64() ? 1 : 0;
  }
  if (a.is_uint64() && b.is_uint64()) {
    return a.get_uint64() < b.get_uint64() ? -1 : a.get_uint64() > b.get_uint64() ? 1 : 0;
  }
  auto as_double = [](const json::value& v) {
    return v.is_int64()    ? static_cast<double>(v.get_int64())
           : v.is_uint64() ? static_cast<double>(v.get_uint64())
                           : v.get_double();
  };
  double x = as_double(a), y = as_double(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

}  // namespace

Result<Query> parse(std::string_view text) {
  auto toks = tokenize(text);
  if (!toks.ok()) return toks.error();
  return Parser(std::move(*toks)).run();
}

std::set<std::string> bind_keys(const Query& q) {
  std::set<std::string> out;
  if (!q.collection_bind.empty()) out.insert("@" + q.collection_bind);
  for (const auto& c : q.filters) {
    if (!c.rhs.bind.empty()) out.insert(c.rhs.bind);
  }
  if (q.offset && !q.offset->bind.empty()) out.insert(q.offset->bind);
  if (q.limit && !q.limit->bind.empty()) out.insert(q.limit->bind);
  return out;
}

int compare(const json::value& a, const json::value& b) {
  int ra = type_rank(a), rb = type_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a.get_bool() == b.get_bool() ? 0 : (a.get_bool() ? 1 : -1);
    case 2:
      return compare_numbers(a, b);
    case 3: {
      int c = std::string_view(a.get_string()).compare(std::string_view(b.get_string()));
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case 4: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
        if (int c = compare(x[i], y[i]); c != 0) return c;
      }
      return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    default: {
      // AQL: the attribute names of both objects, sorted; the first one whose values
      // differ (a missing attribute counts as null) decides.
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      std::set<std::string_view> names;
      for (const auto& kv : x) names.insert(kv.key());
      for (const auto& kv : y) names.insert(kv.key());
      static const json::value null_value;
      for (auto n : names) {
        const json::value* xv = x.if_contains(n);
        const json::value* yv = y.if_contains(n);
        if (int c = compare(xv ? *xv : null_value, yv ? *yv : null_value); c != 0) return c;
      }
      return 0;
    }
  }
}

json::value lookup(const json::value& doc, const std::vector<std::string>& path) {
  const json::value* cur = &doc;
  for (const auto& step : path) {
    if (!cur->is_object()) return nullptr;
    cur = cur->get_object().if_contains(step);
    if (!cur) return nullptr;
  }
  return *cur;
}

}  // namespace sf::testing::aql
