-- A counter every change that can move a compliance summary bumps, in the
-- same transaction (triggers, so no write path can forget it): the server
-- keeps the fleet's summary view in memory and reloads it only when the
-- counter moved, whichever replica made the change.
CREATE TABLE fleet_generation (
    id    BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO fleet_generation (id, value) VALUES (1, 0);

CREATE FUNCTION patchline_bump_fleet_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fleet_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

-- Row-level, so an upsert that only updates fires only the UPDATE trigger
-- (and only when a summarised column changed).
CREATE TRIGGER fleet_generation_node_insert_delete AFTER INSERT OR DELETE ON nodes
FOR EACH ROW EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE TRIGGER fleet_generation_node_update AFTER UPDATE ON nodes
FOR EACH ROW WHEN (OLD.os_family IS DISTINCT FROM NEW.os_family)
EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE TRIGGER fleet_generation_tag_insert_delete AFTER INSERT OR DELETE ON node_tags
FOR EACH ROW EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE TRIGGER fleet_generation_tag_update AFTER UPDATE ON node_tags
FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value OR OLD.key IS DISTINCT FROM NEW.key
    OR OLD.node_id IS DISTINCT FROM NEW.node_id)
EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE TRIGGER fleet_generation_compliance_insert_delete AFTER INSERT OR DELETE ON node_compliance
FOR EACH ROW EXECUTE FUNCTION patchline_bump_fleet_generation();

CREATE TRIGGER fleet_generation_compliance_update AFTER UPDATE ON node_compliance
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
    OR OLD.severity IS DISTINCT FROM NEW.severity
    OR OLD.baseline IS DISTINCT FROM NEW.baseline OR OLD.node_id IS DISTINCT FROM NEW.node_id)
EXECUTE FUNCTION patchline_bump_fleet_generation();
