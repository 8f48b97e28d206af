"""cheaper ingest writes: an inlinable hour function, token rollups a row per model-hour, room for HOT updates

Revision ID: issue17ingest_0001
Revises: issue17log_0001

Three changes to what each recording transaction costs PostgreSQL (issue 17, ingest):

- `kashi_epoch_hour`, the expression of the log's token index, read the epoch of a `timestamptz`
  (a STABLE `date_part`), so PostgreSQL could not inline the IMMUTABLE SQL function and ran it
  through the SQL-function executor for every token row appended (a third of the log's COPY cost).
  The epoch of `at AT TIME ZONE 'UTC'` is the same number from IMMUTABLE parts, so the function now
  inlines. Every value is unchanged (same epoch, same floor), so the index stays as it is; its
  storage parameter is set again (to its default) only so that every open connection drops the
  expression it cached with the old body, which no longer matches the inlined one in queries.
- `token_hourly` kept one row per token kind; it now keeps one row per (tenant, contract, model,
  hour) with the three counts as columns: a third of the rows to upsert. Existing rows are summed
  into the new shape (and back on downgrade, a row per kind with tokens, as ingest wrote them).
- The hourly rollups are updated in place many times an hour: fillfactor 50 leaves room on each page
  for the new row versions, so an update stays a HOT update (no index entry) instead of a new one.
"""

from alembic import op

revision = "issue17ingest_0001"
down_revision = "issue17log_0001"
branch_labels = None
depends_on = None

EPOCH_HOUR = """
CREATE OR REPLACE FUNCTION kashi_epoch_hour(at timestamptz) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN floor(extract(epoch FROM at AT TIME ZONE 'UTC') / 3600)::int"""
OLD_EPOCH_HOUR = """
CREATE OR REPLACE FUNCTION kashi_epoch_hour(at timestamptz) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN floor(extract(epoch FROM at) / 3600)::int"""
KINDS = ("input", "output", "cached")
HOT_TABLES = ("gpu_hourly", "tenant_fleet_hourly", "fleet_hourly", "fleet_model_hourly", "gpu_status_hourly")


REFRESH_INDEX = "ALTER INDEX ix_usage_log_tokens SET (deduplicate_items = on)"


def upgrade() -> None:
    op.execute(EPOCH_HOUR)
    op.execute(REFRESH_INDEX)
    op.execute("""
        DO $$ BEGIN
          IF EXISTS (SELECT FROM token_hourly WHERE kind NOT IN ('input', 'output', 'cached')) THEN
            RAISE EXCEPTION 'token_hourly holds a kind other than input, output and cached';
          END IF;
        END $$""")
    op.execute("""
        CREATE TABLE token_hourly_new (
          hour bigint NOT NULL, input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,
          cached_tokens bigint NOT NULL, tenant_id text NOT NULL, contract_id text NOT NULL, model text NOT NULL
        ) WITH (fillfactor = 50)""")
    sums = ", ".join(f"coalesce(sum(tokens) FILTER (WHERE kind = '{k}'), 0)" for k in KINDS)
    op.execute(f"""INSERT INTO token_hourly_new (hour, input_tokens, output_tokens, cached_tokens, tenant_id,
                                                 contract_id, model)
                   SELECT hour, {sums}, tenant_id, contract_id, model FROM token_hourly
                   GROUP BY tenant_id, contract_id, model, hour ORDER BY tenant_id, contract_id, model, hour""")
    op.execute("DROP TABLE token_hourly")
    op.execute("ALTER TABLE token_hourly_new RENAME TO token_hourly")
    op.execute("ALTER TABLE token_hourly ADD CONSTRAINT pk_token_hourly PRIMARY KEY (tenant_id, contract_id, model, hour)")
    op.execute("CREATE INDEX ix_token_hourly_tenant_hour ON token_hourly (tenant_id, hour)")
    for table in HOT_TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    for table in HOT_TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.execute("""
        CREATE TABLE token_hourly_old (
          tenant_id text NOT NULL, contract_id text NOT NULL, model text NOT NULL, kind text NOT NULL,
          hour bigint NOT NULL, tokens bigint NOT NULL)""")
    op.execute("""INSERT INTO token_hourly_old
                  SELECT t.tenant_id, t.contract_id, t.model, k.kind, t.hour, k.tokens FROM token_hourly t
                  CROSS JOIN LATERAL (VALUES ('input', t.input_tokens), ('output', t.output_tokens),
                                             ('cached', t.cached_tokens)) AS k(kind, tokens)
                  WHERE k.tokens <> 0""")
    op.execute("DROP TABLE token_hourly")
    op.execute("ALTER TABLE token_hourly_old RENAME TO token_hourly")
    op.execute(
        "ALTER TABLE token_hourly ADD CONSTRAINT pk_token_hourly PRIMARY KEY (tenant_id, contract_id, model, kind, hour)"
    )
    op.execute("CREATE INDEX ix_token_hourly_tenant_hour ON token_hourly (tenant_id, hour)")
    op.execute(OLD_EPOCH_HOUR)
    op.execute(REFRESH_INDEX)
