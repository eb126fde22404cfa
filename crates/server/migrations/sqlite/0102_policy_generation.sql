-- A counter bumped (by triggers, in the writing transaction) on any change
-- of baselines or patch groups: the compliance engine keeps the compiled
-- policy in memory and reloads it only when the counter moved, instead of
-- reading and decoding every baseline at each check-in.
CREATE TABLE policy_generation (
    id    BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO policy_generation (id, value) VALUES (1, 0);

CREATE TRIGGER policy_generation_baseline_insert AFTER INSERT ON baselines
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_baseline_update AFTER UPDATE ON baselines
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_baseline_delete AFTER DELETE ON baselines
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER policy_generation_group_insert AFTER INSERT ON patch_groups
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_group_update AFTER UPDATE ON patch_groups
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_group_delete AFTER DELETE ON patch_groups
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER policy_generation_group_baseline_insert AFTER INSERT ON patch_group_baselines
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_group_baseline_update AFTER UPDATE ON patch_group_baselines
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER policy_generation_group_baseline_delete AFTER DELETE ON patch_group_baselines
BEGIN UPDATE policy_generation SET value = value + 1 WHERE id = 1; END;
