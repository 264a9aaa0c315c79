#!/usr/bin/env python3
"""Village node benchmark helper (bench/node-sync.sh).

  setup HUB ADMIN_TOKEN DEVICES OUT      devices, station, product on the hub; writes OUT (JSON)
  fill NODE STATE DAYS ORDERS            a week (DAYS) of 2 values/min per device, and ORDERS
                                         station orders, posted to the node (run inside the netns)
  wait NODE TIMEOUT                      poll the node's status until nothing waits; prints seconds
  check HUB STATE DAYS SAMPLE            count readings of SAMPLE devices and the node's orders on the hub
"""
import http.client
import json
import os
import random
import sys
import time


def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=600)


def call(c, method, path, body=None, headers=None):
    h = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
        h.setdefault("content-type", "application/json")
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    raw = r.read()
    try:
        return r.status, json.loads(raw or b"null"), r
    except ValueError:
        return r.status, raw, r


def setup(hub, token, devices, out):
    c = conn(hub)
    auth = {"authorization": "Bearer " + token}
    village = "桃源村"
    toks = []
    for i in range(devices):
        s, j, _ = call(c, "POST", "/api/devices", {"name": f"桃源-{i:04d}", "type": "air-probe", "village": village}, auth)
        assert s == 201, (s, j)
        toks.append((j["name"] if isinstance(j, dict) and "name" in j else f"桃源-{i:04d}", j["token"]))
    s, st, _ = call(c, "POST", "/api/market/stations", {"village": village, "name": "桃源服务站"}, auth)
    assert s == 201, st
    json.dump({"village": village, "devices": toks, "station": st["id"]}, open(out, "w"))


def fill(node, state, days, orders):
    s = json.load(open(state))
    c = conn(node)
    minutes = int(days * 1440)
    end = int(time.time() * 1000) // 60000 * 60000
    start = end - minutes * 60000
    rnd = random.Random(7)
    noise = os.environ.get("NOISE") == "1"
    sent = 0
    t = time.time()
    for name, tok in s["devices"]:
        temp = rnd.uniform(12, 28)
        hum = rnd.randint(40, 90)
        points = []
        for m in range(minutes):
            temp = min(40.0, max(-5.0, temp + rnd.choice((-0.1, 0.0, 0.0, 0.1))))
            if rnd.random() < 0.05:
                hum = min(100, max(5, hum + rnd.choice((-1, 1))))
            if noise:
                values = {"temperature": round(rnd.uniform(0, 40), 2), "humidity": round(rnd.uniform(0, 100), 2)}
            else:
                values = {"temperature": round(temp, 1), "humidity": hum}
            points.append({"ts": start + m * 60000, "values": values})
        st, j, _ = call(c, "POST", f"/api/v1/{tok}/telemetry", points)
        assert st == 200, (st, j)
        sent += 2 * minutes
    print(f"fill: {sent} values of {len(s['devices'])} devices over {days} days in {time.time() - t:.1f}s", flush=True)
    if orders:
        st, j, r = call(c, "POST", "/api/login", {"username": "op-bench", "password": "bench-password"})
        assert st == 200, (st, j)
        cookie = r.getheader("set-cookie").split(";")[0]
        h = {"cookie": cookie, "x-csrf-token": j["csrf"]}
        st, prods, _ = call(c, "GET", "/api/market/products", None, h)
        items = prods["products"] if isinstance(prods, dict) else prods
        pid = items[0]["id"]
        for _ in range(orders):
            st, o, _ = call(c, "POST", "/api/market/orders",
                            {"items": [{"product_id": pid, "quantity": 1}], "pickup_station_id": s["station"]}, h)
            assert st == 201, (st, o)
        print(f"fill: {orders} station orders", flush=True)


def wait(node, timeout):
    c = conn(node)
    t = time.time()
    while True:
        st, s, _ = call(c, "GET", "/api/node/status")
        if st == 200 and s["connected"] and s["pending_up"] == 0:
            print(f"{time.time() - t:.1f}")
            return
        if time.time() - t > float(timeout):
            print(f"timeout: {s}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.5)


def check(hub, token, state, days, sample):
    s = json.load(open(state))
    c = conn(hub)
    auth = {"authorization": "Bearer " + token}
    want = int(days * 1440)
    rnd = random.Random(3)
    names = [d[0] for d in rnd.sample(s["devices"], int(sample))]
    for n in names:
        from urllib.parse import quote
        st, j, _ = call(c, "GET", f"/api/devices/{quote(n)}/telemetry?keys=temperature,humidity&start=0&end=9999999999999&limit=100000", None, auth)
        assert st == 200, (st, j)
        got = (len(j.get("temperature", [])), len(j.get("humidity", [])))
        assert got == (want, want), (n, got, want)
    print(f"check: {len(names)} sampled devices hold {want} points per key on the hub, exactly", flush=True)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        setup(args[0], args[1], int(args[2]), args[3])
    elif cmd == "fill":
        fill(args[0], args[1], float(args[2]), int(args[3]))
    elif cmd == "wait":
        wait(args[0], args[1])
    elif cmd == "check":
        check(args[0], args[1], args[2], float(args[3]), args[4])
