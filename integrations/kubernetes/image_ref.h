// Container image references ("registry.example.com:5000/team/api:v1.4.2@sha256:...") as the
// Docker distribution grammar defines them, and the mapping between a Shipmate version and the
// image a Deployment runs.
//
// Contract
// - Pure functions, no I/O, safe from any thread.
// - A colon in the first path component belongs to the registry host ("localhost:5000/app" has no
//   tag); a component is a registry when it contains '.' or ':' or is "localhost".
// - Tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. Digests: sha256 (64), sha384 (96) or sha512 (128)
//   lowercase hex digits after "<algorithm>:". Repository paths: lowercase components of
//   [a-z0-9] joined by '.', '_', '__' or runs of '-', separated by '/'; 255 characters at most.
// - Errors are one line naming the offending text.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace shipmate::integrations {

struct ImageRef {
  std::string registry;    // "registry.example.com:5000"; empty when the reference names none
  std::string repository;  // "team/api"
  std::string tag;         // "v1.4.2"; empty when absent
  std::string digest;      // "sha256:<64 hex>"; empty when absent

  // registry/repository (or just the repository when there is no registry).
  std::string name() const;
  // The reference written back out: name[:tag][@digest].
  std::string str() const;
  // What Shipmate calls the version of a running image: the tag, else the digest, else "latest"
  // (the tag a runtime pulls when the reference names neither).
  std::string version() const;
};

Result<ImageRef> parse_image_ref(std::string_view text);

bool is_valid_tag(std::string_view tag);
bool is_valid_digest(std::string_view digest);

// The image that runs `version` from `repository` ("registry:5000/team/api", no tag or digest):
// a tag gives "repository:tag", a digest "repository@sha256:...". Errors say which syntax failed.
Result<std::string> image_for_version(std::string_view repository, std::string_view version);

}  // namespace shipmate::integrations
