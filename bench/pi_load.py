#!/usr/bin/env python3
"""Load for bench/pi-rss.sh: create N devices through the admin API, then have every
device post readings over the HTTP device API (ThingsBoard-style), in rounds.

    pi_load.py URL ADMIN_TOKEN --devices 500 --rounds 20 --seconds 120 --workers 16
    pi_load.py URL ADMIN_TOKEN --mqtt HOST:PORT ...   # over MQTT instead

Each round, every device posts one reading of two values (temperature, humidity);
a round starts no sooner than --interval seconds after the previous one. Stops
after --rounds rounds or --seconds seconds, whichever comes first. With --mqtt
every device holds its own MQTT 3.1.1 connection (username = its token) for the
whole run and publishes QoS 1, waiting for each PUBACK (sent after the commit).
Prints one summary line. Exits 1 if any request failed.
"""
import argparse, asyncio, http.client, json, struct, sys, threading, time
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

def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

def mstr(b):
    return struct.pack(">H", len(b)) + b

async def read_packet(r):
    head = (await r.readexactly(1))[0]
    n, shift = 0, 0
    while True:
        b = (await r.readexactly(1))[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return head, await r.readexactly(n)

async def mqtt_rounds(addr, tokens, a, body):
    host, port = addr.rsplit(":", 1)
    conns = []
    for i, tok in enumerate(tokens):
        r, w = await asyncio.open_connection(host, int(port))
        var = mstr(b"MQTT") + bytes([4, 0x82]) + struct.pack(">H", 120)
        payload = mstr(f"pi-probe-{i:04}".encode()) + mstr(tok.encode())
        w.write(bytes([0x10]) + varint(len(var) + len(payload)) + var + payload)
        head, rest = await read_packet(r)
        if head != 0x20 or rest[1] != 0:
            raise SystemExit(f"connack {i}: {head:#x} {rest!r}")
        conns.append((r, w))

    async def publish(i, r, w, rnd):
        pid = rnd % 65535 + 1
        msg = json.dumps(body(i, rnd)).encode()
        var = mstr(b"v1/devices/me/telemetry") + struct.pack(">H", pid)
        w.write(bytes([0x32]) + varint(len(var) + len(msg)) + var + msg)
        head, rest = await asyncio.wait_for(read_packet(r), 60)
        return head == 0x40 and struct.unpack(">H", rest[:2])[0] == pid

    posted = failures = rounds = 0
    t1 = time.monotonic()
    while rounds < a.rounds and time.monotonic() - t1 < a.seconds:
        start = time.monotonic()
        ok = await asyncio.gather(*(publish(i, r, w, rounds) for i, (r, w) in enumerate(conns)))
        posted += sum(ok)
        failures += len(ok) - sum(ok)
        rounds += 1
        rest = a.interval - (time.monotonic() - start)
        if rest > 0:
            await asyncio.sleep(rest)
    dt = time.monotonic() - t1
    for _, w in conns:
        w.write(bytes([0xE0, 0]))
        w.close()
    return posted, failures, rounds, dt

def main():
    p = argparse.ArgumentParser()
    p.add_argument("url"); p.add_argument("admin")
    p.add_argument("--devices", type=int, default=500)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--village", default="Xiashan")
    p.add_argument("--backfill-minutes", type=int, default=0,
                   help="first, every device uploads this many minutes of history (one reading a minute) in one HTTP request")
    p.add_argument("--mqtt", help="HOST:PORT: post over MQTT, one connection per device")
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

    backfilled = 0
    if a.backfill_minutes > 0:
        now_ms = int(time.time() * 1000) - 60_000
        def backfill(args):
            i, tok = args
            pts = [{"ts": now_ms - (a.backfill_minutes - m) * 60_000,
                    "values": {"temperature": 15 + (m % 60) / 10, "humidity": 40 + (i + m) % 50}}
                   for m in range(a.backfill_minutes)]
            s, d = post(host, port, f"/api/v1/{tok}/telemetry", pts, plain)
            if s != 200:
                raise SystemExit(f"backfill {i}: {s} {d[:200]!r}")
            return len(pts)
        tb = time.monotonic()
        with ThreadPoolExecutor(a.workers) as ex:
            backfilled = sum(ex.map(backfill, enumerate(tokens)))
        print(f"backfill: {backfilled} readings ({2 * backfilled} values) in {time.monotonic() - tb:.1f}s", flush=True)

    def body(i, r):
        return {"temperature": 15 + (i % 100) / 10 + r / 100, "humidity": 40 + (i + r) % 50}

    if a.mqtt:
        posted, failures, rounds, dt = asyncio.run(mqtt_rounds(a.mqtt, tokens, a, body))
        print(f"devices={a.devices} via=mqtt created_in={created_s:.1f}s rounds={rounds} posts={posted} "
              f"failed={failures} values={2 * posted} post_phase={dt:.1f}s rate={posted / dt:.0f}/s")
        sys.exit(1 if failures else 0)

    failures = 0
    posted = 0
    def send(args):
        i, tok, r = args
        s, d = post(host, port, f"/api/v1/{tok}/telemetry", body(i, r), plain)
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
    print(f"devices={a.devices} via=http created_in={created_s:.1f}s rounds={rounds} posts={posted} "
          f"failed={failures} values={2 * posted} post_phase={dt:.1f}s rate={posted / dt:.0f}/s")
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
