// Test support: the fixture of the workers' tests on an SQLite data store: a temp dir of the
// test's own (dir_), a memory bus (bus_) and the store in the dir (store_, opened by SetUp).
// Header-only; needs gtest, sf_bus_memory and sf_store_sqlite.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "bus/memory/memory_bus.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/temp_dir.h"

namespace sf::testing {

class SqliteWorkerTest : public ::testing::Test {
 protected:
  explicit SqliteWorkerTest(const std::string& dir_prefix = "sf-test") : dir_(dir_prefix) {}
  void SetUp() override {
    auto s = store::SqliteDataStore::open(dir_.str());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }

  TempDir dir_;
  bus::MemoryBus bus_;
  std::unique_ptr<store::SqliteDataStore> store_;
};

}  // namespace sf::testing
