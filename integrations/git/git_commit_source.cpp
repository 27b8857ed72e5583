#include "integrations/git/git_commit_source.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/redact.h"
#include "integrations/git/libgit2_loader.h"
#include "integrations/net/proxy_env.h"

namespace shipmate::integrations {
namespace asio = boost::asio;

namespace {

// libgit2's functions. Reached only after open() found the library loaded.
const LibGit2& git2() {
  return *libgit2();
}

// libgit2 is loaded and initialised once per process and never shut down (other sources may
// live on). When it cannot be loaded, open() says why.
void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const LibGit2* lib = libgit2())
      lib->git_libgit2_init();
  });
}

template <class T, auto Free>
struct Freer {
  void operator()(T* p) const {
    if (p != nullptr)
      (git2().*Free)(p);
  }
};
template <class T, auto Free>
using Owned = std::unique_ptr<T, Freer<T, Free>>;

using RepoPtr = Owned<git_repository, &LibGit2::git_repository_free>;
using ObjectPtr = Owned<git_object, &LibGit2::git_object_free>;
using CommitPtr = Owned<git_commit, &LibGit2::git_commit_free>;
using TreePtr = Owned<git_tree, &LibGit2::git_tree_free>;
using DiffPtr = Owned<git_diff, &LibGit2::git_diff_free>;
using WalkPtr = Owned<git_revwalk, &LibGit2::git_revwalk_free>;
using RemotePtr = Owned<git_remote, &LibGit2::git_remote_free>;
using ReferencePtr = Owned<git_reference, &LibGit2::git_reference_free>;
using EntryPtr = Owned<git_tree_entry, &LibGit2::git_tree_entry_free>;

std::string last_git_error() {
  const git_error* error = git2().git_error_last();
  std::string text = error != nullptr && error->message != nullptr ? error->message : "unknown";
  while (!text.empty() && (text.back() == '\n' || text.back() == '.'))
    text.pop_back();
  return redact(text);
}

std::string sha_of(const git_oid& oid) {
  char text[GIT_OID_HEXSZ + 1];
  git2().git_oid_tostr(text, sizeof text, &oid);
  return text;
}

bool is_hex(const std::string& text) {
  for (const unsigned char c : text) {
    if (!std::isxdigit(c))
      return false;
  }
  return !text.empty();
}

// The part of a glob before its first wildcard segment: the directory (or, for a glob without
// wildcards, the file or directory) every path it matches lies in or is. "services/api/**" ->
// "services/api", "libs/*.txt" -> "libs", "**/*.proto" -> "" (anywhere: nothing to prune by).
std::string literal_prefix(std::string_view glob) {
  while (glob.starts_with("./"))
    glob.remove_prefix(2);
  while (glob.starts_with("/"))
    glob.remove_prefix(1);
  while (glob.ends_with("/") && !glob.empty())
    glob.remove_suffix(1);
  std::string out;
  while (!glob.empty()) {
    const std::size_t slash = glob.find('/');
    const std::string_view segment = glob.substr(0, slash);
    if (segment.find_first_of("*?") != std::string_view::npos)
      break;
    out += (out.empty() ? "" : "/") + std::string(segment);
    if (slash == std::string_view::npos)
      break;
    glob.remove_prefix(slash + 1);
  }
  return out;
}

// The host of an http(s) URL ("https://user@git.example.com:8443/x.git" -> "git.example.com").
std::string url_host(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    return "";
  std::string_view authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    return std::string(authority.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  return std::string(authority.substr(0, authority.find(':')));
}

// libgit2 (with mbedTLS, as Debian builds it) replaces its trusted certificates when told of a
// CA file, and the setting is per process. So every configured ca_file is trusted together with
// the system's bundle: one PEM file holding all of them, rewritten when a new one is added.
class TrustedBundle {
 public:
  static TrustedBundle& instance() {
    static TrustedBundle bundle;
    return bundle;
  }
  ~TrustedBundle() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove(path_, ignored);
    }
  }
  // Adds `ca_file` (once) and points libgit2 at the bundle; an error names the unreadable file.
  std::optional<std::string> trust(const std::string& ca_file) {
    std::lock_guard lock(mu_);
    if (!files_.insert(ca_file).second)
      return std::nullopt;
    std::ifstream probe(ca_file);
    if (!probe) {
      files_.erase(ca_file);
      return "cannot read ca_file " + ca_file;
    }
    if (path_.empty()) {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "shipmate-git-ca-XXXXXX").string();
      const int fd = mkstemp(pattern.data());
      if (fd < 0)
        return "cannot create a CA bundle in " + std::filesystem::temp_directory_path().string();
      close(fd);
      path_ = pattern;
    }
    std::ostringstream all;
    for (const char* system :
         {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"}) {
      if (std::ifstream in(system); in) {
        all << in.rdbuf() << "\n";
        break;
      }
    }
    for (const auto& file : files_) {
      std::ifstream in(file);
      all << in.rdbuf() << "\n";
    }
    std::ofstream(path_, std::ios::trunc) << all.str();
    if (git2().git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, path_.c_str(), nullptr) != 0) {
      files_.erase(ca_file);
      return "cannot use ca_file " + ca_file + ": " + last_git_error();
    }
    return std::nullopt;
  }

 private:
  std::mutex mu_;
  std::set<std::string> files_;
  std::string path_;
};

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
  return git2().git_credential_userpass_plaintext_new(out, "x-access-token", state->token->c_str());
}

}  // namespace

struct GitCommitSource::Impl {
  explicit Impl(GitSourceConfig c) : config(std::move(c)) {
    init_libgit2();
    if (!config.token.empty())
      register_secret(config.token);
    // Path pruning: when every glob lies under a literal directory, a commit that leaves those
    // directories' tree ids unchanged touches none of them, and needs no diff at all.
    for (const auto& glob : config.paths) {
      const std::string prefix = literal_prefix(glob);
      if (prefix.empty()) {
        prefixes.clear();
        break;
      }
      if (std::find(prefixes.begin(), prefixes.end(), prefix) == prefixes.end())
        prefixes.push_back(prefix);
    }
  }

  GitSourceConfig config;
  asio::thread_pool pool{1};
  std::mutex mu;  // one libgit2 conversation at a time
  RepoPtr repo;
  std::string configured_url;                // remote.<name>.url as last read
  std::optional<std::string> effective_url;  // the same, insteadOf applied
  std::atomic<int> fetch_count{0};
  std::vector<std::string> prefixes;  // empty: some glob can match anywhere (no pruning)

  std::string label() const { return "git " + config.path; }

  Error fail(const std::string& step, const std::string& why,
             ErrorKind kind = ErrorKind::unavailable) const {
    return make_error(redact(label() + ": " + step + ": " + why), kind);
  }

  Status open() {
    if (repo)
      return Ok{};
    std::string why;
    if (libgit2(&why) == nullptr)
      return fail("open", why);
    git_repository* raw = nullptr;
    if (git2().git_repository_open_ext(&raw, config.path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH,
                                       nullptr) != 0)
      return fail("open", last_git_error(), ErrorKind::not_found);
    repo.reset(raw);
    return Ok{};
  }

  // The remote's URL, insteadOf rules applied, or nothing when the repository has no such remote.
  // libgit2 1.5.1 leaks about 20 KB in every regular-expression match that fails (its pcre2
  // wrapper returns before freeing the match data), and git2().git_remote_lookup() matches each
  // config entry against the insteadOf patterns: a lookup per fetch grew a serve by 0.5 MB per
  // fetch. So the configured URL is read with a plain config read (no pattern) each time, and the
  // full lookup (which applies insteadOf) runs only when that URL is new or changed.
  std::optional<std::string> remote_url() {
    git_config* raw_config = nullptr;
    if (git2().git_repository_config_snapshot(&raw_config, repo.get()) != 0)
      return std::nullopt;
    const Owned<git_config, &LibGit2::git_config_free> snapshot(raw_config);
    const char* configured = nullptr;
    const std::string key = "remote." + config.remote + ".url";
    if (git2().git_config_get_string(&configured, snapshot.get(), key.c_str()) != 0 ||
        configured == nullptr) {
      git2().git_error_clear();
      return std::nullopt;
    }
    if (configured_url != configured || !effective_url) {
      git_remote* raw = nullptr;
      if (git2().git_remote_lookup(&raw, repo.get(), config.remote.c_str()) != 0)
        return std::nullopt;
      const RemotePtr remote(raw);
      const char* url = git2().git_remote_url(remote.get());
      configured_url = configured;
      effective_url = url != nullptr ? url : configured;
    }
    return effective_url;
  }

  bool has_remote() { return remote_url().has_value(); }

  Status fetch() {
    const std::optional<std::string> resolved_url = remote_url();
    if (!resolved_url)
      return fail("fetch", "no remote named " + config.remote, ErrorKind::not_found);
    // An in-memory remote for this one fetch: the explicit refspecs below say where refs land,
    // and its URL already has insteadOf applied (see remote_url()), so nothing reads the config.
    RemotePtr remote;
    {
      git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
      create.repository = repo.get();
      create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
      git_remote* raw = nullptr;
      if (git2().git_remote_create_with_opts(&raw, resolved_url->c_str(), &create) != 0)
        return fail("fetch", last_git_error());
      remote.reset(raw);
    }
    ++fetch_count;
    if (!config.ca_file.empty()) {
      if (auto problem = TrustedBundle::instance().trust(config.ca_file))
        return fail("fetch", *problem);
    }
    git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
    // The proxy as every other client picks it (integrations/net/proxy_env.h): the configured
    // one, else HTTPS_PROXY / HTTP_PROXY, unless NO_PROXY names the host; none for ssh and paths.
    const char* url = git2().git_remote_url(remote.get());
    const std::string remote_url = url != nullptr ? url : "";
    const bool secure = remote_url.starts_with("https://");
    const bool web = secure || remote_url.starts_with("http://");
    const std::optional<std::string> configured =
        config.proxy.empty() ? std::nullopt : std::optional<std::string>(config.proxy);
    const std::optional<std::string> proxy =
        web ? net::detail::proxy_text_for(configured, secure, url_host(remote_url)) : std::nullopt;
    if (proxy) {
      // A password in the proxy URL never reaches a log or a message.
      const std::string host_part = proxy->substr(0, proxy->rfind('@'));
      if (const auto colon = host_part.rfind(':'); proxy->find('@') != std::string::npos &&
                                                   colon != std::string::npos &&
                                                   colon > host_part.find("://") + 2)
        register_secret(host_part.substr(colon + 1));
    }
    options.proxy_opts.type = proxy ? GIT_PROXY_SPECIFIED : GIT_PROXY_NONE;
    if (proxy)
      options.proxy_opts.url = proxy->c_str();
    CredentialPayload payload{&config.token};
    options.callbacks.credentials = credentials;
    options.callbacks.payload = &payload;
    const std::string heads = "+refs/heads/*:refs/remotes/" + config.remote + "/*";
    const std::string tags = "+refs/tags/*:refs/tags/*";
    char* specs[] = {const_cast<char*>(heads.c_str()), const_cast<char*>(tags.c_str())};
    const git_strarray refspecs{specs, 2};
    if (git2().git_remote_fetch(remote.get(), &refspecs, &options,
                                "shipmate: fetch for release notes") != 0)
      return fail("fetch from " + config.remote, last_git_error());
    return Ok{};
  }

  // The commit a name or SHA stands for, without fetching.
  std::optional<std::string> lookup(const std::string& version) {
    for (const std::string& name :
         {"refs/tags/" + version, "refs/remotes/" + config.remote + "/" + version,
          "refs/heads/" + version}) {
      git_reference* raw = nullptr;
      if (git2().git_reference_lookup(&raw, repo.get(), name.c_str()) != 0)
        continue;
      ReferencePtr ref(raw);
      git_object* peeled = nullptr;
      if (git2().git_reference_peel(&peeled, ref.get(), GIT_OBJECT_COMMIT) != 0)
        continue;
      ObjectPtr object(peeled);
      return sha_of(*git2().git_object_id(object.get()));
    }
    if (version.size() >= 7 && version.size() <= GIT_OID_HEXSZ && is_hex(version)) {
      git_oid oid;
      if (git2().git_oid_fromstrn(&oid, version.c_str(), version.size()) != 0)
        return std::nullopt;
      git_object* raw = nullptr;
      if (git2().git_object_lookup_prefix(&raw, repo.get(), &oid, version.size(), GIT_OBJECT_ANY) !=
          0)
        return std::nullopt;
      ObjectPtr object(raw);
      git_object* peeled = nullptr;
      if (git2().git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0)
        return std::nullopt;
      ObjectPtr commit(peeled);
      return sha_of(*git2().git_object_id(commit.get()));
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
    if (git2().git_oid_fromstr(&oid, sha.c_str()) != 0)
      return false;
    git_commit* raw = nullptr;
    if (git2().git_commit_lookup(&raw, repo.get(), &oid) != 0)
      return false;
    git2().git_commit_free(raw);
    return true;
  }

  // Does any of the deltas of `diff` (paths below `prefix`, or whole paths when it is empty)
  // match a glob?
  bool diff_matches(git_diff* diff, const std::string& prefix) const {
    const std::size_t deltas = git2().git_diff_num_deltas(diff);
    std::string path;
    for (std::size_t i = 0; i < deltas; ++i) {
      const git_diff_delta* delta = git2().git_diff_get_delta(diff, i);
      for (const char* side : {delta->new_file.path, delta->old_file.path}) {
        if (side == nullptr)
          continue;
        path = prefix.empty() ? std::string(side) : prefix + "/" + side;
        if (any_glob_matches(config.paths, path))
          return true;
      }
    }
    return false;
  }

  Result<bool> diff_trees(git_tree* old_tree, git_tree* new_tree, const std::string& prefix) {
    git_diff_options options = GIT_DIFF_OPTIONS_INIT;
    options.flags = GIT_DIFF_SKIP_BINARY_CHECK;
    git_diff* raw = nullptr;
    if (git2().git_diff_tree_to_tree(&raw, repo.get(), old_tree, new_tree, &options) != 0)
      return fail("diff", last_git_error());
    DiffPtr diff(raw);
    return diff_matches(diff.get(), prefix);
  }

  // The entry at `path` in `tree` (null when there is none).
  EntryPtr entry_at(git_tree* tree, const std::string& path) {
    git_tree_entry* raw = nullptr;
    if (tree == nullptr || git2().git_tree_entry_bypath(&raw, tree, path.c_str()) != 0)
      return EntryPtr();
    return EntryPtr(raw);
  }

  // What changed below `prefix` between the two trees, matched against the globs. Equal ids
  // (or none on both sides) mean nothing changed there: no diff is computed.
  Result<bool> touches_below(git_tree* old_root, git_tree* new_root, const std::string& prefix) {
    const EntryPtr old_entry = entry_at(old_root, prefix);
    const EntryPtr new_entry = entry_at(new_root, prefix);
    if (!old_entry && !new_entry)
      return false;
    if (old_entry && new_entry &&
        git2().git_oid_equal(git2().git_tree_entry_id(old_entry.get()),
                             git2().git_tree_entry_id(new_entry.get())))
      return false;
    const bool old_is_tree =
        !old_entry || git2().git_tree_entry_type(old_entry.get()) == GIT_OBJECT_TREE;
    const bool new_is_tree =
        !new_entry || git2().git_tree_entry_type(new_entry.get()) == GIT_OBJECT_TREE;
    if (!old_is_tree || !new_is_tree) {
      // A file at the prefix itself (a glob naming a file, or a directory replaced by one).
      if (any_glob_matches(config.paths, prefix))
        return true;
      if (old_is_tree && new_is_tree)
        return false;
    }
    TreePtr old_tree;
    TreePtr new_tree;
    for (auto [entry, out] :
         {std::pair{old_entry.get(), &old_tree}, std::pair{new_entry.get(), &new_tree}}) {
      if (entry == nullptr || git2().git_tree_entry_type(entry) != GIT_OBJECT_TREE)
        continue;
      git_tree* raw = nullptr;
      if (git2().git_tree_lookup(&raw, repo.get(), git2().git_tree_entry_id(entry)) != 0)
        return fail("read tree", last_git_error());
      out->reset(raw);
    }
    return diff_trees(old_tree.get(), new_tree.get(), prefix);
  }

  // Does `commit` change a path that one of the globs matches? Against its first parent (the
  // empty tree for a root commit); pruned to the globs' literal directories when they have them.
  Result<bool> touches_paths(git_commit* commit) {
    TreePtr tree;
    TreePtr parent_tree;
    {
      git_tree* raw = nullptr;
      if (git2().git_commit_tree(&raw, commit) != 0)
        return fail("read tree", last_git_error());
      tree.reset(raw);
    }
    if (git2().git_commit_parentcount(commit) > 0) {
      git_commit* parent = nullptr;
      if (git2().git_commit_parent(&parent, commit, 0) != 0)
        return fail("read parent", last_git_error());
      CommitPtr owned_parent(parent);
      git_tree* raw = nullptr;
      if (git2().git_commit_tree(&raw, parent) != 0)
        return fail("read tree", last_git_error());
      parent_tree.reset(raw);
    }
    if (prefixes.empty())
      return diff_trees(parent_tree.get(), tree.get(), "");
    for (const auto& prefix : prefixes) {
      auto touched = touches_below(parent_tree.get(), tree.get(), prefix);
      if (!touched || *touched)
        return touched;
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
    git2().git_oid_fromstr(&from_oid, from.c_str());
    git2().git_oid_fromstr(&to_oid, to.c_str());
    WalkPtr walk;
    {
      git_revwalk* raw = nullptr;
      if (git2().git_revwalk_new(&raw, repo.get()) != 0)
        return fail("walk", last_git_error());
      walk.reset(raw);
    }
    git2().git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    if (git2().git_revwalk_push(walk.get(), &to_oid) != 0 ||
        git2().git_revwalk_hide(walk.get(), &from_oid) != 0)
      return fail("walk", last_git_error());
    std::vector<SourceCommit> commits;
    git_oid oid;
    while (git2().git_revwalk_next(&oid, walk.get()) == 0) {
      git_commit* raw = nullptr;
      if (git2().git_commit_lookup(&raw, repo.get(), &oid) != 0)
        return fail("read commit " + sha_of(oid), last_git_error());
      CommitPtr commit(raw);
      const int parents = static_cast<int>(git2().git_commit_parentcount(commit.get()));
      if (!config.paths.empty() && parents <= 1) {
        auto touches = touches_paths(commit.get());
        if (!touches)
          return touches.error();
        if (!*touches)
          continue;
      }
      SourceCommit out;
      out.sha = sha_of(oid);
      const char* message = git2().git_commit_message(commit.get());
      split_commit_message(message != nullptr ? message : "", out.subject, out.body);
      const git_signature* author = git2().git_commit_author(commit.get());
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
