-- 0023_master_positions: the master's own positions snapshots, as the book role checked
-- them against its position book (issue 19 item 1; docs/resync.md "The master's own
-- snapshot"). One row per snapshot the role finished with:
--   match     the master's positions at `sequence` equal the book's
--   mismatch  they differ: `differences` counted, the first of them in `detail` (one per
--             line); logged as an ALERT and counted (decp_book_position_mismatches_total)
--   stale     the book had moved past `sequence` and its checkpoints could not rebuild it
--             there (the snapshot arrived too late): not compared
--   expired   the book did not reach `sequence` within the wait, or the snapshot's parts
--             never all arrived, or they contradict each other: not compared
-- A log, not a relation: no foreign key, so a row outlives its master. Written by the
-- book role (decp_app), once per (master, snapshot id): a role restarted over the same
-- stream entries adds nothing.
CREATE TABLE master_position_checks (
    master_id      bigint NOT NULL CHECK (master_id > 0),
    snapshot_id    numeric(20, 0) NOT NULL CHECK (snapshot_id > 0),
    sequence       bigint NOT NULL CHECK (sequence >= 0),
    outcome        text NOT NULL CHECK (outcome IN ('match', 'mismatch', 'stale', 'expired')),
    master_entries integer NOT NULL CHECK (master_entries >= 0),
    book_entries   integer NOT NULL CHECK (book_entries >= 0),
    differences    integer NOT NULL CHECK (differences >= 0),
    detail         text NOT NULL DEFAULT '',
    received_at    timestamptz NOT NULL,
    checked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (master_id, snapshot_id)
);
CREATE INDEX master_position_checks_mismatch ON master_position_checks (checked_at)
    WHERE outcome = 'mismatch';
GRANT SELECT, INSERT ON master_position_checks TO decp_app;
