#include "storage/libpq_loader.h"

#include <dlfcn.h>

#include <fstream>
#include <optional>

namespace shipmate::storage::detail {
namespace {

struct Loaded {
  std::optional<LibPq> table;
  std::string why;
};

template <typename Function>
bool bind(void* handle, const char* name, Function& slot, std::string& why) {
  void* symbol = dlsym(handle, name);
  if (symbol == nullptr) {
    why = std::string("libpq has no ") + name + " (libpq5 too old?)";
    return false;
  }
  slot = reinterpret_cast<Function>(symbol);
  return true;
}

Loaded load() {
  Loaded loaded;
  // The versioned name first (what the libpq5 package installs); the development link second.
  void* handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    handle = dlopen("libpq.so", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    loaded.why = std::string(
                     "PostgreSQL storage needs libpq (libpq.so.5, Debian package libpq5), "
                     "which could not be loaded: ") +
                 (error != nullptr ? error : "not found");
    return loaded;
  }
  LibPq table{};
  std::string& why = loaded.why;
  const bool ok = bind(handle, "PQconninfoParse", table.conninfo_parse, why) &&
                  bind(handle, "PQconninfoFree", table.conninfo_free, why) &&
                  bind(handle, "PQfreemem", table.freemem, why) &&
                  bind(handle, "PQconnectdb", table.connectdb, why) &&
                  bind(handle, "PQstatus", table.status, why) &&
                  bind(handle, "PQerrorMessage", table.error_message, why) &&
                  bind(handle, "PQfinish", table.finish, why) &&
                  bind(handle, "PQsetNoticeProcessor", table.set_notice_processor, why) &&
                  bind(handle, "PQexec", table.exec, why) &&
                  bind(handle, "PQexecParams", table.exec_params, why) &&
                  bind(handle, "PQprepare", table.prepare, why) &&
                  bind(handle, "PQexecPrepared", table.exec_prepared, why) &&
                  bind(handle, "PQresultStatus", table.result_status, why) &&
                  bind(handle, "PQclear", table.clear, why) &&
                  bind(handle, "PQtransactionStatus", table.transaction_status, why) &&
                  bind(handle, "PQresultErrorMessage", table.result_error_message, why) &&
                  bind(handle, "PQresultErrorField", table.result_error_field, why) &&
                  bind(handle, "PQntuples", table.ntuples, why) &&
                  bind(handle, "PQcmdStatus", table.cmd_status, why) &&
                  bind(handle, "PQcmdTuples", table.cmd_tuples, why) &&
                  bind(handle, "PQgetisnull", table.getisnull, why) &&
                  bind(handle, "PQgetvalue", table.getvalue, why) &&
                  bind(handle, "PQgetlength", table.getlength, why);
  if (ok) {
    // Optional: pipeline mode only when every one of its functions is there.
    std::string absent;
    const bool pipeline = bind(handle, "PQenterPipelineMode", table.enter_pipeline_mode, absent) &&
                          bind(handle, "PQexitPipelineMode", table.exit_pipeline_mode, absent) &&
                          bind(handle, "PQpipelineSync", table.pipeline_sync, absent) &&
                          bind(handle, "PQsendQueryParams", table.send_query_params, absent) &&
                          bind(handle, "PQsendPrepare", table.send_prepare, absent) &&
                          bind(handle, "PQsendQueryPrepared", table.send_query_prepared, absent) &&
                          bind(handle, "PQgetResult", table.get_result, absent);
    if (!pipeline)
      table.enter_pipeline_mode = nullptr;
    loaded.table = table;
  }
  return loaded;
}

}  // namespace

const LibPq* libpq(std::string* why) {
  static const Loaded loaded = load();  // once, thread-safe
  if (!loaded.table && why != nullptr)
    *why = loaded.why;
  return loaded.table ? &*loaded.table : nullptr;
}

bool libpq_is_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/libpq.so") != std::string::npos)
      return true;
  }
  return false;
}

}  // namespace shipmate::storage::detail
