// Test support: runs a child process (the real `streamforge` binary) and stops only that
// process, by pid. Used by integration and e2e tests.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sf::testing {

class Process {
 public:
  // Starts argv[0] with the arguments; stdout is readable line by line, stderr goes to
  // `stderr_path` (kept for diagnosis). Extra environment variables are added to ours.
  Process(std::vector<std::string> argv, std::string stderr_path,
          std::map<std::string, std::string> env = {});
  ~Process();  // SIGKILLs the child if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  // Next line of stdout (without '\n'), or nullopt on EOF/timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Reads lines until one contains `needle`; returns it.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);
  // Everything remaining on stdout until EOF.
  std::string read_all(std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for exit; returns the exit status (128+signal when killed), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  std::string buf_;
  std::optional<int> status_;
};

// The streamforge binary built next to the tests.
std::string streamforge_binary();
// A fresh directory under the system temp dir, removed by the caller.
std::string make_temp_dir(const std::string& prefix);

// The `http://...` address a started server `p` prints in its "listening on" line (within
// `timeout`); throws naming `what` and its `log` file when none comes.
std::string listening_url(Process& p, const std::string& what, const std::string& log,
                          std::chrono::seconds timeout = std::chrono::seconds(30));
// Runs `cmd` with /bin/sh and returns its stdout (append " 2>&1" for stderr too); `status`,
// if given, gets its exit status (-1 when it did not exit normally).
std::string run_shell(const std::string& cmd, int* status = nullptr);

}  // namespace sf::testing
