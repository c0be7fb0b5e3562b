// The shapes of the manager's API (docs/api.md) as far as the pages read them. Fields the
// server may leave out are optional; unknown extra fields are ignored.

export type Status = "pending" | "started" | "loading" | "finished" | "error" | "interrupted";
export const STATUSES: readonly Status[] = [
  "pending",
  "started",
  "loading",
  "finished",
  "error",
  "interrupted",
];
export const FINAL_STATUSES: ReadonlySet<string> = new Set(["finished", "error", "interrupted"]);

export interface Estimate {
  records_expected: number;
  requests?: number;
  request_weight?: number;
  weight_per_minute?: number;
  seconds_at_budget?: number;
}

export interface Completeness {
  records_expected?: number;
  records_published: number;
  records_written: number;
  records_dlq: number;
  records_stored?: number;
  missing_ranges: string[];
  complete: boolean;
}

// The fields a queue's summary and its full state share (GET /queues/list, GET /queues/{id}).
export interface QueueFields {
  queue_id: string;
  symbol: string;
  type: string;
  time_range: string;
  status: string;
  message: string;
  created_at: number; // epoch seconds
  updated_at: number;
  records_written: number;
  estimate?: Estimate;
  completeness?: Completeness;
}

// GET /queues/list entries. records_expected / estimate / completeness are read when present
// (the summary has none of them today; the live events supply records_expected).
export interface QueueSummary extends QueueFields {
  targets: number;
  targets_done: number;
  records_expected?: number;
}

export interface TargetState {
  telemetry_id: string;
  target: string;
  status: string;
  message: string;
  records_written: number;
  updated_at?: number;
  config?: Record<string, unknown>;
  records_expected?: number;
  records_dlq?: number;
  missing_ranges?: string[];
}

// A queue-events record (docs/protocol.md).
export interface QueueEvent {
  queue_id: string;
  producer: string;
  symbol?: string;
  type?: string;
  status: string;
  message?: string;
  records_written?: number;
  finished?: boolean;
  timestamp: number; // epoch seconds
  records_expected?: number;
  records_dlq?: number;
  records_stored?: number;
  missing_ranges?: string[];
  first_id?: number;
  last_id?: number;
}

export interface Queue extends QueueFields {
  stop_requested?: boolean;
  targets: TargetState[];
  events: QueueEvent[];
}

// /ws/events messages.
export type FeedMessage =
  | { type: "subscribed"; queue_id: string | null }
  | { type: "snapshot"; queue: Queue }
  | { type: "event"; queue_id: string; event: QueueEvent }
  | {
      type: "target_status";
      queue_id: string;
      telemetry_id: string;
      target: string;
      status: string;
      message: string;
      records_written: number;
    }
  | { type: "queue_status"; queue_id: string; status: string; message: string; records_written: number };

export interface RepairAnswer {
  queue_id: string;
  run?: number;
  missing_ranges: string[];
  message: string;
}

// ---- data API ----------------------------------------------------------------------------

export type RecordKind =
  | "candle"
  | "agg_trade"
  | "trade"
  | "book_snapshot"
  | "book_diff"
  | "graph_node"
  | "graph_edge";

export interface Collection {
  name: string;
  kind: RecordKind | string;
  records: number;
  first_time: number | null; // epoch ms
  last_time: number | null;
  // Optional (read when the server lists them): the symbols and kline intervals it holds.
  symbols?: string[];
  intervals?: string[];
}

export interface RecordsAnswer<R> {
  collection: string;
  kind: string;
  records: R[];
  truncated: boolean;
}

export interface Candle {
  symbol: string;
  interval: string;
  open_time: number;
  close_time: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  quote_volume: string;
  trades: number;
  taker_buy_base_volume: string;
  taker_buy_quote_volume: string;
  closed: boolean;
}

// trade and agg_trade: the fields both have.
export interface TradeLike {
  symbol: string;
  trade_id?: number;
  agg_id?: number;
  price: string;
  qty: string;
  time: number;
  is_buyer_maker: boolean;
}

export interface BookSnapshot {
  symbol: string;
  update_id: number;
  time: number;
  bids: string; // levels text: [["price","qty"],...]
  asks: string;
}

export interface BookDiff {
  symbol: string;
  last_update_id: number;
  first_update_id: number;
  time: number;
  bids: string;
  asks: string;
}

export interface GraphNode {
  symbol: string;
  version: number;
  window_start: number;
  window_end: number;
  candles: number;
  log_return: number;
  volatility: number;
  volume: number;
  volume_change: number;
  return_1?: number;
  return_2?: number;
  return_3?: number;
  next_return?: number;
  has_next?: boolean;
}

export interface GraphEdge {
  symbol: string;
  target: string;
  version: number;
  window_start: number;
  window_end: number;
  correlation: number;
  lag: number;
  samples: number;
}

export interface GraphInfo {
  name: string;
  nodes: string;
  edges: string;
  snapshots: number;
  first_window: number | null;
  last_window: number | null;
}

export interface SnapshotInfo {
  window_start: number;
  window_end: number;
  version: number;
  nodes: number;
  edges: number;
}

export interface GraphSnapshot {
  graph: string;
  window_start: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface ModelInfo {
  queue_id: string;
  files: { name: string; size: number }[];
}

// metrics.json of the gnn-trainer (src/gnn/export.cc metrics_json, src/workers/gnn_trainer.cc).
// Non-finite numbers are null.
export interface EpochMetrics {
  epoch: number;
  train_loss: number | null;
  train_accuracy: number | null;
  train_f1: number | null;
  val_loss: number | null;
  val_accuracy: number | null;
  val_f1: number | null;
  seconds: number | null;
}

export interface BaselineMetrics {
  train_accuracy: number | null;
  train_f1: number | null;
  val_accuracy: number | null;
  val_f1: number | null;
}

export interface ModelMetrics {
  model?: string;
  queue_id?: string;
  config?: Record<string, unknown>;
  split?: Record<string, number>;
  parameters?: number;
  best_epoch?: number;
  best?: Partial<EpochMetrics>;
  stopped_early?: boolean;
  stopped_by_callback?: boolean;
  seconds_per_epoch?: number | null;
  baselines?: { majority?: BaselineMetrics; last_sign?: BaselineMetrics };
  epochs: EpochMetrics[];
  graph?: {
    name?: string;
    nodes_collection?: string;
    edges_collection?: string;
    snapshots?: number;
    symbols?: string[];
    features?: string[];
  };
}
