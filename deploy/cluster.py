"""The deployment of deploy/README.md on one machine: PostgreSQL, Redis, app hosts (gunicorn) and nginx in front,
each an ordinary process from Debian's packages with its files in a scratch folder (no system service is used).

    make cluster                       # = .venv/bin/python deploy/cluster.py: nginx on 127.0.0.1:8080, Ctrl-C stops
    .venv/bin/python deploy/cluster.py --hosts 3 --port 8081 --no-seed

The pieces (start_postgres, start_redis, migrate, start_app_host, start_nginx and Cluster, which puts them
together) are what the topology test (tests/cluster/test_topology.py) and the benchmark (bench/cluster.py) start.
Every piece listens on 127.0.0.1 only. As root, PostgreSQL runs as `postgres` and nginx as `www-data` (neither
runs as root); the app hosts run as the caller.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_SECONDS = 30
STOP_SECONDS = 10
INSTALL_HINT = "run `make system-deps` (apt-get install -y postgresql redis-server nginx)"


class ClusterError(RuntimeError):
    """A piece did not start (its log's tail is in the message)."""


class Missing(ClusterError):
    """A Debian package the cluster needs is not installed."""


# --- finding the programs ------------------------------------------------------------------------------------

def postgres_bindir() -> Path | None:
    """The folder of initdb and postgres, newest first; TEST_POSTGRES_BINDIR overrides (as in the tests)."""
    if os.environ.get("TEST_POSTGRES_BINDIR"):
        return Path(os.environ["TEST_POSTGRES_BINDIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _sbin(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                      None)


def missing_programs() -> list[str]:
    """Debian packages the cluster needs that are not installed ([] when all are)."""
    missing = []
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "postgres").exists():
        missing.append("postgresql")
    if _sbin("redis-server") is None:
        missing.append("redis-server")
    if _sbin("nginx") is None:
        missing.append("nginx")
    return missing


def require_programs() -> None:
    missing = missing_programs()
    if missing:
        raise Missing(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def venv_tool(name: str) -> list[str]:
    """The console script next to this Python (the project's .venv), else `python -m name`."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name]


# --- a process of the cluster --------------------------------------------------------------------------------

@dataclass
class Piece:
    """One server process, in its own process group; `stop` sends `stop_signal`, then KILLs the group."""
    name: str
    process: subprocess.Popen
    log_path: Path
    stop_signal: int = signal.SIGTERM
    address: str = ""
    stop_seconds: float = STOP_SECONDS

    def stop(self) -> None:
        self.signal_stop()
        self.wait_stopped()

    def signal_stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(self.stop_signal)

    def wait_stopped(self) -> None:
        process = self.process
        if process.poll() is not None:
            return
        try:
            process.wait(self.stop_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            text = ["(no log)"]
        return f"--- {self.name} log ({self.log_path}) ---\n" + "\n".join(text[-lines:])

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise ClusterError(f"{self.name} exited ({self.process.returncode}).\n{self.log_tail()}")


def _as_user(user: str | None) -> dict:
    """Popen arguments that run a program as `user` when we are root (PostgreSQL and nginx refuse or need not)."""
    if user is None or os.geteuid() != 0:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def _give_to(path: Path, user: str | None) -> None:
    if user is not None and os.geteuid() == 0:
        shutil.chown(path, user, user)


def _spawn(name: str, command: list[str], log_path: Path, *, env: dict | None = None, cwd: Path | None = None,
           user: str | None = None, stop_signal: int = signal.SIGTERM, address: str = "") -> Piece:
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, **_as_user(user))
    return Piece(name, process, log_path, stop_signal, address)


def _wait(piece: Piece, ready, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        piece.check_running()
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.1)
    piece.stop()
    raise ClusterError(f"{piece.name} did not {what} within {START_SECONDS}s.\n{piece.log_tail()}")


def _port_open(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=0.5):
        return True


def http_status(url: str, timeout: float = 2) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# --- the pieces ----------------------------------------------------------------------------------------------

def start_postgres(folder: Path, port: int | None = None) -> tuple[Piece, str]:
    """A fresh PostgreSQL cluster in folder/ (initdb), serving on 127.0.0.1; (piece, SQLAlchemy base URL with the
    database `retreat` made)."""
    bindir = postgres_bindir()
    if bindir is None:
        raise Missing(f"postgresql is not installed: {INSTALL_HINT}")
    user = "postgres" if os.geteuid() == 0 else None
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    data.mkdir()
    _give_to(folder, user)
    _give_to(data, user)
    done = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync",
                           "-E", "UTF8"], capture_output=True, text=True, cwd=folder, **_as_user(user))
    if done.returncode:
        raise ClusterError(f"initdb failed:\n{done.stdout}{done.stderr}")
    port = port or free_port()
    piece = _spawn("postgresql", [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
                                  "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "full_page_writes=off",
                                  "-c", "synchronous_commit=off", "-c", "max_connections=200"],
                   folder / "postgres.log", cwd=folder, user=user, stop_signal=signal.SIGINT, address=f"{HOST}:{port}")
    _give_to(folder / "postgres.log", user)

    def accepts() -> bool:
        return subprocess.run([str(bindir / "pg_isready"), "-h", HOST, "-p", str(port), "-q"]).returncode == 0

    _wait(piece, accepts, "accept connections")
    done = subprocess.run([str(bindir / "createdb"), "-h", HOST, "-p", str(port), "-U", "postgres", "retreat"],
                          capture_output=True, text=True)
    if done.returncode:
        piece.stop()
        raise ClusterError(f"createdb failed:\n{done.stdout}{done.stderr}")
    return piece, f"postgresql+psycopg://postgres@{HOST}:{port}/retreat"


def start_redis(folder: Path, port: int | None = None) -> tuple[Piece, str]:
    """redis-server on 127.0.0.1 keeping nothing on disk; (piece, redis:// URL)."""
    program = _sbin("redis-server")
    if program is None:
        raise Missing(f"redis-server is not installed: {INSTALL_HINT}")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    piece = _spawn("redis", [program, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                             "--dir", str(folder), "--daemonize", "no", "--protected-mode", "yes"],
                   folder / "redis.log", address=f"{HOST}:{port}")
    _wait(piece, lambda: _port_open(port), "listen")
    return piece, f"redis://{HOST}:{port}/0"


def app_environment(scratch: Path, database_url: str, redis_url: str | None, *, secret_key: str,
                    encryption_key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What every app host gets (deploy/README.md): the same database, Redis and secrets; uploads in one shared
    folder. Development configuration (demo payments, emails written to the log), behind one proxy hop."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("STRIPE_", "MAIL_", "GUNICORN_", "RATELIMIT_", "HOLD_LIMIT", "REDIS_URL",
                                  "CATALOG_", "RETREAT_", "DATABASE_URL"))}
    env.update({
        "RETREAT_CONFIG": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "SCREENING_ENCRYPTION_KEYS": encryption_key,
        "PAYMENT_PROVIDER": "demo",
        "PROXY_FIX_HOPS": "1",
        "LOG_FORMAT": "json",
        "UPLOAD_FOLDER": str(scratch / "shared-uploads"),
        "PYTHONUNBUFFERED": "1",
    })
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra or {})
    (scratch / "shared-uploads").mkdir(parents=True, exist_ok=True)
    return env


def migrate(env: dict[str, str], scratch: Path, *, seed: bool = False) -> str:
    """`flask db upgrade` once, before any host starts (and `flask demo seed` when asked); its output."""
    steps = [["db", "upgrade"]] + ([["demo", "seed"]] if seed else [])
    output = []
    for step in steps:
        done = subprocess.run([*venv_tool("flask"), "--app", "wsgi", *step], cwd=ROOT,
                              env=env | {"RETREAT_INSTANCE_PATH": str(scratch / "migrate-instance")},
                              capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise ClusterError(f"flask {' '.join(step)} failed:\n{done.stdout}{done.stderr}")
        output.append(done.stdout)
    return "".join(output)


def start_app_host(name: str, env: dict[str, str], folder: Path, *, port: int | None = None, workers: int = 2,
                   threads: int = 1, wait: bool = True) -> Piece:
    """One app host: gunicorn with deploy/gunicorn.conf.py on 127.0.0.1:port, its own instance folder (nothing
    in it is shared: a second host cannot see it), answering /readyz before this returns (unless wait=False:
    then call wait_for_app_host)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    host_env = env | {"GUNICORN_BIND": f"{HOST}:{port}", "GUNICORN_WORKERS": str(workers), "GUNICORN_PRELOAD": "1",
                      "GUNICORN_THREADS": str(threads), "RETREAT_INSTANCE_PATH": str(folder / "instance")}
    piece = _spawn(name, [*venv_tool("gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
                   folder / "app.log", env=host_env, cwd=ROOT, address=f"{HOST}:{port}",
                   stop_signal=signal.SIGINT)  # gunicorn's quick shutdown (TERM waits for requests to end)
    # Workers that said "exiting" can take seconds more to tear the interpreter down; nothing of theirs needs it.
    piece.stop_seconds = 2
    if wait:
        wait_for_app_host(piece)
    return piece


def wait_for_app_host(piece: Piece) -> None:
    _wait(piece, lambda: http_status(f"http://{piece.address}/readyz") == 200, "answer /readyz with 200")


NGINX_CONF = """\
# Written by deploy/cluster.py: deploy/nginx/retreat.conf's site, on 127.0.0.1, every file in this folder.
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {root}/deploy/nginx/retreat-http.conf;
    upstream retreat_app {{
{servers}
        keepalive 32;
    }}
    server {{
        listen {host}:{port};
        server_name localhost;
        set $retreat_root {static_root};
        access_log {folder}/access.log retreat_json;
        include {root}/deploy/nginx/retreat-proxy.conf;
    }}
}}
"""


def _readable_by(user: str | None, path: Path) -> bool:
    if user is None or os.geteuid() != 0:
        return os.access(path, os.R_OK)
    return subprocess.run(["test", "-r", str(path)], **_as_user(user)).returncode == 0


def start_nginx(folder: Path, upstreams: list[str], *, port: int | None = None) -> Piece:
    """nginx on 127.0.0.1:port in front of `upstreams` (host:port), with the site's own files
    (deploy/nginx/retreat-http.conf and retreat-proxy.conf). As root it runs as www-data, never as root."""
    program = _sbin("nginx")
    if program is None:
        raise Missing(f"nginx is not installed: {INSTALL_HINT}")
    user = "www-data" if os.geteuid() == 0 else None
    folder.mkdir(parents=True, exist_ok=True)
    static_root = ROOT
    probe = next((ROOT / "static").rglob("*.css"), ROOT / "static")
    if not _readable_by(user, probe):  # the checkout is private to its owner: serve a copy
        static_root = folder / "site"
        shutil.copytree(ROOT / "static", static_root / "static")
        for path in [static_root, *static_root.rglob("*")]:
            _give_to(path, user)
    port = port or free_port()
    servers = "\n".join(f"        server {address} max_fails=3 fail_timeout=10s;" for address in upstreams)
    (folder / "nginx.conf").write_text(NGINX_CONF.format(folder=folder, root=ROOT, servers=servers, host=HOST,
                                                         port=port, static_root=static_root))
    for path in (folder, folder / "nginx.conf"):
        _give_to(path, user)
    command = [program, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log"),
               "-g", "daemon off;"]
    test = subprocess.run([*command[:-2], "-t", "-q"], capture_output=True, text=True, **_as_user(user))
    if test.returncode:
        raise ClusterError(f"nginx refused its configuration:\n{test.stderr}")
    piece = _spawn("nginx", command, folder / "nginx.out", user=user, stop_signal=signal.SIGQUIT,
                   address=f"{HOST}:{port}")
    _wait(piece, lambda: http_status(f"http://{HOST}:{port}/healthz") == 200, "answer /healthz through nginx")
    return piece


# --- the whole ----------------------------------------------------------------------------------------------

@dataclass
class Cluster:
    """PostgreSQL, Redis, `hosts` app hosts and nginx, started by `start()` in that order and stopped by `stop()`
    in the reverse. `redis=False` leaves Redis out (each host then counts limits and caches on its own)."""
    scratch: Path
    hosts: int = 2
    port: int | None = None  # nginx's; a free one when None
    workers: int = 2
    threads: int = 1
    seed: bool = False
    redis: bool = True
    # How to migrate the database once (given its URL), when not by `flask db upgrade` in a process of its own
    # (the tests do it in their own process, which has the app imported already).
    migrate_with: Callable[[str], None] | None = None
    # An empty database on a PostgreSQL server that is already running (the tests'); else one is started here.
    existing_database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    encryption_key: str = ""
    pieces: list[Piece] = field(default_factory=list)
    app_hosts: list[Piece] = field(default_factory=list)
    database_url: str = ""
    redis_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    seed_output: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.nginx.address}"

    @property
    def nginx(self) -> Piece:
        return self.pieces[-1]

    def host_url(self, index: int) -> str:
        return f"http://{self.app_hosts[index].address}"

    def start(self) -> Cluster:
        require_programs()
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.scratch.chmod(0o755)  # PostgreSQL and nginx run as their own users and reach their folders through it
        if not self.encryption_key:
            from cryptography.fernet import Fernet
            self.encryption_key = Fernet.generate_key().decode()
        try:
            if self.existing_database_url:
                self.database_url = self.existing_database_url
            else:
                postgres, self.database_url = start_postgres(self.scratch / "postgresql")
                self.pieces.append(postgres)
            if self.redis:
                redis, self.redis_url = start_redis(self.scratch / "redis")
                self.pieces.append(redis)
            self.env = app_environment(self.scratch, self.database_url, self.redis_url, secret_key=self.secret_key,
                                       encryption_key=self.encryption_key, extra=self.extra_env)
            if self.migrate_with is not None and not self.seed:
                self.migrate_with(self.database_url)
            else:
                self.seed_output = migrate(self.env, self.scratch, seed=self.seed)
            for index in range(self.hosts):  # all start at once; then each is waited for
                host = start_app_host(f"app-{index + 1}", self.env, self.scratch / f"app-{index + 1}",
                                      workers=self.workers, threads=self.threads, wait=False)
                self.pieces.append(host)
                self.app_hosts.append(host)
            for host in self.app_hosts:
                wait_for_app_host(host)
            self.pieces.append(start_nginx(self.scratch / "nginx", [h.address for h in self.app_hosts],
                                           port=self.port))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Signal every piece at once (nginx first), then wait for each; the database last."""
        pieces, self.pieces = list(reversed(self.pieces)), []
        database = [p for p in pieces if p.name == "postgresql"]
        others = [p for p in pieces if p.name != "postgresql"]
        for piece in others:
            piece.signal_stop()
        for piece in others:
            piece.wait_stopped()
        for piece in database:
            piece.stop()
        self.app_hosts.clear()

    def check_running(self) -> None:
        for piece in self.pieces:
            piece.check_running()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2, help="app hosts (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port on 127.0.0.1 (default 8080)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (default 1: sync workers)")
    parser.add_argument("--no-seed", action="store_true", help="migrate only; no demo data")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, data) afterwards")
    args = parser.parse_args(argv)
    try:
        require_programs()
    except Missing as error:
        print(error, file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="retreat-cluster-"))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    cluster = Cluster(scratch, hosts=args.hosts, port=args.port, workers=args.workers, threads=args.threads,
                      seed=not args.no_seed)
    try:
        print(f"Starting in {scratch} ...", flush=True)
        cluster.start()
        if cluster.seed_output:
            print(cluster.seed_output.rstrip(), flush=True)
        print(f"\nRetreat at {cluster.url}/  (nginx: {scratch / 'nginx'}/access.log, error.log)")
        for piece in cluster.pieces:
            print(f"  {piece.name:<11} {piece.address:<22} log {piece.log_path}")
        print(f"  database    {cluster.database_url}\n  redis       {cluster.redis_url}")
        print("Ctrl-C stops everything.", flush=True)
        while True:
            cluster.check_running()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping ...", file=sys.stderr)
        return 0
    except ClusterError as error:
        print(f"\nCLUSTER FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave pieces running
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.stop()
        if args.keep:
            print(f"Kept {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
