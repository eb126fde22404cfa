-- A request that the agent stop an in-progress invocation: the window's
-- cutoff passed with cutoff behaviour `cancel-task`, or an operator
-- cancelled the execution. Set once (the first reason is kept); the agent
-- learns of it through GET /api/v1/agent/work/{id}/cancel.

-- When the stop was asked for, unix milliseconds; NULL: never.
ALTER TABLE invocations ADD COLUMN cancel_requested_at BIGINT;
-- Why ("cancelled by user:x", "the window's cutoff passed ...").
ALTER TABLE invocations ADD COLUMN cancel_reason TEXT;
