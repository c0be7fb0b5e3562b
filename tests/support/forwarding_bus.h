// Test support: a Bus that passes every call to another. Test doubles derive from it and
// override what they change (consumers that log their commits, a producer that fails for
// good). Header-only.
#pragma once

#include <memory>
#include <string>

#include "bus/bus.h"

namespace sf::testing {

class ForwardingBus : public bus::Bus {
 public:
  explicit ForwardingBus(bus::Bus& inner) : inner_(inner) {}
  Status ensure_topic(const bus::TopicSpec& spec) override { return inner_.ensure_topic(spec); }
  Result<std::unique_ptr<bus::Producer>> producer() override { return inner_.producer(); }
  Result<std::unique_ptr<bus::Consumer>> subscribe(const bus::SubscribeOptions& opts) override {
    return inner_.subscribe(opts);
  }
  Result<std::unique_ptr<bus::Reader>> read_from(const std::string& topic, int32_t partition,
                                                 int64_t offset) override {
    return inner_.read_from(topic, partition, offset);
  }
  Result<int64_t> end_offset(const std::string& topic, int32_t partition) override {
    return inner_.end_offset(topic, partition);
  }
  std::string name() const override { return "forwarding(" + inner_.name() + ")"; }

 protected:
  bus::Bus& inner_;
};

}  // namespace sf::testing
