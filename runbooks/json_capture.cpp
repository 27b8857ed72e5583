#include "runbooks/json_capture.h"

#include <simdjson.h>

#include <charconv>

namespace shipmate::runbooks {

Result<std::string> json_capture(std::string_view json, std::string_view path) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (parser.parse(json.data(), json.size()).get(element) != simdjson::SUCCESS)
    return make_error("capture " + std::string(path) + ": the answer is not JSON");
  std::string walked;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      const auto close = path.find(']', i);
      std::size_t index = 0;
      const char* first = path.data() + i + 1;
      const char* last = close == std::string_view::npos ? first : path.data() + close;
      auto [ptr, ec] = std::from_chars(first, last, index);
      if (close == std::string_view::npos || ec != std::errc() || ptr != last)
        return make_error("capture " + std::string(path) + ": a bad index after '" + walked + "'");
      simdjson::dom::array array;
      if (element.get_array().get(array) != simdjson::SUCCESS)
        return make_error("capture " + std::string(path) + ": '" + walked + "' is not a list");
      if (array.at(index).get(element) != simdjson::SUCCESS) {
        return make_error("capture " + std::string(path) + ": '" + walked + "' has no item " +
                          std::to_string(index));
      }
      walked += path.substr(i, close - i + 1);
      i = close + 1;
      continue;
    }
    const auto end = path.find_first_of(".[", i);
    const std::string_view key = path.substr(i, end == std::string_view::npos ? end : end - i);
    simdjson::dom::object object;
    if (element.get_object().get(object) != simdjson::SUCCESS) {
      return make_error("capture " + std::string(path) + ": '" +
                        (walked.empty() ? std::string("the answer") : walked) +
                        "' is not an object");
    }
    if (object.at_key(key).get(element) != simdjson::SUCCESS) {
      return make_error("capture " + std::string(path) + ": no key '" + std::string(key) + "'" +
                        (walked.empty() ? std::string() : " in " + walked));
    }
    walked += (walked.empty() ? "" : ".") + std::string(key);
    i = end == std::string_view::npos ? path.size() : end;
  }
  std::string_view text;
  if (element.get_string().get(text) == simdjson::SUCCESS)
    return std::string(text);
  return simdjson::minify(element);
}

}  // namespace shipmate::runbooks
