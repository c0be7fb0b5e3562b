// ArangoDB implementation of the market-data store (store/data_store.h), over ArangoDB's HTTP
// API (ArangoClient). Opened from an arangodb+http[s]:// URL (arango_client.h); the
// collections live in the URL's database (default "streamforge", created if missing), beside
// the workflow state of ArangoStateStore.
//
// Layout (inspectable in the web UI or arangosh):
//   - one collection per data collection, named exactly as the collection, created on first
//     use; attributes named as the record fields (market/records.h). A document collection,
//     except for graph edges (below);
//   - _key from the natural key, each text part escaped with escape_key_part() (bytes
//     outside ArangoDB's key alphabet, ':' and '%' become %XX) and joined with ':':
//     candles "SYMBOL:INTERVAL:OPEN_TIME", (aggregate) trades "SYMBOL:ID", graph nodes
//     "SYMBOL:VERSION", graph edges "SYMBOL:TARGET:VERSION". A key over 254 bytes is refused
//     (invalid_argument naming the record);
//   - decimals as JSON strings holding the exchange's exact text: ArangoDB numbers are IEEE
//     doubles, which would turn "0.10000000" into 0.1 and round past 15-17 digits;
//     times, ids and counts JSON integers (exact to 2^63), flags booleans; real fields
//     (finite doubles) JSON numbers printed with the fewest digits that read back as the
//     same double, and read back exactly (arango::parse_json: ArangoDB's parser rounds
//     correctly, Boost.JSON 1.81's may miss the last bit), so every double round-trips bit
//     for bit (a negative zero may read back as 0);
//   - the catalogue `sf_collections`: one document per collection, _key = the lower-case
//     name, {name, kind}; names differing only in case are refused as in SQLite/PostgreSQL.
//
// Graphs (kinds graph_node and graph_edge, data_store.h's naming: the graph G keeps its
// nodes in `G_nodes`, its edges in `G_edges`) are what ArangoDB users expect of a graph:
//   - `G_nodes` is an ordinary document collection of graph_node records;
//   - `G_edges` is an edge collection (type 3): each document has, besides its record
//     attributes and _key, `_from` "G_nodes/<_key of the node (symbol, version)>" and `_to`
//     "G_nodes/<_key of the node (target, version)>", so traversals (`FOR v, e IN 1..2 ANY
//     'G_nodes/BTCUSDT:0' GRAPH 'G'`) follow the correlations of one snapshot. Ends need not be
//     stored (yet): the document API does not check them;
//   - ensure_collection() / upsert() of `G_edges` also ensure `G_nodes` and the named graph
//     G (POST /_api/gharial: one edge definition, G_edges from [G_nodes] to [G_nodes]), once
//     per process. A graph G that exists with this definition is adopted (its orphan
//     collections are not looked at); one with another definition, or a name under which
//     another kind is catalogued, is invalid_argument, refused before anything is created
//     (barring races). Ensuring `G_nodes` alone makes no graph.
//   - collections() lists both collections with their kinds, like every other.
//   Catalogue entries of the free-form graph API of older versions (kind "graph_vertex", or
//   "graph_edge" with a "vertex" attribute) are not listed, and their names are refused.
//
// upsert(): validates everything first (names, kinds, decimals, reals, keys: nothing is sent for a
// refused batch), folds duplicate keys (a later record wins, except that a closed candle is
// final), then splits the documents into runs of at most max_transaction_bytes (the store
// URL's, default 32 MiB of JSON: ArangoDB refuses writes past a stream transaction's size
// limit, 128 MiB in 3.11, with errorNum 32) and runs one stream transaction per run: reads
// the stored versions of the run's non-closed candles (PUT ?onlyget) and drops those whose
// stored version is closed, writes the rest with POST
// /_api/document/{collection}?overwriteMode=update in bodies of at most 5,000 documents,
// checks every per-document result (any error aborts the transaction and is returned with
// its errorNum) and commits. A write-write conflict or a transaction the server aborted runs
// that run's transaction again (up to 10 times); so does a commit whose outcome is unknown,
// which is safe because an upsert is idempotent. A batch of several runs is not atomic: a
// failure leaves the runs before it committed and returns the error; running the same
// upsert again completes it (what the store connector does), writing the same values.
//
// Indexes: every data collection gets a non-unique persistent index when it is created, and
// on every open for those already in the catalogue (idempotent): the key's text fields a
// Query fixes, then the time field: candles (symbol, interval, open_time), trades and
// aggregate trades (symbol, time), graph nodes and edges (symbol, window_start; an edge
// collection also has ArangoDB's edge index on _from/_to). A query with symbol (and
// interval) fixed is an index range scan; one without a symbol scans the collection.
//
// Reads (count/scan/times) are AQL cursors (FILTER on symbol, interval and the time range).
// AQL compares strings with ICU collation, not bytes, so scan()/times() order by the
// natural key in memory (byte order, as SQLite and PostgreSQL); only when the query fixes
// every text part of the key (symbol, and interval for candles) is LIMIT pushed to the
// server, behind a numeric SORT (for candles read from the index in order; for trades the
// server sorts the index range by id). Never for graph edges: their key's target is fixed by
// no Query.
//
// Errors: invalid_argument (refused names, records, keys; 401 authentication failures; 4xx
// answers), not_found (reads of missing collections), unavailable / timeout (the server
// is unreachable or answered 503 for longer than retry_budget_ms). ArangoDB error answers
// keep their errorNum in the message ("ArangoDB error 1221 (illegal document key) on ...").
// Messages and describe() never show the password or a token.
//
// Thread-safety: every method may be called from any thread; one connection, one mutex.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "store/data_store.h"

namespace sf::store {

namespace arango {
class ArangoClient;
}

class ArangoDataStore final : public DataStore {
 public:
  // Parses the URL, checks the credentials, creates the database (create_database=true)
  // and the catalogue if missing, and ensures the index of every catalogued data
  // collection (above). unavailable if the server cannot be reached, invalid_argument for a
  // bad URL or refused credentials.
  static Result<std::unique_ptr<ArangoDataStore>> open(const std::string& url);

  ~ArangoDataStore() override;
  ArangoDataStore(const ArangoDataStore&) = delete;
  ArangoDataStore& operator=(const ArangoDataStore&) = delete;

  // For graph_edge (`G_edges`) also `G_nodes` and the named graph G (above).
  Status ensure_collection(const std::string& name, market::Kind kind) override;
  Status upsert(const std::string& name, market::Kind kind,
                std::span<const market::Record> records) override;
  // upsert() without the decimal check (records market::decode() has just checked).
  Status upsert_decoded(const std::string& name, market::Kind kind,
                        std::span<const market::Record> records) override;
  Result<std::vector<CollectionInfo>> collections() override;
  Result<market::Kind> collection_kind(const std::string& name) override;
  Result<int64_t> count(const std::string& name, const Query& q = {}) override;
  Result<std::vector<market::Record>> scan(const std::string& name, const Query& q = {}) override;
  Result<std::vector<int64_t>> times(const std::string& name, const Query& q = {}) override;
  // The range's count and its lowest and highest id (three small AQL queries); only when
  // they show a gap, the ids in order (RETURN d.<id>, streamed in cursor batches, never held
  // whole): the AQL the store relies on has no window function (the test double's subset).
  Result<std::vector<IdRange>> missing_ids(const std::string& name, const IdGapQuery& q) override;
  // "arangodb+http://user@host:port/database": never the password.
  std::string describe() const override;

  // The _key a record's natural key becomes (for tests and tools); invalid_argument over
  // 254 bytes. A graph edge's _from/_to name the _keys of its ends' graph_node records.
  static Result<std::string> record_document_key(const market::Record& r);

 private:
  Status upsert_records(const std::string& name, market::Kind kind,
                        std::span<const market::Record> records, bool check_decimal_text);
  struct Impl;
  explicit ArangoDataStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::store
