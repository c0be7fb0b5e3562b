// The store contract suites (tests/contract/) on ArangoDataStore and ArangoStateStore, each
// store against a fresh in-process ArangoDB double (tests/doubles/arangodb), which follows
// ArangoDB 3.11's documented HTTP API: no ArangoDB server can be installed here.
#include <gtest/gtest.h>

#include <memory>

#include "store/arango/arango_data_store.h"
#include "store/arango/arango_state_store.h"
#include "store/arango/arango_test_util.h"
#include "tests/contract/data_store_contract.h"
#include "tests/contract/state_store_contract.h"
#include "tests/support/store_factory.h"

namespace {

using sf::store::arango_test::start_double;
using sf::store::arango_test::url_for;

template <typename Store, typename Interface>
std::shared_ptr<Interface> make_store() {
  auto d = start_double();
  if (!d) return nullptr;
  // The store goes first (its connection), then the double.
  return sf::testing::shared_store<Interface>(Store::open(url_for(*d, "contract")),
                                              [d] { d->stop(); });
}

struct ArangoDataFactory {
  static std::shared_ptr<sf::store::DataStore> make() {
    return make_store<sf::store::ArangoDataStore, sf::store::DataStore>();
  }
};

struct ArangoStateFactory {
  static std::shared_ptr<sf::store::StateStore> make() {
    return make_store<sf::store::ArangoStateStore, sf::store::StateStore>();
  }
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Arango, DataStoreContract, ArangoDataFactory);
INSTANTIATE_TYPED_TEST_SUITE_P(Arango, StateStoreContract, ArangoStateFactory);
