#include "manager/read_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/text.h"
#include "market/records.h"
#include "protocol/validate.h"

namespace sf::manager {

namespace {

namespace bj = boost::json;
using http::Request;
using http::Response;

Error bad(const std::string& field, const std::string& what) {
  return Error(Errc::invalid_argument, field + ": " + what, field);
}

// Refuses query parameters the route does not take (likely typos) and repeated ones.
Status only_params(const Request& req, std::initializer_list<std::string_view> allowed) {
  std::map<std::string_view, int> seen;
  for (const auto& [k, v] : req.query) {
    bool known = false;
    for (std::string_view a : allowed) known = known || k == a;
    if (!known) return bad(std::string(utf8_prefix(k, 40)), "unknown query parameter");
    if (++seen[k] > 1) return bad(k, "given twice");
  }
  return {};
}

Result<std::optional<int64_t>> int_param(const Request& req, const std::string& name, int64_t lo,
                                         int64_t hi) {
  auto v = req.query_param(name);
  if (!v) return std::optional<int64_t>();
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size())
    return bad(name, "'" + std::string(utf8_prefix(*v, 40)) + "' is not an integer");
  if (n < lo || n > hi)
    return bad(name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return std::optional<int64_t>(n);
}

// symbol, interval, from, to and limit as a store::Query (limit: the page size asked).
Result<store::Query> query_of(const Request& req, size_t* limit) {
  store::Query q;
  if (auto s = req.query_param("symbol")) {
    SF_TRY(protocol::check_symbol(*s, "symbol"));
    q.symbol = *s;
  }
  if (auto i = req.query_param("interval")) {
    if (!protocol::is_kline_interval(*i)) return bad("interval", "unknown kline interval");
    q.interval = *i;
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  std::optional<int64_t> n;
  SF_TRY_ASSIGN(n, int_param(req, "from", 0, kMax));
  if (n) q.from_ms = *n;
  SF_TRY_ASSIGN(n, int_param(req, "to", 0, kMax));
  if (n) q.to_ms = *n;
  if (q.to_ms <= q.from_ms) return bad("to", "must be after from");
  SF_TRY_ASSIGN(n, int_param(req, "limit", 1, static_cast<int64_t>(kMaxReadLimit)));
  *limit = n ? static_cast<size_t>(*n) : kDefaultReadLimit;
  return q;
}

Response answer(const Status& st) { return Response::from_error(st.error()); }

// `fields=a,b,c`: the kind's fields to send, as ascending indexes (absent: all).
Result<std::vector<size_t>> fields_of(const Request& req, market::Kind kind) {
  std::vector<size_t> out;
  auto list = req.query_param("fields");
  if (!list) return out;
  const auto& fields = market::kind_info(kind).fields;
  std::string_view rest = *list;
  for (;;) {
    const size_t comma = rest.find(',');
    const std::string_view name = rest.substr(0, comma);
    size_t i = 0;
    while (i < fields.size() && fields[i].name != name) ++i;
    if (i == fields.size()) {
      std::string known;
      for (const auto& f : fields) known += (known.empty() ? "" : ", ") + std::string(f.name);
      return bad("fields", "'" + std::string(utf8_prefix(name, 40)) + "' is not a field of " +
                               market::to_string(kind) + " records (" + known + ")");
    }
    if (std::find(out.begin(), out.end(), i) != out.end())
      return bad("fields", "'" + std::string(name) + "' is listed twice");
    out.push_back(i);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Response json(const bj::value& v) { return Response::json(200, bj::serialize(v)); }

bj::value time_or_null(const std::optional<int64_t>& t) {
  return t ? bj::value(*t) : bj::value(nullptr);
}

// The graph-builder's snapshots of one graph: per window_start, its version, window_end
// and node count (from the nodes), and its edge count.
struct Snapshot {
  int64_t version = 0, window_end = 0, nodes = 0, edges = 0;
};
Result<std::map<int64_t, Snapshot>> snapshots_of(store::DataStore& data,
                                                 const store::GraphCollections& g) {
  std::vector<market::Record> nodes;
  SF_TRY_ASSIGN(nodes, data.scan(g.nodes));
  std::map<int64_t, Snapshot> out;
  for (const auto& r : nodes) {
    const auto* n = std::get_if<market::GraphNode>(&r);
    if (n == nullptr) continue;
    Snapshot& s = out[n->window_start];
    s.version = n->version;
    s.window_end = n->window_end;
    ++s.nodes;
  }
  auto edges = data.times(g.edges);
  if (!edges && edges.error().code != Errc::not_found) return edges.error();
  if (edges)
    for (int64_t t : *edges) ++out[t].edges;
  return out;
}

const std::optional<bj::value> kLeaveOut;

Response no_data() { return Response::error(503, "this manager has no data store", "store"); }

// GET `path` (no parameters): {"<key>": [entry(c) for every collection c]}, where entry()
// gives c's JSON, nullopt to leave c out, or an error that becomes the answer.
template <typename Entry>
void route_collection_list(http::Server& server, const std::string& path, const char* key,
                           store::DataStore* data, Entry entry) {
  server.route("GET", path, [data, key, entry](const Request& req) {
    if (!data) return no_data();
    if (auto st = only_params(req, {}); !st) return answer(st);
    auto all = data->collections();
    if (!all) return Response::from_error(all.error());
    bj::array out;
    for (const auto& c : *all) {
      auto v = entry(c);
      if (!v) return Response::from_error(v.error());
      if (*v) out.push_back(std::move(**v));
    }
    return json(bj::object{{key, std::move(out)}});
  });
}

}  // namespace

void register_read_api(http::Server& server, store::DataStore* data,
                       artifacts::ArtifactStore* artifacts) {
  auto no_artifacts = [] {
    return Response::error(503, "this manager has no artifact store", "artifacts");
  };

  route_collection_list(
      server, "/data/collections", "collections", data,
      [data](const store::CollectionInfo& c) -> Result<std::optional<bj::value>> {
        auto b = data->time_bounds(c.name);
        if (!b) return b.error();
        return std::optional<bj::value>(bj::object{{"name", c.name},
                                                   {"kind", market::to_string(c.kind)},
                                                   {"records", b->records},
                                                   {"first_time", time_or_null(b->first)},
                                                   {"last_time", time_or_null(b->last)}});
      });

  server.route("GET", "/data/collections/{name}/records", [data](const Request& req) {
    if (!data) return no_data();
    const std::string name(req.path_param("name"));
    if (auto st = store::check_collection_name(name); !st) return answer(st);
    if (auto st = only_params(req, {"symbol", "interval", "from", "to", "limit", "fields"}); !st)
      return answer(st);
    size_t limit = 0;
    auto q = query_of(req, &limit);
    if (!q) return Response::from_error(q.error());
    auto kind = data->collection_kind(name);
    if (!kind) return Response::from_error(kind.error());
    auto fields = fields_of(req, *kind);
    if (!fields) return Response::from_error(fields.error());
    // One record past the page says whether more matched (a count of every match cost a
    // sixth of a 100,000-candle page on PostgreSQL); its text is cut off again below.
    q->limit = limit + 1;
    std::string body = "{\"collection\":" + bj::serialize(bj::string(name)) + ",\"kind\":\"" +
                       market::to_string(*kind) + "\",\"records\":[";
    const size_t records_at = body.size();
    // Room for a page of the largest usual records (candles, ~350 bytes): untouched pages of
    // a large reservation cost nothing, and the text is never copied while it grows.
    body.reserve(body.size() + std::min<size_t>((limit + 1) * 400, size_t{64} << 20));
    auto n = data->scan_json(name, *q, body, *fields);
    if (!n) return Response::from_error(n.error());
    const bool truncated = *n > limit;
    if (truncated) {
      // The last record begins at the last `,{"<its first field>":`: inside a JSON string
      // that quote would be escaped, so the sequence marks a record's start and nothing else.
      const auto& all_fields = market::kind_info(*kind).fields;
      const std::string start =
          ",{\"" + std::string(all_fields[fields->empty() ? 0 : fields->front()].name) + "\":";
      const size_t at = body.rfind(start);
      if (at == std::string::npos || at < records_at)
        return Response::error(500, "cannot find the page's last record in the store's text");
      body.resize(at);
    }
    body += "],\"truncated\":";
    body += truncated ? "true}" : "false}";
    return Response::json(200, std::move(body));
  });

  route_collection_list(
      server, "/data/graphs", "graphs", data,
      [data](const store::CollectionInfo& c) -> Result<std::optional<bj::value>> {
        if (c.kind != market::Kind::graph_node) return kLeaveOut;
        auto graph = store::graph_of_collection(c.name, c.kind);
        if (!graph) return kLeaveOut;
        auto g = store::graph_collections(*graph);
        if (!g) return kLeaveOut;
        // Counts and windows only: the node times and the edge count, not the records.
        auto times = data->times(g->nodes);
        if (!times) return times.error();
        auto edges = data->time_bounds(g->edges);
        if (!edges && edges.error().code != Errc::not_found) return edges.error();
        std::vector<int64_t> windows = *times;
        std::sort(windows.begin(), windows.end());
        windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
        return std::optional<bj::value>(bj::object{
            {"name", *graph},
            {"nodes", times->size()},
            {"edges", edges ? edges->records : 0},
            {"snapshots", windows.size()},
            {"first_window", windows.empty() ? bj::value(nullptr) : bj::value(windows.front())},
            {"last_window", windows.empty() ? bj::value(nullptr) : bj::value(windows.back())},
        });
      });

  server.route("GET", "/data/graphs/{graph}/snapshots", [data](const Request& req) {
    if (!data) return no_data();
    if (auto st = only_params(req, {}); !st) return answer(st);
    auto g = store::graph_collections(req.path_param("graph"));
    if (!g) return Response::from_error(g.error());
    auto snaps = snapshots_of(*data, *g);
    if (!snaps) return Response::from_error(snaps.error());
    bj::array out;
    for (const auto& [t, s] : *snaps)
      out.push_back(bj::object{{"window_start", t},
                               {"window_end", s.window_end},
                               {"version", s.version},
                               {"nodes", s.nodes},
                               {"edges", s.edges}});
    return json(bj::object{{"graph", g->graph}, {"snapshots", std::move(out)}});
  });

  server.route("GET", "/data/graphs/{graph}/snapshot", [data](const Request& req) {
    if (!data) return no_data();
    if (auto st = only_params(req, {"window_start"}); !st) return answer(st);
    auto g = store::graph_collections(req.path_param("graph"));
    if (!g) return Response::from_error(g.error());
    auto start = int_param(req, "window_start", 0, std::numeric_limits<int64_t>::max() - 1);
    if (!start) return Response::from_error(start.error());
    if (!*start) return Response::error(422, "window_start: required", "window_start");
    store::Query q;
    q.from_ms = **start;
    q.to_ms = **start + 1;
    auto nodes = data->scan(g->nodes, q);
    if (!nodes) return Response::from_error(nodes.error());
    if (nodes->empty())
      return Response::error(
          404, "graph " + g->graph + " has no snapshot starting at " + std::to_string(**start),
          "window_start");
    auto edges = data->scan(g->edges, q);
    if (!edges && edges.error().code != Errc::not_found) return Response::from_error(edges.error());
    std::string body = "{\"graph\":" + bj::serialize(bj::string(g->graph)) +
                       ",\"window_start\":" + std::to_string(**start) + ",\"nodes\":[";
    auto add = [&body](const std::vector<market::Record>& rs) {
      for (size_t i = 0; i < rs.size(); ++i) {
        if (i) body += ',';
        std::visit([&body](const auto& r) { market::encode_to(body, r); }, rs[i]);
      }
    };
    add(*nodes);
    body += "],\"edges\":[";
    if (edges) add(*edges);
    body += "]}";
    return Response::json(200, std::move(body));
  });

  server.route("GET", "/models", [artifacts, no_artifacts](const Request& req) {
    if (!artifacts) return no_artifacts();
    if (auto st = only_params(req, {}); !st) return answer(st);
    auto all = artifacts->list("models/");
    if (!all) return Response::from_error(all.error());
    bj::array out;
    std::string current;
    for (const auto& a : *all) {
      std::string_view rest = std::string_view(a.name).substr(7);  // after "models/"
      const size_t slash = rest.find('/');
      if (slash == std::string_view::npos) continue;
      const std::string queue(rest.substr(0, slash));
      if (out.empty() || queue != current) {
        current = queue;
        out.push_back(bj::object{{"queue_id", queue}, {"files", bj::array{}}});
      }
      out.back().as_object()["files"].as_array().push_back(
          bj::object{{"name", std::string(rest.substr(slash + 1))}, {"size", a.size}});
    }
    return json(bj::object{{"models", std::move(out)}});
  });

  server.route("GET", "/models/{queue_id}/metrics", [artifacts, no_artifacts](const Request& req) {
    if (!artifacts) return no_artifacts();
    if (auto st = only_params(req, {}); !st) return answer(st);
    const std::string queue(req.path_param("queue_id"));
    if (auto st = protocol::check_safe_name(queue, "queue_id"); !st) return answer(st);
    auto m = artifacts->get("models/" + queue + "/metrics.json");
    if (!m) {
      if (m.error().code == Errc::not_found)
        return Response::error(404, "no model metrics for queue " + queue, "queue_id");
      return Response::from_error(m.error());
    }
    return Response::json(200, std::move(*m));
  });
}

}  // namespace sf::manager
