// The small AQL subset the ArangoDB test double understands (see README.md): parsing into a
// Query, the bind parameters it declares, and AQL's ordering of values.
//
//   FOR v IN <collection | @@bind>
//     [FILTER <cond> [AND <cond>]...]...
//     [SORT v.<path> [ASC|DESC] [, v.<path> [ASC|DESC]]...]
//     [LIMIT [<int | @bind> ,] <int | @bind>]
//     RETURN v | RETURN v.<path> | COLLECT WITH COUNT INTO n RETURN n
//   <cond> := v.<path> (== | != | < | <= | > | >=) (@bind | number | "string" | 'string' |
//             true | false | null)
//
// Keywords are case-insensitive as in AQL; <path> is one or more attribute names joined by
// '.'. Anything else is a parse error (errorNum 1501 in the double's answer).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "base/result.h"

namespace sf::testing::aql {

enum class CmpOp { eq, ne, lt, le, gt, ge };

// A literal value or a bind parameter ("@name" -> bind == "name").
struct Operand {
  std::string bind;  // empty: use literal
  boost::json::value literal;
};

struct Condition {
  std::vector<std::string> path;  // v.a.b -> {"a", "b"}
  CmpOp op = CmpOp::eq;
  Operand rhs;
};

struct SortKey {
  std::vector<std::string> path;
  bool descending = false;
};

struct LimitValue {
  std::string bind;  // empty: use value
  int64_t value = 0;
};

enum class ReturnKind { document, attribute, count };

struct Query {
  std::string variable;
  std::string collection;          // literal collection name, or
  std::string collection_bind;     // "@@col" -> "col" (its bindVars key is "@col")
  std::vector<Condition> filters;  // all must hold (the FILTER lines and their ANDs)
  std::vector<SortKey> sort;
  std::optional<LimitValue> offset;
  std::optional<LimitValue> limit;
  ReturnKind ret = ReturnKind::document;
  std::vector<std::string> return_path;  // ReturnKind::attribute
  std::string count_variable;            // ReturnKind::count
};

// Parses text; a parse_error Error with a message naming the position otherwise.
Result<Query> parse(std::string_view text);

// The bindVars keys the query needs: "name" for @name, "@col" for @@col.
std::set<std::string> bind_keys(const Query& q);

// AQL's order: null < bool < number < string < array < object; false < true; numbers by
// value; strings by bytes (ArangoDB itself uses ICU collation: see README.md); arrays
// element by element (shorter first on a tie); objects: the attribute names of both,
// sorted, and the first whose values differ (missing = null) decides. Returns <0, 0, >0.
int compare(const boost::json::value& a, const boost::json::value& b);

// The value at path inside doc; null when an attribute is missing or a step is no object.
boost::json::value lookup(const boost::json::value& doc, const std::vector<std::string>& path);

}  // namespace sf::testing::aql
