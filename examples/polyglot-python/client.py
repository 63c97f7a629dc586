#!/usr/bin/env python3
"""A tandem sidecar client in Python, standard library only.

Run it next to a sidecar with `tandem run` (see README.md), which sets TANDEM_SIDECAR
(http://127.0.0.1:PORT) and TANDEM_TOKEN. It:

1. waits for the sidecar's /readyz,
2. calls the `payments` upstream through the sidecar's forward proxy (absolute-form
   GET http://payments/charges with Proxy-Authorization), so retries, load balancing, outlier
   detection and the breaker of tandem.yaml apply,
3. reads the configuration (GET /v1/config) and the flag definitions (GET /v1/flags),
4. reads a secret (GET /v1/secrets/{name}) and prints only its length,
5. pushes a counter (POST /v1/metrics), which then appears on the sidecar's admin /metrics.

It prints one JSON line with what it found and exits 0, or exits 1 naming the step that failed.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

SIDECAR = os.environ.get("TANDEM_SIDECAR", "http://127.0.0.1:4600").rstrip("/")
TOKEN = os.environ.get("TANDEM_TOKEN", "")
SECRET_NAME = os.environ.get("SECRET_NAME", "api-key")
UPSTREAM = os.environ.get("UPSTREAM", "payments")

if not SIDECAR.startswith("http://"):
    sys.exit("this client speaks TCP only: set TANDEM_SIDECAR to http://127.0.0.1:PORT")

# Calls to the sidecar's own API go direct, never through an HTTP proxy of the environment.
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Calls to upstreams go through the sidecar as an HTTP forward proxy: urllib then sends the
# absolute-form request line (GET http://payments/charges HTTP/1.1).
proxied = urllib.request.build_opener(urllib.request.ProxyHandler({"http": SIDECAR}))


def api(method, path, body=None):
    """One call to the sidecar API, with the bearer token; returns the parsed JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(SIDECAR + path, data=data, method=method)
    if TOKEN:
        request.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with direct.open(request, timeout=5) as response:
        return json.load(response)


def problem(error):
    """The `code` and `detail` of an application/problem+json error answer."""
    try:
        doc = json.load(error)
        return "%s %s: %s" % (error.code, doc.get("code"), doc.get("detail"))
    except Exception:  # not a problem document
        return "%s %s" % (error.code, error.reason)


def wait_ready(timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            with direct.open(SIDECAR + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the sidecar did not become ready")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def call_upstream():
    request = urllib.request.Request("http://%s/charges?order=py-1" % UPSTREAM, method="GET")
    if TOKEN:
        request.add_header("Proxy-Authorization", "Bearer " + TOKEN)
    with proxied.open(request, timeout=10) as response:
        return {"status": response.status, "via": response.headers.get("Via"), "body": json.load(response)}


def push_metric(result):
    return api(
        "POST",
        "/v1/metrics",
        {
            "process": "python-%d" % os.getpid(),
            "families": [
                {
                    "name": "python_client_runs_total",
                    "type": "counter",
                    "help": "Runs of the polyglot Python example, by result.",
                    "labelNames": ["result"],
                    "series": [[[result], 1]],
                }
            ],
        },
    )


def main():
    step = "readyz"
    try:
        wait_ready()
        step = "forward proxy"
        upstream = call_upstream()
        step = "GET /v1/config"
        config = api("GET", "/v1/config")
        step = "GET /v1/flags"
        flags = api("GET", "/v1/flags")
        flag = flags["definitions"]["flags"].get("new-checkout", {})
        step = "GET /v1/secrets/" + SECRET_NAME
        secret = api("GET", "/v1/secrets/" + SECRET_NAME)
        step = "POST /v1/metrics"
        pushed = push_metric("ok")
    except urllib.error.HTTPError as error:
        print("failed at %s: %s" % (step, problem(error)), file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, RuntimeError, KeyError, ValueError) as error:
        print("failed at %s: %s" % (step, error), file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "event": "polyglot-python",
                "upstream": upstream,
                "configGeneration": config["generation"],
                "maxItems": config["values"].get("app", {}).get("maxItems"),
                "newCheckout": {"state": flag.get("state"), "defaultVariant": flag.get("defaultVariant")},
                "secret": {"name": secret["name"], "length": len(secret["value"])},
                "metricsRejected": pushed["rejected"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
