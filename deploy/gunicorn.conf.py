"""gunicorn settings of one app host: `gunicorn -c deploy/gunicorn.conf.py wsgi:app` (deploy/README.md).

Everything comes from the environment, so the systemd unit, `make cluster` and a container use the same file:
GUNICORN_BIND (127.0.0.1:8000; a host behind a load balancer on another machine binds its private address),
GUNICORN_WORKERS (2 per core + 1), GUNICORN_THREADS (1: sync workers; more: gthread workers with that many
threads each), GUNICORN_TIMEOUT (30 s), GUNICORN_PRELOAD (off: each worker imports the app; 1: the master
imports it once and forks, a faster start and less memory, but `kill -HUP` then reloads no code).
gunicorn's access log is off: the app writes one JSON line per request with nginx's request id
(retreat/web/request_log.py); gunicorn's own messages go to standard error.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS") or 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 10
preload_app = (os.environ.get("GUNICORN_PRELOAD") or "0").lower() in {"1", "true", "yes", "on"}
keepalive = 5  # nginx keeps connections to the upstream open (gthread workers use them; sync ones close)
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The app trusts X-Forwarded-* through ProxyFix (PROXY_FIX_HOPS); gunicorn itself need not.
forwarded_allow_ips = ""
# gunicorn 25+ opens a control socket in ~/.gunicorn, one path for every gunicorn of the user: not wanted here.
control_socket_disable = True
# Restart each worker after a while, so a slow leak never grows without bound.
max_requests = 5000
max_requests_jitter = 500
