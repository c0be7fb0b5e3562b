// The bus message formats, field for field (docs/protocol.md):
// - Command: a record of the `queue-control` topic;
// - Event: a record of the `queue-events` topic;
// - StartRequest: the body of POST /queues/start;
// - TestFlowRequest: the body of POST /queues/start-test-flow.
//
// decode_*() are strict: unknown members, missing required members, wrong JSON types,
// unknown commands or statuses, malformed time ranges, symbols and names all fail with
// Errc::invalid_argument (Errc::parse_error for text that is not JSON) and name the field.
// Optional members absent in the input stay absent when re-encoded, so a decoded message
// re-encodes to an equal JSON value.
//
// Extensions (marked as such in docs/protocol.md): command "ping" and event
// status "pong"; Command.params carries a target's extra settings (e.g. a dummy's
// duration_s); Event.records_expected/records_dlq/missing_ranges/records_stored and a trades
// loader's first_id/last_id carry completeness.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sf::protocol {

enum class CommandType { start, stop, ping };
const char* to_string(CommandType c);
std::optional<CommandType> command_from_string(std::string_view s);

// Life-cycle statuses of targets and queues. `pending` is the manager's own (a queue or
// target not yet heard from); workers send the others. `pong` answers a ping.
enum class RunStatus { pending, started, loading, finished, error, interrupted, pong };
const char* to_string(RunStatus s);
std::optional<RunStatus> status_from_string(std::string_view s);
bool is_terminal(RunStatus s);
// Order used to refuse backwards moves: pending < started < loading < terminal.
int status_rank(RunStatus s);

struct Command {
  CommandType command = CommandType::start;
  std::string queue_id;
  std::optional<std::string> target;
  std::optional<std::string> symbol;
  std::optional<std::string> type;
  std::optional<std::string> time_range;
  std::optional<std::string> kafka_topic;
  std::optional<std::string> collection_name;
  std::optional<std::string> telemetry_id;
  std::optional<std::string> image;
  double timestamp = 0;
  std::optional<boost::json::object> params;  // extension: the target's extra settings
};

struct Event {
  std::string queue_id;
  std::string producer;  // the target's telemetry_id
  std::optional<std::string> symbol;
  std::optional<std::string> type;
  RunStatus status = RunStatus::started;
  std::optional<std::string> message;
  std::optional<int64_t> records_written;
  std::optional<bool> finished;
  // Extensions for the completeness report (docs/protocol.md): what a loader expects to
  // publish, what a connector sent to the dead-letter topic, and ranges found missing from
  // the store: all "A:B" in the time_range format (candles) or all "id:FROM-TO" (trades and
  // aggregate trades), never mixed.
  std::optional<int64_t> records_expected;
  std::optional<int64_t> records_dlq;
  std::optional<std::vector<std::string>> missing_ranges;
  // A trades loader: the first and last id it published in its run (both or neither,
  // first <= last); on its `finished` event, the range's first and last id on the exchange.
  std::optional<int64_t> first_id;
  std::optional<int64_t> last_id;
  // A connector's final event: the records of the queue's symbol and range the store holds
  // (whoever wrote them), what completeness is judged by.
  std::optional<int64_t> records_stored;
  double timestamp = 0;
};

// One entry of StartRequest.targets. Known members are typed; any other member is a
// worker-specific setting kept verbatim in `extra` (order preserved).
struct TargetSpec {
  std::string target;
  std::optional<std::string> image;
  std::optional<std::string> telemetry_id;
  // The target's symbol when it is not the request's (a flow over several symbols: one
  // loader and connector per symbol); like time_range, an extension of the seed's format.
  std::optional<std::string> symbol;
  std::optional<std::string> kafka_topic;
  std::optional<std::string> collection_name;
  std::optional<std::string> time_range;
  std::optional<std::string> interval;
  boost::json::object extra;
};

struct StartRequest {
  std::optional<std::string> command;   // "start" when present
  std::optional<std::string> queue_id;  // generated when absent
  std::string symbol;
  std::string type;
  std::string time_range;
  std::optional<double> timestamp;
  std::vector<TargetSpec> targets;
};

struct TestFlowRequest {
  std::string flow_name;
  std::string symbol;
  std::string time_range;
  boost::json::object extra_params;
  bool has_extra_params = false;
};

Result<Command> decode_command(std::string_view json);
Result<Event> decode_event(std::string_view json);
Result<StartRequest> decode_start_request(std::string_view json);
Result<StartRequest> decode_start_request(const boost::json::object& obj);
Result<TestFlowRequest> decode_test_flow_request(std::string_view json);

std::string encode(const Command& c);
std::string encode(const Event& e);
std::string encode(const StartRequest& r);
std::string encode(const TestFlowRequest& r);
std::string encode(const TargetSpec& t);

// Upper bound for any control message (commands, events, request bodies).
inline constexpr size_t kMaxMessageBytes = 1 << 20;

}  // namespace sf::protocol
