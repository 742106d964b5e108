#!/usr/bin/env python3
"""Held-record lookup: PostgreSQL (the query molingest's held stage runs,
on an indexed table of N record hashes) against Redis (SMISMEMBER on a set
of the same hashes), 2,048 hashes a lookup, half of them held. Prints the
median milliseconds of each. Needs psycopg and redis (pip), a PostgreSQL
superuser URL (PG_DSN) and a Redis (REDIS_URL); drops what it creates.

    PG_DSN='host=127.0.0.1 user=postgres dbname=postgres' \
    REDIS_URL=redis://127.0.0.1:6379/15 python3 benches/held/lookup_pg_vs_redis.py 200000
"""
import os, statistics, sys, time, uuid

import psycopg
import redis

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
rounds = 50
org = uuid.uuid4()
held = [os.urandom(32) for _ in range(n)]
key = f"molingest-held-bench:{org}"

pg = psycopg.connect(os.environ.get("PG_DSN", "host=127.0.0.1 user=postgres dbname=postgres"), autocommit=True)
pg.execute("CREATE TEMP TABLE bench_hashes (organization_id uuid, content_hash bytea, PRIMARY KEY (organization_id, content_hash))")
with pg.cursor().copy("COPY bench_hashes FROM STDIN") as cp:
    for h in held:
        cp.write_row((org, h))
pg.execute("ANALYZE bench_hashes")
r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
r.delete(key)
for i in range(0, n, 10_000):
    r.sadd(key, *held[i:i + 10_000])

def ask():
    return [held[(k * 7919) % n] if k % 2 else os.urandom(32) for k in range(2048)]

sql = ("SELECT u.i FROM UNNEST(%s::bytea[]) WITH ORDINALITY AS u(hash, i) "
       "WHERE EXISTS (SELECT 1 FROM bench_hashes m WHERE m.organization_id = %s AND m.content_hash = u.hash)")
pg_ms, redis_ms = [], []
for _ in range(rounds):
    q = ask()
    t = time.perf_counter()
    got = pg.execute(sql, (q, org), prepare=True).fetchall()
    pg_ms.append((time.perf_counter() - t) * 1e3)
    assert len(got) == 1024, len(got)
    t = time.perf_counter()
    got = r.smismember(key, q)
    redis_ms.append((time.perf_counter() - t) * 1e3)
    assert sum(got) == 1024
r.delete(key)
print(f"{n} hashes held, 2,048 asked (half held), {rounds} rounds: "
      f"PostgreSQL median {statistics.median(pg_ms):.2f} ms, Redis SMISMEMBER median {statistics.median(redis_ms):.2f} ms")
