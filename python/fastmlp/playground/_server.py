"""The playground's HTTP server: the page's three files and a small JSON API.

Standard library only (``http.server.ThreadingHTTPServer``): one thread per
connection, so an event stream (server-sent events) that a slow page reads
slowly holds only its own thread, and the training threads never write to a
socket.  See docs/playground.rst for the API.
"""

import importlib.resources
import ipaddress
import json
import secrets
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fastmlp.playground import _session

MAX_SESSIONS = 16
# A session nobody has asked about (and no page streams) for this long is
# closed to make room for a new one.
IDLE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024
# A keep-alive comment on an idle event stream, seconds.
STREAM_HEARTBEAT = 15

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "/static/playground.css": ("playground.css", "text/css; charset=utf-8"),
}


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Playground:
    """The sessions, created and closed on request and reaped when idle."""

    def __init__(self, max_sessions=MAX_SESSIONS, idle_seconds=IDLE_SECONDS):
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self._sessions = {}
        self._lock = threading.Lock()

    def create(self, changes):
        config = _session.merge_config(_session.DEFAULT_CONFIG, changes or {})
        _session.check_estimator(config)
        with self._lock:
            self._reap_idle()
            if len(self._sessions) >= self.max_sessions:
                raise HTTPError(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"too many sessions ({self.max_sessions}): close another playground tab",
                )
            session_id = secrets.token_urlsafe(12)
            session = _session.Session(session_id, config)
            self._sessions[session_id] = session
            return session

    def get(self, session_id):
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no session {session_id!r} (it may have expired)")
        session.last_seen = time.monotonic()
        return session

    def close(self, session_id):
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()

    def close_all(self):
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    def __len__(self):
        with self._lock:
            return len(self._sessions)

    def _reap_idle(self):
        now = time.monotonic()
        for session_id, session in list(self._sessions.items()):
            if session.n_streams == 0 and now - session.last_seen > self.idle_seconds:
                del self._sessions[session_id]
                session.close()


class Handler(BaseHTTPRequestHandler):
    server_version = "fastmlp-playground"
    protocol_version = "HTTP/1.1"

    # ---- plumbing ------------------------------------------------------

    def log_message(self, format, *args):  # quiet: the terminal shows the URL only
        pass

    def _send(self, status, body, content_type, extra_headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status=HTTPStatus.OK):
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, status, message):
        self._json({"error": message}, status)

    def _body(self):
        length = self.headers.get("Content-Length")
        if not length:
            return {}
        try:
            length = int(length)
        except ValueError:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"request body over {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length)
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _check_host(self):
        """On loopback, only requests addressed to loopback names (a page on
        another site reaching this one through DNS rebinding names its own)."""
        if not is_loopback(self.server.server_address[0]):
            return
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host and not is_loopback(host):
            raise HTTPError(HTTPStatus.FORBIDDEN, f"unexpected Host {host!r}")

    def _session(self, query):
        ids = query.get("session")
        if not ids:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "missing ?session=")
        return self.server.playground.get(ids[0])

    def _dispatch(self, method):
        try:
            self._check_host()
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            if method in ("GET", "HEAD") and url.path in STATIC:
                return self._static(url.path)
            route = ROUTES.get((method if method != "HEAD" else "GET", url.path))
            if route is None:
                known = any(path == url.path for _, path in ROUTES) or url.path in STATIC
                if known:
                    raise HTTPError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} not allowed here")
                raise HTTPError(HTTPStatus.NOT_FOUND, f"not found: {url.path}")
            body = self._body() if method == "POST" else {}
            route(self, query, body)
        except HTTPError as exc:
            self._error(exc.status, exc.message)
        except _session.ConfigError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    # ---- the page ------------------------------------------------------

    def _static(self, path):
        name, content_type = STATIC[path]
        body = importlib.resources.files("fastmlp.playground").joinpath("static", name).read_bytes()
        self._send(HTTPStatus.OK, body, content_type)

    # ---- the API -------------------------------------------------------

    def api_options(self, query, body):
        self._json(_session.options())

    def api_create(self, query, body):
        session = self.server.playground.create(body.get("config", {}))
        self._json(session.state(), HTTPStatus.CREATED)

    def api_close(self, query, body):
        ids = query.get("session")
        if not ids:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "missing ?session=")
        self.server.playground.close(ids[0])
        self._json({"closed": ids[0]})

    def api_state(self, query, body):
        self._json(self._session(query).state())

    def api_config(self, query, body):
        self._json(self._session(query).set_config(body))

    def api_action(self, query, body):
        action = urlsplit(self.path).path.rsplit("/", 1)[1]
        self._json(getattr(self._session(query), action)())

    def api_frame(self, query, body):
        session = self._session(query)
        _, frame = session.wait_frame(-1, 0)
        self._send(HTTPStatus.OK, frame, "application/json")

    def api_data(self, query, body):
        self._json(self._session(query).data())

    def api_data_csv(self, query, body):
        self._send(HTTPStatus.OK, self._session(query).data_csv().encode(), "text/csv",
                   [("Content-Disposition", 'attachment; filename="playground-data.csv"')])

    def api_model(self, query, body):
        blob = self._session(query).model_pickle()
        if blob is None:
            raise HTTPError(HTTPStatus.CONFLICT, "no model yet: train at least one epoch")
        self._send(HTTPStatus.OK, blob, "application/octet-stream",
                   [("Content-Disposition", 'attachment; filename="playground-model.pkl"')])

    def api_code(self, query, body):
        self._send(HTTPStatus.OK, self._session(query).code().encode(),
                   "text/x-python; charset=utf-8")

    def api_events(self, query, body):
        """Server-sent events: the newest frame whenever there is one; a
        reader slower than the training skips frames."""
        session = self._session(query)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        server = self.server
        session.n_streams += 1
        try:
            version = -1
            while not session.closed and not server.stopping.is_set():
                new_version, frame = session.wait_frame(version, STREAM_HEARTBEAT)
                if new_version == version:
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    version = new_version
                    self.wfile.write(b"data: " + frame + b"\n\n")
                self.wfile.flush()
                session.last_seen = time.monotonic()
        finally:
            session.n_streams -= 1


ROUTES = {
    ("GET", "/api/options"): Handler.api_options,
    ("POST", "/api/sessions"): Handler.api_create,
    ("DELETE", "/api/sessions"): Handler.api_close,
    ("POST", "/api/close"): Handler.api_close,  # navigator.sendBeacon can only POST
    ("GET", "/api/state"): Handler.api_state,
    ("POST", "/api/config"): Handler.api_config,
    ("POST", "/api/play"): Handler.api_action,
    ("POST", "/api/pause"): Handler.api_action,
    ("POST", "/api/step"): Handler.api_action,
    ("POST", "/api/reset"): Handler.api_action,
    ("POST", "/api/regenerate"): Handler.api_action,
    ("GET", "/api/frame"): Handler.api_frame,
    ("GET", "/api/events"): Handler.api_events,
    ("GET", "/api/data"): Handler.api_data,
    ("GET", "/api/data.csv"): Handler.api_data_csv,
    ("GET", "/api/model.pkl"): Handler.api_model,
    ("GET", "/api/code"): Handler.api_code,
}


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, **playground_options):
        host = address[0]
        if ":" in host:  # an IPv6 address
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.playground = Playground(**playground_options)
        self.stopping = threading.Event()

    @property
    def url(self):
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    def shutdown(self):
        self.stopping.set()
        self.playground.close_all()  # wakes the event streams
        super().shutdown()


def make_server(host="127.0.0.1", port=0, **playground_options):
    """A bound, not yet serving, PlaygroundServer (port 0: any free port)."""
    return PlaygroundServer((host, port), **playground_options)
