-- Compliance (owned by the compliance engine, numbers 0100-0199).
-- Days are UTC calendar days as 'YYYY-MM-DD' text (they sort as dates);
-- statuses and levels are their kebab-case names; counts are JSON text.

-- One row per distinct evaluation: nodes with the same inventory, baseline
-- version and day share it, so per-node detail and per-patch reports read
-- it instead of re-evaluating.
CREATE TABLE compliance_results (
    inventory_hash   TEXT NOT NULL,
    baseline         TEXT NOT NULL,
    baseline_version BIGINT NOT NULL,
    day              TEXT NOT NULL,
    status           TEXT NOT NULL,
    severity         TEXT,
    state_counts     TEXT NOT NULL,
    level_counts     TEXT NOT NULL,
    -- The approved-patch lines (CSV) for the per-patch report.
    patches          TEXT NOT NULL,
    -- Every package line and install target (CSV, zstd, base64).
    report           TEXT NOT NULL,
    evaluated_at     BIGINT NOT NULL,
    PRIMARY KEY (inventory_hash, baseline, baseline_version, day)
);

CREATE INDEX compliance_results_day ON compliance_results (day);

-- Each node's latest summary and the distinct result it points to. Rows of
-- deleted nodes are removed at the next fleet re-evaluation (reads join
-- the nodes table, so they never show).
CREATE TABLE node_compliance (
    node_id          TEXT PRIMARY KEY,
    inventory_hash   TEXT NOT NULL,
    baseline         TEXT NOT NULL,
    baseline_version BIGINT NOT NULL,
    day              TEXT NOT NULL,
    os_family        TEXT NOT NULL,
    status           TEXT NOT NULL,
    severity         TEXT,
    state_counts     TEXT NOT NULL,
    level_counts     TEXT NOT NULL,
    scanned_at       BIGINT NOT NULL,
    evaluated_at     BIGINT NOT NULL
);

CREATE INDEX node_compliance_result
    ON node_compliance (inventory_hash, baseline, baseline_version, day);

-- One row per node and UTC day (the day's last evaluation wins), with the
-- node's grouping values of that day so history outlives tag changes and
-- node deletion. status NULL: the node had not reported an inventory.
CREATE TABLE compliance_history (
    day         TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    status      TEXT,
    severity    TEXT,
    baseline    TEXT,
    os_family   TEXT,
    patch_group TEXT,
    environment TEXT,
    zone        TEXT,
    application TEXT,
    PRIMARY KEY (day, node_id)
);
