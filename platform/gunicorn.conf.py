# gunicorn settings shared by `make run` and the Dockerfile (this folder is not a Python package).
import multiprocessing
import os

bind = f"{os.environ.get('HUB_HOST', '127.0.0.1')}:{os.environ.get('HUB_PORT', '8000')}"
workers = int(os.environ.get("HUB_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("HUB_THREADS", "4"))
timeout = int(os.environ.get("HUB_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
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
