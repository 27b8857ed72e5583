#include "bot/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <vector>

#include "common/redact.h"
#include "common/request_id.h"

namespace shipmate::bot {
namespace {

TEST(Logging, EveryLineIsRedactedAndJsonIsWellFormed) {
  clear_registered_secrets();
  register_secret("xapp-1-A0-secret");
  std::ostringstream stream;
  auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream);
  auto logger = std::make_shared<spdlog::logger>("test", make_redacting_sink(inner));
  logger->set_formatter(make_json_formatter());
  logger->info("connecting with token {} and \"quotes\"\n", "xapp-1-A0-secret");
  logger->flush();
  const std::string line = stream.str();
  EXPECT_EQ(line.find("xapp-1-A0-secret"), std::string::npos) << line;
  EXPECT_NE(line.find("[REDACTED]"), std::string::npos) << line;
  EXPECT_NE(line.find("\"level\":\"info\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"logger\":\"test\""), std::string::npos) << line;
  EXPECT_NE(line.find("\\\"quotes\\\"\\n\"}"), std::string::npos) << line;
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // one line per record
  clear_registered_secrets();
}

TEST(Logging, TextPatternIsRedactedToo) {
  clear_registered_secrets();
  register_secret("hunter2hunter2");
  std::ostringstream stream;
  auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream);
  auto logger = std::make_shared<spdlog::logger>("test", make_redacting_sink(inner));
  logger->set_pattern("%l %v");
  logger->warn("password=hunter2hunter2");
  logger->flush();
  EXPECT_EQ(stream.str(), "warning password=[REDACTED]\n");
  clear_registered_secrets();
}

// A line written inside a request carries its id (text: "req=<id> ", JSON: "request"); a line
// outside one carries none.
TEST(Logging, LinesInsideARequestCarryItsIdInTextAndJson) {
  std::ostringstream text_stream, json_stream;
  auto text = std::make_shared<spdlog::logger>(
      "test", make_redacting_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_stream)));
  text->set_formatter(make_text_formatter("%l %Q%v"));
  auto json = std::make_shared<spdlog::logger>(
      "test", make_redacting_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(json_stream)));
  json->set_formatter(make_json_formatter());
  text->info("before");
  json->info("before");
  {
    RequestScope scope(std::make_shared<const std::string>("0123456789ab"));
    text->info("deploy #12 started");
    json->info("deploy #12 started");
  }
  text->info("after");
  json->info("after");
  EXPECT_EQ(text_stream.str(),
            "info before\ninfo req=0123456789ab deploy #12 started\ninfo after\n");
  std::istringstream lines(json_stream.str());
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line))
    all.push_back(line);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].find("\"request\""), std::string::npos) << all[0];
  EXPECT_NE(all[1].find("\"request\":\"0123456789ab\",\"msg\":\"deploy #12 started\""),
            std::string::npos)
      << all[1];
  EXPECT_EQ(all[2].find("\"request\""), std::string::npos) << all[2];
}

}  // namespace
}  // namespace shipmate::bot
