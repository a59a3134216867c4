-- +goose Up
-- Exchange rates and customer quotes (package fx). Timestamps are Unix
-- microseconds (UTC); 0 means "never". Rates are exact: the rate column
-- holds a plain decimal ("7.6543") or, for a rate with no finite decimal
-- form, a fraction of two integers ("1619400/76543"); never a float.

-- Every rate ever observed, append-only: one row per (pair, source, as_of).
-- The latest as_of per pair wins (ties: the higher id). created_by names
-- the operator who set an admin rate ('' for imports).
CREATE TABLE fx_rates (
    id          BIGINT PRIMARY KEY,
    base        TEXT NOT NULL,
    quote       TEXT NOT NULL,
    rate        TEXT NOT NULL,
    source      TEXT NOT NULL,
    as_of       BIGINT NOT NULL,
    imported_at BIGINT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    CHECK (base <> quote)
);
CREATE UNIQUE INDEX fx_rates_observation ON fx_rates(base, quote, source, as_of);
CREATE INDEX fx_rates_latest ON fx_rates(base, quote, as_of, id);

-- Quotes shown to a customer, executed later exactly as shown (once, by
-- the same user, before expires_at). sell_minor = sell_at_mid + spread_minor.
CREATE TABLE fx_quotes (
    id           BIGINT PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    from_ccy     TEXT NOT NULL,
    to_ccy       TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('sell','buy')),
    sell_minor   BIGINT NOT NULL CHECK (sell_minor > 0),
    buy_minor    BIGINT NOT NULL CHECK (buy_minor > 0),
    sell_at_mid  BIGINT NOT NULL CHECK (sell_at_mid > 0),
    spread_minor BIGINT NOT NULL CHECK (spread_minor >= 0),
    rate         TEXT NOT NULL,
    mid_rate     TEXT NOT NULL,
    spread_bp    BIGINT NOT NULL,
    rate_source  TEXT NOT NULL,
    rate_as_of   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    taken_at     BIGINT NOT NULL DEFAULT 0,
    CHECK (sell_minor = sell_at_mid + spread_minor)
);
CREATE INDEX fx_quotes_expires ON fx_quotes(expires_at);

-- Rates are append-only: a correction is a new rate (okpay_append_only
-- comes from 00001_ledger).
CREATE TRIGGER fx_rates_append_only BEFORE UPDATE OR DELETE ON fx_rates
    FOR EACH ROW EXECUTE FUNCTION okpay_append_only();
CREATE TRIGGER fx_rates_no_truncate BEFORE TRUNCATE ON fx_rates
    FOR EACH STATEMENT EXECUTE FUNCTION okpay_append_only();

-- A quote changes once, when it is taken; a taken quote is kept as shown.
-- +goose StatementBegin
CREATE FUNCTION fx_quotes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    other fx_quotes;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.taken_at <> 0 THEN
            RAISE EXCEPTION 'fx_quotes: a taken quote is kept' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    other := NEW;
    other.taken_at := OLD.taken_at;
    IF OLD.taken_at <> 0 OR NEW.taken_at = 0 OR other IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'fx_quotes: only taking an untaken quote may change it' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER fx_quotes_take_only BEFORE UPDATE OR DELETE ON fx_quotes
    FOR EACH ROW EXECUTE FUNCTION fx_quotes_guard();

-- +goose Down
DROP TABLE fx_quotes;
DROP TABLE fx_rates;
DROP FUNCTION fx_quotes_guard();
