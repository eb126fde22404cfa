-- Maintenance window definitions and opt-out governance (issue 5).

-- One row per window; `spec` is the JSON of the API's WindowSpec. `enabled`
-- and the owner scope are copied out of it so the scheduler and scoped
-- listings can filter in SQL. `version` counts the window's changes from 1.
CREATE TABLE windows (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    enabled     BIGINT NOT NULL,
    owner_key   TEXT,
    owner_value TEXT,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);

-- Automatic tagging rules; `rule` is the JSON of the core's TaggingRule.
-- Rules apply in name order; a later rule overrides an earlier one's key.
CREATE TABLE tagging_rules (
    name       TEXT PRIMARY KEY,
    rule       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- Server-wide settings as JSON documents (key 'governance': the default
-- window and default patch group).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- The tags the tagging rules give a node (JSON object), the lowest layer of
-- its effective tags: rule < agent < operator. `node_tags` rows taken from
-- it have source 'rule'.
ALTER TABLE nodes ADD COLUMN rule_tags TEXT NOT NULL DEFAULT '{}';

-- The default patch group takes part in baseline resolution: a settings
-- change bumps the policy generation like a patch group change does.
CREATE TRIGGER policy_generation_settings_insert AFTER INSERT ON settings
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_settings_update AFTER UPDATE ON settings
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_settings_delete AFTER DELETE ON settings
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
