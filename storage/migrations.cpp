#include "storage/migrations.h"

#include <array>
#include <string>

#include "storage/database.h"

namespace shipmate::storage::detail {
namespace {

// States and kinds are stored as text without CHECK constraints: adding a state later would
// otherwise need a full table rebuild in SQLite, and the enums in deploy_store.cpp already
// reject unknown values on read.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE deploys (
  id               INTEGER PRIMARY KEY,
  service          TEXT    NOT NULL,
  environment      TEXT    NOT NULL,
  version          TEXT    NOT NULL,
  previous_version TEXT    NOT NULL DEFAULT '',
  kind             TEXT    NOT NULL,
  requested_by     TEXT    NOT NULL,
  state            TEXT    NOT NULL,
  reason           TEXT    NOT NULL DEFAULT '',
  detail           TEXT    NOT NULL DEFAULT '',
  chat_ref         TEXT    NOT NULL DEFAULT '',
  requested_at     INTEGER NOT NULL,
  finished_at      INTEGER
);
CREATE INDEX deploys_by_target ON deploys (service, environment, id);
CREATE INDEX deploys_by_state ON deploys (state);

CREATE TABLE deploy_events (
  id         INTEGER PRIMARY KEY,
  deploy_id  INTEGER NOT NULL REFERENCES deploys (id),
  at         INTEGER NOT NULL,
  from_state TEXT,
  to_state   TEXT    NOT NULL,
  message    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX deploy_events_by_deploy ON deploy_events (deploy_id, id);

CREATE TABLE locks (
  scope      TEXT    PRIMARY KEY,
  holder     TEXT    NOT NULL,
  reason     TEXT    NOT NULL DEFAULT '',
  since      INTEGER NOT NULL,
  expires_at INTEGER
);

-- seq is assigned by the writer (last + 1), not by AUTOINCREMENT, so that a deleted record shows
-- up as a gap that verify() can name.
CREATE TABLE audit_log (
  seq       INTEGER PRIMARY KEY,
  at        INTEGER NOT NULL,
  actor     TEXT    NOT NULL,
  action    TEXT    NOT NULL,
  target    TEXT    NOT NULL,
  outcome   TEXT    NOT NULL,
  details   TEXT    NOT NULL,
  prev_hash TEXT    NOT NULL,
  hash      TEXT    NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
)sql";

// The chat inbox: every command a platform delivered, recorded before it is acknowledged, so a
// redelivery is recognised (the key is the platform's event id) and a command acknowledged just
// before a crash is still there to run after the restart.
constexpr std::string_view kMigration2 = R"sql(
CREATE TABLE inbox (
  key         TEXT    PRIMARY KEY,
  platform    TEXT    NOT NULL,
  user_id     TEXT    NOT NULL,
  channel     TEXT    NOT NULL,
  thread      TEXT    NOT NULL DEFAULT '',
  text        TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  received_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX inbox_by_state ON inbox (state, received_at);
CREATE INDEX inbox_by_age ON inbox (received_at);
)sql";

// inbox_by_state (state, received_at) already serves pruning; a second index only slowed the
// insert that every chat command waits on before its ack.
constexpr std::string_view kMigration3 = R"sql(
DROP INDEX IF EXISTS inbox_by_age;
)sql";

// Where a lock was taken, so that its expiry can be announced there.
constexpr std::string_view kMigration4 = R"sql(
ALTER TABLE locks ADD COLUMN chat_ref TEXT NOT NULL DEFAULT '';
)sql";

// When the deployed version was committed, if the target knows: DORA's lead time for changes.
constexpr std::string_view kMigration5 = R"sql(
ALTER TABLE deploys ADD COLUMN committed_at INTEGER;
)sql";

// Who approved or denied which deploy, and why.
constexpr std::string_view kMigration6 = R"sql(
CREATE TABLE approvals (
  id        INTEGER PRIMARY KEY,
  deploy_id INTEGER NOT NULL REFERENCES deploys (id),
  approver  TEXT    NOT NULL,
  decision  TEXT    NOT NULL,
  reason    TEXT    NOT NULL DEFAULT '',
  at        INTEGER NOT NULL
);
CREATE INDEX approvals_by_deploy ON approvals (deploy_id, id);
)sql";

// The CI run a deploy's build step started, so a restarted Shipmate can follow or cancel it.
constexpr std::string_view kMigration7 = R"sql(
ALTER TABLE deploys ADD COLUMN ci_run_id  TEXT NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN ci_run_url TEXT NOT NULL DEFAULT '';
)sql";

// The policy refusal a deploy's --override set aside, so checks made later (when approvals
// arrive) know what was already overridden.
constexpr std::string_view kMigration8 = R"sql(
ALTER TABLE deploys ADD COLUMN overridden TEXT NOT NULL DEFAULT '';
)sql";

// An incident a deploy caused (an id or URL from wherever incidents are tracked); DORA counts such
// a deploy as a failed change.
constexpr std::string_view kMigration9 = R"sql(
ALTER TABLE deploys ADD COLUMN incident TEXT NOT NULL DEFAULT '';
)sql";

// The inbox split in two, which halves what each group commit writes (about 11 WAL pages per
// burst of 32 commands became about 5, and the commit got 40% faster). `inbox_keys` remembers
// every delivery key for deduplication: one small B-tree, in key order. `inbox_pending` holds
// the commands not yet finished, so that a restart can run or report them; a command leaves it
// when it is done, instead of moving between `state` values in an index of its own.
constexpr std::string_view kMigration10 = R"sql(
CREATE TABLE inbox_keys (
  key         TEXT    PRIMARY KEY,
  received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE inbox_pending (
  id          INTEGER PRIMARY KEY,
  key         TEXT    NOT NULL,
  platform    TEXT    NOT NULL,
  user_id     TEXT    NOT NULL,
  channel     TEXT    NOT NULL,
  thread      TEXT    NOT NULL DEFAULT '',
  text        TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  received_at INTEGER NOT NULL
);
INSERT INTO inbox_keys (key, received_at) SELECT key, received_at FROM inbox;
INSERT INTO inbox_pending (key, platform, user_id, channel, thread, text, state, received_at)
  SELECT key, platform, user_id, channel, thread, text, state, received_at FROM inbox
  WHERE state != 'done' ORDER BY received_at, rowid;
DROP TABLE inbox;
)sql";

// Schedules (announcements, digests) and their occurrences, claimed before they run: the primary
// key (schedule_id, nominal_at) is what makes an occurrence run at most once.
constexpr std::string_view kMigration11 = R"sql(
CREATE TABLE schedules (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL,
  cron        TEXT    NOT NULL DEFAULT '',
  timezone    TEXT    NOT NULL DEFAULT 'UTC',
  once_at     INTEGER,
  action      TEXT    NOT NULL,
  payload     TEXT    NOT NULL DEFAULT '',
  channel     TEXT    NOT NULL DEFAULT '',
  misfire     TEXT    NOT NULL,
  lateness_ms INTEGER NOT NULL,
  state       TEXT    NOT NULL,
  origin      TEXT    NOT NULL,
  created_by  TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  watermark   INTEGER NOT NULL,
  next_at     INTEGER
);
CREATE INDEX schedules_by_state ON schedules (state, name);
CREATE TABLE schedule_runs (
  schedule_id INTEGER NOT NULL REFERENCES schedules (id),
  nominal_at  INTEGER NOT NULL,
  outcome     TEXT    NOT NULL,
  detail      TEXT    NOT NULL DEFAULT '',
  at          INTEGER NOT NULL,
  PRIMARY KEY (schedule_id, nominal_at)
) WITHOUT ROWID;
CREATE INDEX schedule_runs_by_outcome ON schedule_runs (outcome);
)sql";

// Conversation references (storage/conversation_refs.h): where a platform that cannot be
// answered by address alone (Teams: the connector's service URL) posts proactive messages.
constexpr std::string_view kMigration12 = R"sql(
CREATE TABLE conversation_refs (
  platform          TEXT    NOT NULL,
  conversation_id   TEXT    NOT NULL,
  service_url       TEXT    NOT NULL,
  tenant_id         TEXT    NOT NULL DEFAULT '',
  conversation_type TEXT    NOT NULL DEFAULT '',
  bot_id            TEXT    NOT NULL DEFAULT '',
  updated_at        INTEGER NOT NULL,
  PRIMARY KEY (platform, conversation_id)
) WITHOUT ROWID;
)sql";

// Incidents (issue 14): the incident, its roles, its timeline (event time and ingest time, each
// row naming the audit record that carries it), its status reminders' due time, and the alert
// notifications already acted on.
constexpr std::string_view kMigration13 = R"sql(
CREATE TABLE incidents (
  id               INTEGER PRIMARY KEY,
  title            TEXT    NOT NULL,
  severity         INTEGER NOT NULL,
  status           TEXT    NOT NULL,
  services         TEXT    NOT NULL DEFAULT '',
  declared_by      TEXT    NOT NULL,
  declared_at      INTEGER NOT NULL,
  detected_at      INTEGER,
  acknowledged_at  INTEGER,
  mitigated_at     INTEGER,
  resolved_at      INTEGER,
  room             TEXT    NOT NULL DEFAULT '',
  card_ref         TEXT    NOT NULL DEFAULT '',
  latest_update    TEXT    NOT NULL DEFAULT '',
  last_update_at   INTEGER NOT NULL,
  summary          TEXT    NOT NULL DEFAULT '',
  dedup_key        TEXT    NOT NULL DEFAULT '',
  next_reminder_at INTEGER
);
CREATE INDEX incidents_by_status ON incidents (status, id);
CREATE UNIQUE INDEX incidents_open_key ON incidents (dedup_key)
  WHERE dedup_key != '' AND status != 'resolved';

CREATE TABLE incident_roles (
  incident_id INTEGER NOT NULL REFERENCES incidents (id),
  role        TEXT    NOT NULL,
  user_id     TEXT    NOT NULL,
  assigned_at INTEGER NOT NULL,
  PRIMARY KEY (incident_id, role)
);

CREATE TABLE incident_timeline (
  id          INTEGER PRIMARY KEY,
  incident_id INTEGER NOT NULL REFERENCES incidents (id),
  event_at    INTEGER NOT NULL,
  ingested_at INTEGER NOT NULL,
  kind        TEXT    NOT NULL,
  actor       TEXT    NOT NULL,
  text        TEXT    NOT NULL,
  audit_seq   INTEGER,
  source_ref  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX incident_timeline_by_incident ON incident_timeline (incident_id, event_at, id);
CREATE UNIQUE INDEX incident_timeline_source ON incident_timeline (incident_id, source_ref)
  WHERE source_ref != '';

-- Alert notifications already acted on: (source, group key, fingerprint, startsAt, status).
CREATE TABLE alert_events (
  dedup_key   TEXT    PRIMARY KEY,
  incident_id INTEGER,
  received_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// The runbook journal (storage/runbook_store.h): runs with the engine's state, one row per step
// attempt written before its effect and completed after it.
constexpr std::string_view kMigration14 = R"sql(
CREATE TABLE runbook_runs (
  id          INTEGER PRIMARY KEY,
  runbook     TEXT    NOT NULL,
  hash        TEXT    NOT NULL,
  params      TEXT    NOT NULL,
  started_by  TEXT    NOT NULL,
  chat_ref    TEXT    NOT NULL,
  message_ref TEXT    NOT NULL DEFAULT '',
  status      TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  started_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX runbook_runs_unfinished ON runbook_runs (finished_at, id);
CREATE TABLE runbook_steps (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runbook_runs (id),
  phase       TEXT    NOT NULL,
  idx         INTEGER NOT NULL,
  name        TEXT    NOT NULL,
  attempt     INTEGER NOT NULL,
  status      TEXT    NOT NULL,
  detail      TEXT    NOT NULL DEFAULT '',
  log         TEXT    NOT NULL DEFAULT '',
  started_at  INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX runbook_steps_by_run ON runbook_steps (run_id, id);
)sql";

// Freezes declared from chat ("freeze production until monday 09:00"), beside the configured
// windows. Lifted ones stay, with who lifted them.
constexpr std::string_view kMigration15 = R"sql(
CREATE TABLE freezes (
  id          INTEGER PRIMARY KEY,
  environment TEXT    NOT NULL,
  starts_at   INTEGER NOT NULL,
  ends_at     INTEGER,
  reason      TEXT    NOT NULL DEFAULT '',
  created_by  TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  lifted_at   INTEGER,
  lifted_by   TEXT
);
CREATE INDEX freezes_by_environment ON freezes (environment, lifted_at);
)sql";

// Incident announcements (status reminders, status updates): recorded in the transaction that
// decides them, delivered after, marked sent; a restart delivers the pending ones (issue 14).
constexpr std::string_view kMigration16 = R"sql(
CREATE TABLE incident_announcements (
  id          INTEGER PRIMARY KEY,
  key         TEXT    NOT NULL UNIQUE,
  incident_id INTEGER NOT NULL,
  kind        TEXT    NOT NULL,
  room        TEXT    NOT NULL,
  tone        INTEGER NOT NULL,
  text        TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  sent_at     INTEGER,
  message_ref TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX incident_announcements_pending ON incident_announcements (sent_at, id);
)sql";

// Leases (storage/lease.h): which replica owns what, with the epoch that fences a former owner.
// Unused by a single replica on SQLite, but the store is the same on both backends.
constexpr std::string_view kMigration17 = R"sql(
CREATE TABLE leases (
  name       TEXT    PRIMARY KEY,
  holder     TEXT    NOT NULL,
  epoch      INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Release notes (issue 15): the generated text of each release of a service (keyed by service and
// version, with the commit range it covers), and a person's replacement for it, which
// regeneration keeps.
constexpr std::string_view kMigration18 = R"sql(
CREATE TABLE release_notes (
  service      TEXT    NOT NULL,
  version      TEXT    NOT NULL,
  from_version TEXT    NOT NULL DEFAULT '',
  from_sha     TEXT    NOT NULL DEFAULT '',
  to_sha       TEXT    NOT NULL DEFAULT '',
  summary      TEXT    NOT NULL DEFAULT '',
  generated    TEXT    NOT NULL DEFAULT '',
  edited       TEXT,
  edited_by    TEXT,
  edited_at    INTEGER,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (service, version)
);
)sql";

// Several writers (issue 17): a deploy's owner and epoch, which fence its transitions
// (DeployStore::transition_if), and one live deploy per service and environment as a unique
// partial index, as on PostgreSQL. One writer never left two live deploys of a target, but if
// a database has them anyway, the older ones are recorded as failed first so the index can exist.
constexpr std::string_view kMigration19 = R"sql(
ALTER TABLE deploys ADD COLUMN owner TEXT    NOT NULL DEFAULT '';
ALTER TABLE deploys ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
CREATE TEMP TABLE superseded_live_deploys AS
  SELECT id, state FROM deploys AS older
  WHERE state IN ('requested', 'awaiting_approval', 'queued', 'building', 'deploying', 'verifying')
    AND EXISTS (SELECT 1 FROM deploys AS newer
                WHERE newer.service = older.service AND newer.environment = older.environment
                  AND newer.id > older.id
                  AND newer.state IN ('requested', 'awaiting_approval', 'queued', 'building',
                                      'deploying', 'verifying'));
INSERT INTO deploy_events (deploy_id, at, from_state, to_state, message)
  SELECT id, CAST(strftime('%s', 'now') AS INTEGER) * 1000, state, 'failed',
         'a newer deploy of the same service and environment was live at the upgrade'
  FROM superseded_live_deploys;
UPDATE deploys SET state = 'failed',
                   detail = 'a newer deploy of the same service and environment was live at the upgrade',
                   finished_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000
  WHERE id IN (SELECT id FROM superseded_live_deploys);
DROP TABLE superseded_live_deploys;
CREATE UNIQUE INDEX deploys_one_live ON deploys (service, environment)
  WHERE state IN ('requested', 'awaiting_approval', 'queued', 'building', 'deploying',
                  'verifying');
)sql";

// Incident rooms (issue 14): private incidents, and the archiving of a resolved incident's room
// after a delay (`archive_at` until it is done, then `archived_at`); the incident alarm
// (commands/incident_alarm.h) reads only the earliest reminder or archive deadline, through these
// partial indexes.
constexpr std::string_view kMigration20 = R"sql(
ALTER TABLE incidents ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN archive_at INTEGER;
ALTER TABLE incidents ADD COLUMN archived_at INTEGER;
CREATE INDEX incidents_reminder_due ON incidents (next_reminder_at)
  WHERE next_reminder_at IS NOT NULL;
CREATE INDEX incidents_archive_due ON incidents (archive_at) WHERE archive_at IS NOT NULL;
)sql";

// The reply outbox (bot/reply_outbox.h): every reply a chat command produces, recorded before it
// is posted, in the transaction that marks the command's state. `idem_key` is the inbox key and
// the reply's index ("slack:event:Ev1#0"); a command run again after a crash makes the same keys,
// so a reply recorded once is never recorded (or posted) twice. PostgreSQL's
// table (migrations_postgres.cpp) is the same but for `seq`, an identity column there.
constexpr std::string_view kMigration21 = R"sql(
CREATE TABLE outbox (
  seq         INTEGER PRIMARY KEY,
  idem_key    TEXT    NOT NULL UNIQUE,
  platform    TEXT    NOT NULL,
  channel     TEXT    NOT NULL,
  thread      TEXT    NOT NULL DEFAULT '',
  intent      TEXT    NOT NULL,
  target_key  TEXT    NOT NULL DEFAULT '',
  body        TEXT    NOT NULL,
  state       TEXT    NOT NULL DEFAULT 'pending',
  platform_id TEXT    NOT NULL DEFAULT '',
  created_at  BIGINT  NOT NULL,
  sent_at     BIGINT
);
CREATE INDEX outbox_unsent ON outbox (platform, seq) WHERE state = 'pending';
)sql";

// Incident rooms, issue 14: every room operation (create, pin, topic, invite) is recorded before
// the platform is asked and marked after it answered (storage/room_op_store.h), so a crash or an
// outage retries it and a confirmed one is never asked again.
constexpr std::string_view kMigration22 = R"sql(
CREATE TABLE incident_room_ops (
  id          INTEGER PRIMARY KEY,
  key         TEXT    NOT NULL UNIQUE,
  incident_id INTEGER NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('create', 'pin', 'topic', 'invite')),
  room        TEXT    NOT NULL,
  payload     TEXT    NOT NULL DEFAULT '',
  state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
  attempts    INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL,
  next_at     INTEGER NOT NULL,
  done_at     INTEGER,
  result      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX incident_room_ops_due ON incident_room_ops (next_at) WHERE state = 'pending';
CREATE INDEX incident_room_ops_by_incident ON incident_room_ops (incident_id, id);
)sql";

// Replicas (issue 17): each pending inbox row names the replica that received it, so a replica
// replays only its own commands, and a survivor adopts a dead replica's (compare-and-set on the
// tag). Empty for a single replica.
constexpr std::string_view kMigration23 = R"sql(
ALTER TABLE inbox_pending ADD COLUMN replica TEXT NOT NULL DEFAULT '';
)sql";

// Replicas (issue 17): each runbook run names the replica driving it and an epoch that each
// takeover bumps; every journal write checks both (storage/runbook_store.h).
constexpr std::string_view kMigration24 = R"sql(
ALTER TABLE runbook_runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE runbook_runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
)sql";

// Replicas (issue 17): each reply-outbox row and each incident room operation names the replica
// that recorded it, so a starting replica recovers only its own (and a survivor adopts a dead
// replica's), never a live replica's unsent rows.
constexpr std::string_view kMigration25 = R"sql(
ALTER TABLE outbox ADD COLUMN replica TEXT NOT NULL DEFAULT '';
ALTER TABLE incident_room_ops ADD COLUMN replica TEXT NOT NULL DEFAULT '';
)sql";

// The one scheduler (issue 15): each occurrence of a timed job kept in other rows (lock expiry,
// approval deadline, incident reminder, room archive) is claimed here before it runs
// (storage/timed_claims.h).
constexpr std::string_view kMigration26 = R"sql(
CREATE TABLE timed_claims (
  job         TEXT    NOT NULL,
  key         TEXT    NOT NULL,
  nominal_at  INTEGER NOT NULL,
  holder      TEXT    NOT NULL DEFAULT '',
  state       TEXT    NOT NULL DEFAULT 'claimed' CHECK (state IN ('claimed', 'done')),
  claimed_at  INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  PRIMARY KEY (job, key, nominal_at)
);
)sql";

// The lock-expiry job reads the earliest expiry and the locks expired by now
// (storage/lock_store.h): without an index each read scanned every lock (4.5-8.8 ms at 10,000
// locks).
constexpr std::string_view kMigration27 = R"sql(
CREATE INDEX locks_by_expiry ON locks (expires_at, scope);
)sql";

// Issue 17: a deploy's rollout progress (canary step and weight, when the bake began, the steps
// whose checks passed, the stable and candidate versions, which colour serves), written with
// each transition so a replica taking the deploy over carries it on from there
// (commands/rollout_progress.h owns the text's format; the store keeps it opaque).
constexpr std::string_view kMigration28 = R"sql(
ALTER TABLE deploys ADD COLUMN rollout TEXT NOT NULL DEFAULT '';
)sql";

// The room-operation queue's pacing (commands/room_op_pacing.h), kept across restarts: one line
// per held channel ("channel:<address>") and per operation kind ("kind:create": its spent calls
// in thousandths, when they were counted, and a rate-limited hold of the whole tier).
constexpr std::string_view kMigration29 = R"sql(
CREATE TABLE incident_room_pacing (
  scope       TEXT    NOT NULL PRIMARY KEY,
  held_until  INTEGER NOT NULL DEFAULT 0,
  milli_tokens INTEGER NOT NULL DEFAULT 0,
  counted_at  INTEGER NOT NULL DEFAULT 0
);
)sql";

// The reply outbox's partial index of unsent rows goes (SQLite only; PostgreSQL keeps its own).
// Every command at one in flight inserted its new row into it and deleted the previous reply's
// (marked sent) from it: two B-tree operations and one of the five 1 KB WAL pages each commit
// wrote, about 13,000 of the commit's 64,000 instructions (callgrind, bench/README.md, session
// 15). Unsent rows are looked for only when a replica starts (OutboxStore::unsent and the
// adoption of a dead replica's rows): a scan of the table in `seq` order, which holds a day of
// rows (App's pruning, itself a scan of the table every ten minutes).
constexpr std::string_view kMigration30 = R"sql(
DROP INDEX IF EXISTS outbox_unsent;
)sql";

constexpr std::array kMigrations = {
    Migration{1, kMigration1},   Migration{2, kMigration2},   Migration{3, kMigration3},
    Migration{4, kMigration4},   Migration{5, kMigration5},   Migration{6, kMigration6},
    Migration{7, kMigration7},   Migration{8, kMigration8},   Migration{9, kMigration9},
    Migration{10, kMigration10}, Migration{11, kMigration11}, Migration{12, kMigration12},
    Migration{13, kMigration13}, Migration{14, kMigration14}, Migration{15, kMigration15},
    Migration{16, kMigration16}, Migration{17, kMigration17}, Migration{18, kMigration18},
    Migration{19, kMigration19}, Migration{20, kMigration20}, Migration{21, kMigration21},
    Migration{22, kMigration22}, Migration{23, kMigration23}, Migration{24, kMigration24},
    Migration{25, kMigration25}, Migration{26, kMigration26}, Migration{27, kMigration27},
    Migration{28, kMigration28}, Migration{29, kMigration29}, Migration{30, kMigration30},
};

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

int latest_schema_version() {
  return kMigrations.back().version;
}

void apply_migrations(Database& db) {
  if (db.dialect() == Dialect::postgresql)
    return apply_postgresql_migrations(db);
  const int latest = latest_schema_version();
  while (true) {
    // Reading the version inside the write transaction means two processes opening the same
    // fresh file cannot both apply the same migration.
    const bool done = db.transaction([&] {
      const int current = db.schema_version();
      if (current > latest) {
        throw StorageError("its schema version " + std::to_string(current) +
                           " is newer than this build of Shipmate understands (" +
                           std::to_string(latest) + "); upgrade Shipmate to use it");
      }
      if (current == latest)
        return true;
      for (const Migration& migration : kMigrations) {
        if (migration.version <= current)
          continue;
        db.exec(migration.sql);
        db.exec("PRAGMA user_version = " + std::to_string(migration.version));
        break;
      }
      return false;
    });
    if (done)
      return;
  }
}

}  // namespace shipmate::storage::detail
