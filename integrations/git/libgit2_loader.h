// libgit2, loaded when the first release-notes source opens a clone instead of at process start.
//
// Why: linking libgit2 makes every Shipmate process map it and the libraries it needs (mbedTLS,
// libssh2, pcre2, http-parser: about 0.75 MB resident) although only services with release notes
// from a clone use it. GitCommitSource (git_commit_source.cpp) is the only user and calls libgit2
// through this table.
//
// Contract
// - Threading: libgit2() may be called from any thread; the library is loaded once (the first
//   call) and never unloaded; the table is immutable afterwards.
// - Errors: when libgit2 cannot be loaded (not installed, a missing symbol), libgit2() returns
//   nullptr and `why` (when given) says so in one sentence naming the library and its package.
// - Types, constants and the *_INIT macros still come from <git2.h> (a header only).
#pragma once

#include <git2.h>

#include <string>

#define SHIPMATE_LIBGIT2_FUNCTIONS(X)      \
  X(git_commit_author)                     \
  X(git_commit_free)                       \
  X(git_commit_lookup)                     \
  X(git_commit_message)                    \
  X(git_commit_parent)                     \
  X(git_commit_parentcount)                \
  X(git_commit_tree)                       \
  X(git_config_free)                       \
  X(git_config_get_string)                 \
  X(git_credential_userpass_plaintext_new) \
  X(git_diff_free)                         \
  X(git_diff_get_delta)                    \
  X(git_diff_num_deltas)                   \
  X(git_diff_tree_to_tree)                 \
  X(git_error_clear)                       \
  X(git_error_last)                        \
  X(git_libgit2_init)                      \
  X(git_libgit2_opts)                      \
  X(git_object_free)                       \
  X(git_object_id)                         \
  X(git_object_lookup_prefix)              \
  X(git_object_peel)                       \
  X(git_oid_equal)                         \
  X(git_oid_fromstr)                       \
  X(git_oid_fromstrn)                      \
  X(git_oid_tostr)                         \
  X(git_reference_free)                    \
  X(git_reference_lookup)                  \
  X(git_reference_peel)                    \
  X(git_remote_create_with_opts)           \
  X(git_remote_fetch)                      \
  X(git_remote_free)                       \
  X(git_remote_lookup)                     \
  X(git_remote_url)                        \
  X(git_repository_config_snapshot)        \
  X(git_repository_free)                   \
  X(git_repository_open_ext)               \
  X(git_revwalk_free)                      \
  X(git_revwalk_hide)                      \
  X(git_revwalk_new)                       \
  X(git_revwalk_next)                      \
  X(git_revwalk_push)                      \
  X(git_revwalk_sorting)                   \
  X(git_tree_entry_bypath)                 \
  X(git_tree_entry_free)                   \
  X(git_tree_entry_id)                     \
  X(git_tree_entry_type)                   \
  X(git_tree_free)                         \
  X(git_tree_lookup)

namespace shipmate::integrations {

struct LibGit2 {
#define SHIPMATE_LIBGIT2_MEMBER(name) decltype(&::name) name;
  SHIPMATE_LIBGIT2_FUNCTIONS(SHIPMATE_LIBGIT2_MEMBER)
#undef SHIPMATE_LIBGIT2_MEMBER
};

// The loaded library's functions, or nullptr (and `why`) when it cannot be loaded.
const LibGit2* libgit2(std::string* why = nullptr);

}  // namespace shipmate::integrations
