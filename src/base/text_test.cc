#include "base/text.h"

#include <gtest/gtest.h>

#include <string>

TEST(Text, Base64DecodesWhatItEncodesAndRefusesTheRest) {
  for (std::string raw : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                          std::string("foobar"), std::string("\xff\x00\x80\x01", 4)})
    EXPECT_EQ(sf::base64_decode(sf::base64_encode(raw)), raw) << raw;
  EXPECT_EQ(sf::base64_decode("Zm9v\nYmFy\r\n"), "foobar") << "PEM line breaks are skipped";
  EXPECT_EQ(sf::base64_decode("Zg"), "f") << "padding is optional";
  EXPECT_EQ(sf::base64_decode("Zm9vY"), std::nullopt) << "one sextet cannot hold a byte";
  EXPECT_EQ(sf::base64_decode("Zm9v!"), std::nullopt);
  EXPECT_EQ(sf::base64_decode("Zg==Zg=="), std::nullopt) << "data after padding";
  EXPECT_EQ(sf::base64_decode("Zg="), std::nullopt) << "padding must complete the group";
}

TEST(Text, Base64AndUtf8) {
  EXPECT_EQ(sf::base64_encode(""), "");
  EXPECT_EQ(sf::base64_encode("f"), "Zg==");
  EXPECT_EQ(sf::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(sf::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(sf::base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(sf::base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(sf::base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(sf::base64_encode(std::string("\xff\x00\x80", 3)), "/wCA");
  // A prefix never ends inside a character: "é" is 2 bytes, "€" 3.
  EXPECT_EQ(sf::utf8_prefix("abc", 5), "abc");
  EXPECT_EQ(sf::utf8_prefix("caf\xc3\xa9!", 4), "caf");
  EXPECT_EQ(sf::utf8_prefix("caf\xc3\xa9!", 5), "caf\xc3\xa9");
  EXPECT_EQ(sf::utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 5), "\xe2\x82\xac");
  EXPECT_EQ(sf::utf8_prefix("\xe2\x82\xac", 2), "");
  // RFC 4648 section 5: '-' and '_' for '+' and '/', no padding.
  EXPECT_EQ(sf::base64url_encode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(sf::base64url_encode("fo"), "Zm8");
  EXPECT_EQ(sf::base64url_encode("f"), "Zg");

  EXPECT_TRUE(sf::is_valid_utf8(""));
  EXPECT_TRUE(sf::is_valid_utf8("plain {\"a\":1}"));
  EXPECT_TRUE(sf::is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(sf::is_valid_utf8("\xff"));
  EXPECT_FALSE(sf::is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(sf::is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(sf::is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(sf::is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Text, AsciiIequals) {
  EXPECT_TRUE(sf::ascii_iequals("", ""));
  EXPECT_TRUE(sf::ascii_iequals("Content-Type", "content-TYPE"));
  EXPECT_TRUE(sf::ascii_iequals("MICROSECOND", "microsecond"));
  EXPECT_FALSE(sf::ascii_iequals("abc", "abd"));
  EXPECT_FALSE(sf::ascii_iequals("abc", "abcd"));
  EXPECT_FALSE(sf::ascii_iequals("@", "`"));                      // not letters: 0x40 vs 0x60
  EXPECT_FALSE(sf::ascii_iequals("caf\xc3\xa9", "CAF\xc3\x89"));  // ASCII letters only
}
