// The registry of built-in worker kinds, each with its role (protocol/target_role.h). A new
// kind registers here.
#include "workers/connector.h"
#include "workers/dummy.h"
#include "workers/gnn_trainer.h"
#include "workers/graph_builder.h"
#include "workers/live.h"
#include "workers/loader.h"

namespace sf::workers {

namespace {

// A target's settings are valid when they parse as its Settings type.
template <class Settings>
Status parses_as(const boost::json::object& settings) {
  auto s = Settings::from_params(settings);
  if (!s) return s.error();
  return {};
}

}  // namespace

WorkerRegistry WorkerRegistry::builtin() {
  using protocol::TargetRole;
  WorkerRegistry r;
  r.add("dummy-service", TargetRole::other, run_dummy, parses_as<DummySettings>,
        DummySettings::json_schema());
  // One implementation under both names: the original target name and the store-neutral one;
  // the DataStore the launcher passes decides where the data goes.
  for (const char* name : {"store-connector", "arango-connector"})
    r.add(name, TargetRole::connector, run_connector, parses_as<ConnectorSettings>,
          ConnectorSettings::json_schema());
  // Loaders take their configuration from the workflow (symbol, type, range, topic), plus
  // the id range of a trades load (a repair's).
  for (auto [name, run] : {std::pair{"loader-producer", &run_loader_producer},
                           std::pair{"loader-api-candles", &run_loader_candles},
                           std::pair{"loader-api-trades", &run_loader_trades}})
    r.add(name, TargetRole::loader, run, parses_as<LoaderSettings>, LoaderSettings::json_schema());
  // Live loaders: the WebSocket streams until stop or the range's end (workers/live.h).
  for (auto [name, run] : {std::pair{"loader-ws-trades", &run_live_trades},
                           std::pair{"loader-ws-agg-trades", &run_live_agg_trades},
                           std::pair{"loader-ws-klines", &run_live_klines},
                           std::pair{"loader-ws-orderbook", &run_live_orderbook}})
    r.add(name, TargetRole::loader, run, parses_as<LiveSettings>, LiveSettings::json_schema());
  // Analytics: reads candle collections from the store, writes graph collections
  // (workers/graph_builder.h).
  r.add("graph-builder", TargetRole::other, run_graph_builder, parses_as<GraphBuilderSettings>,
        GraphBuilderSettings::json_schema());
  // Trains a GATv2 model on a graph; its libtorch is loaded on first use (src/gnn/plugin.h).
  r.add("gnn-trainer", TargetRole::other, run_gnn_trainer, parses_as<GnnTrainerSettings>,
        GnnTrainerSettings::json_schema());
  return r;
}

}  // namespace sf::workers
