-- Enrolment secrets, nodes with their tags, and content-addressed
-- inventories.

CREATE TABLE enrolment_secrets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    max_uses    BIGINT,
    uses        BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT,
    -- JSON object of the tags every node enrolled with the secret gets.
    tags        TEXT NOT NULL,
    revoked     BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

-- One row per distinct inventory; `body` is the JSON of the inventory in
-- the form `encoding` names ('json' or 'zstd-base64').
CREATE TABLE inventories (
    hash       TEXT PRIMARY KEY,
    encoding   TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE nodes (
    id                  TEXT PRIMARY KEY,
    credential_hash     TEXT NOT NULL UNIQUE,
    hostname            TEXT NOT NULL,
    os_family           TEXT NOT NULL,
    -- JSON of the NodeFacts of the last enrolment or check-in.
    facts               TEXT NOT NULL,
    -- JSON object of the tags the agent's configuration sets.
    agent_tags          TEXT NOT NULL,
    enrolment_secret_id TEXT,
    enrolled_at         BIGINT NOT NULL,
    last_checkin_at     BIGINT,
    inventory_hash      TEXT REFERENCES inventories (hash),
    scanned_at          BIGINT
);

CREATE INDEX nodes_inventory_hash ON nodes (inventory_hash);
CREATE INDEX nodes_hostname ON nodes (hostname);

-- The effective tags of each node, one row per key: every operator tag
-- (source 'operator', including those of the enrolment secret) and every
-- agent tag whose key no operator tag overrides (source 'agent').
CREATE TABLE node_tags (
    node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    source  TEXT NOT NULL,
    PRIMARY KEY (node_id, key)
);

CREATE INDEX node_tags_key_value ON node_tags (key, value, node_id);
