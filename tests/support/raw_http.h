// Test support: raw bytes to a server on 127.0.0.1, for requests the project's http::Client
// cannot produce (malformed ones, extra header lines). Header-only, POSIX sockets.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace sf::testing {

// Sends `data` to 127.0.0.1:port and returns everything read until the server closes the
// connection (or 5 s pass); `after_first_read`, if any, is sent once the first bytes came
// back. "connect failed" when nothing listens.
inline std::string raw_exchange(uint16_t port, const std::string& data,
                                const std::string& after_first_read = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  (void)!::write(fd, data.data(), data.size());
  std::string out;
  bool sent_second = after_first_read.empty();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (!sent_second) {
      sent_second = true;
      (void)!::write(fd, after_first_read.data(), after_first_read.size());
    }
  }
  ::close(fd);
  return out;
}

}  // namespace sf::testing
