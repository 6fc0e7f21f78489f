-- 0025_money_idempotency: a money request applied at most once per idempotency key
-- (issue 24 item 1, docs/database.md "Idempotency keys").
--
-- Why: with PostgreSQL behind Patroni a primary can die between a COMMIT and its answer.
-- The client (the api, and through it its caller) then does not know whether the deposit,
-- withdrawal or fee went through, and the only safe next step is to send it again. A
-- request that carries a key is stored with the key in the same transaction as the money
-- it moves, so the retry finds the key and gets the first answer instead of moving the
-- money a second time. (The roles' own money writes are idempotent by construction:
-- billing_run by billed_until, execution reports once per (subscription, sequence,
-- ticket, status), settlement once at CANCELLED, so they need no key.)
--
-- money_request(caller, key, operation, target, amount, reference):
--   * claims (caller, key) with INSERT ... ON CONFLICT DO NOTHING: a second request with
--     the same key while the first is in flight waits for the first's commit (then finds
--     its row) or rollback (then claims the key itself);
--   * key already stored: the same operation, target and arguments -> (true, stored
--     result), nothing moves; anything else -> DP024 (a key names one request);
--   * else runs the operation (wallet_deposit, wallet_withdraw, charge_performance_fee)
--     and stores its result with the key, in the same transaction. A refusal (DP030
--     insufficient funds, ...) rolls the key back with it: a refused request moved
--     nothing, and sending it again is a new attempt.
-- Money in the stored result is text ("12.34"), as the api replies it; never a JSON
-- number.
--
-- Like every money object since 0012 the table and the function belong to the NOLOGIN
-- role decp_money (made by decp_maintenance), so decp_app can neither change nor delete a
-- stored key: it may only call money_request() and read its own history.

GRANT CREATE ON SCHEMA public TO decp_maintenance;
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

CREATE TABLE money_requests (
    caller     text NOT NULL CHECK (caller ~ '^(operator|subscriber:[0-9]{1,19})$'),
    key        text NOT NULL CHECK (key ~ '^[A-Za-z0-9._:-]{1,64}$'),
    operation  text NOT NULL
               CHECK (operation IN ('wallet_deposit', 'wallet_withdraw', 'charge_performance_fee')),
    target     bigint NOT NULL,
    arguments  jsonb NOT NULL,
    result     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);

CREATE FUNCTION money_request(p_caller text, p_key text, p_operation text, p_target bigint,
                              p_amount numeric, p_reference text)
RETURNS TABLE (replayed boolean, result jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_args jsonb := jsonb_build_object('amount', p_amount, 'reference', p_reference);
    v_row money_requests;
    v_result jsonb;
BEGIN
    INSERT INTO money_requests (caller, key, operation, target, arguments, result)
    VALUES (p_caller, p_key, p_operation, p_target, v_args, 'null'::jsonb)
    ON CONFLICT ON CONSTRAINT money_requests_pkey DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO v_row FROM money_requests m WHERE m.caller = p_caller AND m.key = p_key;
        IF v_row.operation <> p_operation OR v_row.target <> p_target
           OR v_row.arguments <> v_args THEN
            RAISE EXCEPTION 'idempotency key % names another request', p_key
                USING ERRCODE = 'DP024';
        END IF;
        RETURN QUERY SELECT true, v_row.result;
        RETURN;
    END IF;
    IF p_operation = 'wallet_deposit' THEN
        v_result := jsonb_build_object('subscriber_id', p_target, 'balance_usd',
                                       wallet_deposit(p_target, p_amount, p_reference)::text);
    ELSIF p_operation = 'wallet_withdraw' THEN
        v_result := jsonb_build_object('subscriber_id', p_target, 'balance_usd',
                                       wallet_withdraw(p_target, p_amount, p_reference)::text);
    ELSE
        SELECT jsonb_build_object('outcome', f.outcome, 'fee_amount', f.fee_amount::text,
                                  'new_hwm', f.new_hwm::text,
                                  'profit_above_hwm', f.profit_above_hwm::text,
                                  'balance_after', f.balance_after::text,
                                  'ledger_id', f.ledger_id)
          INTO v_result
          FROM charge_performance_fee(p_target, p_amount, p_reference) f;
    END IF;
    UPDATE money_requests m SET result = v_result WHERE m.caller = p_caller AND m.key = p_key;
    RETURN QUERY SELECT false, v_result;
END
$$;

ALTER TABLE money_requests OWNER TO decp_money;
ALTER FUNCTION money_request(text, text, text, bigint, numeric, text) OWNER TO decp_money;
REVOKE ALL ON money_requests FROM PUBLIC;
GRANT SELECT ON money_requests TO decp_app;
REVOKE EXECUTE ON FUNCTION money_request(text, text, text, bigint, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION money_request(text, text, text, bigint, numeric, text) TO decp_app;
INSERT INTO money_guarded_functions VALUES ('money_request');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
