// The read API (docs/api.md "Reading data"): what the stores hold, for the web UI and for
// anyone: the data collections with their counts and time spans, a collection's records
// by symbol, interval and time range, the graphs the graph-builder wrote and their
// snapshots, and the models in the artifact store with their metrics.
//
// Every route is a GET under /data/ or /models, behind the same bearer token as the rest
// of the API. Query parameters are checked strictly (an unknown one, a symbol that is not
// [A-Z0-9]{2,20}, a time that is not an integer of epoch milliseconds, a limit outside 1 to
// kMaxReadLimit are 422 naming the parameter); names that reach a store are checked
// (collection and graph names as store::check_collection_name, queue ids as
// protocol::check_safe_name) before any store sees them. Pages are bounded: at most
// kMaxReadLimit records an answer, `truncated` saying when more matched.
//
// Threading: the handlers run on the server's io threads and call the stores directly
// (both are thread-safe); a page of kMaxReadLimit candles takes tens of milliseconds
// (docs/benchmarks.md, "Read API").
#pragma once

#include <cstddef>

#include "artifacts/artifact_store.h"
#include "http/server.h"
#include "store/data_store.h"

namespace sf::manager {

inline constexpr size_t kDefaultReadLimit = 1000;
inline constexpr size_t kMaxReadLimit = 100'000;

// Registers the read routes. `data` and `artifacts` may be null (the routes then answer
// 503 "no data store" / "no artifact store"); both must outlive the server.
void register_read_api(http::Server& server, store::DataStore* data,
                       artifacts::ArtifactStore* artifacts);

}  // namespace sf::manager
