-- Executions of maintenance windows and of Patch Now: one row per run,
-- one per task of the run, one per task and targeted node (invocation).
-- Every scheduling decision is a conditional UPDATE of these rows, so the
-- scheduler keeps no state outside them.

CREATE TABLE executions (
    id              TEXT PRIMARY KEY,
    -- 'scheduled' or 'patch-now'.
    kind            TEXT NOT NULL,
    -- NULL for Patch Now.
    window_name     TEXT,
    window_version  BIGINT,
    -- The opening (Patch Now: when it was asked for), unix milliseconds.
    scheduled_for   BIGINT NOT NULL,
    last_task_start BIGINT NOT NULL,
    window_end      BIGINT NOT NULL,
    status          TEXT NOT NULL,
    detail          TEXT,
    requested_by    TEXT NOT NULL,
    -- Set by a cancellation: the execution ends as cancelled.
    cancelled_by    TEXT,
    -- JSON snapshot of the tasks, rollout and targets when it was created:
    -- editing the window never changes a created execution.
    plan            TEXT NOT NULL,
    -- The server running it, until lease_until (it renews the lease).
    lease_owner     TEXT,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    -- Two servers opening the same window create one execution.
    UNIQUE (window_name, scheduled_for)
);

CREATE INDEX executions_status ON executions (status, scheduled_for);
CREATE INDEX executions_window ON executions (window_name, created_at);

CREATE TABLE task_executions (
    execution_id    TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    task_index      BIGINT NOT NULL,
    name            TEXT NOT NULL,
    priority        BIGINT NOT NULL,
    status          TEXT NOT NULL,
    -- The limits resolved against the task's target count.
    max_concurrency BIGINT NOT NULL,
    max_errors      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    detail          TEXT,
    PRIMARY KEY (execution_id, task_index)
);

CREATE TABLE invocations (
    -- The id of the work item the agent receives.
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    task_index   BIGINT NOT NULL,
    node_id      TEXT NOT NULL,
    hostname     TEXT NOT NULL,
    zone         TEXT,
    -- The zone batch (rollout order); 0 without a rollout.
    batch        BIGINT NOT NULL,
    status       TEXT NOT NULL,
    -- JSON of what to hand the agent (the baseline is resolved at delivery).
    work         TEXT NOT NULL,
    output       TEXT NOT NULL DEFAULT '',
    detail       TEXT,
    queued_at    BIGINT,
    started_at   BIGINT,
    finished_at  BIGINT,
    -- Queued: when an uncollected invocation times out; in progress: when
    -- a missing result does.
    deadline     BIGINT
);

CREATE INDEX invocations_node_status ON invocations (node_id, status);
CREATE INDEX invocations_execution ON invocations (execution_id, task_index, status);
