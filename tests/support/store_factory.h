// Test support: the factories of the store contract suites (tests/contract/). A store is
// opened on something the test owns (a temporary directory, a PostgreSQL schema, an ArangoDB
// double) that must outlive the store and go right after it. Header-only; needs gtest.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "base/result.h"

#include "temp_dir.h"

namespace sf::testing {

// The opened store (`opened`: a Result<std::unique_ptr<S>>) as a shared Interface that
// deletes the store, then runs `after` (which owns the store's surroundings: a TempDir, a
// PgTestSchema, ... captured by value, so they go when it does). nullptr and a test failure
// when opening failed.
template <class Interface, class Opened, class After>
std::shared_ptr<Interface> shared_store(Opened opened, After after) {
  if (!opened.ok()) {
    ADD_FAILURE() << "open: " << opened.error().message;
    return nullptr;
  }
  return std::shared_ptr<Interface>(opened->release(), [after](Interface* s) mutable {
    delete s;
    after();
  });
}

// The fixture of the store contract suites: a store from Factory::make() for each test,
// released after it.
template <class Interface, class Factory>
class StoreContractFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Factory::make();
    ASSERT_NE(store_, nullptr) << "factory returned no store";
  }
  void TearDown() override { store_.reset(); }

  Interface& store() { return *store_; }

  // A fatal test failure naming the store call `what` unless it succeeded.
  static void expect_ok(const Status& s, const std::string& what) {
    ASSERT_TRUE(s.ok()) << what << ": " << s.error().message;
  }
  // The value of the store call `what`, or `otherwise` and a test failure.
  template <typename T>
  static T value_or(Result<T> r, const std::string& what, T otherwise) {
    EXPECT_TRUE(r.ok()) << what << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(*r) : std::move(otherwise);
  }

  std::shared_ptr<Interface> store_;
};

// The factory of a contract suite for a store in a directory: Store::open() on a fresh
// TempDir, removed after the store is closed.
template <class Interface, class Store>
struct TempDirStoreFactory {
  static std::shared_ptr<Interface> make() {
    auto dir = std::make_shared<TempDir>("sf-store-test");
    return shared_store<Interface>(Store::open(dir->str()), [dir] {});
  }
};

}  // namespace sf::testing
