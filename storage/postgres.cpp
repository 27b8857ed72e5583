#include "storage/postgres.h"

#include <cctype>
#include <charconv>
#include <utility>

#include "common/redact.h"
#include "storage/database.h"
#include "storage/kept_plan.h"
#include "storage/libpq_loader.h"

namespace shipmate::storage::detail {
namespace {

// Type OIDs from PostgreSQL's pg_type catalogue (stable across versions).
constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;
constexpr Oid kUntyped = 0;

// libpq's functions. Reached only after connect() or uri_problem() found the library loaded
// (a PgConnection exists only when it is).
const LibPq& api() {
  return *libpq();
}

// The URI's parts, for a description without the password; the password is registered as a
// secret so no message can carry it.
std::string describe(const std::string& uri) {
  if (libpq() == nullptr)
    return "postgresql://(libpq not loaded)";
  char* parse_error = nullptr;
  PQconninfoOption* options = api().conninfo_parse(uri.c_str(), &parse_error);
  if (options == nullptr) {
    api().freemem(parse_error);
    return "postgresql://(unparsable URI)";
  }
  std::string user, host, port, dbname;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr)
      continue;
    const std::string_view keyword = option->keyword;
    if (keyword == "password")
      register_secret(option->val);
    else if (keyword == "user")
      user = option->val;
    else if (keyword == "host")
      host = option->val;
    else if (keyword == "port")
      port = option->val;
    else if (keyword == "dbname")
      dbname = option->val;
  }
  api().conninfo_free(options);
  std::string out = "postgresql://";
  if (!user.empty())
    out += user + "@";
  out += host;
  if (!port.empty())
    out += ":" + port;
  out += "/" + dbname;
  return out;
}

void ignore_notice(void*, const char*) {}

}  // namespace

std::string sql_excerpt(std::string_view sql) {
  constexpr std::size_t kLength = 60;
  std::string out;
  bool pending_space = false;
  for (char c : sql) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space)
      out += ' ';
    pending_space = false;
    out += c;
    if (out.size() >= kLength) {
      out += "...";
      break;
    }
  }
  return "\"" + out + "\"";
}

std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  for (char& c : text) {
    if (c == '\n' || c == '\r')
      c = ' ';
  }
  return text;
}

std::string postgres_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  int highest = 0;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      // A quoted string or identifier; a doubled quote inside it is an escaped quote.
      const std::size_t close = sql.find(c, i + 1);
      const std::size_t end = close == std::string_view::npos ? sql.size() : close + 1;
      out.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const std::size_t newline = sql.find('\n', i);
      const std::size_t end = newline == std::string_view::npos ? sql.size() : newline;
      out.append(sql.substr(i, end - i));
      i = end;
      continue;
    }
    if (c != '?') {
      out += c;
      ++i;
      continue;
    }
    std::size_t digits = i + 1;
    while (digits < sql.size() && std::isdigit(static_cast<unsigned char>(sql[digits])))
      ++digits;
    int number = highest + 1;
    if (digits > i + 1)
      std::from_chars(sql.data() + i + 1, sql.data() + digits, number);
    highest = std::max(highest, number);
    out += '$';
    out += std::to_string(number);
    i = digits;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PgConnection

std::string PgConnection::uri_problem(const std::string& uri, bool password_allowed) {
  std::string why;
  if (libpq(&why) == nullptr)
    return why;
  char* parse_error = nullptr;
  PQconninfoOption* options = api().conninfo_parse(uri.c_str(), &parse_error);
  if (options == nullptr) {
    std::string message = parse_error != nullptr ? one_line(parse_error) : "out of memory";
    api().freemem(parse_error);
    return redact("the PostgreSQL URI is not one libpq understands: " + message);
  }
  bool has_password = false;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val != nullptr && std::string_view(option->keyword) == "password" &&
        *option->val != '\0') {
      register_secret(option->val);
      has_password = true;
    }
  }
  api().conninfo_free(options);
  if (has_password && !password_allowed) {
    return "the PostgreSQL URI carries a password, and credentials are never written in the "
           "file: give the whole URI by reference (database: {secret: name}), or leave the "
           "password out and let libpq find it (PGPASSFILE, ~/.pgpass)";
  }
  return {};
}

Result<std::unique_ptr<PgConnection>> PgConnection::connect(const std::string& uri) {
  std::string why;
  if (libpq(&why) == nullptr)
    return make_error(why);
  std::string description = describe(uri);
  PGconn* conn = api().connectdb(uri.c_str());
  if (conn == nullptr)
    return make_error("cannot connect to " + description + ": libpq is out of memory");
  if (api().status(conn) != CONNECTION_OK) {
    std::string message = one_line(api().error_message(conn));
    api().finish(conn);
    return make_error(redact("cannot connect to " + description + ": " + message));
  }
  api().set_notice_processor(conn, &ignore_notice, nullptr);
  // Prepared statements (see prepared()) are planned at every execution with its parameters and
  // the tables as they are then: a generic plan made once, when a table was still empty, would
  // keep scanning it sequentially long after it has grown. Kept plans: keep_plans().
  PGresult* set = api().exec(conn, "SET plan_cache_mode = force_custom_plan");
  const bool set_ok = api().result_status(set) == PGRES_COMMAND_OK;
  api().clear(set);
  if (!set_ok) {
    const std::string message = one_line(api().error_message(conn));
    api().finish(conn);
    return make_error(redact("cannot set up the connection to " + description + ": " + message));
  }
  return std::unique_ptr<PgConnection>(new PgConnection(conn, std::move(description)));
}

PgConnection::~PgConnection() {
  api().finish(conn_);
}

void PgConnection::exec(std::string_view sql) {
  // Several statements in one string need the simple protocol, which pipeline mode refuses: the
  // rest of a transaction runs outside it, with every statement planned as usual.
  if (keeping_plans_)
    keep_plans(false);
  if (pipelined_) {
    settle();
    leave_pipeline();
  }
  const std::string text(sql);
  PGresult* result = api().exec(conn_, text.c_str());
  const ExecStatusType status = api().result_status(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw_error("PostgreSQL failed on " + sql_excerpt(sql), result);
  api().clear(result);
}

void PgConnection::begin() {
  if (pipelined_ || api().enter_pipeline_mode == nullptr || api().enter_pipeline_mode(conn_) != 1) {
    exec("BEGIN");
    keeping_at_begin_ = keeping_plans_;
    return;
  }
  pipelined_ = true;
  keeping_at_begin_ = keeping_plans_;
  try {
    send_command("BEGIN");
  } catch (...) {
    // Database::transaction() does not roll back a BEGIN that threw.
    rollback_quietly();
    throw;
  }
}

void PgConnection::commit() {
  if (!pipelined_) {
    exec("COMMIT");
    return;
  }
  send_command("COMMIT");
  settle();
  leave_pipeline();
}

int PgConnection::changes() {
  settle();
  return changes_;
}

void PgConnection::send_command(const char* sql) {
  // Prepared like any statement (BEGIN and COMMIT at every transaction): an unnamed one was
  // parsed again each time, about 21,000 of the server's instructions per transaction.
  const std::string* name = prepared(std::string(sql), {});
  const int sent =
      name != nullptr
          ? api().send_query_prepared(conn_, name->c_str(), 0, nullptr, nullptr, nullptr, 0)
          : api().send_query_params(conn_, sql, 0, nullptr, nullptr, nullptr, nullptr, 0);
  if (sent != 1)
    throw_error("PostgreSQL failed on " + sql_excerpt(sql), nullptr);
  pending_.push_back({nullptr, "PostgreSQL failed on " + sql_excerpt(sql), {}, std::nullopt});
}

void PgConnection::keep_plans(bool keep) {
  // For the session (set_config's third argument false), so a transaction of kept statements
  // after another sends none: switching at every transaction (transaction-local settings, which
  // COMMIT undoes) cost the server a statement and the settings' undo per transaction, about
  // 36,000 instructions. A transaction that rolls back undoes the switches made in it
  // (rollback_quietly()). One statement, prepared like any other: it has no parameters, so its
  // own plan is kept.
  static const std::string kKeep =
      "SELECT set_config('plan_cache_mode', 'force_generic_plan', false), "
      "set_config('enable_seqscan', 'off', false)";
  static const std::string kPlanEach =
      "SELECT set_config('plan_cache_mode', 'force_custom_plan', false), "
      "set_config('enable_seqscan', 'on', false)";
  const std::string& sql = keep ? kKeep : kPlanEach;
  if (!pipelined_) {
    // Outside a pipeline only ever back to the connection's own settings, before a statement
    // that runs on its own (one round trip; a transaction of kept statements switches back only
    // when another statement follows).
    PGresult* result = api().exec(conn_, sql.c_str());
    if (api().result_status(result) != PGRES_TUPLES_OK)
      throw_error("PostgreSQL failed on " + sql_excerpt(sql), result);
    api().clear(result);
    keeping_plans_ = keep;
    return;
  }
  const std::string* name = prepared(sql, {});
  const int sent =
      name != nullptr
          ? api().send_query_prepared(conn_, name->c_str(), 0, nullptr, nullptr, nullptr, 0)
          : api().send_query_params(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0);
  if (sent != 1)
    throw_error("PostgreSQL failed on " + sql_excerpt(sql), nullptr);
  pending_.push_back({nullptr, "PostgreSQL failed on " + sql_excerpt(sql), {}, tag_});
  keeping_plans_ = keep;
}

void PgConnection::count_changes(PGresult* result) {
  // As SQLite's changes(): only statements that write rows change the count.
  const std::string_view command = api().cmd_status(result);
  const char* affected = api().cmd_tuples(result);
  if ((command.starts_with("INSERT") || command.starts_with("UPDATE") ||
       command.starts_with("DELETE")) &&
      affected != nullptr && *affected != '\0') {
    int count = 0;
    std::from_chars(affected, affected + std::char_traits<char>::length(affected), count);
    changes_ = count;
  }
}

void PgConnection::settle() {
  if (pending_.empty())
    return;
  std::vector<Pending> pending;
  pending.swap(pending_);
  // The first failure, thrown once every answer before the Sync has been read; the statements
  // after it come back "aborted" (the server skipped them).
  PGresult* failed = nullptr;
  const std::string* failed_what = nullptr;
  std::optional<std::size_t> failed_tag;
  bool lost = api().pipeline_sync(conn_) != 1;
  for (auto& entry : pending) {
    PGresult* result = lost ? nullptr : api().get_result(conn_);
    if (result == nullptr) {
      // No answer at all: the connection is gone (a Sync that could not be sent, or a read that
      // found the socket closed).
      lost = true;
      if (!entry.prepared_key.empty())
        prepared_.erase(entry.prepared_key);
      if (entry.statement != nullptr)
        entry.statement->awaiting_ = false;
      if (failed_what == nullptr)
        failed_what = &entry.what;
      continue;
    }
    // Each statement's answers end with a null.
    while (PGresult* extra = api().get_result(conn_))
      api().clear(extra);
    const ExecStatusType status = api().result_status(result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      count_changes(result);
      if (entry.statement != nullptr)
        entry.statement->take(result);
      else
        api().clear(result);
      continue;
    }
    if (!entry.prepared_key.empty())
      prepared_.erase(entry.prepared_key);
    if (entry.statement != nullptr)
      entry.statement->awaiting_ = false;
    if (failed_what == nullptr && status != PGRES_PIPELINE_ABORTED) {
      failed = result;
      failed_what = &entry.what;
      failed_tag = entry.tag;
    } else {
      api().clear(result);
    }
    if (api().status(conn_) == CONNECTION_BAD)
      lost = true;
  }
  if (!lost) {
    PGresult* sync = api().get_result(conn_);
    if (sync == nullptr || api().result_status(sync) != PGRES_PIPELINE_SYNC)
      lost = true;
    api().clear(sync);
  }
  if (failed_what != nullptr) {
    const std::string what = *failed_what;
    throw_error(what, failed, failed_tag);
  }
  if (lost)
    throw_error("PostgreSQL failed on a pipeline's Sync", nullptr);
}

void PgConnection::leave_pipeline() noexcept {
  pending_.clear();
  if (pipelined_)
    api().exit_pipeline_mode(conn_);
  pipelined_ = false;
}

bool PgConnection::in_transaction() const {
  const PGTransactionStatusType status = api().transaction_status(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

void PgConnection::rollback_quietly() noexcept {
  // The transaction did not commit, so the server undoes the settings switched in it: the
  // session's are those it began with.
  keeping_plans_ = keeping_at_begin_;
  if (pipelined_) {
    // What is still queued is read and dropped (it ran in the transaction rolled back now).
    try {
      settle();
    } catch (...) {
    }
    leave_pipeline();
  }
  if (!in_transaction())
    return;
  api().clear(api().exec(conn_, "ROLLBACK"));
}

const std::string* PgConnection::prepared(const std::string& sql,
                                          const std::vector<unsigned int>& types) {
  std::string key(reinterpret_cast<const char*>(types.data()), types.size() * sizeof(Oid));
  key += '\0';
  key += sql;
  if (const auto found = prepared_.find(key); found != prepared_.end())
    return &found->second;
  if (prepared_.size() >= kMaxPrepared)
    return nullptr;
  std::string name = "shipmate_" + std::to_string(prepared_.size() + 1);
  if (pipelined_) {
    // Parsed in the same pipeline, just before its first execution; forgotten again if the
    // server refuses it or skips it (settle()).
    if (api().send_prepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(types.size()),
                           types.data()) != 1)
      throw_error("PostgreSQL failed on " + sql_excerpt(sql), nullptr);
    pending_.push_back({nullptr, "PostgreSQL failed on " + sql_excerpt(sql), key, tag_});
    return &prepared_.emplace(std::move(key), std::move(name)).first->second;
  }
  PGresult* result =
      api().prepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(types.size()), types.data());
  if (api().result_status(result) != PGRES_COMMAND_OK)
    throw_error("PostgreSQL failed on " + sql_excerpt(sql), result);
  api().clear(result);
  return &prepared_.emplace(std::move(key), std::move(name)).first->second;
}

void PgConnection::throw_error(std::string_view what, PGresult* result,
                               std::optional<std::size_t> tag) const {
  std::string message = result != nullptr ? api().result_error_message(result) : "";
  if (message.empty())
    message = api().error_message(conn_);
  const char* state =
      result != nullptr ? api().result_error_field(result, PG_DIAG_SQLSTATE) : nullptr;
  const bool constraint = state != nullptr && state[0] == '2' && state[1] == '3';
  api().clear(result);
  if (api().status(conn_) == CONNECTION_BAD)
    message += " (the connection to " + description_ + " is lost)";
  message = redact(one_line(std::string(what) + ": " + message));
  if (constraint) {
    ConstraintError error(message);
    error.set_statement_tag(tag);
    throw error;
  }
  StorageError error(message);
  error.set_statement_tag(tag);
  throw error;
}

// ---------------------------------------------------------------------------------------------
// PgStatement

PgStatement::PgStatement(PgConnection& connection, std::string_view sql)
    : connection_(&connection),
      sql_(postgres_placeholders(sql)),
      keep_plan_(sql.starts_with(kKeepPlan)) {}

PgStatement::~PgStatement() {
  detach();
  api().clear(result_);
}

void PgStatement::detach() noexcept {
  if (!awaiting_)
    return;
  awaiting_ = false;
  for (auto& entry : connection_->pending_) {
    if (entry.statement == this)
      entry.statement = nullptr;
  }
}

void PgStatement::set(int index, std::optional<std::string> value, unsigned int type) {
  if (index < 1)
    throw StorageError("parameter " + std::to_string(index) + " of " + sql_excerpt(sql_) +
                       " is out of range (they start at 1)");
  const auto slot = static_cast<std::size_t>(index);
  if (values_.size() < slot) {
    values_.resize(slot);
    types_.resize(slot, kUntyped);
  }
  values_[slot - 1] = std::move(value);
  types_[slot - 1] = type;
}

void PgStatement::bind(int index, std::int64_t value) {
  set(index, std::to_string(value), kInt8);
}

void PgStatement::bind(int index, std::string_view value) {
  set(index, std::string(value), kText);
}

void PgStatement::bind_null(int index) {
  set(index, std::nullopt, kUntyped);
}

void PgStatement::bind_null_int8(int index) {
  set(index, std::nullopt, kInt8);
}

void PgStatement::bind_null_text(int index) {
  set(index, std::nullopt, kText);
}

void PgStatement::execute(bool wanted, bool keep) {
  detach();
  std::vector<const char*> values(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i)
    values[i] = values_[i] ? values_[i]->c_str() : nullptr;
  api().clear(result_);
  result_ = nullptr;
  row_ = -1;
  rows_ = 0;
  const int count = static_cast<int>(values_.size());
  PgConnection& connection = *connection_;
  // In a pipelined transaction a kept statement runs under the kept plans' settings, every other
  // one under the connection's own; outside one, every statement under the connection's own.
  const bool keep_here = keep_plan_ && connection.pipelined_;
  if (keep_here != connection.keeping_plans_)
    connection.keep_plans(keep_here);
  const std::string* name = connection.prepared(sql_, types_);
  if (connection.pipelined_) {
    const int sent =
        name != nullptr
            ? api().send_query_prepared(connection.conn_, name->c_str(), count, values.data(),
                                        nullptr, nullptr, 0)
            : api().send_query_params(connection.conn_, sql_.c_str(), count, types_.data(),
                                      values.data(), nullptr, nullptr, 0);
    if (sent != 1)
      connection.throw_error("PostgreSQL failed on " + sql_excerpt(sql_), nullptr);
    connection.pending_.push_back({wanted || keep ? this : nullptr,
                                   "PostgreSQL failed on " + sql_excerpt(sql_),
                                   {},
                                   connection.tag_});
    awaiting_ = keep && !wanted;
    if (wanted)
      connection.settle();
    return;
  }
  PGresult* result = name != nullptr
                         ? api().exec_prepared(connection.conn_, name->c_str(), count,
                                               values.data(), nullptr, nullptr, 0)
                         : api().exec_params(connection.conn_, sql_.c_str(), count, types_.data(),
                                             values.data(), nullptr, nullptr, 0);
  const ExecStatusType status = api().result_status(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    connection.throw_error("PostgreSQL failed on " + sql_excerpt(sql_), result);
  connection.count_changes(result);
  take(result);
}

void PgStatement::take(PGresult* result) {
  awaiting_ = false;
  api().clear(result_);
  result_ = result;
  rows_ = api().ntuples(result_);
  row_ = -1;
}

bool PgStatement::step() {
  if (awaiting_) {
    // send()'s answer has not been read yet: read it now (one wait).
    connection_->settle();
    if (result_ == nullptr)
      throw StorageError("PostgreSQL gave no answer to " + sql_excerpt(sql_));
  }
  if (result_ == nullptr)
    execute(true);
  if (row_ + 1 >= rows_) {
    row_ = rows_;
    return false;
  }
  ++row_;
  return true;
}

void PgStatement::run() {
  execute(false);
  reset();
}

void PgStatement::send() {
  execute(false, /*keep=*/true);
}

void PgStatement::reset() {
  detach();
  api().clear(result_);
  result_ = nullptr;
  row_ = -1;
  rows_ = 0;
}

std::int64_t PgStatement::column_int64(int index) const {
  if (result_ == nullptr || row_ < 0 || row_ >= rows_ || api().getisnull(result_, row_, index))
    return 0;
  const char* text = api().getvalue(result_, row_, index);
  const std::size_t size = static_cast<std::size_t>(api().getlength(result_, row_, index));
  // Booleans come as t/f; SQLite gives 1/0 for the same expressions.
  if (size == 1 && (text[0] == 't' || text[0] == 'f'))
    return text[0] == 't' ? 1 : 0;
  std::int64_t value = 0;
  std::from_chars(text, text + size, value);
  return value;
}

std::string PgStatement::column_text(int index) const {
  if (result_ == nullptr || row_ < 0 || row_ >= rows_)
    return {};
  return std::string(api().getvalue(result_, row_, index),
                     static_cast<std::size_t>(api().getlength(result_, row_, index)));
}

bool PgStatement::column_is_null(int index) const {
  if (result_ == nullptr || row_ < 0 || row_ >= rows_)
    return true;
  return api().getisnull(result_, row_, index) == 1;
}

}  // namespace shipmate::storage::detail
