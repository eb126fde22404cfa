-- Versioned baselines and patch groups.

-- The current version of each baseline; `document` is the JSON of the
-- core's Baseline. At most one default per OS family.
CREATE TABLE baselines (
    name               TEXT PRIMARY KEY,
    os_family          TEXT NOT NULL,
    version            BIGINT NOT NULL,
    default_for_family BIGINT NOT NULL DEFAULT 0,
    document           TEXT NOT NULL,
    updated_at         BIGINT NOT NULL,
    updated_by         TEXT NOT NULL
);

CREATE UNIQUE INDEX baselines_one_default_per_family
    ON baselines (os_family) WHERE default_for_family = 1;

-- Every version ever stored, kept when the baseline is deleted so a name
-- reused later continues the numbering.
CREATE TABLE baseline_versions (
    name               TEXT NOT NULL,
    version            BIGINT NOT NULL,
    os_family          TEXT NOT NULL,
    default_for_family BIGINT NOT NULL,
    document           TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    created_by         TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE patch_groups (
    name       TEXT PRIMARY KEY,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- A group's baseline per OS family. A baseline named here cannot be deleted.
CREATE TABLE patch_group_baselines (
    group_name    TEXT NOT NULL REFERENCES patch_groups (name) ON DELETE CASCADE,
    os_family     TEXT NOT NULL,
    baseline_name TEXT NOT NULL REFERENCES baselines (name),
    PRIMARY KEY (group_name, os_family)
);

CREATE INDEX patch_group_baselines_baseline ON patch_group_baselines (baseline_name);
