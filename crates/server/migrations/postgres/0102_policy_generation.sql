-- 1. The fleet_generation triggers of 0101 become deferred constraint
--    triggers: the counter row is then locked only at commit, as each
--    transaction's last step, so two writers can never wait on each other
--    through it (an immediate trigger locked it mid-transaction, before
--    the row locks taken later: a lock-order deadlock).
-- 2. A policy_generation counter, bumped the same way on any change of
--    baselines or patch groups: the compliance engine keeps the compiled
--    policy in memory and reloads it only when the counter moved.

DROP TRIGGER fleet_generation_node_insert_delete ON nodes;
DROP TRIGGER fleet_generation_node_update ON nodes;
DROP TRIGGER fleet_generation_tag_insert_delete ON node_tags;
DROP TRIGGER fleet_generation_tag_update ON node_tags;
DROP TRIGGER fleet_generation_compliance_insert_delete ON node_compliance;
DROP TRIGGER fleet_generation_compliance_update ON node_compliance;

CREATE CONSTRAINT TRIGGER fleet_generation_node_insert_delete
AFTER INSERT OR DELETE ON nodes DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE CONSTRAINT TRIGGER fleet_generation_node_update
AFTER UPDATE ON nodes DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (OLD.os_family IS DISTINCT FROM NEW.os_family)
EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE CONSTRAINT TRIGGER fleet_generation_tag_insert_delete
AFTER INSERT OR DELETE ON node_tags DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE CONSTRAINT TRIGGER fleet_generation_tag_update
AFTER UPDATE ON node_tags DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value OR OLD.key IS DISTINCT FROM NEW.key
    OR OLD.node_id IS DISTINCT FROM NEW.node_id)
EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE CONSTRAINT TRIGGER fleet_generation_compliance_insert_delete
AFTER INSERT OR DELETE ON node_compliance DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE CONSTRAINT TRIGGER fleet_generation_compliance_update
AFTER UPDATE ON node_compliance DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
    OR OLD.severity IS DISTINCT FROM NEW.severity
    OR OLD.baseline IS DISTINCT FROM NEW.baseline OR OLD.node_id IS DISTINCT FROM NEW.node_id)
EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE TABLE policy_generation (
    id    BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO policy_generation (id, value) VALUES (1, 0);

CREATE FUNCTION patchline_bump_policy_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE policy_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER policy_generation_baselines
AFTER INSERT OR UPDATE OR DELETE ON baselines DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION patchline_bump_policy_generation();

CREATE CONSTRAINT TRIGGER policy_generation_patch_groups
AFTER INSERT OR UPDATE OR DELETE ON patch_groups DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION patchline_bump_policy_generation();

CREATE CONSTRAINT TRIGGER policy_generation_patch_group_baselines
AFTER INSERT OR UPDATE OR DELETE ON patch_group_baselines DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION patchline_bump_policy_generation();
