"""``http_client``: a keep-alive GET to a local server through a function, against the same
request made from Python with urllib3 (the transport the module uses), per request.

The server runs in its own process so that it does not share this one's GIL with either
subject; both subjects reuse one kept-alive connection. On a 2-core machine the server, the
client and whatever else runs share the cores, so single batches swing by a third: the subjects
run in interleaved rounds (rotating order, warm-up rounds discarded), each figure is the median
of its rounds and each ratio the median of the per-round ratios, with the middle half of those
ratios shown beside it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import urllib3

from bench.timing import Figure, interleaved_samples, median_ratio
from runtime import manifest
from runtime.engine import Engine

LOOP = 50
ROUNDS = 21
_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
_INDEX = """
version: "1.0"
namespace: bench
entries:
  - name: get
    kind: function.lua
    source: file://get.lua
    method: handler
    modules: [http_client]
  - name: get_loop
    kind: function.lua
    source: file://get_loop.lua
    method: handler
    modules: [http_client]
"""
_GET = """
local http_client = require("http_client")
return { handler = function(url) return http_client.get(url).body end }
"""
_GET_LOOP = """
local http_client = require("http_client")
return { handler = function(url, n)
  local body
  for _ = 1, n do
    local r, err = http_client.get(url)
    if err then error(err) end
    body = r.body
  end
  return body
end }
"""


def run() -> list[Figure]:
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/hello"
        with tempfile.TemporaryDirectory() as tmp:
            app = Path(tmp)
            (app / "_index.yaml").write_text(textwrap.dedent(_INDEX), encoding="utf-8")
            (app / "get.lua").write_text(_GET, encoding="utf-8")
            (app / "get_loop.lua").write_text(_GET_LOOP, encoding="utf-8")
            engine = Engine(
                manifest.load_app(app), environ={"UNITS_HTTP_CLIENT_PRIVATE_IP": "127.0.0.1"}
            )
            pool = urllib3.PoolManager()
            cpu: dict[str, list[float]] = {}
            try:
                samples = interleaved_samples(
                    {
                        # LOOP requests per call, as the function's loop makes: equal batches.
                        "python": lambda: [pool.request("GET", url).data for _ in range(LOOP)],
                        "kit_loop": lambda: engine.call("bench:get_loop", [url, LOOP]),
                        "kit_call": lambda: [engine.call("bench:get", [url]) for _ in range(LOOP)],
                    },
                    calls=4,
                    repeats=ROUNDS,
                    cpu=cpu,
                )
            finally:
                engine.close()
                pool.clear()
    finally:
        server.terminate()
        server.wait()
    python = statistics.median(samples["python"]) / LOOP
    in_function = statistics.median(samples["kit_loop"]) / LOOP
    per_call = statistics.median(samples["kit_call"]) / LOOP
    loop_ratios = sorted(a / b for a, b in zip(samples["kit_loop"], samples["python"], strict=True))
    quarter = len(loop_ratios) // 4
    spread = f"{loop_ratios[quarter]:.2f}–{loop_ratios[-1 - quarter]:.2f}"
    return [
        Figure("urllib3 GET from Python (keep-alive, local server)", python, "µs"),
        Figure(
            "http_client.get in a function (a loop of requests)",
            in_function,
            "µs",
            "the only task: made on the caller's thread, no yield, no pool hop",
        ),
        Figure(
            "  ratio to urllib3 from Python",
            median_ratio(samples["kit_loop"], samples["python"]),
            "x",
            f"goal: at most 1.3x; median of {ROUNDS} paired rounds, middle half {spread}",
        ),
        Figure(
            "  CPU of this thread per request, ratio (kit loop / urllib3)",
            median_ratio(cpu["kit_loop"], cpu["python"]),
            "x",
            f"{statistics.median(cpu['kit_loop']) / LOOP:.0f} vs "
            f"{statistics.median(cpu['python']) / LOOP:.0f} µs",
        ),
        Figure("Engine.call of a function making one http_client.get", per_call, "µs"),
        Figure(
            "  ratio to urllib3 from Python",
            median_ratio(samples["kit_call"], samples["python"]),
            "x",
        ),
    ]


if __name__ == "__main__":
    from bench.timing import print_figures

    print_figures(run())
