#include "base/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

std::string capture(const std::function<void()>& fn) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* mem = open_memstream(&buf, &len);
  sf::log::set_sink(mem);
  fn();
  sf::log::set_sink(stderr);
  std::fclose(mem);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

TEST(Log, WritesOneJsonObjectPerLineWithEscaping) {
  sf::log::set_service("test-svc");
  std::string out = capture([] { sf::log::info("say \"hi\"\nnext", "wf-1"); });
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "exactly one line";
  EXPECT_NE(out.find("\"level\":\"info\""), std::string::npos);
  EXPECT_NE(out.find("\"service\":\"test-svc\""), std::string::npos);
  EXPECT_NE(out.find("\"queue_id\":\"wf-1\""), std::string::npos);
  EXPECT_NE(out.find("\"message\":\"say \\\"hi\\\"\\nnext\""), std::string::npos);
}

TEST(Log, LevelFilters) {
  sf::log::set_level(sf::log::Level::warn);
  std::string out = capture([] { sf::log::info("hidden"); });
  sf::log::set_level(sf::log::Level::info);
  EXPECT_TRUE(out.empty());
}

TEST(Log, RedactsUrlSecrets) {
  EXPECT_EQ(sf::log::redact_url("postgresql://bob:s3cret@db:5432/x"),
            "postgresql://bob:***@db:5432/x");
  EXPECT_EQ(sf::log::redact_url("http://h/p?token=abc&x=1"), "http://h/p?token=***&x=1");
  EXPECT_EQ(sf::log::redact_url("http://h:80/p"), "http://h:80/p");
}

}  // namespace
