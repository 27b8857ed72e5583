// Captures from JSON answers by path.
#include <gtest/gtest.h>

#include "runbooks/json_capture.h"

namespace shipmate::runbooks {
namespace {

TEST(JsonCapture, FollowsKeysAndIndexes) {
  const std::string json =
      R"({"version":"v2","n":3,"ok":true,"data":{"items":[{"id":"a"},{"id":"b"}]}})";
  EXPECT_EQ(*json_capture(json, "version"), "v2");
  EXPECT_EQ(*json_capture(json, "n"), "3");
  EXPECT_EQ(*json_capture(json, "ok"), "true");
  EXPECT_EQ(*json_capture(json, "data.items[1].id"), "b");
  EXPECT_EQ(*json_capture(json, "data.items[0]"), R"({"id":"a"})");
  EXPECT_EQ(*json_capture(R"([1,2,3])", "[2]"), "3");
}

TEST(JsonCapture, SaysWhereThePathStopped) {
  const std::string json = R"({"data":{"items":[]}})";
  EXPECT_EQ(json_capture(json, "data.list").error().message,
            "capture data.list: no key 'list' in data");
  EXPECT_EQ(json_capture(json, "data.items[0]").error().message,
            "capture data.items[0]: 'data.items' has no item 0");
  EXPECT_EQ(json_capture(json, "data.items.x").error().message,
            "capture data.items.x: 'data.items' is not an object");
  EXPECT_EQ(json_capture("not json", "a").error().message, "capture a: the answer is not JSON");
}

}  // namespace
}  // namespace shipmate::runbooks
