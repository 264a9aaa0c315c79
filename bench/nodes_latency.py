"""Post readings to node A, time their arrival on node B's SSE stream.

Usage: nodes_latency.py A_ADDR B_ADDR ADMIN_TOKEN N RATE (see bench/nodes.sh).
"""
import http.client
import json
import sys
import threading
import time


def post(addr, path, body, token=None):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    c.request("POST", path, body=json.dumps(body), headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    a, b, token, n, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    status, data = post(a, "/api/devices", {"name": "bench-probe", "county_level": True}, token)
    assert status == 201, (status, data)
    dev_token = json.loads(data)["token"]
    # The device must be known on B (its registry refreshes every second).
    time.sleep(2)
    received = {}
    ready = threading.Event()

    def listen():
        host, port = b.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        c.request("GET", "/api/devices/bench-probe/stream",
                  headers={"authorization": f"Bearer {token}", "accept": "text/event-stream"})
        r = c.getresponse()
        assert r.status == 200, r.status
        ready.set()
        while len(received) < n:
            line = r.fp.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                now = time.monotonic()
                try:
                    ev = json.loads(line[5:])
                except ValueError:
                    continue
                seq = ev.get("values", ev).get("seq") if isinstance(ev, dict) else None
                if seq is None and isinstance(ev, dict):
                    seq = ev.get("seq")
                if seq is not None:
                    received.setdefault(int(seq), now)

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    ready.wait(10)
    # Let node B's bus listener settle before timing.
    for w in range(50):
        post(a, f"/api/v1/{dev_token}/telemetry", {"warm": w})
        time.sleep(0.02)
    sent = {}
    period = 1.0 / rate
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i * period
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        sent[i] = time.monotonic()
        status, _ = post(a, f"/api/v1/{dev_token}/telemetry", {"seq": i})
        assert status == 200, status
    deadline = time.monotonic() + 10
    while len(received) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    lat = sorted((received[i] - sent[i]) * 1000 for i in sent if i in received)
    missing = n - len(lat)
    if not lat:
        print("no reading arrived on node B")
        sys.exit(1)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"reading on A -> SSE on B: n={len(lat)} missing={missing} "
          f"p50={p(0.50):.2f} ms p99={p(0.99):.2f} ms max={lat[-1]:.2f} ms (rate {rate:g}/s)")


if __name__ == "__main__":
    main()
