-- 0021_resync_state: the server writes DEGRADED_GAP while a subscription re-syncs from a
-- position snapshot, and SYNCED when its subscriber reports the reconciliation done
-- (issue 19 item 2; docs/resync.md "Snapshots to subscribers"). The fan-out calls
-- subscription_resync() from its db thread; the seed's state machine is enforced by
-- subscriptions_guard (0001) as for every other change, and the function only asks for
-- the two edges a re-sync uses:
--   begin (p_done false): SYNCED -> DEGRADED_GAP
--   done  (p_done true):  DEGRADED_GAP -> SYNCED
-- Any other current state is left alone (a paused, locked, suspended or cancelled
-- subscription is not moved by a re-sync). Returns the state after the call (NULL: no
-- such subscription). The change reaches the connected subscriber as a StateChange
-- through the fan-out's state poll (updated_at), like every other state change.
CREATE FUNCTION subscription_resync(p_id bigint, p_done boolean, p_seq bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    IF p_done THEN
        UPDATE subscriptions
           SET state = 'SYNCED', state_reason = format('re-sync done at sequence %s', p_seq)
         WHERE id = p_id AND state = 'DEGRADED_GAP';
    ELSE
        UPDATE subscriptions
           SET state = 'DEGRADED_GAP',
               state_reason = format('re-sync from snapshot at sequence %s', p_seq)
         WHERE id = p_id AND state = 'SYNCED';
    END IF;
    SELECT state INTO v_state FROM subscriptions WHERE id = p_id;
    RETURN v_state;
END
$$;
REVOKE EXECUTE ON FUNCTION subscription_resync(bigint, boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION subscription_resync(bigint, boolean, bigint) TO decp_app;
