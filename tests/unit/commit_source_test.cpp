// Release-note commit sources (integrations/commit_source.h): path globs and message splitting
// (pure); the libgit2 source on repositories built here with the git CLI, checked against
// `git log from..to` itself, fetching from a remote only when needed; GitHub's compare API
// against the fake GitHub, whose commits come from the same kind of repository, and the
// official @octokit/rest client against that fake.
#include <filesystem>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "integrations/ci/github_compare.h"
#include "integrations/git/git_commit_source.h"
#include "integrations/net/http_client.h"
#include "tests/support/async_test.h"
#include "tests/support/fake_github.h"
#include "tests/support/git_repo.h"
#include "tests/support/test_proxy.h"

namespace shipmate::integrations {
namespace {

using shipmate::testing::FakeGithub;
using shipmate::testing::FakeGithubOptions;
using shipmate::testing::GitRepo;
using shipmate::testing::run_async_test;

std::vector<std::string> shas(const std::vector<SourceCommit>& commits) {
  std::vector<std::string> out;
  for (const auto& c : commits)
    out.push_back(c.sha);
  return out;
}

void expect_same(const std::vector<SourceCommit>& got, const std::vector<SourceCommit>& want) {
  ASSERT_EQ(shas(got), shas(want));
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].subject, want[i].subject);
    EXPECT_EQ(got[i].body, want[i].body);
    EXPECT_EQ(got[i].author, want[i].author);
    EXPECT_EQ(got[i].parents, want[i].parents);
  }
}

TEST(PathGlob, SegmentsDirectoriesAndDoubleStars) {
  struct Row {
    const char* glob;
    const char* path;
    bool matches;
  };
  const Row rows[] = {
      {"services/api", "services/api/main.cc", true},
      {"services/api", "services/api", true},
      {"services/api", "services/api2/main.cc", false},
      {"services/api/", "services/api/x/y.cc", true},
      {"services/*/Dockerfile", "services/api/Dockerfile", true},
      {"services/*/Dockerfile", "services/api/sub/Dockerfile", false},
      {"services/api/**", "services/api/a/b/c.cc", true},
      {"**/*.proto", "proto/v1/api.proto", true},
      {"**/*.proto", "api.proto", true},
      {"**/*.proto", "api.protox", false},
      {"lib/?.h", "lib/a.h", true},
      {"lib/?.h", "lib/ab.h", false},
      {"*.md", "README.md", true},
      {"*.md", "docs/README.md", false},
      {"services/*", "services/api/main.cc", true},
      {"./libs/common", "libs/common/x", true},
      {"", "anything", false},
  };
  for (const auto& row : rows)
    EXPECT_EQ(path_glob_matches(row.glob, row.path), row.matches) << row.glob << " ~ " << row.path;
}

TEST(SplitCommitMessage, SubjectParagraphAndBody) {
  std::string subject;
  std::string body;
  split_commit_message("feat: x\n\nBody line\n\nBREAKING CHANGE: y\n", subject, body);
  EXPECT_EQ(subject, "feat: x");
  EXPECT_EQ(body, "Body line\n\nBREAKING CHANGE: y");
  split_commit_message("fix: wrapped\nsubject\n", subject, body);
  EXPECT_EQ(subject, "fix: wrapped subject");
  EXPECT_EQ(body, "");
  split_commit_message("\n\nchore: leading blank\r\n\r\nbody\r\n", subject, body);
  EXPECT_EQ(subject, "chore: leading blank");
  EXPECT_EQ(body, "body");
}

// Linear history, a hotfix branch merged back, a squash with a breaking footer and a revert.
void build_history(GitRepo& repo) {
  repo.commit("feat: first");
  repo.commit("fix: second", "bob");
  repo.git({"tag", "-a", "v1", "-m", "release v1"});  // annotated: peeled to its commit
  repo.git({"checkout", "-q", "-b", "hotfix", "v1"});
  repo.commit("fix: urgent (#12)", "bob");
  repo.git({"tag", "v1.0.1"});
  repo.git({"checkout", "-q", "main"});
  repo.commit("feat: next");
  repo.git({"merge", "-q", "--no-ff", "-m", "Merge branch 'hotfix'", "hotfix"});
  repo.commit(
      "Add login (#20)\n\n* feat(auth): login\n* fix(auth): typo\n\nBREAKING CHANGE: "
      "sessions reset",
      "carol");
  repo.commit("feat: risky");
  repo.git({"revert", "--no-edit", "HEAD"});
  repo.git({"tag", "v2"});
}

TEST(GitCommitSource, ResolvesTagsBranchesAndShasAndListsRangesLikeGitLog) {
  GitRepo repo;
  build_history(repo);
  GitCommitSource source({.path = repo.dir.path()});
  EXPECT_EQ(*source.resolve_now("v1"), repo.rev("v1"));
  EXPECT_EQ(*source.resolve_now("v1.0.1"), repo.rev("v1.0.1"));
  EXPECT_EQ(*source.resolve_now("hotfix"), repo.rev("hotfix"));
  EXPECT_EQ(*source.resolve_now("main"), repo.rev("main"));
  EXPECT_EQ(*source.resolve_now(repo.rev("v2")), repo.rev("v2"));
  EXPECT_EQ(*source.resolve_now(repo.rev("v2").substr(0, 10)), repo.rev("v2"));
  auto missing = source.resolve_now("v9");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  EXPECT_NE(missing.error().message.find("no tag, branch or commit named v9"), std::string::npos)
      << missing.error().message;
  // Revision syntax is not evaluated even if it reached the source.
  EXPECT_FALSE(source.resolve_now("HEAD"));
  EXPECT_FALSE(source.resolve_now("abc"));  // too short to be a SHA

  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"v1", "v2"}, {"v1.0.1", "v2"}, {"v2", "v1"}, {"v1", "v1.0.1"}, {"v1", "hotfix"}}) {
    auto got = source.range_now(repo.rev(from), repo.rev(to));
    ASSERT_TRUE(got) << got.error().message;
    expect_same(*got, repo.range(from, to));
  }
  // The hotfix merged back is listed once, from v1, and not again after v1.0.1.
  auto after_hotfix = source.range_now(repo.rev("v1.0.1"), repo.rev("v2"));
  for (const auto& commit : *after_hotfix)
    EXPECT_NE(commit.subject, "fix: urgent (#12)");
  // A first deploy has no range.
  auto no_from = source.range_now("", repo.rev("v2"));
  ASSERT_FALSE(no_from);
  EXPECT_EQ(no_from.error().kind, ErrorKind::invalid);
  EXPECT_EQ(source.fetches(), 0);  // no remote, nothing fetched
}

TEST(GitCommitSource, MonorepoPathGlobsKeepOnlyCommitsTouchingThem) {
  GitRepo repo;
  repo.commit("chore: root", "alice", "README.md");
  repo.git({"tag", "v1"});
  repo.commit("feat(api): endpoint", "alice", "services/api/main.cc");
  repo.commit("feat(web): page", "bob", "services/web/page.tsx");
  repo.commit("fix(proto): field", "bob", "proto/v1/api.proto");
  repo.commit("docs: api", "carol", "services/api/README.md");
  repo.git({"tag", "v2"});
  GitCommitSource api({.path = repo.dir.path(), .paths = {"services/api", "**/*.proto"}});
  auto got = api.range_now(repo.rev("v1"), repo.rev("v2"));
  ASSERT_TRUE(got) << got.error().message;
  // git's own pathspec agrees (`git log v1..v2 -- services/api '*.proto'`).
  expect_same(*got, repo.range("v1", "v2", {"services/api", ":(glob)**/*.proto"}));
  EXPECT_EQ(got->size(), 3u);
}

TEST(GitCommitSource, PathPruningByLiteralDirectoriesAgreesWithGitsPathspec) {
  // Every glob lies under a literal directory or names a file, so the source compares those
  // subtrees' ids instead of diffing whole trees; what it keeps must not change.
  GitRepo repo;
  repo.commit("chore: root", "alice", "README.md");
  repo.git({"tag", "v1"});
  repo.commit("feat(api): endpoint", "alice", "services/api/main.cc");
  repo.commit("feat(api): deep handler", "alice", "services/api/v2/handlers/x.cc");
  repo.commit("feat(web): page", "bob", "services/web/page.tsx");
  repo.commit("feat(web): style", "bob", "services/web/style.css");
  repo.commit("build: make", "carol", "Makefile");
  repo.commit("chore: a sibling with the same start", "carol", "services/apix/main.cc");
  repo.commit("chore: a deeper file of the same name", "carol", "libs/Makefile");
  repo.git({"rm", "-q", "-r", "services/api"});
  repo.git({"commit", "-q", "-m", "refactor(api): remove the service"});
  shipmate::testing::write_file(repo.dir.file("services/api"), "now a file\n");
  repo.git({"add", "services/api"});
  repo.git({"commit", "-q", "-m", "chore: services/api is a file now"});
  repo.git({"tag", "v2"});
  GitCommitSource pruned(
      {.path = repo.dir.path(), .paths = {"services/api/**", "services/web/*.tsx", "Makefile"}});
  auto got = pruned.range_now(repo.rev("v1"), repo.rev("v2"));
  ASSERT_TRUE(got) << got.error().message;
  expect_same(
      *got,
      repo.range("v1", "v2", {":(glob)services/api/**", ":(glob)services/web/*.tsx", "Makefile"}));
  EXPECT_EQ(got->size(), 5u);  // endpoint, deep handler, page, make, remove
  // A glob naming a directory without wildcards keeps the same commits plus the file it became.
  GitCommitSource directory({.path = repo.dir.path(), .paths = {"services/api"}});
  auto dir_range = directory.range_now(repo.rev("v1"), repo.rev("v2"));
  ASSERT_TRUE(dir_range) << dir_range.error().message;
  expect_same(*dir_range, repo.range("v1", "v2", {"services/api"}));
  EXPECT_EQ(dir_range->size(), 4u);
}

std::string host_port_url(unsigned short port) {
  return "https://localhost:" + std::to_string(port);
}

// Waits (with a generous deadline, never a fixed sleep) until `done` holds.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST(GitCommitSource, FetchGoesThroughTheProxyAsOtherClientsDoAndTrustsTheCaFile) {
  // An HTTPS "remote" that answers 404 to everything: enough to see whether libgit2's TLS
  // handshake succeeded (the request arrives) and which way the connection went.
  shipmate::testing::FakeHttpServer server(
      [](const shipmate::testing::FakeRequest&) {
        shipmate::testing::FakeResponse response;
        response.status = 404;
        response.body = "no such repository";
        return response;
      },
      {.tls = true});
  const std::string host_port = "localhost:" + std::to_string(server.port());
  GitRepo repo;
  repo.commit("feat: one");
  // By name: the test certificate is for "localhost" (and mbedTLS matches names, not addresses).
  repo.git({"remote", "add", "origin", host_port_url(server.port()) + "/acme/api.git"});
  boost::asio::io_context proxy_io;
  shipmate::testing::TestProxy proxy(proxy_io);
  std::thread proxy_thread([&] { proxy_io.run(); });
  const auto arrived = [&] { return server.requests_to("GET", "/acme/api.git/info/refs").size(); };
  {
    shipmate::testing::ScopedEnv https_proxy("HTTPS_PROXY", proxy.url().c_str());
    shipmate::testing::ScopedEnv no_proxy("NO_PROXY", nullptr);
    shipmate::testing::ScopedEnv no_proxy_lower("no_proxy", nullptr);

    // Without the CA file the handshake fails: through the proxy, and nothing reaches the server.
    GitCommitSource untrusted({.path = repo.dir.path()});
    auto refused = untrusted.resolve_now("v9");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("fetch from origin"), std::string::npos)
        << refused.error().message;
    ASSERT_TRUE(eventually([&] { return proxy.requests().size() == 1; }));
    EXPECT_EQ(proxy.requests()[0], "CONNECT " + host_port);
    EXPECT_EQ(arrived(), 0u);

    // With it, the request arrives (and the 404 is the error).
    GitCommitSource trusted({.path = repo.dir.path(), .ca_file = server.ca_path()});
    auto answered = trusted.resolve_now("v9");
    ASSERT_FALSE(answered);
    EXPECT_NE(answered.error().message.find("404"), std::string::npos) << answered.error().message;
    ASSERT_TRUE(eventually([&] { return arrived() == 1; }));
    ASSERT_TRUE(eventually([&] { return proxy.requests().size() == 2; }));

    // NO_PROXY naming the host: straight to the server.
    {
      shipmate::testing::ScopedEnv bypass("NO_PROXY", "example.org,localhost");
      EXPECT_FALSE(trusted.resolve_now("v9"));
      ASSERT_TRUE(eventually([&] { return arrived() == 2; }));
      EXPECT_EQ(proxy.requests().size(), 2u);
    }
  }
  // No proxy in the environment: a configured one is used; none at all means direct.
  GitCommitSource direct({.path = repo.dir.path(), .ca_file = server.ca_path()});
  EXPECT_FALSE(direct.resolve_now("v9"));
  ASSERT_TRUE(eventually([&] { return arrived() == 3; }));
  EXPECT_EQ(proxy.requests().size(), 2u);
  GitCommitSource configured(
      {.path = repo.dir.path(), .proxy = proxy.url(), .ca_file = server.ca_path()});
  EXPECT_FALSE(configured.resolve_now("v9"));
  ASSERT_TRUE(eventually([&] { return arrived() == 4; }));
  ASSERT_TRUE(eventually([&] { return proxy.requests().size() == 3; }));
  EXPECT_EQ(proxy.requests()[2], "CONNECT " + host_port);
  proxy_io.stop();
  proxy_thread.join();
}

TEST(GitCommitSource, FetchesOnDemandAndFollowsAForcePushedTag) {
  GitRepo origin;
  origin.commit("feat: one");
  origin.git({"tag", "v1"});
  GitRepo clone(false);
  clone.git({"clone", "-q", origin.dir.path(), clone.dir.path()});
  origin.commit("fix: two");
  origin.commit("feat: three");
  origin.git({"tag", "v2"});
  GitCommitSource source({.path = clone.dir.path()});
  // The clone has never seen v2: resolving the name fetches it.
  EXPECT_EQ(*source.resolve_now("v2"), origin.rev("v2"));
  EXPECT_EQ(source.fetches(), 1);
  auto got = source.range_now(origin.rev("v1"), origin.rev("v2"));
  ASSERT_TRUE(got) << got.error().message;
  expect_same(*got, origin.range("v1", "v2"));
  // A SHA that is present needs no fetch.
  EXPECT_EQ(*source.resolve_now(origin.rev("v1")), origin.rev("v1"));
  EXPECT_EQ(source.fetches(), 1);
  // A commit the clone lacks is fetched when a range needs it.
  origin.commit("perf: four");
  const std::string four = origin.head();
  auto later = source.range_now(origin.rev("v2"), four);
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_EQ(later->size(), 1u);
  EXPECT_EQ(source.fetches(), 2);
  // The tag is moved (force-pushed) upstream: a name is fetched again, so the new target wins.
  origin.git({"tag", "-f", "v2"});
  EXPECT_EQ(*source.resolve_now("v2"), four);
  // An unreachable remote with a name that exists locally: the local answer, no error.
  clone.git({"remote", "set-url", "origin", clone.dir.file("gone")});
  EXPECT_EQ(*source.resolve_now("v1"), origin.rev("v1"));
  auto unknown = source.resolve_now("v7");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("fetch"), std::string::npos) << unknown.error().message;
}

// The fetch builds its remote from the configured URL each time (libgit2 1.5.1 leaks in every
// remote lookup, see remote_url()), so insteadOf rules and a changed URL must still be honoured.
TEST(GitCommitSource, FetchHonoursInsteadOfRulesAndAChangedRemoteUrl) {
  GitRepo origin;
  origin.commit("feat: one");
  origin.git({"tag", "v1"});
  GitRepo clone(false);
  clone.git({"clone", "-q", origin.dir.path(), clone.dir.path()});
  clone.git({"config", "url." + origin.dir.path() + "/.insteadOf", "mirror:"});
  clone.git({"remote", "set-url", "origin", "mirror:"});
  origin.commit("fix: two");
  origin.git({"tag", "v2"});
  GitCommitSource source({.path = clone.dir.path()});
  auto v2 = source.resolve_now("v2");
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(*v2, origin.rev("v2"));
  EXPECT_EQ(clone.rev("refs/remotes/origin/main^{commit}"), origin.rev("v2"));
  // A second origin, then the remote pointed at it: the next fetch reads the new URL.
  GitRepo other;
  other.commit("feat: elsewhere");
  other.git({"tag", "v3"});
  clone.git({"remote", "set-url", "origin", other.dir.path()});
  auto v3 = source.resolve_now("v3");
  ASSERT_TRUE(v3) << v3.error().message;
  EXPECT_EQ(*v3, other.rev("v3"));
  EXPECT_EQ(source.fetches(), 2);
}

TEST(GitCommitSource, RunsOffTheEventLoopAndResumesOnIt) {
  GitRepo repo;
  build_history(repo);
  GitCommitSource source({.path = repo.dir.path()});
  run_async_test([&](boost::asio::io_context&) -> boost::asio::awaitable<void> {
    const auto caller = std::this_thread::get_id();
    Result<std::string> v1 = co_await source.resolve("v1");
    EXPECT_EQ(std::this_thread::get_id(), caller);
    Result<std::string> v2 = co_await source.resolve("v2");
    const std::string from = *v1;
    const std::string to = *v2;
    Result<std::vector<SourceCommit>> commits = co_await source.range(from, to);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(shas(*commits), shas(repo.range("v1", "v2")));
  });
}

// ---- GitHub's compare API ----

struct GithubFixture {
  GitRepo repo;
  std::unique_ptr<FakeGithub> fake;
  GithubCompareConfig config(std::vector<std::string> paths = {}, int per_page = 100) {
    GithubCompareConfig c;
    c.api.api_url = fake->base_url();
    c.api.owner = fake->options().owner;
    c.api.repo = fake->options().repo;
    c.api.token = fake->options().token;
    c.paths = std::move(paths);
    c.per_page = per_page;
    return c;
  }
  void start() {
    FakeGithubOptions options;
    options.git_dir = repo.dir.path();
    fake = std::make_unique<FakeGithub>(options);
  }
};

TEST(GithubCompare, PagesThroughTheComparisonNewestFirstLikeGitLog) {
  GithubFixture f;
  build_history(f.repo);
  f.start();
  run_async_test([&](boost::asio::io_context& ioc) -> boost::asio::awaitable<void> {
    net::HttpClient http(ioc.get_executor());
    GithubCompare source(http, f.config({}, 2));
    EXPECT_EQ(source.describe(), "GitHub acme/shop");
    Result<std::string> v1 = co_await source.resolve("v1");
    EXPECT_EQ(*v1, f.repo.rev("v1"));
    Result<std::string> v2 = co_await source.resolve("v2");
    const std::string from = *v1;
    const std::string to = *v2;
    Result<std::vector<SourceCommit>> commits = co_await source.range(from, to);
    EXPECT_TRUE(commits) << commits.error().message;
    // Same set as git log; within the set git log's order, which for equal dates is topological.
    auto want = f.repo.range("v1", "v2");
    EXPECT_EQ(commits->size(), want.size());
    std::set<std::string> got_set;
    for (const auto& c : *commits)
      got_set.insert(c.sha);
    for (const auto& c : want)
      EXPECT_TRUE(got_set.contains(c.sha)) << c.subject;
    // 6 commits at 2 per page: 3 pages were read.
    EXPECT_EQ(want.size(), 6u);
    EXPECT_EQ(f.fake->requests_to("GET", "/repos/acme/shop/compare/").size(), 3u);
    Result<std::string> missing = co_await source.resolve("v9");
    EXPECT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
    EXPECT_NE(missing.error().message.find("acme/shop"), std::string::npos);
    EXPECT_EQ(missing.error().message.find(f.fake->options().token), std::string::npos);
  });
}

TEST(GithubCompare, MonorepoPathsReadEachCommitsFiles) {
  GithubFixture f;
  f.repo.commit("chore: root", "alice", "README.md");
  f.repo.git({"tag", "v1"});
  f.repo.commit("feat(api): endpoint", "alice", "services/api/main.cc");
  f.repo.commit("feat(web): page", "bob", "services/web/page.tsx");
  f.repo.git({"mv", "services/api/main.cc", "services/api/server.cc"});
  f.repo.git({"commit", "-q", "-m", "refactor(api): rename"});
  f.repo.git({"tag", "v2"});
  f.start();
  run_async_test([&](boost::asio::io_context& ioc) -> boost::asio::awaitable<void> {
    net::HttpClient http(ioc.get_executor());
    GithubCompare source(http, f.config({"services/api/**"}));
    const std::string from = f.repo.rev("v1");
    const std::string to = f.repo.rev("v2");
    Result<std::vector<SourceCommit>> commits = co_await source.range(from, to);
    EXPECT_TRUE(commits) << commits.error().message;
    std::vector<std::string> subjects;
    for (const auto& c : *commits)
      subjects.push_back(c.subject);
    std::sort(subjects.begin(), subjects.end());
    EXPECT_EQ(subjects, (std::vector<std::string>{"feat(api): endpoint", "refactor(api): rename"}));
  });
}

TEST(GithubCompare, TheOfficialOctokitClientReadsTheFakesComparison) {
  const std::string node_dir = shipmate::testing::source_dir() + "/tests/node";
  ASSERT_TRUE(std::filesystem::exists(node_dir + "/node_modules/@octokit/rest"))
      << "tests/node/node_modules is missing @octokit/rest: run scripts/install-deps";
  GithubFixture f;
  build_history(f.repo);
  f.start();
  std::string expected;
  for (const auto& c : f.repo.range("v1", "v2"))
    expected += (expected.empty() ? "" : ",") + c.sha;
  auto [status, output] = shipmate::testing::run_command(
      {"/usr/bin/env", "node", node_dir + "/octokit_compare_check.mjs", f.fake->base_url(),
       f.fake->options().token, "acme", "shop", "v1", "v2", f.repo.rev("v2"), expected},
      "", {}, node_dir);
  ASSERT_EQ(status, 0) << output;
  EXPECT_NE(output.find("OCTOKIT COMPARE OK"), std::string::npos) << output;
}

}  // namespace
}  // namespace shipmate::integrations
