#include "market/data_topic.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace sm = sf::market;

TEST(EndMarker, RoundTripsAndIsStrict) {
  EXPECT_EQ(sm::encode_end_marker({4320}), R"({"end_of_data":true,"published":4320})");
  auto m = sm::decode_end_marker(R"({"end_of_data":true,"published":4320})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->published, 4320);
  for (const char* bad :
       {"", "{", "[]", R"({"end_of_data":false,"published":1})", R"({"published":1})",
        R"({"end_of_data":true})", R"({"end_of_data":true,"published":-1})",
        R"({"end_of_data":true,"published":"1"})", R"({"end_of_data":true,"published":1,"x":1})"}) {
    EXPECT_FALSE(sm::decode_end_marker(bad).ok()) << bad;
  }
}

TEST(EndMarker, CarriesATradesLoadersFirstAndLastIdTogether) {
  const sm::EndMarker m{90, 1000, 1099};
  const std::string text = sm::encode_end_marker(m);
  EXPECT_EQ(text, R"({"end_of_data":true,"published":90,"first_id":1000,"last_id":1099})");
  auto back = sm::decode_end_marker(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, m);
  for (const char* bad : {R"({"end_of_data":true,"published":1,"first_id":1})",
                          R"({"end_of_data":true,"published":1,"last_id":1})",
                          R"({"end_of_data":true,"published":1,"first_id":2,"last_id":1})",
                          R"({"end_of_data":true,"published":1,"first_id":-1,"last_id":1})",
                          R"({"end_of_data":true,"published":1,"first_id":1.5,"last_id":2})"}) {
    EXPECT_FALSE(sm::decode_end_marker(bad).ok()) << bad;
  }
}

TEST(DlqEntry, CarriesReasonSourceAndOriginal) {
  sf::bus::Record r;
  r.topic = "t";
  r.partition = 2;
  r.offset = 42;
  r.key = "BTCUSDT";
  r.value = R"({"symbol":"BTC)";
  auto v = boost::json::parse(sm::encode_dlq_entry("parse_error: truncated", r)).as_object();
  EXPECT_EQ(v.at("reason").as_string(), "parse_error: truncated");
  EXPECT_EQ(v.at("source_topic").as_string(), "t");
  EXPECT_EQ(v.at("source_partition").as_int64(), 2);
  EXPECT_EQ(v.at("source_offset").as_int64(), 42);
  EXPECT_EQ(v.at("original").as_string(), r.value);
  EXPECT_EQ(v.at("original_base64").as_bool(), false);

  r.value = std::string("\x00\xff\xfe", 3);
  v = boost::json::parse(sm::encode_dlq_entry("bad", r)).as_object();
  EXPECT_EQ(v.at("original").as_string(), "AP/+");
  EXPECT_EQ(v.at("original_base64").as_bool(), true);
}
