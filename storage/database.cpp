#include "storage/database.h"

#include <chrono>

#include <pthread.h>
#include <sqlite3.h>

#include <atomic>
#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/migrations.h"
#include "storage/postgres.h"
#include "storage/single_writer_vfs.h"

namespace shipmate::storage {

namespace {

// Page size of a database opened for the first time (SQLite's default is 4096). Every page a
// commit changes is one WAL frame that SQLite checksums and writes whole: a chat command's commit
// changes four or five pages by a few dozen bytes each, so smaller pages cost less per commit
// (bench/README.md, session 13: 8% fewer instructions per command, 1 MB less peak RSS). An existing
// database keeps the page size it was made with. With 1 KB pages, Database::kCheckpointPages
// (4000) is a 4 MB WAL.
constexpr int kNewDatabasePageSize = 1024;

using detail::one_line;
using detail::sql_excerpt;

constexpr int kBusyTimeoutMs = 2000;
constexpr std::size_t kSqlExcerptLength = 60;

// Carries SQLite's own message and result code, so that Database::open can turn a failure into
// a sentence with a hint instead of re-parsing exception text.
class SqliteFailure : public StorageError {
 public:
  SqliteFailure(const std::string& what, std::string sqlite_message, int code)
      : StorageError(what), sqlite_message_(std::move(sqlite_message)), code_(code) {}
  const std::string& sqlite_message() const { return sqlite_message_; }
  int code() const { return code_; }

 private:
  std::string sqlite_message_;
  int code_;
};

std::string_view hint_for(int code) {
  switch (code & 0xff) {
    case SQLITE_CANTOPEN:
      return "does the directory exist and is it writable?";
    case SQLITE_NOTADB:
      return "the file exists but is not an SQLite database; check the path";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "another process kept it locked for more than 2 s; is a second Shipmate using it?";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return "check the permissions of the file and its directory";
    case SQLITE_CORRUPT:
      return "the file is damaged; restore it from a backup";
    case SQLITE_FULL:
      return "the disk is full";
    case SQLITE_IOERR:
      return "the disk or filesystem reported an I/O error";
    default:
      return {};
  }
}

Error open_error(const std::string& path, std::string_view sqlite_message, int code) {
  std::string message = "cannot open database " + path + ": " + std::string(sqlite_message);
  std::error_code ignored;
  std::string_view hint = hint_for(code);
  // SQLite says "unable to open database file" for a directory too; asking whether the directory
  // exists would send the reader the wrong way.
  if ((code & 0xff) == SQLITE_CANTOPEN && std::filesystem::is_directory(path, ignored)) {
    hint = "that path is a directory; name a file inside it";
  }
  if (!hint.empty()) {
    message += " (";
    message += hint;
    message += ")";
  }
  return make_error(one_line(std::move(message)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Statement

// Idle prepared statements by SQL text. Bounded: SQL built at run time (IN lists and the like)
// past kMaxDistinct texts is prepared and finalized as before.
struct StatementCache {
  static constexpr std::size_t kMaxDistinct = 256;
  // Looked up by string_view, so finding a statement allocates nothing.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>, Hash, std::equal_to<>> idle;
  bool closed = false;

  void close() {
    closed = true;
    for (auto& [sql, list] : idle) {
      for (auto* statement : list)
        sqlite3_finalize(statement);
      list.clear();
    }
  }
};

Statement::Statement(Database& db, std::string_view sql) : db_(&db) {
  if (db.pg_) {
    pg_ = std::make_unique<detail::PgStatement>(*db.pg_, sql);
    return;
  }
  if (auto& cache = db.statements_; cache && !cache->closed) {
    auto found = cache->idle.find(sql);
    if (found == cache->idle.end() && cache->idle.size() < StatementCache::kMaxDistinct)
      found = cache->idle.emplace(std::string(sql), std::vector<sqlite3_stmt*>{}).first;
    if (found != cache->idle.end()) {
      cache_ = cache;
      idle_list_ = &found->second;
      if (!found->second.empty()) {
        stmt_ = found->second.back();
        found->second.pop_back();
        return;
      }
    }
  }
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &stmt_, &tail);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    db.throw_error("cannot prepare " + sql_excerpt(sql));
  }
  if (stmt_ == nullptr)
    throw StorageError("no SQL statement in " + sql_excerpt(sql));
}

Statement::~Statement() {
  if (stmt_ == nullptr)
    return;
  if (cache_ && !cache_->closed) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    idle_list_->push_back(stmt_);
    return;
  }
  sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      cache_(std::move(other.cache_)),
      idle_list_(other.idle_list_),
      pg_(std::move(other.pg_)) {}

Statement& Statement::bind(int index, std::int64_t value) {
  if (pg_) {
    pg_->bind(index, value);
    return *this;
  }
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) {
    db_->throw_error("cannot bind parameter " + std::to_string(index) + " of " +
                     sql_excerpt(sqlite3_sql(stmt_)));
  }
  return *this;
}

namespace {

// Binds text to a SQLite statement: copied at the bind (SQLITE_TRANSIENT) or read from the
// caller's buffer at the step (SQLITE_STATIC).
void bind_sqlite_text(const Database& db, sqlite3_stmt* stmt, int index, std::string_view value,
                      sqlite3_destructor_type lifetime) {
  // An empty view may have a null data pointer, which SQLite would bind as NULL rather than ''.
  const char* data = value.data() != nullptr ? value.data() : "";
  if (sqlite3_bind_text64(stmt, index, data, value.size(), lifetime, SQLITE_UTF8) != SQLITE_OK) {
    db.throw_error("cannot bind parameter " + std::to_string(index) + " of " +
                   sql_excerpt(sqlite3_sql(stmt)));
  }
}

}  // namespace

Statement& Statement::bind(int index, std::string_view value) {
  if (pg_)
    pg_->bind(index, value);
  else
    bind_sqlite_text(*db_, stmt_, index, value, SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_borrowed(int index, std::string_view value) {
  if (pg_)
    pg_->bind(index, value);
  else
    bind_sqlite_text(*db_, stmt_, index, value, SQLITE_STATIC);
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (pg_) {
    pg_->bind_null(index);
    return *this;
  }
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) {
    db_->throw_error("cannot bind parameter " + std::to_string(index) + " of " +
                     sql_excerpt(sqlite3_sql(stmt_)));
  }
  return *this;
}

// An absent value is a NULL of the value's type on PostgreSQL (see postgres.h).
Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
  if (value)
    return bind(index, *value);
  if (pg_) {
    pg_->bind_null_int8(index);
    return *this;
  }
  return bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::string>& value) {
  if (value)
    return bind(index, std::string_view(*value));
  if (pg_) {
    pg_->bind_null_text(index);
    return *this;
  }
  return bind_null(index);
}

bool Statement::step() {
  if (pg_)
    return pg_->step();
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  db_->throw_error("SQLite failed on " + sql_excerpt(sqlite3_sql(stmt_)));
}

void Statement::run() {
  if (pg_)
    return pg_->run();
  while (step()) {
  }
  // Resetting releases the statement's hold on the database and readies it for new bindings.
  sqlite3_reset(stmt_);
}

void Statement::send() {
  if (!pg_)
    throw StorageError("Statement::send() is for PostgreSQL only");
  pg_->send();
}

std::int64_t Statement::scalar() {
  const std::int64_t value = step() ? column_int64(0) : 0;
  reset();
  return value;
}

void Statement::reset() {
  if (pg_)
    return pg_->reset();
  sqlite3_reset(stmt_);
}

std::int64_t Statement::column_int64(int index) const {
  if (pg_)
    return pg_->column_int64(index);
  return sqlite3_column_int64(stmt_, index);
}

std::string Statement::column_text(int index) const {
  if (pg_)
    return pg_->column_text(index);
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  if (text == nullptr)
    return {};
  // Measured after fetching the text, as SQLite documents, so a conversion is accounted for.
  const int size = sqlite3_column_bytes(stmt_, index);
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

bool Statement::column_is_null(int index) const {
  if (pg_)
    return pg_->column_is_null(index);
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

std::optional<std::int64_t> Statement::column_optional_int64(int index) const {
  if (column_is_null(index))
    return std::nullopt;
  return column_int64(index);
}

// ---------------------------------------------------------------------------------------------
// Checkpointer

// Runs PASSIVE checkpoints on its own thread and connection when asked. PASSIVE never waits
// for a lock and never blocks the writer: it copies what it can, and SQLite restarts the WAL
// from the beginning at the next commit once everything has been copied.
class Checkpointer {
 public:
  Checkpointer(std::string path, int pages)
      : path_(std::move(path)), pages_(pages), writer_pages_(kWriterFactor * pages) {}
  ~Checkpointer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable())
      thread_.join();
    sqlite3_close_v2(db_);
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Called from the writer's thread after a commit; returns at once.
  void request() {
    {
      std::lock_guard lock(mutex_);
      if (requested_ || stopping_)
        return;
      requested_ = true;
      requests_.fetch_add(1, std::memory_order_relaxed);
      if (!thread_.joinable())
        thread_ = std::thread([this] {
          pthread_setname_np(pthread_self(), "sqlite-ckpt");  // as top -H and perf show it
          // Normal priority on purpose. At nice 19 or SCHED_IDLE it was starved on a busy
          // machine while holding the checkpoint lock, which kept the writer's own checkpoint
          // (the valve below) from running, and the WAL grew.
          run();
        });
    }
    wake_.notify_one();
  }

  // sqlite3_wal_hook callback: `pages` is the WAL's size after the commit.
  static int on_commit(void* self_pointer, sqlite3* db, const char*, int pages) {
    auto* self = static_cast<Checkpointer*>(self_pointer);
    // The WAL starts over only once a checkpoint has copied all of it, which a background pass
    // never manages while commits keep coming. Past this size the writer finishes the job
    // itself (most pages are already copied), so sustained load cannot grow the WAL forever.
    // Background passes stand aside meanwhile: one in progress makes the writer's attempt
    // return at once, and the next commit tries again.
    // A WAL that starts over begins again at its first frame, so a commit that leaves it
    // shorter than the one before came right after a restart.
    if (pages < self->last_pages_.load(std::memory_order_relaxed)) {
      self->restarts_.fetch_add(1, std::memory_order_relaxed);
      self->next_request_pages_ = self->pages_;
    }
    self->last_pages_.store(pages, std::memory_order_relaxed);
    self->commits_.fetch_add(1, std::memory_order_relaxed);
    if (pages >= self->writer_pages_) {
      self->writer_turn_.store(true);
      int wal_frames = -1;
      int copied = -1;
      const int rc =
          sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
      if (rc == SQLITE_OK && wal_frames >= 0 && copied == wal_frames)
        self->writer_checkpoints_.fetch_add(1, std::memory_order_relaxed);
      else
        // Unfinished (a background pass held the lock, or a reader pinned old frames). The next
        // commit tries again; if none comes, the background finishes it after a quiet spell.
        self->request();
      return SQLITE_OK;
    }
    self->writer_turn_.store(false);
    // Past the threshold, a pass is asked for again only after the WAL grew by another quarter
    // of it. While commits keep coming, a pass rarely finishes between two of them, so the WAL
    // cannot start over and every commit stays past the threshold: asking after each one kept
    // the background thread copying a few frames and syncing two files per commit (at one
    // command in flight a quarter of the bot's CPU and 5.8 of its 14.7 system calls per command).
    if (pages >= self->next_request_pages_) {
      self->next_request_pages_ = pages + std::max(1, self->pages_ / 4);
      self->request();
    }
    return SQLITE_OK;
  }
  static constexpr int kWriterFactor = 6;

  WalCounters counters() const {
    return {restarts_.load(std::memory_order_relaxed),
            writer_checkpoints_.load(std::memory_order_relaxed),
            requests_.load(std::memory_order_relaxed), passes_.load(std::memory_order_relaxed),
            static_cast<std::uint64_t>(last_pages_.load(std::memory_order_relaxed))};
  }

 private:
  void run() {
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return requested_ || stopping_; });
        if (stopping_)
          return;
        requested_ = false;
        if (writer_turn_.load()) {
          // The writer checkpoints at its own commits now; a pass here would only make its
          // attempt return busy. Once commits stop, though, nothing would copy the rest (the
          // WAL would stay long and the database file short until the next write), so the
          // pass runs when no commit came for a quiet spell.
          const std::uint64_t seen = commits_.load(std::memory_order_relaxed);
          if (wake_.wait_for(lock, kQuietSpell, [this] { return stopping_; }))
            return;
          if (commits_.load(std::memory_order_relaxed) != seen)
            continue;
        }
      }
      checkpoint();
      passes_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  static constexpr std::chrono::milliseconds kQuietSpell{100};

  void checkpoint() {
    if (db_ == nullptr) {
      // The schema read makes the new connection open the WAL; until something has been read,
      // a checkpoint on it does nothing (and says so only through a -1 frame count).
      // The same VFS as the writer's connection, so that the two settle their WAL index locks
      // in memory (single_writer_vfs.h).
      if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                          register_single_writer_vfs()) != SQLITE_OK ||
          sqlite3_exec(db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) !=
              SQLITE_OK) {
        // Nothing to report to: the WAL keeps growing and the next request tries again.
        sqlite3_close_v2(db_);
        db_ = nullptr;
        return;
      }
    }
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }

  std::string path_;
  int pages_;
  int writer_pages_;
  std::atomic<bool> writer_turn_{false};
  int next_request_pages_ = pages_;  // the writer's thread only
  // Atomic so that a test may read them from any thread; written by the writer's thread only.
  std::atomic<std::uint64_t> restarts_{0};
  std::atomic<std::uint64_t> writer_checkpoints_{0};
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> requests_{0};  // written under mutex_
  std::atomic<std::uint64_t> passes_{0};    // written by thread_
  std::atomic<int> last_pages_{0};          // the WAL's length after the last commit
  sqlite3* db_ = nullptr;                   // used only on thread_
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Database

Database::Database(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)), statements_(std::make_shared<StatementCache>()) {}

Database::Database(std::unique_ptr<detail::PgConnection> pg)
    : db_(nullptr), path_(pg->description()), pg_(std::move(pg)) {}

bool Database::is_postgresql(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string Database::postgresql_uri_problem(const std::string& uri, bool password_allowed) {
  return detail::PgConnection::uri_problem(uri, password_allowed);
}

std::string Database::with_uri_parameters(
    std::string uri, const std::vector<std::pair<std::string, std::string>>& parameters) {
  constexpr std::string_view kUnreserved = "-._~/";
  for (const auto& [key, value] : parameters) {
    uri += uri.find('?') == std::string::npos ? '?' : '&';
    uri += key;
    uri += '=';
    for (unsigned char c : value) {
      if (std::isalnum(c) || kUnreserved.find(static_cast<char>(c)) != std::string_view::npos) {
        uri += static_cast<char>(c);
      } else {
        constexpr std::string_view kHex = "0123456789ABCDEF";
        uri += '%';
        uri += kHex[c >> 4];
        uri += kHex[c & 0x0f];
      }
    }
  }
  return uri;
}

Result<std::unique_ptr<Database>> Database::open_postgresql(const std::string& uri,
                                                            bool read_only) {
  auto connection = detail::PgConnection::connect(uri);
  if (!connection)
    return connection.error();
  std::unique_ptr<Database> db(new Database(std::move(connection).value()));
  try {
    if (read_only) {
      db->exec("SET default_transaction_read_only = on");
      const int version = db->schema_version();
      const int latest = detail::latest_postgresql_schema_version();
      if (version != latest) {
        return Error{"cannot read the database " + db->path() + ": its schema is version " +
                     std::to_string(version) + " and this build reads version " +
                     std::to_string(latest) +
                     (version < latest ? "; start `shipmate serve` once to migrate it"
                                       : "; it was written by a newer Shipmate")};
      }
    } else {
      db->migrate();
    }
  } catch (const StorageError& failure) {
    return make_error("cannot open database " + db->path() + ": " + failure.what());
  }
  return db;
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path, int checkpoint_pages) {
  if (is_postgresql(path))
    return open_postgresql(path, false);
  // SQLite's memory statistics take a global mutex on every allocation it makes; nothing here
  // reads them. Only possible before SQLite initializes, so the first open does it (a no-op
  // later).
  static std::once_flag no_memstatus;
  std::call_once(no_memstatus, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* handle = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  // WAL index locks settled in memory, one write per commit (single_writer_vfs.h).
  const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, register_single_writer_vfs());
  if (rc != SQLITE_OK) {
    std::string message = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    const int code = handle != nullptr ? sqlite3_extended_errcode(handle) : rc;
    sqlite3_close_v2(handle);
    return open_error(path, message, code);
  }
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, kBusyTimeoutMs);
  std::unique_ptr<Database> db(new Database(handle, path));

  try {
    // SQLite reads the file lazily; touching the schema now makes "not a database", "locked" and
    // "corrupt" show up here, with the path, instead of in the middle of the first command.
    db->exec("SELECT count(*) FROM sqlite_master");
    if (path != ":memory:") {
      // Only a new, empty database takes it (an existing file keeps the page size it was made
      // with); it has to come before WAL mode, which fixes the page size once set.
      db->exec("PRAGMA page_size=" + std::to_string(kNewDatabasePageSize));
      // The pragma answers with the resulting mode; the statement has to be stepped to apply it.
      Statement wal = db->prepare("PRAGMA journal_mode=WAL");
      wal.step();
      // Replaces SQLite's automatic checkpoint, which would run inside a commit.
      db->checkpointer_ = std::make_unique<Checkpointer>(path, checkpoint_pages);
      sqlite3_wal_hook(handle, &Checkpointer::on_commit, db->checkpointer_.get());
    }
    db->exec("PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA foreign_keys=ON");
    // Always takes the write lock, even when there is nothing to migrate, so a read-only file or
    // another process holding the database is reported now rather than at the first write.
    db->migrate();
  } catch (const SqliteFailure& failure) {
    return open_error(path, failure.sqlite_message(), failure.code());
  } catch (const StorageError& failure) {
    return open_error(path, failure.what(), SQLITE_OK);
  }
  return db;
}

Result<std::unique_ptr<Database>> Database::open_read_only(const std::string& path) {
  if (is_postgresql(path))
    return open_postgresql(path, true);
  sqlite3* handle = nullptr;
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    const int code = handle != nullptr ? sqlite3_extended_errcode(handle) : rc;
    sqlite3_close_v2(handle);
    return open_error(path, message, code);
  }
  sqlite3_extended_result_codes(handle, 1);
  sqlite3_busy_timeout(handle, kBusyTimeoutMs);
  std::unique_ptr<Database> db(new Database(handle, path));
  try {
    db->exec("SELECT count(*) FROM sqlite_master");
    const int version = db->schema_version();
    const int latest = detail::latest_schema_version();
    if (version != latest) {
      return Error{"cannot read the database " + path + ": its schema is version " +
                   std::to_string(version) + " and this build reads version " +
                   std::to_string(latest) +
                   (version < latest ? "; start `shipmate serve` once to migrate it"
                                     : "; it was written by a newer Shipmate")};
    }
  } catch (const SqliteFailure& failure) {
    return open_error(path, failure.sqlite_message(), failure.code());
  } catch (const StorageError& failure) {
    return open_error(path, failure.what(), SQLITE_OK);
  }
  return db;
}

Database::~Database() {
  if (pg_) {
    statements_.reset();
    return;  // pg_ closes the connection
  }
  // The checkpointer's connection closes first, so this one is the last and SQLite checkpoints
  // and removes the WAL as it closes.
  sqlite3_wal_hook(db_, nullptr, nullptr);
  checkpointer_.reset();
  statements_->close();
  sqlite3_close_v2(db_);
}

WalCounters Database::wal_counters() const {
  return checkpointer_ ? checkpointer_->counters() : WalCounters{};
}

void Database::tag_statements(std::optional<std::size_t> tag) {
  if (pg_)
    pg_->tag_statements(tag);
}

void Database::exec(std::string_view sql) {
  if (pg_)
    return pg_->exec(sql);
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    throw_error("SQLite failed on " + sql_excerpt(sql));
  }
}

void Database::run_prepared(std::string_view sql) {
  Statement(*this, sql).run();
}

int Database::changes() const {
  if (pg_)
    return pg_->changes();
  return sqlite3_changes(db_);
}

std::int64_t Database::last_insert_rowid() const {
  if (pg_)
    throw StorageError("last_insert_rowid() is SQLite-only; use INSERT ... RETURNING id");
  return sqlite3_last_insert_rowid(db_);
}

int Database::schema_version() {
  if (pg_) {
    Statement exists = prepare("SELECT to_regclass('shipmate_schema') IS NOT NULL");
    if (!exists.step() || exists.column_int64(0) == 0)
      return 0;
    Statement query = prepare("SELECT COALESCE(MAX(version), 0) FROM shipmate_schema");
    query.step();
    return static_cast<int>(query.column_int64(0));
  }
  Statement query = prepare("PRAGMA user_version");
  query.step();
  return static_cast<int>(query.column_int64(0));
}

void Database::throw_error(std::string_view what) const {
  std::string message = sqlite3_errmsg(db_);
  // Refused by a constraint: the same error type PostgreSQL's class 23 gives, so stores handle
  // a lost race (a second live deploy, say) once for both backends.
  if ((sqlite3_extended_errcode(db_) & 0xff) == SQLITE_CONSTRAINT)
    throw ConstraintError(one_line(std::string(what) + ": " + message));
  throw SqliteFailure(one_line(std::string(what) + ": " + message), message,
                      sqlite3_extended_errcode(db_));
}

void Database::begin() {
  if (pg_)
    return pg_->begin();
  run_prepared("BEGIN IMMEDIATE");
}

void Database::commit() {
  if (commit_histogram_ == nullptr) {
    if (pg_)
      return pg_->commit();
    run_prepared("COMMIT");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  if (pg_)
    pg_->commit();
  else
    run_prepared("COMMIT");
  commit_histogram_->observe_nanoseconds(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count());
}

void Database::rollback_quietly() noexcept {
  if (pg_) {
    pg_->rollback_quietly();
  } else if (sqlite3_get_autocommit(db_) == 0) {
    // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL); a second ROLLBACK
    // would only produce an error nobody can act on.
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  for (auto* observer : rollback_observers_)
    observer->rolled_back();
}

void Database::remove_rollback_observer(RollbackObserver* observer) {
  std::erase(rollback_observers_, observer);
}

void Database::migrate() {
  detail::apply_migrations(*this);
}

}  // namespace shipmate::storage
