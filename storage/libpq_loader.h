// libpq, loaded when the first PostgreSQL database is asked for instead of at process start.
//
// Why: linking libpq makes every Shipmate process map it and what it needs (Kerberos, LDAP,
// SASL, GnuTLS, p11-kit and a dozen more, about 3.4 MB of resident memory and their start-up
// work) even when the database is SQLite, which is most installations. The PostgreSQL backend
// (postgres.cpp) is the only user and calls libpq through this table.
//
// Contract
// - Threading: libpq() may be called from any thread; the library is loaded once (the first
//   call), and the table is immutable afterwards. It is never unloaded.
// - Errors: when libpq cannot be loaded (not installed, a missing symbol), libpq() returns
//   nullptr and `why` (when given) says so in one sentence naming the library and the package
//   that provides it. Every later call gives the same answer.
// - Types and constants still come from <libpq-fe.h> (a header only; nothing is linked).
#pragma once

#include <libpq-fe.h>

#include <string>

namespace shipmate::storage::detail {

struct LibPq {
  decltype(&::PQconninfoParse) conninfo_parse;
  decltype(&::PQconninfoFree) conninfo_free;
  decltype(&::PQfreemem) freemem;
  decltype(&::PQconnectdb) connectdb;
  decltype(&::PQstatus) status;
  decltype(&::PQerrorMessage) error_message;
  decltype(&::PQfinish) finish;
  decltype(&::PQsetNoticeProcessor) set_notice_processor;
  decltype(&::PQexec) exec;
  decltype(&::PQexecParams) exec_params;
  decltype(&::PQprepare) prepare;
  decltype(&::PQexecPrepared) exec_prepared;
  decltype(&::PQresultStatus) result_status;
  decltype(&::PQclear) clear;
  decltype(&::PQtransactionStatus) transaction_status;
  decltype(&::PQresultErrorMessage) result_error_message;
  decltype(&::PQresultErrorField) result_error_field;
  decltype(&::PQntuples) ntuples;
  decltype(&::PQcmdStatus) cmd_status;
  decltype(&::PQcmdTuples) cmd_tuples;
  decltype(&::PQgetisnull) getisnull;
  decltype(&::PQgetvalue) getvalue;
  decltype(&::PQgetlength) getlength;
  // Pipeline mode (libpq 14 and later); all null with an older libpq, which then runs every
  // statement as its own round trip.
  decltype(&::PQenterPipelineMode) enter_pipeline_mode;
  decltype(&::PQexitPipelineMode) exit_pipeline_mode;
  decltype(&::PQpipelineSync) pipeline_sync;
  decltype(&::PQsendQueryParams) send_query_params;
  decltype(&::PQsendPrepare) send_prepare;
  decltype(&::PQsendQueryPrepared) send_query_prepared;
  decltype(&::PQgetResult) get_result;
};

// The loaded library's functions, or nullptr (and `why`) when it cannot be loaded.
const LibPq* libpq(std::string* why = nullptr);

// Whether libpq is mapped into this process right now (for tests: SQLite-only processes must
// not load it).
bool libpq_is_mapped();

}  // namespace shipmate::storage::detail
