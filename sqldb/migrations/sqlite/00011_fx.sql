-- +goose Up
-- Exchange rates and customer quotes (package fx). Timestamps are Unix
-- microseconds (UTC); 0 means "never". Rates are exact: the rate column
-- holds a plain decimal ("7.6543") or, for a rate with no finite decimal
-- form, a fraction of two integers ("1619400/76543"); never a float.

-- Every rate ever observed, append-only: one row per (pair, source, as_of).
-- The latest as_of per pair wins (ties: the higher id). created_by names
-- the operator who set an admin rate ('' for imports).
CREATE TABLE fx_rates (
    id          INTEGER PRIMARY KEY,
    base        TEXT NOT NULL,
    quote       TEXT NOT NULL,
    rate        TEXT NOT NULL,
    source      TEXT NOT NULL,
    as_of       INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    CHECK (base <> quote)
);
CREATE UNIQUE INDEX fx_rates_observation ON fx_rates(base, quote, source, as_of);
CREATE INDEX fx_rates_latest ON fx_rates(base, quote, as_of, id);

-- Quotes shown to a customer, executed later exactly as shown (once, by
-- the same user, before expires_at). sell_minor = sell_at_mid + spread_minor.
CREATE TABLE fx_quotes (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL,
    from_ccy     TEXT NOT NULL,
    to_ccy       TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('sell','buy')),
    sell_minor   INTEGER NOT NULL CHECK (sell_minor > 0),
    buy_minor    INTEGER NOT NULL CHECK (buy_minor > 0),
    sell_at_mid  INTEGER NOT NULL CHECK (sell_at_mid > 0),
    spread_minor INTEGER NOT NULL CHECK (spread_minor >= 0),
    rate         TEXT NOT NULL,
    mid_rate     TEXT NOT NULL,
    spread_bp    INTEGER NOT NULL,
    rate_source  TEXT NOT NULL,
    rate_as_of   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    taken_at     INTEGER NOT NULL DEFAULT 0,
    CHECK (sell_minor = sell_at_mid + spread_minor)
);
CREATE INDEX fx_quotes_expires ON fx_quotes(expires_at);

-- Rates are append-only: a correction is a new rate.
CREATE TRIGGER fx_rates_no_update BEFORE UPDATE ON fx_rates
BEGIN SELECT RAISE(ABORT, 'fx_rates is append-only'); END;
CREATE TRIGGER fx_rates_no_delete BEFORE DELETE ON fx_rates
BEGIN SELECT RAISE(ABORT, 'fx_rates is append-only'); END;

-- A quote changes once, when it is taken; a taken quote is kept as shown.
CREATE TRIGGER fx_quotes_take_only BEFORE UPDATE ON fx_quotes
    WHEN OLD.taken_at <> 0 OR NEW.taken_at = 0 OR NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id
      OR NEW.from_ccy <> OLD.from_ccy OR NEW.to_ccy <> OLD.to_ccy OR NEW.side <> OLD.side
      OR NEW.sell_minor <> OLD.sell_minor OR NEW.buy_minor <> OLD.buy_minor
      OR NEW.sell_at_mid <> OLD.sell_at_mid OR NEW.spread_minor <> OLD.spread_minor
      OR NEW.rate <> OLD.rate OR NEW.mid_rate <> OLD.mid_rate OR NEW.spread_bp <> OLD.spread_bp
      OR NEW.rate_source <> OLD.rate_source OR NEW.rate_as_of <> OLD.rate_as_of
      OR NEW.created_at <> OLD.created_at OR NEW.expires_at <> OLD.expires_at
BEGIN SELECT RAISE(ABORT, 'fx_quotes: only taking an untaken quote may change it'); END;
CREATE TRIGGER fx_quotes_keep_taken BEFORE DELETE ON fx_quotes WHEN OLD.taken_at <> 0
BEGIN SELECT RAISE(ABORT, 'fx_quotes: a taken quote is kept'); END;

-- +goose Down
DROP TABLE fx_quotes;
DROP TABLE fx_rates;
