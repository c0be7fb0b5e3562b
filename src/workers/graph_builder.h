// graph-builder (docs/workers.md, docs/analytics.md): reads the candle collections of a list
// of symbols over the queue's time range from the store, aligns them on open time, and
// writes rolling correlation-graph snapshots (analytics/graph.h) into the graph
// COLLECTION_NAME: nodes in `<COLLECTION_NAME>_nodes`, edges in `<COLLECTION_NAME>_edges`
// (store/data_store.h, graph_collections()).
//
// Configuration: TIME_RANGE (the grid: candles opening in [start, end) on the interval's
// grid), COLLECTION_NAME (the graph's name), and in TARGET_PARAMS:
//   symbols       comma-separated, 2..1000 distinct symbols (required)
//   interval      the candles' interval (default 1h)
//   source        the candle collection of each symbol, with {symbol}, {symbol_lower} and
//                 {interval} replaced (default "{symbol_lower}_candles_{interval}", what
//                 the historical_candles flow writes)
//   window, step  candles per snapshot (default 24) and between snapshots (default 3)
//   method        pearson (default) or spearman
//   max_lag       > 0: lagged cross-correlation up to this many candles (default 0)
//   threshold     keep edges with |correlation| >= this (default 0.5, none when only
//                 top_k is given)
//   top_k         also keep each node's k strongest edges (default 0: off)
//   min_pairs     fewest complete return pairs for an edge (default (window - 1) / 2)
//   min_coverage  fraction of the range's candles each input must hold (default 0.9)
//   wait_s        how long to wait for the inputs to reach it, e.g. while a load of the
//                 same workflow runs (default 0: check once; at most 86400)
// A candle missing from the store, or stored as not closed, counts as missing (NaN): the
// snapshot's returns skip it (analytics/graph.h).
//
// Telemetry: `started`; `loading` at least every second with records_written (nodes and
// edges written) while waiting for inputs and while building; `finished` with the counts;
// `interrupted` within a snapshot of a stop; `error` naming the setting, the short input
// (collection, candles held of expected) or the store's refusal.
//
// Memory: candles are read in blocks of about 20,000 per symbol (16 bytes each), so a year of
// 1m candles of 200 symbols stays near 64 MB of series.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "analytics/graph.h"
#include "base/result.h"
#include "workers/worker.h"

namespace sf::workers {

struct GraphBuilderSettings {
  std::vector<std::string> symbols;
  std::string interval = "1h";
  std::string source = "{symbol_lower}_candles_{interval}";
  analytics::GraphOptions graph;
  double min_coverage = 0.9;
  double wait_s = 0;

  // Strict: unknown settings and bad values are invalid_argument naming the setting.
  static Result<GraphBuilderSettings> from_params(const boost::json::object& params);
  static std::string json_schema();
  // The source collection of `symbol`.
  std::string source_collection(const std::string& symbol) const;
};

int run_graph_builder(WorkerContext& ctx);

}  // namespace sf::workers
