// Test support: a unique directory under the system temp dir, removed with everything in
// it when the object goes. Header-only so unit tests can use it without linking anything.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace sf::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "sf-test") {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // The SQLite file the stores open in this directory.
  std::string db() const { return (path_ / "streamforge.db").string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace sf::testing
