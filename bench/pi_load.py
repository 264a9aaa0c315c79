#!/usr/bin/env python3
"""Load for bench/pi-rss.sh: create N devices through the admin API, then have every
device post readings over the HTTP device API (ThingsBoard-style), in rounds.

    pi_load.py URL ADMIN_TOKEN --devices 500 --rounds 20 --seconds 120 --workers 16

Each round, every device posts one reading of two values (temperature, humidity);
a round starts no sooner than --interval seconds after the previous one. Stops
after --rounds rounds or --seconds seconds, whichever comes first. Prints one
summary line. Exits 1 if any request failed.
"""
import argparse, http.client, json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

local = threading.local()

def conn(host, port):
    c = getattr(local, "c", None)
    if c is None:
        c = local.c = http.client.HTTPConnection(host, port, timeout=60)
    return c

def post(host, port, path, body, headers):
    for attempt in range(2):
        c = conn(host, port)
        try:
            c.request("POST", path, body=json.dumps(body), headers=headers)
            r = c.getresponse()
            data = r.read()
            return r.status, data
        except (http.client.HTTPException, OSError):
            c.close()
            local.c = None
            if attempt:
                raise

def main():
    p = argparse.ArgumentParser()
    p.add_argument("url"); p.add_argument("admin")
    p.add_argument("--devices", type=int, default=500)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--village", default="Xiashan")
    a = p.parse_args()
    u = urlsplit(a.url)
    host, port = u.hostname, u.port
    admin = {"Authorization": "Bearer " + a.admin, "Content-Type": "application/json"}
    plain = {"Content-Type": "application/json"}

    def create(i):
        s, d = post(host, port, "/api/devices",
                    {"name": f"pi-probe-{i:04}", "type": "air-probe", "village": a.village}, admin)
        if s != 201:
            raise SystemExit(f"device create {i}: {s} {d[:200]!r}")
        return json.loads(d)["token"]

    t0 = time.monotonic()
    with ThreadPoolExecutor(a.workers) as ex:
        tokens = list(ex.map(create, range(a.devices)))
    created_s = time.monotonic() - t0

    failures = 0
    posted = 0
    def send(args):
        i, tok, r = args
        s, d = post(host, port, f"/api/v1/{tok}/telemetry",
                     {"temperature": 15 + (i % 100) / 10 + r / 100, "humidity": 40 + (i + r) % 50}, plain)
        return s == 200

    t1 = time.monotonic()
    rounds = 0
    with ThreadPoolExecutor(a.workers) as ex:
        while rounds < a.rounds and time.monotonic() - t1 < a.seconds:
            start = time.monotonic()
            ok = list(ex.map(send, [(i, t, rounds) for i, t in enumerate(tokens)]))
            posted += sum(ok)
            failures += len(ok) - sum(ok)
            rounds += 1
            rest = a.interval - (time.monotonic() - start)
            if rest > 0:
                time.sleep(rest)
    dt = time.monotonic() - t1
    print(f"devices={a.devices} created_in={created_s:.1f}s rounds={rounds} posts={posted} "
          f"failed={failures} values={2 * posted} post_phase={dt:.1f}s rate={posted / dt:.0f}/s")
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
