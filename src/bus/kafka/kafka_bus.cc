#include "bus/kafka/kafka_bus.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"

namespace sf::bus {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Topics the bus creates accept records this large; the producer sends requests up to
// kMaxRequestBytes. Both leave room above the 1 MiB values the contract requires.
constexpr const char* kTopicMaxMessageBytes = "8388608";
constexpr const char* kProducerMaxRequestBytes = "8388608";
constexpr milliseconds kConnectTimeout{10'000};
constexpr milliseconds kAdminTimeout{30'000};
constexpr milliseconds kQueueFullWait{10'000};
constexpr milliseconds kRoomWait{500};  // see KafkaProducer::produce
constexpr milliseconds kCommitTimeout{30'000};
constexpr milliseconds kDestructorFlush{30'000};

// Properties the bus's semantics depend on; kafka_properties may not set them.
const std::set<std::string, std::less<>> kReservedProperties = {
    "bootstrap.servers",  "metadata.broker.list",     "group.id",          "enable.idempotence",
    "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset", "group.instance.id",
};

// An integer property of `conf` (librdkafka's default when unset).
int64_t conf_int(const rd_kafka_conf_t* conf, const char* name) {
  char value[64];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return 0;
  return std::strtoll(value, nullptr, 10);
}

// Rounded up: a remainder below 1 ms truncated to 0 made the poll loops call librdkafka
// with timeout 0 again and again until the deadline, spinning up to 1 ms at the end of
// every poll (the control-channel reader's 50 ms polls: 2% of a core per worker).
int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1'000'000'000));
}

std::string err_text(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + " (" + rd_kafka_err2str(err) + ")";
}

Errc errc_of(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return Errc::timeout;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return Errc::not_found;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return Errc::too_large;
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return Errc::invalid_argument;
    default:
      return Errc::unavailable;
  }
}

Error kafka_error(rd_kafka_resp_err_t err, const std::string& what) {
  return Error(errc_of(err), what + ": " + err_text(err));
}

// Per-client state reachable from librdkafka callbacks (the client's opaque). Outlives the
// rd_kafka_t it belongs to.
struct ClientCtx {
  std::string role;                  // "producer", "consumer group g", ... for log lines
  std::vector<std::string> secrets;  // secret property values, scrubbed from log lines

  // Producer delivery accounting (guarded by mu).
  std::mutex mu;
  std::condition_variable delivered;
  int64_t pending = 0;        // enqueued, no delivery report yet
  int64_t pending_bytes = 0;  // their keys and values
  // Bounds on pending records and bytes (see KafkaProducer::produce); `room` is notified
  // when a delivery report takes pending below them.
  int64_t max_pending = std::numeric_limits<int64_t>::max();
  int64_t max_pending_bytes = std::numeric_limits<int64_t>::max();
  std::condition_variable room;
  bool congested = false;     // no room came within kRoomWait: records skip the bound until it does
  int64_t since_flush = 0;    // enqueued since the previous flush
  int64_t failed = 0;         // delivery failures since the previous flush
  std::string first_failure;  // the first of them

  // Consumer: set from the rebalance callback (runs on the polling thread).
  std::set<std::pair<std::string, int32_t>> owned;
  std::set<std::pair<std::string, int32_t>> fresh;  // assigned, no record returned yet
  // Revoked since the consumer last cleared it: a partition revoked and assigned again
  // within one rd_kafka_consumer_poll() is owned afterwards, but restarts at the group's
  // committed offset, so records of it taken before the revocation will come again.
  std::set<std::pair<std::string, int32_t>> revoked;
  uint64_t assignments = 0;
  bool cooperative = false;  // partition.assignment.strategy is cooperative-sticky
  bool closing = false;      // inside rd_kafka_consumer_close()

  std::string scrub(std::string s) const {
    for (const std::string& secret : secrets) {
      for (size_t pos = s.find(secret); pos != std::string::npos; pos = s.find(secret, pos + 3))
        s.replace(pos, secret.size(), "***");
    }
    return s;
  }
};

ClientCtx* ctx_of(const rd_kafka_t* rk) { return static_cast<ClientCtx*>(rd_kafka_opaque(rk)); }

void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  try {
    const ClientCtx* ctx = ctx_of(rk);
    // syslog levels: 0-2 emergency..critical, 3 error, 4 warning, 5-6 notice/info, 7 debug.
    // librdkafka logs connection failures at 3 although it retries them: warn, not error.
    log::Level lv = level <= 2   ? log::Level::error
                    : level <= 4 ? log::Level::warn
                    : level <= 6 ? log::Level::info
                                 : log::Level::debug;
    // kafka_properties go to every client, so each consumer notes the producer-only ones.
    if (lv == log::Level::warn && fac && std::strcmp(fac, "CONFWARN") == 0) lv = log::Level::info;
    std::string line = "kafka " + (ctx ? ctx->role : std::string("client")) + " [" +
                       (fac ? fac : "") + "] " + (buf ? buf : "");
    log::write(lv, ctx ? ctx->scrub(std::move(line)) : line);
  } catch (...) {
  }
}

void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  try {
    const auto* ctx = static_cast<const ClientCtx*>(opaque);
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    bool fatal = code == RD_KAFKA_RESP_ERR__FATAL;
    std::string line = "kafka " + ctx->role + (fatal ? " fatal error: " : " error: ") +
                       rd_kafka_err2name(code) + ": " + (reason ? reason : "");
    log::write(fatal ? log::Level::error : log::Level::warn, ctx->scrub(std::move(line)));
  } catch (...) {
  }
}

void dr_msg_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
  try {
    auto* ctx = static_cast<ClientCtx*>(opaque);
    std::lock_guard lk(ctx->mu);
    --ctx->pending;
    ctx->pending_bytes -= static_cast<int64_t>(m->len + m->key_len);
    if (ctx->pending < ctx->max_pending && ctx->pending_bytes < ctx->max_pending_bytes) {
      ctx->congested = false;
      ctx->room.notify_one();
    }
    if (m->err) {
      if (ctx->failed++ == 0) {
        ctx->first_failure = std::string(rd_kafka_topic_name(m->rkt)) + "/" +
                             std::to_string(m->partition) + ": " + err_text(m->err);
      }
    }
    if (ctx->pending == 0) ctx->delivered.notify_all();
  } catch (...) {
  }
}

// librdkafka configuration with errors that name the property and hide secret values.
class Conf {
 public:
  // Without `error_events` librdkafka logs client errors instead of queueing them for a
  // poll (the admin client is never polled).
  explicit Conf(ClientCtx* ctx, bool error_events = true) : conf_(rd_kafka_conf_new()), ctx_(ctx) {
    rd_kafka_conf_set_opaque(conf_, ctx);
    rd_kafka_conf_set_log_cb(conf_, log_cb);
    if (error_events) rd_kafka_conf_set_error_cb(conf_, error_cb);
  }
  ~Conf() {
    if (conf_) rd_kafka_conf_destroy(conf_);
  }
  Conf(const Conf&) = delete;
  Conf& operator=(const Conf&) = delete;

  rd_kafka_conf_t* raw() { return conf_; }

  Status set(const std::string& key, const std::string& value) {
    char errstr[512];
    switch (rd_kafka_conf_set(conf_, key.c_str(), value.c_str(), errstr, sizeof errstr)) {
      case RD_KAFKA_CONF_OK:
        return ok_status();
      case RD_KAFKA_CONF_UNKNOWN:
        return Error(Errc::invalid_argument, "unknown librdkafka property \"" + key + "\"", key);
      case RD_KAFKA_CONF_INVALID:
      default:
        if (is_secret_kafka_property(key)) {
          return Error(Errc::invalid_argument,
                       "invalid value for librdkafka property \"" + key + "\" (value redacted)",
                       key);
        }
        return Error(Errc::invalid_argument,
                     "invalid value \"" + value + "\" for librdkafka property \"" + key +
                         "\": " + ctx_->scrub(errstr),
                     key);
    }
  }

  // Creates the client; the configuration is consumed.
  Result<rd_kafka_t*> create(rd_kafka_type_t type) {
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf_, errstr, sizeof errstr);
    if (!rk) {
      return Error(Errc::invalid_argument,
                   "cannot create Kafka " + ctx_->role + ": " + ctx_->scrub(errstr));
    }
    conf_ = nullptr;  // owned by rk now
    return rk;
  }

 private:
  rd_kafka_conf_t* conf_;
  ClientCtx* ctx_;
};

std::string str_of(const void* p, size_t n) {
  return p ? std::string(static_cast<const char*>(p), n) : std::string();
}

Record to_record(const rd_kafka_message_t* m) {
  Record r;
  r.topic = rd_kafka_topic_name(m->rkt);
  r.partition = m->partition;
  r.offset = m->offset;
  r.key = str_of(m->key, m->key_len);
  r.value = str_of(m->payload, m->len);
  rd_kafka_timestamp_type_t type;
  int64_t ts = rd_kafka_message_timestamp(m, &type);
  r.timestamp_ms = ts >= 0 ? ts : 0;
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Core: configuration, the admin client (metadata, watermarks, CreateTopics), topic cache.

struct KafkaBus::Core {
  BusConfig cfg;
  Options options;
  std::atomic<bool> fatal_injected{false};  // Options::fatal_error_after_records
  std::string bootstrap;
  std::vector<std::string> secrets;
  std::unique_ptr<ClientCtx> admin_ctx;
  rd_kafka_t* admin = nullptr;  // a producer-type handle used for admin requests only

  std::mutex mu;
  std::set<std::string> known_topics;

  ~Core() {
    if (admin) rd_kafka_destroy(admin);
  }

  std::unique_ptr<ClientCtx> make_ctx(std::string role) const {
    auto ctx = std::make_unique<ClientCtx>();
    ctx->role = std::move(role);
    ctx->secrets = secrets;
    return ctx;
  }

  // Common settings, then the user's properties. `defaults` are this client type's tuning
  // (the user may override them); `fixed` are what the bus's semantics rely on.
  Status configure(Conf& conf, const std::vector<std::pair<std::string, std::string>>& defaults,
                   const std::vector<std::pair<std::string, std::string>>& fixed) const {
    SF_TRY(conf.set("bootstrap.servers", bootstrap));
    SF_TRY(conf.set("client.id", cfg.client_id));
    for (const auto& [k, v] : defaults) SF_TRY(conf.set(k, v));
    for (const auto& [k, v] : cfg.kafka_properties) {
      if (kReservedProperties.contains(k)) {
        return Error(Errc::invalid_argument,
                     "librdkafka property \"" + k +
                         "\" is set by the Kafka bus and cannot be "
                         "overridden",
                     k);
      }
      SF_TRY(conf.set(k, v));
    }
    for (const auto& [k, v] : fixed) SF_TRY(conf.set(k, v));
    return ok_status();
  }

  std::vector<std::pair<std::string, std::string>> producer_defaults() const {
    // allow.auto.create.topics: the bus creates topics itself (with the right partition count
    // and max.message.bytes); a metadata lookup of a missing topic must not create it.
    // Consumers default to false already.
    return {
        {"allow.auto.create.topics", "false"},    {"compression.codec", cfg.compression},
        {"linger.ms", kKafkaDefaultLingerMs},     {"batch.num.messages", "10000"},
        {"queue.buffering.max.kbytes", "131072"}, {"message.max.bytes", kProducerMaxRequestBytes},
        {"message.timeout.ms", "120000"},         {"partitioner", "murmur2"}};
  }
  static std::vector<std::pair<std::string, std::string>> producer_fixed() {
    return {{"enable.idempotence", "true"}, {"acks", "all"}};
  }
  static std::vector<std::pair<std::string, std::string>> consumer_defaults() {
    return {{"partition.assignment.strategy", "range"},
            {"fetch.wait.max.ms", "100"},
            {"session.timeout.ms", "10000"},
            {"heartbeat.interval.ms", "500"}};
  }

  // Partition count of `topic`, Errc::not_found if it does not exist. When `need_leaders`,
  // a partition without a leader counts as "not visible yet" (Errc::unavailable).
  Result<int32_t> partition_count(const std::string& topic, milliseconds timeout,
                                  bool need_leaders) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(admin, topic.c_str(), nullptr);
    if (!rkt) return Error(Errc::invalid_argument, "invalid topic name \"" + topic + "\"");
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(admin, 0, rkt, &md, static_cast<int>(timeout.count()));
    rd_kafka_topic_destroy(rkt);
    if (err) return kafka_error(err, "metadata of topic " + topic);
    Result<int32_t> out = Error(Errc::not_found, "topic " + topic + " does not exist");
    for (int i = 0; i < md->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& t = md->topics[i];
      if (topic != t.topic) continue;
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0) break;
      if (t.err) {
        out = kafka_error(t.err, "metadata of topic " + topic);
        break;
      }
      bool leaders = true;
      for (int p = 0; p < t.partition_cnt; ++p) leaders &= t.partitions[p].leader >= 0;
      if (need_leaders && !leaders) {
        out = Error(Errc::unavailable, "topic " + topic + " has partitions without a leader");
      } else {
        out = t.partition_cnt;
      }
      break;
    }
    rd_kafka_metadata_destroy(md);
    return out;
  }

  Status create_topic_admin(const TopicSpec& spec) {
    char errstr[512];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                    spec.replication, errstr, sizeof errstr);
    if (!nt) return Error(Errc::invalid_argument, "topic " + spec.name + ": " + errstr);
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", kTopicMaxMessageBytes);
    rd_kafka_AdminOptions_t* opts =
        rd_kafka_AdminOptions_new(admin, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    int timeout = static_cast<int>(kAdminTimeout.count());
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout, errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout, errstr, sizeof errstr);
    rd_kafka_queue_t* q = rd_kafka_queue_new(admin);
    rd_kafka_CreateTopics(admin, &nt, 1, opts, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout + 5000);
    Status st = ok_status();
    if (!ev) {
      st = Error(Errc::timeout, "CreateTopics " + spec.name + ": no answer");
    } else if (rd_kafka_event_error(ev)) {
      st = Error(errc_of(rd_kafka_event_error(ev)),
                 "CreateTopics " + spec.name + ": " + rd_kafka_event_error_string(ev));
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** res =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      for (size_t i = 0; i < n; ++i) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          const char* msg = rd_kafka_topic_result_error_string(res[i]);
          st = Error(errc_of(e), "CreateTopics " + spec.name + ": " + rd_kafka_err2name(e) +
                                     (msg ? std::string(": ") + msg : std::string()));
        }
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    return st;
  }

  Status ensure_topic(const TopicSpec& requested) {
    TopicSpec spec = requested;
    if (spec.replication == 0) spec.replication = cfg.replication;
    if (spec.name.empty()) return Error(Errc::invalid_argument, "empty topic name", "name");
    if (spec.partitions < 1)
      return Error(Errc::invalid_argument, "partitions must be >= 1", "partitions");
    if (spec.replication < 1)
      return Error(Errc::invalid_argument, "replication must be >= 1", "replication");
    {
      std::lock_guard lk(mu);
      if (known_topics.contains(spec.name)) return ok_status();
    }
    SF_TRY(options.create_topic ? options.create_topic(spec) : create_topic_admin(spec));
    // Wait until the topic (with a leader for every partition) is visible, so clients
    // created next find it in their first metadata request.
    auto deadline = Clock::now() + kAdminTimeout;
    for (;;) {
      auto n = partition_count(spec.name, milliseconds(5000), true);
      if (n.ok()) break;
      if (Clock::now() >= deadline) {
        return Error(Errc::timeout, "topic " + spec.name + " not visible in metadata after " +
                                        std::to_string(kAdminTimeout.count()) +
                                        " ms: " + n.error().message);
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    std::lock_guard lk(mu);
    known_topics.insert(spec.name);
    return ok_status();
  }

  Status ensure_default_topic(const std::string& topic) {
    return ensure_topic(TopicSpec{topic, cfg.default_partitions, cfg.replication});
  }

  Result<std::pair<int64_t, int64_t>> watermarks(const std::string& topic, int32_t partition) {
    SF_TRY(check_partition(topic, partition));
    int64_t lo = 0, hi = 0;
    auto deadline = Clock::now() + kConnectTimeout;
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          admin, topic.c_str(), partition, &lo, &hi, std::max(ms_left(deadline), 1));
      if (!err) return std::make_pair(lo, hi);
      // Leadership moves (and, right after creation, settles): retry those for a while.
      bool transient = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                       err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                       err == RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE ||
                       err == RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH ||
                       err == RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH ||
                       err == RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE ||
                       err == RD_KAFKA_RESP_ERR__TRANSPORT;
      if (!transient || Clock::now() >= deadline)
        return kafka_error(err, "watermarks of " + topic + "/" + std::to_string(partition));
      std::this_thread::sleep_for(milliseconds(50));
    }
  }

  Status check_partition(const std::string& topic, int32_t partition) {
    int32_t n = 0;
    SF_TRY_ASSIGN(n, partition_count(topic, kConnectTimeout, false));
    if (partition < 0 || partition >= n) {
      return Error(Errc::invalid_argument,
                   "topic " + topic + " has " + std::to_string(n) + " partitions, not " +
                       std::to_string(partition),
                   "partition");
    }
    return ok_status();
  }
};

// ---------------------------------------------------------------------------------------
// Producer

namespace {

class KafkaProducer final : public Producer {
 public:
  KafkaProducer(std::shared_ptr<KafkaBus::Core> core, std::unique_ptr<ClientCtx> ctx,
                rd_kafka_t* rk)
      : core_(std::move(core)), ctx_(std::move(ctx)), rk_(rk) {
    poller_ = std::thread([this] {
      while (!stop_.load()) rd_kafka_poll(rk_, 100);
    });
  }

  ~KafkaProducer() override {
    Status st = flush(kDestructorFlush);
    if (!st.ok()) log::warn("kafka producer closing: " + st.error().message);
    stop_ = true;
    poller_.join();
    for (auto& [name, rkt] : topics_) rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk_);
  }

  Result<int64_t> produce(const std::string& topic, const std::string& key,
                          const std::string& value) override {
    if (Status fatal = check_fatal(); !fatal.ok()) return fatal.error();
    SF_TRY(core_->ensure_default_topic(topic));
    warm(topic);
    const auto bytes = static_cast<int64_t>(key.size() + value.size());
    auto deadline = Clock::now() + kQueueFullWait;
    for (;;) {
      {
        std::unique_lock lk(ctx_->mu);
        // Less than one batch outstanding. librdkafka (2.0.2 and upstream today) counts an
        // idempotent producer's in-flight *messages* against its limit of five in-flight
        // *requests* per partition, so a partition has one request in flight at a time, and
        // while it is, a next batch that is ready (full, or past linger.ms) makes the broker
        // thread poll its socket without sleeping until the response comes: 280,000 poll()
        // calls, a third of the loader's CPU, in a year's load (docs/benchmarks.md). A record
        // waits here instead, woken by the delivery report that makes room.
        auto has_room = [&] {
          return ctx_->pending == 0 || (ctx_->pending < ctx_->max_pending &&
                                        ctx_->pending_bytes + bytes <= ctx_->max_pending_bytes);
        };
        // A broker that does not answer within kRoomWait (down, or a leader moving) gets the
        // records buffered by librdkafka as before (queue.buffering.max.kbytes, delivered or
        // failed within message.timeout.ms), so an outage neither stalls every produce()
        // call nor fails it.
        if (!ctx_->congested && !has_room() && !ctx_->room.wait_for(lk, kRoomWait, has_room))
          ctx_->congested = true;
        // Counted before the call: its delivery report may run before producev returns.
        ++ctx_->pending;
        ctx_->pending_bytes += bytes;
        ++ctx_->since_flush;
      }
      rd_kafka_resp_err_t err =
          rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()),
                            RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (const int64_t n = core_->options.fatal_error_after_records;
            n > 0 && ++produced_ == n && !core_->fatal_injected.exchange(true))
          rd_kafka_test_fatal_error(rk_, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    "injected by a test (KafkaBus::Options)");
        return int64_t{-1};
      }
      {
        std::lock_guard lk(ctx_->mu);
        --ctx_->pending;
        ctx_->pending_bytes -= bytes;
        --ctx_->since_flush;
        if (ctx_->pending == 0) ctx_->delivered.notify_all();
      }
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return kafka_error(err, "produce to " + topic);
      if (Clock::now() >= deadline) {
        return Error(Errc::unavailable, "produce to " + topic + ": producer queue full for " +
                                            std::to_string(kQueueFullWait.count()) + " ms");
      }
      // The poll thread serves delivery reports; wait for some room.
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  Status flush(milliseconds timeout) override {
    auto deadline = Clock::now() + timeout;
    // rd_kafka_flush also makes librdkafka send at once instead of lingering.
    rd_kafka_flush(rk_, ms_left(deadline));
    std::unique_lock lk(ctx_->mu);
    ctx_->delivered.wait_until(lk, deadline, [&] { return ctx_->pending == 0; });
    int64_t produced = ctx_->since_flush, failed = ctx_->failed, pending = ctx_->pending;
    std::string first = ctx_->first_failure;
    // Records still pending are reported by a later flush if they fail.
    ctx_->since_flush = pending;
    ctx_->failed = 0;
    ctx_->first_failure.clear();
    lk.unlock();
    if (failed == 0 && pending == 0) return check_fatal();
    std::string msg =
        std::to_string(failed) + " of " + std::to_string(produced) + " records failed";
    if (pending > 0) {
      msg += ", " + std::to_string(pending) + " not acknowledged within " +
             std::to_string(timeout.count()) + " ms";
    }
    if (!first.empty()) msg += " (first failure: " + first + ")";
    // A fatal error fails every record in hand: the error that tells the caller what to do.
    if (Status fatal = check_fatal(); !fatal.ok())
      return Error(Errc::closed, fatal.error().message + "; kafka flush: " + msg);
    return Error(failed > 0 ? Errc::unavailable : Errc::timeout, "kafka flush: " + msg);
  }

 private:
  Status check_fatal() {
    char reason[512];
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk_, reason, sizeof reason);
    if (!err) return ok_status();
    return Error(Errc::closed, "kafka producer failed fatally (" +
                                   std::string(rd_kafka_err2name(err)) + ": " +
                                   ctx_->scrub(reason) + "); create a new producer");
  }

  // librdkafka keeps the records a producer sends to a topic whose metadata it does not hold
  // yet in an unassigned queue until its next topic scan, once a second: the first record to
  // each topic (a start command, a loader's first page, telemetry) waited up to 1 s
  // (docs/benchmarks.md, issue 11). Asking for the topic's metadata first costs one round
  // trip, once per topic and producer; the handle is kept so librdkafka keeps the topic.
  void warm(const std::string& topic) {
    std::lock_guard lk(topics_mu_);
    if (topics_.contains(topic)) return;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    if (!rkt) return;  // producev reports the bad name
    topics_.emplace(topic, rkt);
    const rd_kafka_metadata_t* md = nullptr;
    // A failure only means the first records wait as before.
    if (rd_kafka_metadata(rk_, 0, rkt, &md, static_cast<int>(kConnectTimeout.count())) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
      rd_kafka_metadata_destroy(md);
  }

  std::shared_ptr<KafkaBus::Core> core_;
  std::unique_ptr<ClientCtx> ctx_;
  rd_kafka_t* rk_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  int64_t produced_ = 0;  // records enqueued (Options::fatal_error_after_records)
  std::mutex topics_mu_;
  std::map<std::string, rd_kafka_topic_t*, std::less<>> topics_;  // warmed, with their handles
};

// ---------------------------------------------------------------------------------------
// Consumer (group member)

std::string tp_list(const rd_kafka_topic_partition_list_t* parts) {
  std::string s;
  for (int i = 0; parts && i < parts->cnt; ++i) {
    if (!s.empty()) s += ", ";
    s += std::string(parts->elems[i].topic) + "/" + std::to_string(parts->elems[i].partition);
  }
  return s.empty() ? "nothing" : s;
}

void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                  void* opaque) {
  try {
    auto* ctx = static_cast<ClientCtx*>(opaque);
    // The protocol comes from the configuration: rd_kafka_rebalance_protocol() can hang when
    // called from this callback during close (librdkafka #4041).
    bool cooperative = ctx->cooperative;
    bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    log::info("kafka " + ctx->role + (assign ? " assigned " : " revoked ") + tp_list(parts));
    if (assign && ctx->closing) {
      // rd_kafka_assign() during rd_kafka_consumer_close() never returns (librdkafka #4884);
      // a closing consumer takes no partitions anyway.
      return;
    }
    if (assign) {
      ++ctx->assignments;
      for (int i = 0; i < parts->cnt; ++i) {
        auto tp = std::make_pair(std::string(parts->elems[i].topic), parts->elems[i].partition);
        ctx->owned.insert(tp);
        ctx->fresh.insert(tp);
      }
    } else {
      if (cooperative) {
        for (int i = 0; i < parts->cnt; ++i) {
          auto tp = std::make_pair(std::string(parts->elems[i].topic), parts->elems[i].partition);
          ctx->owned.erase(tp);
          ctx->fresh.erase(tp);
          ctx->revoked.insert(tp);
        }
      } else {
        ctx->revoked.insert(ctx->owned.begin(), ctx->owned.end());
        ctx->owned.clear();
        ctx->fresh.clear();
      }
    }
    if (cooperative) {
      rd_kafka_error_t* e = assign ? rd_kafka_incremental_assign(rk, parts)
                                   : rd_kafka_incremental_unassign(rk, parts);
      if (e) {
        log::warn("kafka " + ctx->role + " incremental (un)assign: " + rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_resp_err_t e = rd_kafka_assign(rk, assign ? parts : nullptr);
      if (e) log::warn("kafka " + ctx->role + " assign: " + err_text(e));
    }
  } catch (...) {
  }
}

class KafkaConsumer final : public Consumer {
 public:
  KafkaConsumer(std::shared_ptr<KafkaBus::Core> core, std::unique_ptr<ClientCtx> ctx,
                rd_kafka_t* rk)
      : core_(std::move(core)), ctx_(std::move(ctx)), rk_(rk) {}
  ~KafkaConsumer() override { close(); }

  Result<std::vector<Record>> poll(size_t max_records, milliseconds timeout) override {
    if (!rk_) return Error(Errc::closed, "consumer is closed");
    if (max_records == 0) return Error(Errc::invalid_argument, "max_records must be > 0");
    auto deadline = Clock::now() + timeout;
    std::vector<Record> out;
    // Records a commit() received while it waited out a rebalance come first.
    while (!buffered_.empty() && out.size() < max_records) {
      // Skip what was committed since: a partition that came back restarted at the group's
      // offset of that moment, so these may repeat records returned before.
      const Record& b = buffered_.front();
      if (owns(b) && b.offset >= committed_[std::make_pair(b.topic, b.partition)])
        out.push_back(std::move(buffered_.front()));
      buffered_.pop_front();
    }
    while (out.size() < max_records) {
      bool got = false;
      SF_TRY_ASSIGN(got, serve(out.empty() ? ms_left(deadline) : 0, out));
      if (!got && (!out.empty() || Clock::now() >= deadline)) break;
    }
    return out;
  }

  bool commit_is_round_trip() const override { return true; }

  Status commit(const Record& r) override {
    if (!rk_) return Error(Errc::closed, "consumer is closed");
    auto tp = std::make_pair(r.topic, r.partition);
    auto it = committed_.find(tp);
    if (owns(r) && it != committed_.end() && r.offset + 1 <= it->second) return ok_status();
    auto deadline = Clock::now() + kCommitTimeout;
    bool rebalancing = false;
    uint64_t assignments = ctx_->assignments;
    for (;;) {
      if (!owns(r)) {
        // An eager rebalance revokes every partition before the new assignment: wait for
        // it, the partition may come back.
        if (rebalancing && ctx_->assignments == assignments && Clock::now() < deadline) {
          SF_TRY(serve_for(deadline));
          continue;
        }
        return Error(Errc::unavailable, "commit " + r.topic + "/" + std::to_string(r.partition) +
                                            ": partition is not assigned to this consumer "
                                            "(rebalanced away); its uncommitted records go to "
                                            "the new owner");
      }
      rd_kafka_resp_err_t err = commit_once(r, deadline);
      if (!err) {
        committed_[tp] = std::max(committed_[tp], r.offset + 1);
        return ok_status();
      }
      std::string what = "commit " + r.topic + "/" + std::to_string(r.partition) + " offset " +
                         std::to_string(r.offset + 1);
      bool refused = err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                     err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                     err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
      if (!refused || Clock::now() >= deadline) return kafka_error(err, what);
      // The group is rebalancing: take part in it, then commit again if the partition is
      // still ours.
      rebalancing = true;
      assignments = ctx_->assignments;
      SF_TRY(serve_for(deadline));
    }
  }

  void close() override {
    if (!rk_) return;
    // Serve pending rebalance events and give up the assignment before
    // rd_kafka_consumer_close(), so no assignment arrives while it runs (see rebalance_cb).
    // Records still fetched are dropped: uncommitted, they go to the next owner.
    rd_kafka_unsubscribe(rk_);
    auto deadline = Clock::now() + milliseconds(2000);
    for (int i = 0; i < 3 || (!ctx_->owned.empty() && Clock::now() < deadline); ++i) {
      if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 20)) rd_kafka_message_destroy(m);
    }
    ctx_->closing = true;
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_);
    if (err) log::warn("kafka " + ctx_->role + " close: " + err_text(err));
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }

 private:
  bool owns(const Record& r) const {
    return ctx_->owned.contains(std::make_pair(r.topic, r.partition));
  }

  // One rd_kafka_consumer_poll(): appends a record to `out` (true) or handles an event or
  // transient error (false); only a fatal error is returned. Rebalance callbacks run here;
  // records in `out` of partitions they revoke are dropped (uncommitted, so their next
  // owner receives them, which may be this consumer again) rather than returned for
  // commit() to refuse or returned twice.
  Result<bool> serve(int timeout_ms, std::vector<Record>& out) {
    ctx_->revoked.clear();
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
    if (!ctx_->revoked.empty()) {
      // Records fetched under the revoked assignment, here and those a commit() buffered
      // earlier, are dropped, also when the partition came back in the same call: it
      // restarts at the group's offset, and they will be delivered again from there (keeping
      // both copies returned them twice in one poll(): the mock cluster showed it).
      auto revoked = [&](const Record& r) {
        return ctx_->revoked.contains(std::make_pair(r.topic, r.partition));
      };
      std::erase_if(out, revoked);
      std::erase_if(buffered_, revoked);
    }
    if (!m) return false;
    if (m->err) {
      rd_kafka_resp_err_t err = m->err;
      std::string what = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
      std::string detail = str_of(m->payload, m->len);
      rd_kafka_message_destroy(m);
      if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return false;
      char reason[512];
      if (rd_kafka_fatal_error(rk_, reason, sizeof reason)) {
        return Error(Errc::unavailable,
                     "kafka " + ctx_->role + " failed fatally: " + ctx_->scrub(reason));
      }
      if (err != last_error_) {  // transient (broker down, ...): log changes only
        last_error_ = err;
        log::warn(ctx_->scrub("kafka " + ctx_->role + " (retrying): " + what + " " + err_text(err) +
                              " " + detail));
      }
      return false;
    }
    last_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
    Record r = to_record(m);
    rd_kafka_message_destroy(m);
    if (!owns(r)) return false;  // fetched before a revocation
    auto tp = std::make_pair(r.topic, r.partition);
    if (ctx_->fresh.erase(tp) > 0) {
      // The first record after an assignment starts at the group's committed offset (or the
      // reset position): records before it are covered already.
      int64_t& c = committed_[tp];
      c = std::max(c, r.offset);
    }
    // Below what this consumer committed: done for the group (a partition that came back
    // after a rebalance restarts at the group's offset, which may lag our last commit).
    if (r.offset < committed_[tp]) return false;
    out.push_back(std::move(r));
    return true;
  }

  // Serves the consumer for up to 200 ms (rebalance callbacks run); records that arrive are
  // kept for the next poll().
  Status serve_for(Clock::time_point deadline) {
    std::vector<Record> got;
    auto until = std::min(deadline, Clock::now() + milliseconds(200));
    while (Clock::now() < until) {
      Result<bool> served = serve(ms_left(until), got);
      if (!served.ok()) return served.error();
    }
    for (Record& g : got) buffered_.push_back(std::move(g));
    return ok_status();
  }

  // A synchronous commit of r.offset + 1; the first error (request or partition).
  rd_kafka_resp_err_t commit_once(const Record& r, Clock::time_point deadline) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, r.topic.c_str(), r.partition)->offset = r.offset + 1;
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk_, list, q, nullptr, nullptr);
    rd_kafka_topic_partition_list_destroy(list);
    if (!err) {
      if (rd_kafka_event_t* ev = rd_kafka_queue_poll(q, std::max(ms_left(deadline), 1))) {
        err = rd_kafka_event_error(ev);
        const rd_kafka_topic_partition_list_t* res = rd_kafka_event_topic_partition_list(ev);
        for (int i = 0; !err && res && i < res->cnt; ++i) err = res->elems[i].err;
        rd_kafka_event_destroy(ev);
      } else {
        err = RD_KAFKA_RESP_ERR__TIMED_OUT;
      }
    }
    rd_kafka_queue_destroy(q);
    return err;
  }

  std::shared_ptr<KafkaBus::Core> core_;
  std::unique_ptr<ClientCtx> ctx_;
  rd_kafka_t* rk_;
  std::map<std::pair<std::string, int32_t>, int64_t> committed_;  // highest committed
  std::deque<Record> buffered_;
  rd_kafka_resp_err_t last_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// ---------------------------------------------------------------------------------------
// Reader (no group: librdkafka's simple consumer on one partition)

class KafkaReader final : public Reader {
 public:
  KafkaReader(std::shared_ptr<KafkaBus::Core> core, std::unique_ptr<ClientCtx> ctx, rd_kafka_t* rk,
              rd_kafka_topic_t* rkt, int32_t partition)
      : core_(std::move(core)), ctx_(std::move(ctx)), rk_(rk), rkt_(rkt), partition_(partition) {}
  ~KafkaReader() override { close(); }

  Result<std::vector<Record>> poll(size_t max_records, milliseconds timeout) override {
    if (!rk_) return Error(Errc::closed, "reader is closed");
    if (max_records == 0) return Error(Errc::invalid_argument, "max_records must be > 0");
    auto deadline = Clock::now() + timeout;
    std::vector<Record> out;
    rd_kafka_poll(rk_, 0);  // serve log and error events
    while (out.size() < max_records) {
      rd_kafka_message_t* m =
          rd_kafka_consume(rkt_, partition_, out.empty() ? ms_left(deadline) : 0);
      if (!m) {
        if (!out.empty() || Clock::now() >= deadline) break;
        continue;
      }
      if (m->err) {
        rd_kafka_resp_err_t err = m->err;
        rd_kafka_message_destroy(m);
        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (err != last_error_) {
          last_error_ = err;
          log::warn("kafka " + ctx_->role + " (retrying): " + err_text(err));
        }
        if (out.empty() && Clock::now() >= deadline) break;
        continue;
      }
      last_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
      out.push_back(to_record(m));
      rd_kafka_message_destroy(m);
    }
    return out;
  }

  void close() override {
    if (!rk_) return;
    rd_kafka_consume_stop(rkt_, partition_);
    rd_kafka_topic_destroy(rkt_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }

 private:
  std::shared_ptr<KafkaBus::Core> core_;
  std::unique_ptr<ClientCtx> ctx_;
  rd_kafka_t* rk_;
  rd_kafka_topic_t* rkt_;
  int32_t partition_;
  rd_kafka_resp_err_t last_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// KafkaBus

Result<std::string> kafka_bootstrap_from_url(const std::string& url) {
  constexpr std::string_view kScheme = "kafka://";
  if (url.rfind(kScheme, 0) != 0) {
    return Error(Errc::invalid_argument, "Kafka bus URL must start with kafka://", "url");
  }
  std::string rest = url.substr(kScheme.size());
  if (rest.empty()) return Error(Errc::invalid_argument, "Kafka bus URL has no brokers", "url");
  std::string out;
  size_t start = 0;
  for (int n = 1; start <= rest.size(); ++n) {
    size_t comma = rest.find(',', start);
    std::string hp =
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t colon = hp.rfind(':');
    std::string host = colon == std::string::npos ? "" : hp.substr(0, colon);
    std::string port = colon == std::string::npos ? "" : hp.substr(colon + 1);
    bool host_ok = !host.empty();
    if (host_ok && host.front() == '[') {
      host_ok = host.size() > 2 && host.back() == ']';
    } else {
      for (char c : host) {
        host_ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
      }
    }
    bool port_ok = !port.empty() && port.size() <= 5 &&
                   std::all_of(port.begin(), port.end(),
                               [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (port_ok) port_ok = std::stoi(port) >= 1 && std::stoi(port) <= 65535;
    if (!host_ok || !port_ok) {
      // The entry itself is not echoed: it may hold userinfo (credentials belong in
      // kafka_properties, not in the URL).
      return Error(Errc::invalid_argument,
                   "Kafka bus URL " + log::redact_url(url) + ": broker " + std::to_string(n) +
                       " is not HOST:PORT",
                   "url");
    }
    if (!out.empty()) out += ",";
    out += hp;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool is_secret_kafka_property(std::string_view key) {
  std::string k(key);
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* marker : {"password", "secret", "token", "jaas", "credential", "ssl.key",
                             "keystore", "oauthbearer.config", "private"}) {
    if (k.find(marker) != std::string::npos) return true;
  }
  return false;
}

KafkaBus::KafkaBus(std::shared_ptr<Core> core) : core_(std::move(core)) {}
KafkaBus::~KafkaBus() = default;

Result<std::unique_ptr<KafkaBus>> KafkaBus::open(const BusConfig& cfg) {
  return open(cfg, Options{});
}

Result<std::unique_ptr<KafkaBus>> KafkaBus::open(const BusConfig& cfg, Options options) {
  auto core = std::make_shared<Core>();
  core->cfg = cfg;
  core->options = std::move(options);
  SF_TRY_ASSIGN(core->bootstrap, kafka_bootstrap_from_url(cfg.url));
  if (cfg.default_partitions < 1)
    return Error(Errc::invalid_argument, "default_partitions must be >= 1", "default_partitions");
  if (cfg.replication < 1)
    return Error(Errc::invalid_argument, "replication must be >= 1", "replication");
  for (const auto& [k, v] : cfg.kafka_properties) {
    if (is_secret_kafka_property(k) && !v.empty()) core->secrets.push_back(v);
  }

  // Validate every client type's configuration now (each property, then the combination
  // when the client is created), so a bad property fails start-up, not the first consumer.
  {
    auto ctx = core->make_ctx("consumer");
    Conf conf(ctx.get());
    SF_TRY(
        core->configure(conf, Core::consumer_defaults(),
                        {{"group.id", "streamforge-validate"}, {"enable.auto.commit", "false"}}));
    rd_kafka_t* rk = nullptr;
    SF_TRY_ASSIGN(rk, conf.create(RD_KAFKA_CONSUMER));
    rd_kafka_destroy(rk);
  }
  {
    auto ctx = core->make_ctx("producer");
    Conf conf(ctx.get());
    SF_TRY(core->configure(conf, core->producer_defaults(), Core::producer_fixed()));
    rd_kafka_t* rk = nullptr;
    SF_TRY_ASSIGN(rk, conf.create(RD_KAFKA_PRODUCER));
    rd_kafka_destroy(rk);
  }
  // The admin client is a plain (not idempotent) producer-type handle that never produces.
  core->admin_ctx = core->make_ctx("admin");
  Conf conf(core->admin_ctx.get(), false);
  SF_TRY(core->configure(conf, core->producer_defaults(), {}));
  SF_TRY_ASSIGN(core->admin, conf.create(RD_KAFKA_PRODUCER));
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(core->admin, 0, nullptr, &md, static_cast<int>(kConnectTimeout.count()));
  if (err) {
    return Error(Errc::unavailable,
                 "cannot reach Kafka at " + core->bootstrap + ": " + err_text(err));
  }
  log::info("kafka bus connected to " + core->bootstrap + " (" + std::to_string(md->broker_cnt) +
            " brokers), librdkafka " + rd_kafka_version_str());
  rd_kafka_metadata_destroy(md);
  return std::unique_ptr<KafkaBus>(new KafkaBus(std::move(core)));
}

Status KafkaBus::ensure_topic(const TopicSpec& spec) { return core_->ensure_topic(spec); }

Result<std::unique_ptr<Producer>> KafkaBus::producer() {
  auto ctx = core_->make_ctx("producer");
  Conf conf(ctx.get());
  SF_TRY(core_->configure(conf, core_->producer_defaults(), Core::producer_fixed()));
  rd_kafka_conf_set_dr_msg_cb(conf.raw(), dr_msg_cb);
  // Outstanding records: a little less than one batch (framing makes a batch larger than
  // its keys and values), so the next batch is never ready while one is in flight
  // (KafkaProducer::produce).
  if (int64_t n = conf_int(conf.raw(), "batch.num.messages"); n > 0)
    ctx->max_pending = std::max<int64_t>(1, n * 9 / 10);
  if (int64_t n = conf_int(conf.raw(), "batch.size"); n > 0)
    ctx->max_pending_bytes = std::max<int64_t>(1, n * 9 / 10);
  rd_kafka_t* rk = nullptr;
  SF_TRY_ASSIGN(rk, conf.create(RD_KAFKA_PRODUCER));
  return std::unique_ptr<Producer>(new KafkaProducer(core_, std::move(ctx), rk));
}

Result<std::unique_ptr<Consumer>> KafkaBus::subscribe(const SubscribeOptions& opts) {
  if (opts.group.empty()) return Error(Errc::invalid_argument, "group is required", "group");
  if (opts.topics.empty()) return Error(Errc::invalid_argument, "no topics", "topics");
  for (const std::string& t : opts.topics) SF_TRY(core_->ensure_default_topic(t));
  auto ctx = core_->make_ctx("consumer group " + opts.group);
  Conf conf(ctx.get());
  std::vector<std::pair<std::string, std::string>> fixed = {
      {"group.id", opts.group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", opts.start_from == StartFrom::earliest ? "earliest" : "latest"}};
  SF_TRY(core_->configure(conf, Core::consumer_defaults(), fixed));
  rd_kafka_conf_set_rebalance_cb(conf.raw(), rebalance_cb);
  char strategy[256];
  size_t strategy_size = sizeof strategy;
  if (rd_kafka_conf_get(conf.raw(), "partition.assignment.strategy", strategy, &strategy_size) ==
      RD_KAFKA_CONF_OK) {
    ctx->cooperative = std::string(strategy).find("cooperative") != std::string::npos;
  }
  rd_kafka_t* rk = nullptr;
  SF_TRY_ASSIGN(rk, conf.create(RD_KAFKA_CONSUMER));
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(opts.topics.size()));
  for (const std::string& t : opts.topics)
    rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err) {
    rd_kafka_destroy(rk);
    return kafka_error(err, "subscribe group " + opts.group);
  }
  return std::unique_ptr<Consumer>(new KafkaConsumer(core_, std::move(ctx), rk));
}

Result<std::unique_ptr<Reader>> KafkaBus::read_from(const std::string& topic, int32_t partition,
                                                    int64_t offset) {
  std::pair<int64_t, int64_t> wm;
  SF_TRY_ASSIGN(wm, core_->watermarks(topic, partition));
  auto [lo, hi] = wm;
  if (offset < -1) return Error(Errc::invalid_argument, "offset must be >= -1", "offset");
  if (offset > hi) {
    return Error(Errc::invalid_argument,
                 "offset " + std::to_string(offset) + " is beyond the end (" + std::to_string(hi) +
                     ") of " + topic + "/" + std::to_string(partition),
                 "offset");
  }
  int64_t start = offset == -1 ? hi : std::max(offset, lo);
  auto ctx = core_->make_ctx("reader " + topic + "/" + std::to_string(partition));
  Conf conf(ctx.get());
  // Below the oldest retained record (deleted meanwhile): start at the oldest.
  SF_TRY(core_->configure(conf, Core::consumer_defaults(),
                          {{"enable.auto.commit", "false"}, {"auto.offset.reset", "earliest"}}));
  rd_kafka_t* rk = nullptr;
  SF_TRY_ASSIGN(rk, conf.create(RD_KAFKA_CONSUMER));
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (!rkt || rd_kafka_consume_start(rkt, partition, start) == -1) {
    rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (rkt) rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return kafka_error(err, "read " + topic + "/" + std::to_string(partition));
  }
  return std::unique_ptr<Reader>(new KafkaReader(core_, std::move(ctx), rk, rkt, partition));
}

Result<int64_t> KafkaBus::end_offset(const std::string& topic, int32_t partition) {
  std::pair<int64_t, int64_t> wm;
  SF_TRY_ASSIGN(wm, core_->watermarks(topic, partition));
  return wm.second;
}

}  // namespace sf::bus
