#include "cli/cli.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "http/client.h"
#include "json/json.h"
#include "protocol/validate.h"

namespace sf::cli {

namespace bj = boost::json;

namespace {

std::string str(const bj::value& v, const char* key) {
  if (!v.is_object()) return "";
  auto* f = v.as_object().if_contains(key);
  if (!f) return "";
  if (f->is_string()) return std::string(f->get_string());
  return bj::serialize(*f);
}

int64_t num(const bj::value& v, const char* key) {
  if (!v.is_object()) return 0;
  auto* f = v.as_object().if_contains(key);
  return f && f->is_number() ? f->to_number<int64_t>() : 0;
}

// Prints the server's JSON error, or a transport error; returns the exit code.
int report(const Result<http::ClientResponse>& r, const ClientOptions& o) {
  if (!r) {
    std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
    if (r.error().code == Errc::unavailable || r.error().code == Errc::io_error ||
        r.error().code == Errc::timeout)
      std::fprintf(stderr, "hint: is the manager running? start it with `streamforge up`\n");
    return kUnreachable;
  }
  if (r->status == 401) {
    std::fprintf(stderr, "error: unauthorized (set --token or SF_API_TOKEN)\n");
    return kRequestRefused;
  }
  auto v = json::parse(r->body);
  if (v && v->is_object() && v->as_object().contains("error")) {
    std::string field = str(*v, "field");
    std::fprintf(stderr, "error (HTTP %d): %s%s\n", r->status, str(*v, "error").c_str(),
                 field.empty() ? "" : (" [field: " + field + "]").c_str());
  } else {
    std::fprintf(stderr, "error: HTTP %d: %s\n", r->status, r->body.c_str());
  }
  return kRequestRefused;
}

bool ok_status(const Result<http::ClientResponse>& r) {
  return r && r->status >= 200 && r->status < 300;
}

// "2 h 5 min", "40 s": a duration as a person reads it.
std::string human_duration(double s) {
  if (s < 1) return "under a second";
  const auto t = static_cast<int64_t>(s + 0.5);
  if (t < 60) return std::to_string(t) + " s";
  if (t < 3600) return std::to_string(t / 60) + " min " + std::to_string(t % 60) + " s";
  if (t < 86400) return std::to_string(t / 3600) + " h " + std::to_string(t % 3600 / 60) + " min";
  return std::to_string(t / 86400) + " d " + std::to_string(t % 86400 / 3600) + " h";
}

int after_start(const ClientOptions& o, const Result<http::ClientResponse>& r, bool do_watch) {
  if (!ok_status(r)) return report(r, o);
  auto v = json::parse(r->body);
  std::string id = v ? str(*v, "queue_id") : "";
  if (o.json) {
    std::printf("%s\n", r->body.c_str());
  } else {
    std::printf("started %s\n", id.c_str());
    // What was asked for, on stderr: stdout stays the one line scripts read the id from.
    const auto* est = v && v->is_object() ? v->as_object().if_contains("estimate") : nullptr;
    if (est && est->is_object()) {
      const auto& e = *est;
      const double secs = e.as_object().if_contains("seconds_at_budget")
                              ? e.at("seconds_at_budget").to_number<double>()
                              : 0;
      std::fprintf(stderr,
                   "expects %lld records in %lld requests (weight %lld): about %s at the "
                   "exchange weight budget of %lld a minute\n",
                   static_cast<long long>(num(e, "records_expected")),
                   static_cast<long long>(num(e, "requests")),
                   static_cast<long long>(num(e, "request_weight")), human_duration(secs).c_str(),
                   static_cast<long long>(num(e, "weight_per_minute")));
    }
  }
  std::fflush(stdout);
  if (do_watch) return watch(o, id);
  return kOk;
}

std::string pct_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The API's path words under /queues/ name no queue: GET /queues/list is the list, so
// `status list` would print the list as if it were a queue.
bool refuse_reserved_id(const std::string& queue_id) {
  if (!protocol::is_reserved_queue_id(queue_id)) return false;
  std::string words;
  for (auto w : protocol::kReservedQueueIds) words += (words.empty() ? "" : ", ") + std::string(w);
  std::fprintf(stderr,
               "error: '%s' is not a queue id: it is a word of the API (%s are reserved)%s\n",
               queue_id.c_str(), words.c_str(),
               queue_id == "list" ? "; to list the queues run `streamforge ls`" : "");
  return true;
}

}  // namespace

int start_flow(const ClientOptions& o, const std::string& flow, const std::string& symbol,
               const std::string& range, const std::vector<std::string>& params, bool do_watch) {
  bj::object extra;
  for (const auto& p : params) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "error: --param '%s' is not NAME=VALUE\n", p.c_str());
      return kRequestRefused;
    }
    std::string k = p.substr(0, eq), val = p.substr(eq + 1);
    // Numbers and booleans keep their type; anything else is a string.
    boost::system::error_code ec;
    bj::value parsed = bj::parse(val, ec);
    if (!ec && (parsed.is_number() || parsed.is_bool()))
      extra[k] = parsed;
    else
      extra[k] = val;
  }
  bj::object body{{"flow_name", flow}, {"symbol", symbol}, {"time_range", range}};
  if (!extra.empty()) body["extra_params"] = extra;
  http::Client c(o.url, o.token);
  return after_start(o, c.post("/queues/start-test-flow", bj::serialize(body)), do_watch);
}

int start_file(const ClientOptions& o, const std::string& path, bool do_watch) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path);
    if (!in) {
      std::fprintf(stderr, "error: cannot read %s\n", path.c_str());
      return kRequestRefused;
    }
    ss << in.rdbuf();
  }
  http::Client c(o.url, o.token);
  return after_start(o, c.post("/queues/start", ss.str()), do_watch);
}

int list(const ClientOptions& o, const std::string& status_filter) {
  http::Client c(o.url, o.token);
  auto r = c.get("/queues/list" +
                 (status_filter.empty() ? std::string() : "?status=" + pct_encode(status_filter)));
  if (!ok_status(r)) return report(r, o);
  if (o.json) {
    std::printf("%s\n", r->body.c_str());
    return kOk;
  }
  auto v = json::parse(r->body, 1ull << 32);
  if (!v) return report(Error(Errc::parse_error, "bad response: " + v.error().message), o);
  const auto& qs = v->at("queues").as_array();
  std::printf("%-48s %-12s %-10s %-22s %12s %s\n", "QUEUE", "STATUS", "SYMBOL", "TIME RANGE",
              "RECORDS", "TARGETS");
  for (const auto& q : qs) {
    std::printf("%-48s %-12s %-10s %-22s %12lld %lld/%lld\n", str(q, "queue_id").c_str(),
                str(q, "status").c_str(), str(q, "symbol").c_str(), str(q, "time_range").c_str(),
                static_cast<long long>(num(q, "records_written")),
                static_cast<long long>(num(q, "targets_done")),
                static_cast<long long>(num(q, "targets")));
  }
  std::printf("%zu queue%s\n", qs.size(), qs.size() == 1 ? "" : "s");
  return kOk;
}

int status(const ClientOptions& o, const std::string& queue_id) {
  if (refuse_reserved_id(queue_id)) return kRequestRefused;
  http::Client c(o.url, o.token);
  auto r = c.get("/queues/" + pct_encode(queue_id));
  if (!ok_status(r)) return report(r, o);
  if (o.json) {
    std::printf("%s\n", r->body.c_str());
    return kOk;
  }
  auto v = json::parse(r->body);
  const bj::value* targets = v && v->is_object() ? v->as_object().if_contains("targets") : nullptr;
  if (!targets || !targets->is_array())
    return report(Error(Errc::parse_error, "bad response: not a queue: " + r->body.substr(0, 200)),
                  o);
  std::printf(
      "queue     %s\nstatus    %s%s%s\nsymbol    %s\ntype      %s\nrange     %s\nrecords   %lld\n",
      str(*v, "queue_id").c_str(), str(*v, "status").c_str(),
      str(*v, "message").empty() ? "" : " - ", str(*v, "message").c_str(),
      str(*v, "symbol").c_str(), str(*v, "type").c_str(), str(*v, "time_range").c_str(),
      static_cast<long long>(num(*v, "records_written")));
  std::printf("targets:\n");
  for (const auto& t : targets->as_array())
    std::printf("  %-40s %-18s %-12s %10lld  %s\n", str(t, "telemetry_id").c_str(),
                str(t, "target").c_str(), str(t, "status").c_str(),
                static_cast<long long>(num(t, "records_written")), str(t, "message").c_str());
  return kOk;
}

int stop(const ClientOptions& o, const std::string& queue_id) {
  if (refuse_reserved_id(queue_id)) return kRequestRefused;
  http::Client c(o.url, o.token);
  bj::object body{{"queue_id", queue_id}};
  auto r = c.post("/queues/stop", bj::serialize(body));
  if (!ok_status(r)) return report(r, o);
  if (o.json)
    std::printf("%s\n", r->body.c_str());
  else
    std::printf("stop sent to %s\n", queue_id.c_str());
  return kOk;
}

int repair(const ClientOptions& o, const std::string& queue_id, bool do_watch) {
  if (refuse_reserved_id(queue_id)) return kRequestRefused;
  http::Client c(o.url, o.token);
  auto r = c.post("/queues/" + pct_encode(queue_id) + "/repair", "");
  if (!ok_status(r)) return report(r, o);
  if (o.json) {
    std::printf("%s\n", r->body.c_str());
  } else {
    auto v = json::parse(r->body);
    const bj::value* ranges =
        v && v->is_object() ? v->as_object().if_contains("missing_ranges") : nullptr;
    if (!ranges || !ranges->is_array())
      return report(
          Error(Errc::parse_error, "bad response: not a repair answer: " + r->body.substr(0, 200)),
          o);
    std::printf("%s: %s\n", queue_id.c_str(), str(*v, "message").c_str());
    for (const auto& m : ranges->as_array())
      std::printf("  %s\n", std::string(m.is_string() ? m.get_string() : "?").c_str());
  }
  std::fflush(stdout);
  // 200: nothing was missing, nothing started.
  if (do_watch && r->status == 202) return watch(o, queue_id);
  return kOk;
}

int flows(const ClientOptions& o) {
  http::Client c(o.url, o.token);
  auto r = c.get("/flows");
  if (!ok_status(r)) return report(r, o);
  if (o.json) {
    std::printf("%s\n", r->body.c_str());
    return kOk;
  }
  auto v = json::parse(r->body);
  if (!v) return report(Error(Errc::parse_error, "bad response"), o);
  std::printf("flows from %s:\n", str(*v, "origin").c_str());
  for (const auto& f : v->at("flows").as_array())
    std::printf("  %-24s %s\n", str(f, "name").c_str(), str(f, "description").c_str());
  return kOk;
}

namespace {

struct TargetView {
  std::string id, status, message;
  int64_t records = 0, expected = 0;
};

// Draws one line per target; on a terminal redraws in place, otherwise prints changes.
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty) {}

  void set_targets(const bj::array& targets) {
    for (const auto& t : targets) {
      TargetView& tv = get(str(t, "telemetry_id"));
      tv.status = str(t, "status");
      tv.message = str(t, "message");
      tv.records = num(t, "records_written");
      if (t.as_object().contains("config")) tv.expected = num(t.at("config"), "records");
    }
  }
  void update(const std::string& id, const std::string& st, const std::string& msg,
              int64_t records) {
    TargetView& tv = get(id);
    tv.status = st;
    tv.message = msg;
    tv.records = std::max(tv.records, records);
  }
  void draw(const std::string& queue_status, bool force) {
    if (tty_) {
      if (drawn_) std::printf("\x1b[%zuA", order_.size() + 1);
      std::printf("\x1b[2Kqueue: %s\n", queue_status.c_str());
      for (const auto& id : order_) std::printf("\x1b[2K%s\n", line(targets_[id]).c_str());
      drawn_ = true;
    } else {
      // Not a terminal: print on every status change and at most once a second otherwise.
      std::string snapshot = queue_status;
      for (const auto& id : order_) snapshot += "|" + targets_[id].status;
      auto now = std::chrono::steady_clock::now();
      if (!force && snapshot == last_ && now - last_print_ < std::chrono::seconds(1)) return;
      last_ = snapshot;
      last_print_ = now;
      std::printf("queue: %s\n", queue_status.c_str());
      for (const auto& id : order_) std::printf("  %s\n", line(targets_[id]).c_str());
    }
    std::fflush(stdout);
  }

 private:
  TargetView& get(const std::string& id) {
    if (!targets_.count(id)) order_.push_back(id);
    auto& tv = targets_[id];
    tv.id = id;
    return tv;
  }
  static std::string line(const TargetView& t) {
    char buf[512];
    if (t.expected > 0) {
      double frac = std::min(1.0, static_cast<double>(t.records) / t.expected);
      int filled = static_cast<int>(frac * 30);
      std::string bar = std::string(filled, '#') + std::string(30 - filled, '.');
      std::snprintf(buf, sizeof buf, "%-36s [%s] %3d%% %lld/%lld %-11s %s", t.id.c_str(),
                    bar.c_str(), static_cast<int>(frac * 100), static_cast<long long>(t.records),
                    static_cast<long long>(t.expected), t.status.c_str(), t.message.c_str());
    } else {
      std::snprintf(buf, sizeof buf, "%-36s %lld records %-11s %s", t.id.c_str(),
                    static_cast<long long>(t.records), t.status.c_str(), t.message.c_str());
    }
    return buf;
  }

  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_print_{};
  std::string last_;
  std::vector<std::string> order_;
  std::map<std::string, TargetView> targets_;
};

int exit_for(const std::string& st, const std::string& message) {
  if (st == "finished") return message.rfind("incomplete", 0) == 0 ? kQueueIncomplete : kOk;
  if (st == "error") return kQueueError;
  return kQueueInterrupted;
}

bool terminal(const std::string& st) {
  return st == "finished" || st == "error" || st == "interrupted";
}

}  // namespace

int watch(const ClientOptions& o, const std::string& queue_id) {
  if (refuse_reserved_id(queue_id)) return kRequestRefused;
  http::WsClient ws;
  if (auto s = ws.connect(o.url, "/ws/events?queue_id=" + pct_encode(queue_id), o.token); !s) {
    // Tell a missing queue apart from a missing server.
    http::Client c(o.url, o.token);
    auto r = c.get("/queues/" + pct_encode(queue_id));
    if (!ok_status(r)) return report(r, o);
    std::fprintf(stderr, "error: %s\n", s.error().message.c_str());
    return kUnreachable;
  }
  Progress progress(isatty(STDOUT_FILENO) == 1 && !o.json);
  std::string queue_status = "pending", message;
  for (;;) {
    auto msg = ws.read(std::chrono::seconds(2));
    if (!msg) {
      if (msg.error().code == Errc::timeout) {
        if (!o.json) progress.draw(queue_status, false);
        continue;
      }
      std::fprintf(stderr, "error: lost the event feed: %s\n", msg.error().message.c_str());
      return kUnreachable;
    }
    if (o.json) std::printf("%s\n", msg->c_str());
    auto v = json::parse(*msg);
    if (!v || !v->is_object()) continue;
    std::string type = str(*v, "type");
    if (type == "snapshot") {
      const auto& q = v->at("queue");
      queue_status = str(q, "status");
      message = str(q, "message");
      progress.set_targets(q.at("targets").as_array());
    } else if (type == "target_status") {
      progress.update(str(*v, "telemetry_id"), str(*v, "status"), str(*v, "message"),
                      num(*v, "records_written"));
    } else if (type == "queue_status") {
      queue_status = str(*v, "status");
      message = str(*v, "message");
    } else {
      continue;
    }
    if (!o.json) progress.draw(queue_status, false);
    if (terminal(queue_status)) {
      if (!o.json) {
        std::printf("queue %s %s%s%s\n", queue_id.c_str(), queue_status.c_str(),
                    message.empty() ? "" : ": ", message.c_str());
      }
      return exit_for(queue_status, message);
    }
  }
}

}  // namespace sf::cli
