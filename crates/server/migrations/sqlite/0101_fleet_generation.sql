-- A counter every change that can move a compliance summary bumps, in the
-- same transaction (triggers, so no write path can forget it): the server
-- keeps the fleet's summary view in memory and reloads it only when the
-- counter moved, whichever replica made the change.
CREATE TABLE fleet_generation (
    id    BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO fleet_generation (id, value) VALUES (1, 0);

CREATE TRIGGER fleet_generation_node_insert AFTER INSERT ON nodes
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_node_delete AFTER DELETE ON nodes
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_node_update AFTER UPDATE OF os_family ON nodes
WHEN OLD.os_family IS NOT NEW.os_family
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_tag_insert AFTER INSERT ON node_tags
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_tag_delete AFTER DELETE ON node_tags
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_tag_update AFTER UPDATE ON node_tags
WHEN OLD.value IS NOT NEW.value OR OLD.key IS NOT NEW.key OR OLD.node_id IS NOT NEW.node_id
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_compliance_insert AFTER INSERT ON node_compliance
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_compliance_delete AFTER DELETE ON node_compliance
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER fleet_generation_compliance_update AFTER UPDATE ON node_compliance
WHEN OLD.status IS NOT NEW.status OR OLD.severity IS NOT NEW.severity
  OR OLD.baseline IS NOT NEW.baseline OR OLD.node_id IS NOT NEW.node_id
BEGIN UPDATE fleet_generation SET value = value + 1 WHERE id = 1; END;
