// The `kafka` CTest fixture as a GoogleTest binary sees it: sf_test(... FIXTURES kafka) gives
// tests/support/kafka.h an address, and a Kafka broker answers there (an ApiVersions request
// over a plain socket, decoded strictly).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/kafka.h"

namespace {

// A connected TCP socket to 127.0.0.1:port with 10 s send/receive timeouts, or -1.
int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

struct ApiVersions {
  int error_code = -1;
  std::set<int> api_keys;
};

// ApiVersions v0 (request header v1: key 18, version 0, correlation id, client id); the
// response is correlation id, error code, [api key, min version, max version]. Returns
// nullopt when the bytes are not that response.
std::optional<ApiVersions> api_versions(int port) {
  int fd = connect_loopback(port);
  if (fd < 0) return std::nullopt;
  const std::string client = "sf-fixture-test";
  const uint32_t correlation = 0x5f17;
  std::vector<uint8_t> body;
  put16(body, 18);
  put16(body, 0);
  put32(body, correlation);
  put16(body, static_cast<uint16_t>(client.size()));
  body.insert(body.end(), client.begin(), client.end());
  std::vector<uint8_t> req;
  put32(req, static_cast<uint32_t>(body.size()));
  req.insert(req.end(), body.begin(), body.end());
  std::optional<ApiVersions> out;
  uint8_t hdr[4];
  if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()) &&
      read_exact(fd, hdr, 4)) {
    const uint32_t size = get32(hdr);
    std::vector<uint8_t> resp(size);
    // Bounded: a real answer is a few hundred bytes.
    if (size >= 10 && size <= 64 * 1024 && read_exact(fd, resp.data(), size) &&
        get32(resp.data()) == correlation) {
      ApiVersions v;
      v.error_code = static_cast<int16_t>(get16(resp.data() + 4));
      const uint32_t n = get32(resp.data() + 6);
      if (n <= (size - 10) / 6 && size == 10 + n * 6) {
        for (uint32_t i = 0; i < n; ++i) v.api_keys.insert(get16(resp.data() + 10 + i * 6));
        out = v;
      }
    }
  }
  ::close(fd);
  return out;
}

TEST(KafkaFixture, HelperGivesTheAddressOfARunningBroker) {
  const auto bootstrap = sf::testing::kafka_bootstrap();
  ASSERT_TRUE(bootstrap) << "no broker: neither SF_TEST_KAFKA_BOOTSTRAP nor the fixture's file";
  std::smatch m;
  ASSERT_TRUE(std::regex_match(*bootstrap, m, std::regex(R"(127\.0\.0\.1:(\d{1,5}))")))
      << *bootstrap;
  const auto v = api_versions(std::stoi(m[1]));
  ASSERT_TRUE(v) << "no Kafka ApiVersions answer from " << *bootstrap;
  EXPECT_EQ(v->error_code, 0);
  // Produce (0), Fetch (1), Metadata (3), CreateTopics (19): what the bus uses.
  for (int key : {0, 1, 3, 19}) EXPECT_TRUE(v->api_keys.count(key)) << "api key " << key;
}

TEST(KafkaFixture, FixtureDirHoldsTheSameAddress) {
  const auto dir = sf::testing::kafka_fixture_dir();
  if (!dir) GTEST_SKIP() << "broker from SF_TEST_KAFKA_BOOTSTRAP: no fixture dir";
  std::ifstream in(*dir + "/bootstrap");
  std::string line;
  ASSERT_TRUE(in && std::getline(in, line)) << *dir << "/bootstrap";
  EXPECT_EQ(line, sf::testing::kafka_bootstrap().value_or(""));
  std::ifstream pid(*dir + "/kafka.pid");
  EXPECT_TRUE(pid.good()) << "the fixture's broker left no pid file in " << *dir;
}

}  // namespace
