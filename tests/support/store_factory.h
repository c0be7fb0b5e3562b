// Test support: the factories of the store contract suites (tests/contract/). A store is
// opened on something the test owns (a temporary directory, a PostgreSQL schema, an ArangoDB
// double) that must outlive the store and go right after it. Header-only; needs gtest.
#pragma once

#include <gtest/gtest.h>

#include <memory>

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

}  // namespace sf::testing
