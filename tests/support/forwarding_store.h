// Test support: a DataStore that passes every call on to another one. Test doubles derive
// from it and override what they change (an upsert that fails, one that times its records).
// upsert_decoded() keeps DataStore's default, which calls upsert(), so an override of
// upsert() sees both kinds of write. Header-only.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "store/data_store.h"

namespace sf::testing {

class ForwardingDataStore : public store::DataStore {
 public:
  explicit ForwardingDataStore(store::DataStore& inner) : inner_(inner) {}

  Status ensure_collection(const std::string& n, market::Kind k) override {
    return inner_.ensure_collection(n, k);
  }
  Status upsert(const std::string& n, market::Kind k,
                std::span<const market::Record> records) override {
    return inner_.upsert(n, k, records);
  }
  Result<std::vector<store::CollectionInfo>> collections() override { return inner_.collections(); }
  Result<market::Kind> collection_kind(const std::string& n) override {
    return inner_.collection_kind(n);
  }
  Result<int64_t> count(const std::string& n, const store::Query& q) override {
    return inner_.count(n, q);
  }
  Result<std::vector<market::Record>> scan(const std::string& n, const store::Query& q) override {
    return inner_.scan(n, q);
  }
  Result<std::vector<int64_t>> times(const std::string& n, const store::Query& q) override {
    return inner_.times(n, q);
  }
  Result<std::vector<store::IdRange>> missing_ids(const std::string& n,
                                                  const store::IdGapQuery& q) override {
    return inner_.missing_ids(n, q);
  }
  std::string describe() const override { return inner_.describe(); }

 protected:
  store::DataStore& inner_;
};

}  // namespace sf::testing
