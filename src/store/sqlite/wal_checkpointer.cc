#include "store/sqlite/wal_checkpointer.h"

#include <chrono>
#include <utility>

#include "base/log.h"

namespace sf::store::sqlite_util {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::start(sqlite3* writer,
                                                                const std::string& path,
                                                                Options options) {
  DbPtr own;
  SF_TRY_ASSIGN(own, open_database(path));
  return std::unique_ptr<WalCheckpointer>(new WalCheckpointer(writer, std::move(own), options));
}

std::unique_ptr<WalCheckpointer> WalCheckpointer::start_or_warn(sqlite3* writer,
                                                                const std::string& path) {
  auto c = start(writer, path, Options{});
  if (c) return std::move(*c);
  log::warn("sqlite: " + path + ": no checkpointing thread (" + c.error().message +
            "); commits checkpoint the WAL themselves");
  return nullptr;
}

WalCheckpointer::WalCheckpointer(sqlite3* writer, DbPtr own, Options options)
    : writer_(writer), own_(std::move(own)), options_(options) {
  // The second connection never checkpoints on a commit of its own (it makes none).
  sqlite3_wal_autocheckpoint(own_.get(), 0);
  // A WAL that grew while the thread raced the writer goes back to 4 MB when SQLite starts
  // it over, instead of staying at its largest.
  sqlite3_exec(writer_, "PRAGMA journal_size_limit=4194304", nullptr, nullptr, nullptr);
  thread_ = std::thread([this] { run(); });
  // Replaces the writer's automatic checkpoint, which SQLite implements as this same hook.
  sqlite3_wal_hook(writer_, &WalCheckpointer::on_commit, this);
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_autocheckpoint(writer_, 1000);  // SQLite's default again (replaces the hook)
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

int WalCheckpointer::on_commit(void* p, sqlite3* db, const char* schema, int wal_pages) {
  auto* self = static_cast<WalCheckpointer*>(p);
  if (wal_pages >= self->options_.inline_pages) {
    // PASSIVE, as SQLite's automatic checkpoint; its result is the commit's no more than
    // the automatic one's is (a busy checkpointer is fine).
    if (sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) ==
        SQLITE_OK)
      self->inline_.fetch_add(1);
  } else if (wal_pages >= self->options_.start_pages) {
    {
      std::lock_guard lk(self->mu_);
      self->wanted_ = true;
    }
    self->cv_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return wanted_ || stop_; });
    if (stop_) return;
    wanted_ = false;
    lk.unlock();
    const int rc =
        sqlite3_wal_checkpoint_v2(own_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK) background_.fetch_add(1);
    lk.lock();
    // The next one waits its turn; a stop does not.
    cv_.wait_for(lk, std::chrono::milliseconds(options_.min_interval_ms), [this] { return stop_; });
  }
}

}  // namespace sf::store::sqlite_util
