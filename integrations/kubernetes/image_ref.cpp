#include "integrations/kubernetes/image_ref.h"

#include <algorithm>
#include <vector>

namespace shipmate::integrations {

namespace {

constexpr std::size_t kMaxNameLength = 255;
constexpr std::size_t kMaxTagLength = 128;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// One path component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool valid_path_component(std::string_view component) {
  if (component.empty() || !is_lower_alnum(component.front()) || !is_lower_alnum(component.back()))
    return false;
  std::size_t i = 0;
  while (i < component.size()) {
    if (is_lower_alnum(component[i])) {
      ++i;
      continue;
    }
    std::size_t start = i;
    if (component[i] == '.') {
      ++i;
    } else if (component[i] == '_') {
      ++i;
      if (i < component.size() && component[i] == '_')
        ++i;
    } else if (component[i] == '-') {
      while (i < component.size() && component[i] == '-')
        ++i;
    } else {
      return false;
    }
    // A separator must sit between two alphanumerics.
    if (i == start || i >= component.size() || !is_lower_alnum(component[i]))
      return false;
  }
  return true;
}

bool valid_host_label(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back()))
    return false;
  return std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5)
    return false;
  return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// host[:port], where host is dot-separated labels or a bracketed IPv6 literal.
bool valid_registry(std::string_view registry) {
  std::string_view host = registry;
  if (registry.starts_with('[')) {
    auto close = registry.find(']');
    if (close == std::string_view::npos || close < 3)
      return false;
    std::string_view inside = registry.substr(1, close - 1);
    if (!std::all_of(inside.begin(), inside.end(), [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                 c == ':' || c == '.';
        }))
      return false;
    std::string_view rest = registry.substr(close + 1);
    return rest.empty() || (rest.front() == ':' && valid_port(rest.substr(1)));
  }
  auto colon = registry.find(':');
  if (colon != std::string_view::npos) {
    if (!valid_port(registry.substr(colon + 1)))
      return false;
    host = registry.substr(0, colon);
  }
  if (host.empty())
    return false;
  std::size_t start = 0;
  for (;;) {
    auto dot = host.find('.', start);
    if (!valid_host_label(host.substr(start, dot - start)))
      return false;
    if (dot == std::string_view::npos)
      return true;
    start = dot + 1;
  }
}

bool looks_like_registry(std::string_view component) {
  return component.find('.') != std::string_view::npos ||
         component.find(':') != std::string_view::npos || component == "localhost" ||
         std::any_of(component.begin(), component.end(),
                     [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

}  // namespace

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagLength)
    return false;
  if (!(is_alnum(tag.front()) || tag.front() == '_'))
    return false;
  return std::all_of(tag.begin(), tag.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool is_valid_digest(std::string_view digest) {
  auto colon = digest.find(':');
  if (colon == std::string_view::npos)
    return false;
  std::string_view algorithm = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  std::size_t expected = 0;
  if (algorithm == "sha256")
    expected = 64;
  else if (algorithm == "sha384")
    expected = 96;
  else if (algorithm == "sha512")
    expected = 128;
  else
    return false;
  return hex.size() == expected && std::all_of(hex.begin(), hex.end(), is_lower_hex);
}

std::string ImageRef::name() const {
  return registry.empty() ? repository : registry + "/" + repository;
}

std::string ImageRef::str() const {
  std::string out = name();
  if (!tag.empty())
    out += ":" + tag;
  if (!digest.empty())
    out += "@" + digest;
  return out;
}

std::string ImageRef::version() const {
  if (!tag.empty())
    return tag;
  if (!digest.empty())
    return digest;
  return "latest";
}

Result<ImageRef> parse_image_ref(std::string_view text) {
  const std::string what = "image reference " + in_quotes(text) + ": ";
  if (text.empty())
    return make_error("image reference is empty");
  ImageRef ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!is_valid_digest(ref.digest))
      return make_error(what + "invalid digest " + in_quotes(ref.digest) +
                        " (want sha256: and 64 lowercase hex digits)");
  }
  // A tag is a colon after the last slash: the colon of "localhost:5000/app" is a port.
  auto last_slash = rest.rfind('/');
  auto tag_colon = rest.rfind(':');
  if (tag_colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || tag_colon > last_slash)) {
    ref.tag = std::string(rest.substr(tag_colon + 1));
    rest = rest.substr(0, tag_colon);
    if (!is_valid_tag(ref.tag))
      return make_error(what + "invalid tag " + in_quotes(ref.tag) +
                        " (want letters, digits, '_', '.', '-', at most 128, not starting with "
                        "'.' or '-')");
  }
  if (rest.empty())
    return make_error(what + "no repository name");
  if (rest.size() > kMaxNameLength)
    return make_error(what + "name longer than 255 characters");
  auto first_slash = rest.find('/');
  if (first_slash != std::string_view::npos && looks_like_registry(rest.substr(0, first_slash))) {
    ref.registry = std::string(rest.substr(0, first_slash));
    rest = rest.substr(first_slash + 1);
    if (!valid_registry(ref.registry))
      return make_error(what + "invalid registry host " + in_quotes(ref.registry));
  }
  ref.repository = std::string(rest);
  std::size_t start = 0;
  for (;;) {
    auto slash = rest.find('/', start);
    std::string_view component = rest.substr(start, slash - start);
    if (!valid_path_component(component))
      return make_error(what + "invalid repository path component " + in_quotes(component) +
                        " (want lowercase letters and digits, separated by '.', '_' or '-')");
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  return ref;
}

Result<std::string> image_for_version(std::string_view repository, std::string_view version) {
  auto base = parse_image_ref(repository);
  if (!base)
    return make_error("image repository: " + base.error().message);
  if (!base->tag.empty() || !base->digest.empty())
    return make_error("image repository " + in_quotes(repository) +
                      " must not carry a tag or digest; the version supplies it");
  std::string image;
  if (version.find(':') != std::string_view::npos) {
    if (!is_valid_digest(version))
      return make_error("version " + in_quotes(version) +
                        " is neither a tag nor a digest (want sha256: and 64 lowercase hex "
                        "digits)");
    image = base->name() + "@" + std::string(version);
  } else {
    if (!is_valid_tag(version))
      return make_error("version " + in_quotes(version) +
                        " is not a valid image tag (letters, digits, '_', '.', '-', at most 128, "
                        "not starting with '.' or '-')");
    image = base->name() + ":" + std::string(version);
  }
  auto check = parse_image_ref(image);
  if (!check)
    return check.error();
  return image;
}

}  // namespace shipmate::integrations
