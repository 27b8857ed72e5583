#include "bot/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "common/redact.h"

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

}  // namespace
}  // namespace shipmate::bot
