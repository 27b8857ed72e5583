#include "storage/single_writer_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace shipmate::storage {
namespace {

// Where the unix VFS locks the WAL index: byte 120 + slot of the -shm file ((22 + 8) * 4).
constexpr off_t kShmLockBase = 120;
constexpr int kSlots = SQLITE_SHM_NLOCK;
constexpr int kWriteSlot = 0;      // WAL_WRITE_LOCK
constexpr int kFirstReadSlot = 3;  // WAL_READ_LOCK(0) .. WAL_READ_LOCK(4) are slots 3..7
constexpr int kFrameHeader = 24;
constexpr int kWalHeader = 32;
// A very large transaction (a migration) should not gather without bound.
constexpr std::size_t kMaxGathered = 4u << 20;
// The unix VFS writes at most 0x1ffff bytes per call: it masks the length to 17 bits
// (seekAndWriteFd), so a longer write comes back short and then reports SQLITE_FULL. Gathered
// frames therefore leave in pieces of this size (one piece for any ordinary commit).
constexpr std::size_t kMaxWrite = 64u << 10;

enum class Held : unsigned char { none, shared, exclusive };

// The WAL index locks of one database, shared by this process's connections to it.
struct ShmLocks {
  int fd = -1;  // an open file description of the -shm file holding the F_OFD locks
  int users = 0;
  Held kernel[kSlots] = {};
  int shared[kSlots] = {};
  bool exclusive[kSlots] = {};
};

std::mutex g_mutex;
std::map<std::string, ShmLocks>& tables() {
  static std::map<std::string, ShmLocks> instance;
  return instance;
}

struct File {
  sqlite3_file base;  // first: SQLite sees a File as a sqlite3_file
  sqlite3_file* real = nullptr;
  bool main_db = false;
  bool wal = false;
  std::string path;            // main database: its full path, the lock table's key
  ShmLocks* locks = nullptr;   // main database, once it uses shared memory
  std::uint8_t my_shared = 0;  // this connection's WAL index locks
  std::uint8_t my_exclusive = 0;
  // WAL: writes gathered since the last flush, from offset `gathered_at`.
  std::vector<char> gathered;
  sqlite3_int64 gathered_at = 0;
  bool expect_page = false;   // a frame header was gathered; its page comes next
  bool commit_frame = false;  // that header ends a transaction
};

constexpr std::size_t aligned(std::size_t size) {
  return (size + 15) & ~std::size_t{15};
}

File* file_of(sqlite3_file* base) {
  return reinterpret_cast<File*>(base);
}

sqlite3_vfs* real_vfs(sqlite3_vfs* vfs) {
  return static_cast<sqlite3_vfs*>(vfs->pAppData);
}

// --- kernel locks -----------------------------------------------------------------------------

// 0 on success, SQLITE_BUSY when another process holds a conflicting lock.
int kernel_lock(ShmLocks& table, int slot, short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = kShmLockBase + slot;
  lock.l_len = 1;
  if (fcntl(table.fd, F_OFD_SETLK, &lock) == 0) {
    table.kernel[slot] = type == F_WRLCK   ? Held::exclusive
                         : type == F_RDLCK ? Held::shared
                                           : Held::none;
    return SQLITE_OK;
  }
  return errno == EAGAIN || errno == EACCES ? SQLITE_BUSY : SQLITE_IOERR_SHMLOCK;
}

// After the process's last holder of `slot` in some mode let go: what the kernel keeps.
void settle_kernel(ShmLocks& table, int slot) {
  if (table.exclusive[slot] || table.kernel[slot] == Held::none)
    return;
  if (slot == kWriteSlot)
    return;  // the only writer keeps the write lock
  if (slot >= kFirstReadSlot) {
    // Read marks stay shared: reusing one costs nothing, and other readers are not blocked.
    if (table.kernel[slot] == Held::exclusive)
      kernel_lock(table, slot, F_RDLCK);
    return;
  }
  if (table.shared[slot] == 0)
    kernel_lock(table, slot, F_UNLCK);
  else if (table.kernel[slot] == Held::exclusive)
    kernel_lock(table, slot, F_RDLCK);
}

int attach_locks(File& file) {
  if (file.locks != nullptr)
    return SQLITE_OK;
  std::lock_guard guard(g_mutex);
  auto& table = tables()[file.path];
  if (table.fd < 0) {
    const std::string shm = file.path + "-shm";
    table.fd = ::open(shm.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (table.fd < 0) {
      tables().erase(file.path);
      return SQLITE_IOERR_SHMOPEN;
    }
  }
  ++table.users;
  file.locks = &table;
  return SQLITE_OK;
}

void detach_locks(File& file) {
  if (file.locks == nullptr)
    return;
  std::lock_guard guard(g_mutex);
  ShmLocks& table = *file.locks;
  for (int slot = 0; slot < kSlots; ++slot) {
    const std::uint8_t bit = static_cast<std::uint8_t>(1u << slot);
    if (file.my_exclusive & bit)
      table.exclusive[slot] = false;
    if (file.my_shared & bit)
      --table.shared[slot];
  }
  file.my_shared = file.my_exclusive = 0;
  file.locks = nullptr;
  if (--table.users == 0) {
    ::close(table.fd);  // releases every lock this process held on it
    tables().erase(file.path);
  }
}

// --- gathered WAL writes ----------------------------------------------------------------------

int flush(File& file) {
  if (file.gathered.empty())
    return SQLITE_OK;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < file.gathered.size() && rc == SQLITE_OK;) {
    const std::size_t piece = std::min(kMaxWrite, file.gathered.size() - done);
    rc =
        file.real->pMethods->xWrite(file.real, file.gathered.data() + done, static_cast<int>(piece),
                                    file.gathered_at + static_cast<sqlite3_int64>(done));
    done += piece;
  }
  file.gathered.clear();
  file.expect_page = false;
  file.commit_frame = false;
  return rc;
}

std::uint32_t big_endian(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

int wal_write(File& file, const void* data, int amount, sqlite3_int64 offset) {
  const sqlite3_int64 end = file.gathered_at + static_cast<sqlite3_int64>(file.gathered.size());
  const bool contiguous = file.gathered.empty() || offset == end;
  const bool frame_header = amount == kFrameHeader && !file.expect_page;
  const bool wal_header = amount == kWalHeader && offset == 0 && !file.expect_page;
  const bool page = amount > kWalHeader && file.expect_page && contiguous;
  if (!frame_header && !wal_header && !page) {
    // Not the pattern this knows (header, then page): write through, in order.
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
    return file.real->pMethods->xWrite(file.real, data, amount, offset);
  }
  if (!contiguous) {
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
  }
  if (file.gathered.empty())
    file.gathered_at = offset;
  const auto* bytes = static_cast<const char*>(data);
  file.gathered.insert(file.gathered.end(), bytes, bytes + amount);
  if (frame_header) {
    file.expect_page = true;
    // Bytes 4-7 of a frame header: the database size after a commit, 0 for other frames.
    file.commit_frame = big_endian(reinterpret_cast<const unsigned char*>(bytes) + 4) != 0;
    return SQLITE_OK;
  }
  if (page) {
    file.expect_page = false;
    if (file.commit_frame || file.gathered.size() >= kMaxGathered)
      return flush(file);
  }
  return SQLITE_OK;
}

// --- io methods -------------------------------------------------------------------------------

int x_close(sqlite3_file* base) {
  File& file = *file_of(base);
  int rc = file.wal ? flush(file) : SQLITE_OK;
  detach_locks(file);
  const int closed = file.real->pMethods->xClose(file.real);
  if (rc == SQLITE_OK)
    rc = closed;
  file.~File();
  return rc;
}

int x_read(sqlite3_file* base, void* data, int amount, sqlite3_int64 offset) {
  File& file = *file_of(base);
  if (file.wal) {
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
  }
  return file.real->pMethods->xRead(file.real, data, amount, offset);
}

int x_write(sqlite3_file* base, const void* data, int amount, sqlite3_int64 offset) {
  File& file = *file_of(base);
  if (file.wal)
    return wal_write(file, data, amount, offset);
  return file.real->pMethods->xWrite(file.real, data, amount, offset);
}

int x_truncate(sqlite3_file* base, sqlite3_int64 size) {
  File& file = *file_of(base);
  if (file.wal) {
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
  }
  return file.real->pMethods->xTruncate(file.real, size);
}

int x_sync(sqlite3_file* base, int flags) {
  File& file = *file_of(base);
  if (file.wal) {
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
  }
  return file.real->pMethods->xSync(file.real, flags);
}

int x_file_size(sqlite3_file* base, sqlite3_int64* size) {
  File& file = *file_of(base);
  if (file.wal) {
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
  }
  return file.real->pMethods->xFileSize(file.real, size);
}

int x_lock(sqlite3_file* base, int level) {
  return file_of(base)->real->pMethods->xLock(file_of(base)->real, level);
}

int x_unlock(sqlite3_file* base, int level) {
  return file_of(base)->real->pMethods->xUnlock(file_of(base)->real, level);
}

int x_check_reserved_lock(sqlite3_file* base, int* out) {
  return file_of(base)->real->pMethods->xCheckReservedLock(file_of(base)->real, out);
}

int x_file_control(sqlite3_file* base, int op, void* arg) {
  File& file = *file_of(base);
  if (file.wal) {
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
  }
  return file.real->pMethods->xFileControl(file.real, op, arg);
}

int x_sector_size(sqlite3_file* base) {
  return file_of(base)->real->pMethods->xSectorSize(file_of(base)->real);
}

int x_device_characteristics(sqlite3_file* base) {
  return file_of(base)->real->pMethods->xDeviceCharacteristics(file_of(base)->real);
}

int x_shm_map(sqlite3_file* base, int region, int size, int extend, void volatile** out) {
  File& file = *file_of(base);
  if (file.main_db) {
    if (int rc = attach_locks(file); rc != SQLITE_OK)
      return rc;
  }
  return file.real->pMethods->xShmMap(file.real, region, size, extend, out);
}

int x_shm_lock(sqlite3_file* base, int offset, int count, int flags) {
  File& file = *file_of(base);
  if (!file.main_db)
    return file.real->pMethods->xShmLock(file.real, offset, count, flags);
  if (int rc = attach_locks(file); rc != SQLITE_OK)
    return rc;
  if (offset < 0 || count < 1 || offset + count > kSlots)
    return SQLITE_IOERR_SHMLOCK;
  std::lock_guard guard(g_mutex);
  ShmLocks& table = *file.locks;
  const std::uint8_t mask =
      static_cast<std::uint8_t>(((1u << (offset + count)) - 1) & ~((1u << offset) - 1));

  if (flags & SQLITE_SHM_UNLOCK) {
    for (int slot = offset; slot < offset + count; ++slot) {
      const std::uint8_t bit = static_cast<std::uint8_t>(1u << slot);
      if (file.my_exclusive & bit)
        table.exclusive[slot] = false;
      if (file.my_shared & bit)
        --table.shared[slot];
    }
    file.my_exclusive &= static_cast<std::uint8_t>(~mask);
    file.my_shared &= static_cast<std::uint8_t>(~mask);
    for (int slot = offset; slot < offset + count; ++slot)
      settle_kernel(table, slot);
    return SQLITE_OK;
  }

  if (flags & SQLITE_SHM_SHARED) {
    for (int slot = offset; slot < offset + count; ++slot) {
      const std::uint8_t bit = static_cast<std::uint8_t>(1u << slot);
      if ((file.my_shared & bit) != 0)
        continue;
      if (table.exclusive[slot])
        return SQLITE_BUSY;
      if (table.kernel[slot] == Held::none) {
        if (int rc = kernel_lock(table, slot, F_RDLCK); rc != SQLITE_OK)
          return rc;
      }
      ++table.shared[slot];
      file.my_shared |= bit;
    }
    return SQLITE_OK;
  }

  // Exclusive: nobody else in the process may hold any of the slots, in any mode.
  for (int slot = offset; slot < offset + count; ++slot) {
    const std::uint8_t bit = static_cast<std::uint8_t>(1u << slot);
    const int others_shared = table.shared[slot] - ((file.my_shared & bit) ? 1 : 0);
    if (others_shared > 0 || (table.exclusive[slot] && (file.my_exclusive & bit) == 0))
      return SQLITE_BUSY;
  }
  Held before[kSlots];
  std::memcpy(before, table.kernel, sizeof before);
  for (int slot = offset; slot < offset + count; ++slot) {
    if (table.kernel[slot] == Held::exclusive)
      continue;
    if (int rc = kernel_lock(table, slot, F_WRLCK); rc != SQLITE_OK) {
      // Put back what this call changed (a downgrade or an unlock always succeeds).
      for (int back = offset; back < slot; ++back) {
        if (before[back] != table.kernel[back])
          kernel_lock(table, back, before[back] == Held::shared ? F_RDLCK : F_UNLCK);
      }
      return rc;
    }
  }
  for (int slot = offset; slot < offset + count; ++slot)
    table.exclusive[slot] = true;
  file.my_exclusive |= mask;
  return SQLITE_OK;
}

void x_shm_barrier(sqlite3_file* base) {
  file_of(base)->real->pMethods->xShmBarrier(file_of(base)->real);
}

int x_shm_unmap(sqlite3_file* base, int delete_flag) {
  File& file = *file_of(base);
  detach_locks(file);
  return file.real->pMethods->xShmUnmap(file.real, delete_flag);
}

int x_fetch(sqlite3_file* base, sqlite3_int64 offset, int amount, void** out) {
  File& file = *file_of(base);
  if (file.wal) {
    if (int rc = flush(file); rc != SQLITE_OK)
      return rc;
  }
  return file.real->pMethods->xFetch(file.real, offset, amount, out);
}

int x_unfetch(sqlite3_file* base, sqlite3_int64 offset, void* page) {
  return file_of(base)->real->pMethods->xUnfetch(file_of(base)->real, offset, page);
}

const sqlite3_io_methods kMethods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

// --- the VFS ----------------------------------------------------------------------------------

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* out, int flags, int* out_flags) {
  auto* file = new (out) File{};
  file->base.pMethods = nullptr;
  file->real =
      reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(out) + aligned(sizeof(File)));
  file->real->pMethods = nullptr;
  sqlite3_vfs* real = real_vfs(vfs);
  const int rc = real->xOpen(real, name, file->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (file->real->pMethods != nullptr)
      file->real->pMethods->xClose(file->real);
    file->~File();
    out->pMethods = nullptr;
    return rc;
  }
  file->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0 && name != nullptr;
  file->wal = (flags & SQLITE_OPEN_WAL) != 0;
  if (file->main_db)
    file->path = name;
  file->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return real_vfs(vfs)->xDelete(real_vfs(vfs), name, sync_dir);
}
int x_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return real_vfs(vfs)->xAccess(real_vfs(vfs), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return real_vfs(vfs)->xFullPathname(real_vfs(vfs), name, size, out);
}
void* x_dl_open(sqlite3_vfs* vfs, const char* name) {
  return real_vfs(vfs)->xDlOpen(real_vfs(vfs), name);
}
void x_dl_error(sqlite3_vfs* vfs, int size, char* out) {
  real_vfs(vfs)->xDlError(real_vfs(vfs), size, out);
}
void (*x_dl_sym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return real_vfs(vfs)->xDlSym(real_vfs(vfs), handle, symbol);
}
void x_dl_close(sqlite3_vfs* vfs, void* handle) {
  real_vfs(vfs)->xDlClose(real_vfs(vfs), handle);
}
int x_randomness(sqlite3_vfs* vfs, int size, char* out) {
  return real_vfs(vfs)->xRandomness(real_vfs(vfs), size, out);
}
int x_sleep(sqlite3_vfs* vfs, int micros) {
  return real_vfs(vfs)->xSleep(real_vfs(vfs), micros);
}
int x_current_time(sqlite3_vfs* vfs, double* out) {
  return real_vfs(vfs)->xCurrentTime(real_vfs(vfs), out);
}
int x_get_last_error(sqlite3_vfs* vfs, int size, char* out) {
  return real_vfs(vfs)->xGetLastError(real_vfs(vfs), size, out);
}
int x_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return real_vfs(vfs)->xCurrentTimeInt64(real_vfs(vfs), out);
}

}  // namespace

const char* register_single_writer_vfs() {
  static const char* name = [] {
    sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
    static sqlite3_vfs vfs{};
    vfs.iVersion = 2;
    vfs.szOsFile =
        static_cast<int>(aligned(sizeof(File)) + static_cast<std::size_t>(real->szOsFile));
    vfs.mxPathname = real->mxPathname;
    vfs.zName = "shipmate-single-writer";
    vfs.pAppData = real;
    vfs.xOpen = x_open;
    vfs.xDelete = x_delete;
    vfs.xAccess = x_access;
    vfs.xFullPathname = x_full_pathname;
    vfs.xDlOpen = x_dl_open;
    vfs.xDlError = x_dl_error;
    vfs.xDlSym = x_dl_sym;
    vfs.xDlClose = x_dl_close;
    vfs.xRandomness = x_randomness;
    vfs.xSleep = x_sleep;
    vfs.xCurrentTime = x_current_time;
    vfs.xGetLastError = x_get_last_error;
    vfs.xCurrentTimeInt64 = x_current_time_int64;
    sqlite3_vfs_register(&vfs, 0);
    return vfs.zName;
  }();
  return name;
}

}  // namespace shipmate::storage
