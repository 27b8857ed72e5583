// Answers that are not the JSON an API promised: what a proxy, a load balancer or a half-dead
// server sends instead. The Kubernetes, Argo CD, GitHub and GitLab clients are each tested with
// every one of them (README: errors name the system; bad input loses nothing).
//
// Contract: plain data for tests; `server_answering` makes a FakeHttpServer that answers every
// request with one of them (on the server's thread, as FakeHttpServer does).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/fake_http_server.h"

namespace shipmate::testing {

struct NonJsonAnswer {
  std::string name;  // for failure messages: "an HTML error page with 200"
  FakeResponse response;
};

inline std::vector<NonJsonAnswer> non_json_answers() {
  const std::string html =
      "<!DOCTYPE html>\n<html><head><title>Sign in - Corporate SSO</title></head>\n"
      "<body><h1>Please sign in</h1><form action=\"/login\"></form></body></html>\n";
  std::vector<NonJsonAnswer> out;
  out.push_back(
      {"an HTML page with 200", FakeResponse{200, {{"Content-Type", "text/html"}}, html}});
  out.push_back({"an HTML error page with 502",
                 FakeResponse{502,
                              {{"Content-Type", "text/html"}},
                              "<html><head><title>502 Bad Gateway</title></head><body><center>"
                              "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
                              "</body></html>\n"}});
  out.push_back(
      {"truncated JSON",
       FakeResponse::json(200, R"({"metadata":{"name":"api","namespace":"prod","resourc)")});
  out.push_back({"an empty body", FakeResponse::json(200, "")});
  out.push_back({"a JSON array where an object belongs", FakeResponse::json(200, "[1, 2, 3]")});
  return out;
}

inline std::unique_ptr<FakeHttpServer> server_answering(const FakeResponse& response) {
  return std::make_unique<FakeHttpServer>([response](const FakeRequest&) { return response; });
}

// The error text a person would read: it names `system`, and it does not paste the page's
// markup into chat.
inline std::string non_json_problem(const std::string& message, const std::string& system) {
  if (message.find(system) == std::string::npos)
    return "does not name " + system;
  if (message.find("<html") != std::string::npos || message.find("<!DOCTYPE") != std::string::npos)
    return "pastes the HTML page";
  return "";
}

}  // namespace shipmate::testing
