#include "manager/queue_entry.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

namespace sf::manager {

using protocol::RunStatus;
using protocol::TargetRole;

RunStatus parse_status(const std::string& s) {
  return protocol::status_from_string(s).value_or(RunStatus::pending);
}

std::string TargetEntry::symbol_of(const std::string& config_json) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(config_json, ec);
  if (ec || !v.is_object()) return {};
  const boost::json::value* s = v.get_object().if_contains("symbol");
  return s && s->is_string() ? std::string(s->get_string()) : std::string();
}

void TargetEntry::take_completeness(const protocol::Event& ev) {
  if (ev.records_expected) expected = ev.records_expected;
  if (ev.records_dlq) dlq = std::max(dlq.value_or(0), *ev.records_dlq);
  if (ev.missing_ranges) missing = *ev.missing_ranges;
  if (ev.records_stored) stored = ev.records_stored;
  if (ev.first_id && ev.last_id) {
    first_id = ev.first_id;
    last_id = ev.last_id;
  }
}

bool Completeness::complete() const {
  if (!known || !missing.empty()) return false;
  // The store's own count when the connectors checked it (a rerun or a repair writes only
  // part of what the store holds), else what the connectors wrote.
  if (stored < 0 && written < published) return false;
  const int64_t have = stored >= 0 ? stored : written;
  if (expected >= 0) return have >= expected;
  return loaders_finished && have >= published;
}

Completeness QueueEntry::completeness() const {
  Completeness c;
  bool any_loader_seen = false;
  // Connectors of one symbol hold the same rows (several stores): the smallest count
  // decides; different symbols add up.
  std::map<std::string, int64_t> stored_by_symbol;
  for (const auto& t : targets) {
    if (t.role == TargetRole::loader) {
      // The first run's loaders cover the queue's range: what the store should hold. A
      // repair's loaders cover only the ranges that were missing.
      if (t.run == 0) {
        // A sum is only an expectation when every loader gave its part.
        if (t.expected && (c.expected >= 0 || !any_loader_seen))
          c.expected = std::max<int64_t>(c.expected, 0) + *t.expected;
        else
          c.expected = -1;
        any_loader_seen = true;
      }
      if (t.run != run) continue;
      c.known = true;
      c.published += t.state.records_written;
      c.loaders_finished =
          c.loaders_finished && parse_status(t.state.status) == RunStatus::finished;
    } else if (t.role == TargetRole::connector) {
      if (t.run != run) continue;
      c.known = true;
      c.written += t.state.records_written;
      c.dlq += t.dlq.value_or(0);
      c.missing.insert(c.missing.end(), t.missing.begin(), t.missing.end());
      if (t.stored) {
        auto [it, fresh] =
            stored_by_symbol.try_emplace(t.symbol.empty() ? q.symbol : t.symbol, *t.stored);
        if (!fresh) it->second = std::min(it->second, *t.stored);
      }
    }
  }
  for (const auto& [symbol, n] : stored_by_symbol) c.stored = std::max<int64_t>(c.stored, 0) + n;
  return c;
}

int64_t QueueEntry::records_written() const {
  if (auto c = completeness(); c.known) return c.written;
  int64_t total = 0;
  for (const auto& t : targets) total += t.state.records_written;
  return total;
}

ExpectedIds QueueEntry::expected_ids() const {
  ExpectedIds out;
  bool any = false;
  for (const auto& t : targets) {
    if (t.role != TargetRole::loader || t.run != 0) continue;
    any = true;
    if (parse_status(t.state.status) != RunStatus::finished) return {};
    if (!t.first_id || !t.last_id) {
      if (t.state.records_written > 0) return {};  // it published but did not say which
      continue;
    }
    out.first = std::min(out.first.value_or(*t.first_id), *t.first_id);
    out.last = std::max(out.last.value_or(*t.last_id), *t.last_id);
  }
  out.known = any;
  return out;
}

bool QueueEntry::any_live() const {
  for (const auto& t : targets)
    if (!protocol::is_terminal(parse_status(t.state.status))) return true;
  return false;
}

}  // namespace sf::manager
