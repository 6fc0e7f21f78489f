-- 0029_event_list_index: a subscriber's protection events, newest first, read by index
-- (GET /v1/protection-events, docs/api.md).
--
-- Why: the api asked for a subscriber's events as "every event whose subscription is one of
-- the subscriber's, ordered by id, first N"; protection_logs had only
-- (subscription_id, event_time), so PostgreSQL scanned every partition of the table (90
-- days of every subscriber's events: 0.3 s at 2 M rows, growing with the platform) on the
-- api worker's loop, for any subscriber's request. The api now reads each of the
-- subscriber's subscriptions by (subscription_id, id) newest first, at most N rows each,
-- and merges them: bounded by the subscriber's own subscriptions and the page size.
-- On the partitioned table the index is made on every partition (and on those
-- maintain_partitions() creates later).

CREATE INDEX protection_logs_subscription_id ON protection_logs (subscription_id, id);
