-- 0008_instruments: the instrument registry (issue 18 item 4, docs/guard.md
-- "Instrument registry"): per symbol the quote digits, the point (smallest price
-- step), the pip size and the contract size, which the guard's price check reads
-- (guard_instrument.h). Operators edit it with `decpctl instrument`.
--
-- Branch `money` also adds 0008 and 0009 (the migration runner wants contiguous
-- versions): renumber at merge; this file and 0009_trust_credit depend on none of
-- theirs.
--
-- Prices on the wire are integers of 1e-5 (proto), so digits is at most 5 and a
-- point is 10^-digits exactly; the pip is a whole number of points. The same
-- rules are guard_instrument_valid()'s, so every row the table accepts is one
-- the guard accepts.

CREATE TABLE instruments (
    symbol        text PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9._#-]{1,32}$'),
    digits        smallint NOT NULL CHECK (digits BETWEEN 0 AND 5),
    point         numeric(12,5) NOT NULL,
    pip_size      numeric(12,5) NOT NULL CHECK (pip_size > 0),
    contract_size bigint NOT NULL CHECK (contract_size > 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (point = power(10::numeric, -digits)),
    CHECK (mod(pip_size, point) = 0)
);

-- The seed is guard_instruments_builtin() (guard/guard_instrument.c) row for row;
-- tests/trust test_instruments_seed compares the two.
INSERT INTO instruments (symbol, digits, point, pip_size, contract_size) VALUES
    ('EURUSD', 5, 0.00001, 0.0001, 100000),
    ('GBPUSD', 5, 0.00001, 0.0001, 100000),
    ('AUDUSD', 5, 0.00001, 0.0001, 100000),
    ('NZDUSD', 5, 0.00001, 0.0001, 100000),
    ('USDCHF', 5, 0.00001, 0.0001, 100000),
    ('USDCAD', 5, 0.00001, 0.0001, 100000),
    ('EURGBP', 5, 0.00001, 0.0001, 100000),
    ('EURCHF', 5, 0.00001, 0.0001, 100000),
    ('EURCAD', 5, 0.00001, 0.0001, 100000),
    ('EURAUD', 5, 0.00001, 0.0001, 100000),
    ('EURNZD', 5, 0.00001, 0.0001, 100000),
    ('GBPCHF', 5, 0.00001, 0.0001, 100000),
    ('GBPCAD', 5, 0.00001, 0.0001, 100000),
    ('GBPAUD', 5, 0.00001, 0.0001, 100000),
    ('GBPNZD', 5, 0.00001, 0.0001, 100000),
    ('AUDCHF', 5, 0.00001, 0.0001, 100000),
    ('AUDCAD', 5, 0.00001, 0.0001, 100000),
    ('AUDNZD', 5, 0.00001, 0.0001, 100000),
    ('NZDCHF', 5, 0.00001, 0.0001, 100000),
    ('NZDCAD', 5, 0.00001, 0.0001, 100000),
    ('CADCHF', 5, 0.00001, 0.0001, 100000),
    ('USDJPY', 3, 0.001, 0.01, 100000),
    ('EURJPY', 3, 0.001, 0.01, 100000),
    ('GBPJPY', 3, 0.001, 0.01, 100000),
    ('AUDJPY', 3, 0.001, 0.01, 100000),
    ('NZDJPY', 3, 0.001, 0.01, 100000),
    ('CADJPY', 3, 0.001, 0.01, 100000),
    ('CHFJPY', 3, 0.001, 0.01, 100000),
    ('XAUUSD', 2, 0.01, 0.1, 100),
    ('XAGUSD', 3, 0.001, 0.01, 5000),
    ('XAUEUR', 2, 0.01, 0.1, 100),
    ('BTCUSD', 2, 0.01, 1, 1),
    ('ETHUSD', 2, 0.01, 0.1, 1);

-- decpctl instrument runs as whichever role the operator connects as (usually
-- decp_app, like decpctl token).
GRANT SELECT, INSERT, UPDATE, DELETE ON instruments TO decp_app;
