#include "integrations/git/git_commit_source.h"

#include <git2.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/redact.h"

namespace shipmate::integrations {
namespace asio = boost::asio;

namespace {

// libgit2 is initialised once per process and never shut down (other sources may live on).
void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

template <class T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const {
    if (p != nullptr)
      Free(p);
  }
};
template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Freer<T, Free>>;

using RepoPtr = Owned<git_repository, git_repository_free>;
using ObjectPtr = Owned<git_object, git_object_free>;
using CommitPtr = Owned<git_commit, git_commit_free>;
using TreePtr = Owned<git_tree, git_tree_free>;
using DiffPtr = Owned<git_diff, git_diff_free>;
using WalkPtr = Owned<git_revwalk, git_revwalk_free>;
using RemotePtr = Owned<git_remote, git_remote_free>;
using ReferencePtr = Owned<git_reference, git_reference_free>;

std::string last_git_error() {
  const git_error* error = git_error_last();
  std::string text = error != nullptr && error->message != nullptr ? error->message : "unknown";
  while (!text.empty() && (text.back() == '\n' || text.back() == '.'))
    text.pop_back();
  return redact(text);
}

std::string sha_of(const git_oid& oid) {
  char text[GIT_OID_HEXSZ + 1];
  git_oid_tostr(text, sizeof text, &oid);
  return text;
}

bool is_hex(const std::string& text) {
  for (const unsigned char c : text) {
    if (!std::isxdigit(c))
      return false;
  }
  return !text.empty();
}

struct CredentialPayload {
  const std::string* token;
  int attempts = 0;
};

int credentials(git_credential** out, const char* /*url*/, const char* /*user*/,
                unsigned int allowed, void* payload) {
  auto* state = static_cast<CredentialPayload*>(payload);
  if (state->token->empty() || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0 ||
      ++state->attempts > 1)
    return GIT_PASSTHROUGH;
  return git_credential_userpass_plaintext_new(out, "x-access-token", state->token->c_str());
}

}  // namespace

struct GitCommitSource::Impl {
  explicit Impl(GitSourceConfig c) : config(std::move(c)) {
    init_libgit2();
    if (!config.token.empty())
      register_secret(config.token);
  }

  GitSourceConfig config;
  asio::thread_pool pool{1};
  std::mutex mu;  // one libgit2 conversation at a time
  RepoPtr repo;
  std::atomic<int> fetch_count{0};

  std::string label() const { return "git " + config.path; }

  Error fail(const std::string& step, const std::string& why,
             ErrorKind kind = ErrorKind::unavailable) const {
    return make_error(redact(label() + ": " + step + ": " + why), kind);
  }

  Status open() {
    if (repo)
      return Ok{};
    git_repository* raw = nullptr;
    if (git_repository_open_ext(&raw, config.path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH,
                                nullptr) != 0)
      return fail("open", last_git_error(), ErrorKind::not_found);
    repo.reset(raw);
    return Ok{};
  }

  bool has_remote() {
    git_remote* raw = nullptr;
    if (git_remote_lookup(&raw, repo.get(), config.remote.c_str()) != 0)
      return false;
    git_remote_free(raw);
    return true;
  }

  Status fetch() {
    RemotePtr remote;
    {
      git_remote* raw = nullptr;
      if (git_remote_lookup(&raw, repo.get(), config.remote.c_str()) != 0)
        return fail("fetch", "no remote named " + config.remote, ErrorKind::not_found);
      remote.reset(raw);
    }
    ++fetch_count;
    if (!config.ca_file.empty() &&
        git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, config.ca_file.c_str(), nullptr) != 0)
      return fail("fetch", "cannot use ca_file " + config.ca_file + ": " + last_git_error());
    git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
    options.proxy_opts.type = config.proxy.empty() ? GIT_PROXY_AUTO : GIT_PROXY_SPECIFIED;
    if (!config.proxy.empty())
      options.proxy_opts.url = config.proxy.c_str();
    CredentialPayload payload{&config.token};
    options.callbacks.credentials = credentials;
    options.callbacks.payload = &payload;
    const std::string heads = "+refs/heads/*:refs/remotes/" + config.remote + "/*";
    const std::string tags = "+refs/tags/*:refs/tags/*";
    char* specs[] = {const_cast<char*>(heads.c_str()), const_cast<char*>(tags.c_str())};
    const git_strarray refspecs{specs, 2};
    if (git_remote_fetch(remote.get(), &refspecs, &options, "shipmate: fetch for release notes") !=
        0)
      return fail("fetch from " + config.remote, last_git_error());
    return Ok{};
  }

  // The commit a name or SHA stands for, without fetching.
  std::optional<std::string> lookup(const std::string& version) {
    for (const std::string& name :
         {"refs/tags/" + version, "refs/remotes/" + config.remote + "/" + version,
          "refs/heads/" + version}) {
      git_reference* raw = nullptr;
      if (git_reference_lookup(&raw, repo.get(), name.c_str()) != 0)
        continue;
      ReferencePtr ref(raw);
      git_object* peeled = nullptr;
      if (git_reference_peel(&peeled, ref.get(), GIT_OBJECT_COMMIT) != 0)
        continue;
      ObjectPtr object(peeled);
      return sha_of(*git_object_id(object.get()));
    }
    if (version.size() >= 7 && version.size() <= GIT_OID_HEXSZ && is_hex(version)) {
      git_oid oid;
      if (git_oid_fromstrn(&oid, version.c_str(), version.size()) != 0)
        return std::nullopt;
      git_object* raw = nullptr;
      if (git_object_lookup_prefix(&raw, repo.get(), &oid, version.size(), GIT_OBJECT_ANY) != 0)
        return std::nullopt;
      ObjectPtr object(raw);
      git_object* peeled = nullptr;
      if (git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0)
        return std::nullopt;
      ObjectPtr commit(peeled);
      return sha_of(*git_object_id(commit.get()));
    }
    return std::nullopt;
  }

  Result<std::string> resolve(const std::string& version) {
    std::lock_guard lock(mu);
    if (auto opened = open(); !opened)
      return opened.error();
    const bool can_fetch = config.fetch && has_remote();
    const bool is_sha = version.size() >= 7 && is_hex(version);
    std::optional<Error> fetch_error;
    if (can_fetch && !is_sha) {
      if (auto fetched = fetch(); !fetched)
        fetch_error = fetched.error();
    }
    if (auto sha = lookup(version))
      return *sha;
    if (can_fetch && is_sha) {
      if (auto fetched = fetch(); !fetched)
        fetch_error = fetched.error();
      else if (auto sha = lookup(version))
        return *sha;
    }
    if (fetch_error)
      return prefix_error("resolve " + version + ": ", *fetch_error);
    return fail("resolve " + version, "no tag, branch or commit named " + version,
                ErrorKind::not_found);
  }

  bool has_commit(const std::string& sha) {
    git_oid oid;
    if (git_oid_fromstr(&oid, sha.c_str()) != 0)
      return false;
    git_commit* raw = nullptr;
    if (git_commit_lookup(&raw, repo.get(), &oid) != 0)
      return false;
    git_commit_free(raw);
    return true;
  }

  // Does `commit` change a path that one of the globs matches?
  Result<bool> touches_paths(git_commit* commit) {
    TreePtr tree;
    TreePtr parent_tree;
    {
      git_tree* raw = nullptr;
      if (git_commit_tree(&raw, commit) != 0)
        return fail("read tree", last_git_error());
      tree.reset(raw);
    }
    if (git_commit_parentcount(commit) > 0) {
      git_commit* parent = nullptr;
      if (git_commit_parent(&parent, commit, 0) != 0)
        return fail("read parent", last_git_error());
      CommitPtr owned_parent(parent);
      git_tree* raw = nullptr;
      if (git_commit_tree(&raw, parent) != 0)
        return fail("read tree", last_git_error());
      parent_tree.reset(raw);
    }
    git_diff_options options = GIT_DIFF_OPTIONS_INIT;
    options.flags = GIT_DIFF_SKIP_BINARY_CHECK;
    git_diff* raw = nullptr;
    if (git_diff_tree_to_tree(&raw, repo.get(), parent_tree.get(), tree.get(), &options) != 0)
      return fail("diff", last_git_error());
    DiffPtr diff(raw);
    const std::size_t deltas = git_diff_num_deltas(diff.get());
    for (std::size_t i = 0; i < deltas; ++i) {
      const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
      if ((delta->new_file.path && any_glob_matches(config.paths, delta->new_file.path)) ||
          (delta->old_file.path && any_glob_matches(config.paths, delta->old_file.path)))
        return true;
    }
    return false;
  }

  Result<std::vector<SourceCommit>> range(const std::string& from, const std::string& to) {
    std::lock_guard lock(mu);
    if (from.empty())
      return fail("range", "no earlier commit to compare with", ErrorKind::invalid);
    if (auto opened = open(); !opened)
      return opened.error();
    if ((!has_commit(from) || !has_commit(to)) && config.fetch && has_remote()) {
      if (auto fetched = fetch(); !fetched)
        return prefix_error("range " + from.substr(0, 12) + ".." + to.substr(0, 12) + ": ",
                            fetched.error());
    }
    for (const std::string* sha : {&from, &to}) {
      if (!has_commit(*sha))
        return fail("range", "no commit " + *sha + " in the repository", ErrorKind::not_found);
    }
    git_oid from_oid;
    git_oid to_oid;
    git_oid_fromstr(&from_oid, from.c_str());
    git_oid_fromstr(&to_oid, to.c_str());
    WalkPtr walk;
    {
      git_revwalk* raw = nullptr;
      if (git_revwalk_new(&raw, repo.get()) != 0)
        return fail("walk", last_git_error());
      walk.reset(raw);
    }
    git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    if (git_revwalk_push(walk.get(), &to_oid) != 0 || git_revwalk_hide(walk.get(), &from_oid) != 0)
      return fail("walk", last_git_error());
    std::vector<SourceCommit> commits;
    git_oid oid;
    while (git_revwalk_next(&oid, walk.get()) == 0) {
      git_commit* raw = nullptr;
      if (git_commit_lookup(&raw, repo.get(), &oid) != 0)
        return fail("read commit " + sha_of(oid), last_git_error());
      CommitPtr commit(raw);
      const int parents = static_cast<int>(git_commit_parentcount(commit.get()));
      if (!config.paths.empty() && parents <= 1) {
        auto touches = touches_paths(commit.get());
        if (!touches)
          return touches.error();
        if (!*touches)
          continue;
      }
      SourceCommit out;
      out.sha = sha_of(oid);
      const char* message = git_commit_message(commit.get());
      split_commit_message(message != nullptr ? message : "", out.subject, out.body);
      const git_signature* author = git_commit_author(commit.get());
      out.author = author != nullptr && author->name != nullptr ? author->name : "";
      out.parents = parents;
      commits.push_back(std::move(out));
    }
    return commits;
  }
};

GitCommitSource::GitCommitSource(GitSourceConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}

GitCommitSource::~GitCommitSource() {
  impl_->pool.join();
}

std::string GitCommitSource::describe() const {
  return impl_->label();
}

int GitCommitSource::fetches() const {
  return impl_->fetch_count.load();
}

Result<std::string> GitCommitSource::resolve_now(const std::string& version) {
  return impl_->resolve(version);
}

Result<std::vector<SourceCommit>> GitCommitSource::range_now(const std::string& from_sha,
                                                             const std::string& to_sha) {
  return impl_->range(from_sha, to_sha);
}

asio::awaitable<Result<std::string>> GitCommitSource::resolve(std::string version) {
  Impl* impl = impl_.get();
  // co_spawn needs a default-constructible result: the Result travels in an optional.
  auto work = [impl, version = std::move(version)]()
      -> asio::awaitable<std::optional<Result<std::string>>> { co_return impl->resolve(version); };
  auto executor = impl->pool.get_executor();
  auto op = asio::co_spawn(executor, std::move(work), asio::use_awaitable);
  std::optional<Result<std::string>> out = co_await std::move(op);
  co_return std::move(*out);
}

asio::awaitable<Result<std::vector<SourceCommit>>> GitCommitSource::range(std::string from_sha,
                                                                          std::string to_sha) {
  Impl* impl = impl_.get();
  auto work = [impl, from = std::move(from_sha), to = std::move(to_sha)]()
      -> asio::awaitable<std::optional<Result<std::vector<SourceCommit>>>> {
    co_return impl->range(from, to);
  };
  auto executor = impl->pool.get_executor();
  auto op = asio::co_spawn(executor, std::move(work), asio::use_awaitable);
  std::optional<Result<std::vector<SourceCommit>>> out = co_await std::move(op);
  co_return std::move(*out);
}

}  // namespace shipmate::integrations
