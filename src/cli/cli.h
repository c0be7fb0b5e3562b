// Client commands of the `streamforge` executable: thin clients of the queue-manager's
// REST API and WebSocket feed. Each returns the process exit code and prints for people
// (or JSON with `json = true`). Errors from the server are shown with their field.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sf::cli {

struct ClientOptions {
  std::string url = "http://127.0.0.1:8080";  // SF_URL
  std::string token;                          // SF_API_TOKEN
  bool json = false;                          // raw JSON output
};

// Exit codes shared by the client commands.
inline constexpr int kOk = 0;
inline constexpr int kQueueError = 1;        // watch: the queue ended in error
inline constexpr int kQueueInterrupted = 2;  // watch: the queue ended interrupted
inline constexpr int kRequestRefused = 3;    // the server answered 4xx/5xx
inline constexpr int kUnreachable = 4;       // no answer from the server
inline constexpr int kQueueIncomplete = 5;   // watch: finished, but the store holds less

// `start --flow NAME --symbol S --range A:B [--param k=v]...`
int start_flow(const ClientOptions& o, const std::string& flow, const std::string& symbol,
               const std::string& range, const std::vector<std::string>& params, bool watch);
// `start -f body.json` ("-" reads stdin)
int start_file(const ClientOptions& o, const std::string& path, bool watch);
int list(const ClientOptions& o, const std::string& status);
int status(const ClientOptions& o, const std::string& queue_id);
int stop(const ClientOptions& o, const std::string& queue_id);
// `repair QUEUE_ID [--watch]`: POST /queues/{id}/repair; prints the ranges being loaded (or
// that nothing is missing), then with `watch` follows the repair run like `watch`.
int repair(const ClientOptions& o, const std::string& queue_id, bool watch);
// Live progress per target until the queue ends: 0 finished, 1 error, 2 interrupted,
// 5 finished incomplete.
int watch(const ClientOptions& o, const std::string& queue_id);
int flows(const ClientOptions& o);

}  // namespace sf::cli
