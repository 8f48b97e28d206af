"""Seed the compact usage log straight from SQL, for benchmarks that need millions of events fast.

``usage_events`` is a view; a benchmark writes rows of the old shape (source, id, type, tenant_id,
contract_id, event_time, batch_id, data) into a temporary table and :func:`seed` encodes them into
``usage_log`` in SQL as ``metering.log`` does for what benchmarks send: canonical instants
(``…Z`` or ``…+00:00``, whole seconds), integer token counts, string names, and ids that
``metering.log.split_id`` splits after their last non-digit (no UUID or long hex run at the end, no
run of six digits before a short trailing counter; :func:`seed` refuses others). Other shapes
(explicit nulls, offset instants) are not handled here: ingest them through
``metering.store.record_batch``.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

STAGE = """
CREATE TEMP TABLE IF NOT EXISTS seed_events (
  source text, id text, type text, tenant_id text, contract_id text, event_time timestamptz, batch_id text,
  data jsonb
) ON COMMIT DROP
"""
PREFIX = "coalesce(substring(e.id FROM '^(.*[^0-9])[0-9]+$'), '')"
ENCODE = f"""
INSERT INTO usage_log (event_time, start_s, input_tokens, output_tokens, cached_tokens, source_no, id_prefix_no,
                       tenant_no, batch_no, model_no, gpu_no, node_no, contract_no, span_s, kind, util_pct, id_suffix)
SELECT e.event_time, extract(epoch FROM (e.data->>'start')::timestamptz)::bigint,
       (e.data->>'input_tokens')::bigint, (e.data->>'output_tokens')::bigint, (e.data->>'cached_tokens')::bigint,
       src.no, pre.no, ten.no, b.no, mdl.no, gpu.no, nod.no, con.no,
       (extract(epoch FROM (e.data->>'end')::timestamptz) - extract(epoch FROM (e.data->>'start')::timestamptz))::int,
       CASE e.type WHEN 'gpu.usage' THEN 1 WHEN 'llm.tokens' THEN 2 ELSE 3 END
         | CASE WHEN e.data->>'start' LIKE '%Z' THEN 4 ELSE 0 END
         | CASE WHEN e.data->>'end' LIKE '%Z' THEN 8 ELSE 0 END,
       (round((e.data->>'utilization')::numeric * 100))::smallint,
       substring(e.id FROM length({PREFIX}) + 1)
FROM seed_events e
JOIN usage_names src ON src.name = e.source
JOIN usage_names pre ON pre.name = {PREFIX}
JOIN usage_names ten ON ten.name = e.tenant_id
JOIN usage_batches b ON b.batch_id = e.batch_id
LEFT JOIN usage_names mdl ON mdl.name = coalesce(e.data->>'gpu_model', e.data->>'model')
LEFT JOIN usage_names gpu ON gpu.name = e.data->>'gpu'
LEFT JOIN usage_names nod ON nod.name = e.data->>'node'
LEFT JOIN usage_names con ON con.name = e.contract_id
ORDER BY e.event_time, e.source, e.id
"""


PLAIN_ID = r"""e.id !~ '[0-9A-Fa-f]{16}$' AND (e.id ~ '[0-9]{6}$' OR e.id !~ '[0-9]{6}')
                AND e.id !~ '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$'"""
"""Ids :data:`PREFIX` splits as ``metering.log.split_id`` does (see the module's docstring)."""


def seed(conn: Connection, select: str, params: dict) -> None:
    """Encode the rows ``select`` gives (columns of the old ``usage_events`` shape) into the log."""
    conn.execute(text(STAGE))
    conn.execute(
        text(
            f"INSERT INTO seed_events (source, id, type, tenant_id, contract_id, event_time, batch_id, data) {select}"
        ),
        params,
    )
    odd = conn.execute(text(f"SELECT min(e.id) FROM seed_events e WHERE NOT ({PLAIN_ID})")).scalar_one()
    if odd is not None:
        raise ValueError(f"seed_log encodes only ids split after their last non-digit, not {odd!r}")
    conn.execute(
        text(f"""INSERT INTO usage_names (name)
                 SELECT DISTINCT n FROM seed_events e,
                   unnest(ARRAY[e.source, {PREFIX}, e.tenant_id, e.contract_id, e.data->>'gpu',
                                e.data->>'gpu_model', e.data->>'model', e.data->>'node']) AS n
                 WHERE n IS NOT NULL ORDER BY 1 ON CONFLICT (name) DO NOTHING""")
    )
    conn.execute(
        text("""INSERT INTO usage_batches (batch_id) SELECT DISTINCT batch_id FROM seed_events ORDER BY 1
                ON CONFLICT (batch_id) DO NOTHING""")
    )
    conn.execute(text(ENCODE))
    conn.execute(text("DROP TABLE seed_events"))
