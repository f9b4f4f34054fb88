# gunicorn settings shared by `make run` and the Dockerfile (this folder is not a Python package).
import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn import util as gunicorn_util

bind = f"{os.environ.get('HUB_HOST', '127.0.0.1')}:{os.environ.get('HUB_PORT', '8000')}"
workers = int(os.environ.get("HUB_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("HUB_THREADS", "4"))
timeout = int(os.environ.get("HUB_TIMEOUT", "30"))
graceful_timeout = 20
# Idle keep-alive connections wait in each worker's poller (up to worker_connections, 1,000), not in a
# thread. They must outlast the client's idle time (a user's think time; a load balancer's idle timeout,
# 60 s by default on the common ones): a server closing first races the client's next request, which
# clients retry only when idempotent, so POSTs were lost as "connection closed" under `make loadtest`
# at 5 s. 75 s, as nginx's keepalive_timeout.
keepalive = int(os.environ.get("HUB_KEEPALIVE", "75"))
max_requests = 10_000
max_requests_jitter = 1_000
accesslog = None  # the Hub logs one structured line per request itself (api.middleware)
errorlog = "-"
# gunicorn 27's control socket sits at one path per user: two servers on one machine would fight
# over it. The Hub does not use it.
control_socket_disable = True
# Forwarded scheme headers (X-Forwarded-Proto, ...) are believed only from the proxies the Hub trusts
# (HUB_TRUSTED_PROXIES, default none, as hub.client_address believes X-Forwarded-For): the request's
# scheme is gunicorn's wsgi.url_scheme, which Django takes as it is.
forwarded_allow_ips = os.environ.get("HUB_TRUSTED_PROXIES", "")

# The longest request line gunicorn reads short of "unlimited" (0, which the pure-Python parser would
# buffer without bound). The Hub refuses a URI past api.middleware.MAX_URI_LENGTH (8,000) itself, so
# a list query parameter at its maxItems (100 UUIDs, ~4,700 characters) reaches the application and
# one item more is its 422, not a 414.
limit_request_line = 8190
# One header field: room for an identity token carrying roles and permissions.
limit_request_field_size = 16_384


# What gunicorn refuses before the application (a request line or a header too long, a malformed
# request) is answered by gunicorn itself, as HTML by default. Every error of the Hub is the contract's
# JSON, so its writer is replaced here: the master reads this file before it forks the workers.
def _write_json_error(sock, status_int, reason, mesg):
    detail, code = _GUNICORN_ERRORS.get(status_int, (f"{reason}.", "bad_request"))
    body = json.dumps({"detail": detail, "code": code}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


_GUNICORN_ERRORS = {
    400: ("The request was refused as malformed.", "bad_request"),
    403: ("The request was refused.", "forbidden"),
    414: ("The request line is longer than the server reads.", "uri_too_long"),
    417: ("The expectation given is not supported.", "expectation_failed"),
    431: ("A request header, or all of them, is larger than the server reads.", "header_too_large"),
    500: ("Internal error; it has been logged.", "internal_error"),
    501: ("The transfer coding is not supported.", "not_implemented"),
}
gunicorn_util.write_error = _write_json_error


# Metrics (hub/metrics.py): every worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR and a
# scrape of any worker sums them. The variable must be set before a worker imports prometheus_client:
# here, in the master before it forks the workers (no preload_app: the Hub loads in each worker). A
# private temporary folder, removed on exit, unless the operator names one (wiped at start then: the
# values of a previous run would be summed in).
_metrics_dir_owned = []


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hub-metrics-")
        _metrics_dir_owned.append(folder)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    # A dead worker's counters stay in the sums; its live gauges (pool connections) are dropped.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for folder in _metrics_dir_owned:
        shutil.rmtree(folder, ignore_errors=True)
