"""Close barrier benchmark (issue 17): a close of one tenant reads its pending batches in time flat
in the backlog of other tenants' batches.

    python benchmarks/close_barrier.py --backlog 20000 --closes 2000

On an embedded Valkey of its own: ``--backlog`` receipts of other tenants are left pending (workers
down or behind, as at a month end after an outage), then ``--closes`` tenants' pending batches are
read, one :meth:`metering.receipts.Receipts.pending` call each, as the scheduler's per-tenant closes
do. The floor is the same reads with no backlog. Printed: µs per read and the ratio to the floor,
and the same for the read as it was before (every pending receipt's tenants, in one pipeline).
Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson
import redis

from kashi.embedded import EmbeddedValkey
from metering.receipts import Receipts, receipt_for


def _write(client: redis.Redis, receipts: Receipts, batches: list[tuple[str, list[str]]]) -> None:
    messages = f"{receipts.namespace}:bench.msgs"
    for start in range(0, len(batches), 1000):
        pipe = client.pipeline(transaction=False)
        for batch_id, tenants in batches[start : start + 1000]:
            pipe.hset(messages, batch_id, b"{}")
            receipts.write(pipe, receipt_for(batch_id, 1000, None, tenants), messages, batch_id)
        pipe.execute()


def _pending_before(client: redis.Redis, receipts: Receipts, tenant_id: str) -> list[str]:
    """The per-tenant read as it was before the tenants' sets: every pending receipt's tenants."""
    ids = [i.decode() for i in client.zrange(f"{receipts.namespace}:receipts:pending", 0, -1)]
    pipe = client.pipeline(transaction=False)
    for batch_id in ids:
        pipe.hget(f"{receipts.namespace}:receipt:{batch_id}", "tenants")
    found = pipe.execute()
    return [b for b, t in zip(ids, found, strict=True) if t is None or tenant_id in orjson.loads(t)]


def _per_read_us(read, tenants: list[str]) -> float:
    started = time.perf_counter()
    for tenant in tenants:
        read(tenant)
    return (time.perf_counter() - started) / len(tenants) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=20_000, help="other tenants' batches left pending")
    parser.add_argument("--closes", type=int, default=2_000, help="tenants whose pending batches are read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kashi-bench-") as tmp:
        valkey = EmbeddedValkey(Path(tmp))
        client = redis.Redis.from_url(valkey.start())
        try:
            closing = [f"tenant-{n:05d}" for n in range(args.closes)]
            own = [(f"own-{t}", [t]) for t in closing]  # each closing tenant has one batch pending
            backlog = [(f"backlog-{n}", [f"busy-{n % 500}"]) for n in range(args.backlog)]
            floor, loaded = Receipts(client, "floor"), Receipts(client, "loaded")
            _write(client, floor, own)
            _write(client, loaded, own + backlog)
            for receipts in (floor, loaded):
                assert receipts.pending(closing[0]) == [f"own-{closing[0]}"]
            print(f"{args.closes:,} per-tenant reads; {args.backlog:,} other batches pending in the loaded namespace")
            now = [_per_read_us(r.pending, closing) for r in (floor, loaded)]
            print(
                f"now:    {now[0]:8.1f} µs per read with no backlog, {now[1]:8.1f} with it: ratio {now[1] / now[0]:.2f}"
            )
            few = closing[: max(1, args.closes // 100)]  # the old read is linear in the backlog: fewer of them
            before = [_per_read_us(lambda t, r=r: _pending_before(client, r, t), few) for r in (floor, loaded)]
            print(
                f"before: {before[0]:8.1f} µs per read with no backlog, {before[1]:8.1f} with it:"
                f" ratio {before[1] / before[0]:.2f} ({len(few)} reads)"
            )
        finally:
            client.close()
            valkey.stop()


if __name__ == "__main__":
    main()
