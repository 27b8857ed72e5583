// The SQLite VFS Shipmate opens its database through: SQLite's own (unix) VFS with the WAL
// index locks kept inside the process, and the WAL's writes of one commit gathered into one.
//
// Why. With the unix VFS, every transaction of a WAL database locks and unlocks byte ranges of
// the `-shm` file with fcntl: a read mark (shared), a new read mark after each commit (exclusive,
// then shared), the write lock. Those were 6 of the 24 system calls a chat command cost at one
// command in flight. Then SQLite writes each WAL frame as two pwrite calls (its 24-byte header,
// then the page), 4-5 per commit.
//
// What it does instead.
// - Locks: connections of this process that use this VFS settle the WAL index locks among
//   themselves in memory (the event loop's connection and the background checkpointer's, see
//   database.h). Other processes still see real locks, as open-file-description locks
//   (F_OFD_SETLK) on the same bytes the unix VFS uses, so they interoperate with any SQLite
//   (the sqlite3 shell, backups):
//   * the write lock, once taken, is kept for as long as the process has the database open:
//     Shipmate is the database's only writer, and another process (a second Shipmate) that tries
//     to write gets SQLITE_BUSY ("database is locked") instead of interleaving with it;
//   * read marks, once taken shared, stay taken shared, so a transaction that reuses a mark costs
//     nothing; setting a new mark (after each commit) upgrades to exclusive and back, the only
//     two lock calls left per transaction. Other processes can still read: a shared mark does
//     not block theirs, and SQLite's readers fall back to a free or shared mark;
//   * the checkpoint and recovery locks are taken and released as SQLite asks.
//   Within the process, a lock that another connection of the process holds in a conflicting
//   mode is refused with SQLITE_BUSY, exactly as the unix VFS would.
// - Writes: consecutive writes to a `-wal` file are gathered and written with one call when a
//   commit frame is complete (a frame header whose "database size" field is set, followed by its
//   page), and before anything reads, syncs, truncates or sizes that file, and at every
//   shared-memory barrier (SQLite publishes a commit's WAL index header only after one, so no
//   reader can see frames that are still gathered here). A failed write is reported to SQLite
//   from the write that completes the commit, as SQLite expects. "One call" holds up to 64 KiB
//   (any commit of up to 15 pages); more leaves in 64 KiB pieces, because the unix VFS writes at
//   most 128 KiB - 1 bytes per call and answers a longer write with SQLITE_FULL.
//
// Contract
// - Threading: as SQLite's multi-thread mode: one connection per thread at a time. The shared
//   lock table is guarded by a mutex; nothing else is shared.
// - register_single_writer_vfs() registers the VFS once per process (not as the default) and
//   returns its name for sqlite3_open_v2. Every connection of this process to a database opened
//   this way must use it too (database.cpp does), or the in-process locking cannot see it.
// - Errors: as SQLite's: lock conflicts are SQLITE_BUSY; failed system calls are SQLite I/O
//   errors carrying the unix VFS's codes where it makes them.
#pragma once

namespace shipmate::storage {

// Returns the VFS name to pass to sqlite3_open_v2 ("shipmate-single-writer").
const char* register_single_writer_vfs();

}  // namespace shipmate::storage
