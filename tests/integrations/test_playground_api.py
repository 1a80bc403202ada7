"""The playground's JSON API through the standard library's HTTP client:
every control, bad input, concurrent sessions, the code panel, shutdown."""
import base64
import http.client
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.playground import make_server

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Client:
    def __init__(self, server):
        self.host, self.port = server.server_address[:2]
        self.session = None

    def request(self, method, path, body=None, raw=None, headers=None, with_session=True):
        if with_session and self.session and "session=" not in path:
            path += ("&" if "?" in path else "?") + "session=" + self.session
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            payload = json.loads(payload)
        return response.status, payload

    def ok(self, method, path, body=None):
        status, payload = self.request(method, path, body)
        assert status in (200, 201), payload
        return payload

    def start(self, config=None):
        self.session = self.ok("POST", "/api/sessions", {"config": config or {}})["session"]
        return self


@pytest.fixture
def server():
    server = make_server(port=0, max_sessions=4)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(server):
    return Client(server).start()


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_static_files_and_no_traversal(server):
    c = Client(server)
    status, page = c.request("GET", "/")
    assert status == 200 and b'<canvas id="boundary"' in page and b'id="epoch"' in page
    for path in ("/static/playground.js", "/static/playground.css"):
        assert c.request("GET", path)[0] == 200
    for path in ("/static/../_server.py", "/../../etc/passwd", "/static/%2e%2e/_server.py",
                 "/static/", "/_server.py", "/static/index.html/.."):
        status, payload = c.request("GET", path)
        assert status == 404, path
    # the page never asks for anything off this server (works offline)
    for path in ("/", "/static/playground.js", "/static/playground.css"):
        text = c.request("GET", path)[1].decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text


def test_step_play_pause_reset(client):
    state = client.ok("GET", "/api/state")
    assert state["epoch"] == 0 and state["train_loss"] is None and not state["running"]
    assert state["config"]["hidden"] == [4, 2] and state["n_train"] == 250
    state = client.ok("POST", "/api/step")
    assert state["epoch"] == 1 and state["train_loss"] > 0 and state["test_loss"] > 0
    first_loss = state["test_loss"]
    assert client.ok("POST", "/api/play")["running"]
    state = wait_for(lambda: (s := client.ok("GET", "/api/state"))["epoch"] >= 30 and s)
    assert state["test_loss"] < first_loss
    paused = client.ok("POST", "/api/pause")
    assert not paused["running"]
    time.sleep(0.2)
    epoch = client.ok("GET", "/api/state")["epoch"]
    time.sleep(0.3)
    assert client.ok("GET", "/api/state")["epoch"] == epoch  # stays paused
    frame = client.ok("GET", "/api/frame")
    assert frame["epoch"] == epoch and len(base64.b64decode(frame["boundary"])) == 100 * 100
    assert len(base64.b64decode(frame["neurons"][0])) == 4 * 32 * 32
    assert [len(layer) for layer in frame["weights"][0]] == [4, 4]
    assert len(frame["neurons"]) == 2 and frame["history"][-1][0] == epoch
    state = client.ok("POST", "/api/reset")
    assert state["epoch"] == 0 and state["train_loss"] is None
    # reset reproduces the run: the same seed gives the same losses
    assert client.ok("POST", "/api/step")["test_loss"] == first_loss


def test_every_control(client):
    changes = [
        {"dataset": "xor"}, {"dataset": "spiral"}, {"dataset": "gaussians"},
        {"noise": 25}, {"train_ratio": 70}, {"n_points": 300}, {"data_seed": 5},
        {"features": ["x1", "x2", "x1_squared", "x2_squared", "x1_times_x2", "sin_x1", "sin_x2"]},
        {"hidden": [8] * 6, "activation": ["relu", "leaky_relu", "elu", "gelu", "swish", "tanh"],
         "dropout": [0.1] * 6, "batch_norm": [True, False, True, False, True, False]},
        {"solver": "adam"}, {"solver": "adamw"}, {"solver": "rmsprop"},
        {"solver": "sgd", "momentum": 0.9}, {"learning_rate": 0.1},
        {"schedule": "cosine"}, {"schedule": "step"}, {"schedule": "invscaling"},
        {"regularization": "l1", "regularization_rate": 0.01},
        {"regularization": "l2", "regularization_rate": 0.03},
        {"batch_size": 25}, {"seed": 3}, {"epochs_per_frame": 5},
        {"problem": "regression"}, {"dataset": "multi_gaussian"},
    ]
    for change in changes:
        state = client.ok("POST", "/api/config", change)
        for key, value in change.items():
            expected = value if key != "features" else value
            assert state["config"][key] == expected, (key, state["config"][key])
        assert client.ok("POST", "/api/step")["epoch"] >= 1, change
    assert state["config"]["problem"] == "regression" and state["config"]["dataset"] == "multi_gaussian"
    assert state["n_train"] == 210
    # a run-only change keeps the model; a model change starts afresh
    assert client.ok("POST", "/api/config", {"epochs_per_frame": 2})["epoch"] == 1
    assert client.ok("POST", "/api/config", {"learning_rate": 0.01})["epoch"] == 0
    # regenerate draws new points (the next data seed)
    before = client.ok("GET", "/api/data")
    state = client.ok("POST", "/api/regenerate")
    assert state["config"]["data_seed"] == 6 and state["data_version"] > before["data_version"]
    assert client.ok("GET", "/api/data")["train"] != before["train"]
    # the regressor has neurons and a boundary too
    client.ok("POST", "/api/step")
    frame = client.ok("GET", "/api/frame")
    assert len(frame["neurons"]) == 6 and frame["boundary"]


def test_problem_switch_picks_a_matching_dataset(client):
    state = client.ok("POST", "/api/config", {"problem": "regression"})
    assert state["config"]["dataset"] == "plane"
    state = client.ok("POST", "/api/config", {"problem": "classification"})
    assert state["config"]["dataset"] == "circle"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"foo": 1}, "unknown parameter 'foo'"),
        ({"hidden": [4] * 7, "activation": ["tanh"] * 7, "dropout": [0] * 7,
          "batch_norm": [False] * 7}, "at most 6"),
        ({"hidden": [9, 2]}, "from 1 to 8"),
        ({"hidden": [4]}, "activation must be a list with one value per hidden layer"),
        ({"noise": 51}, "noise must be an integer from 0 to 50"),
        ({"n_points": 10**6}, "n_points must be an integer from 10 to 5000"),
        ({"features": []}, "features must be a non-empty list"),
        ({"features": ["x3"]}, "features must be"),
        ({"dataset": "plane"}, "dataset must be one of"),
        ({"problem": "ranking"}, "problem must be one of"),
        ({"solver": "lbfgs"}, "solver must be one of"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"batch_size": True}, "batch_size must be an integer"),
        # the estimator's own messages
        ({"learning_rate": -1}, "'learning_rate_init' parameter of MLPClassifier"),
        ({"momentum": 1.5}, "'momentum' parameter of MLPClassifier"),
        ({"activation": ["softmax", "tanh"]}, "activation"),
        ({"dropout": [1.5, 0]}, "dropout"),
        ({"regularization": "l2", "regularization_rate": -1}, "'alpha' parameter"),
    ],
)
def test_bad_configuration_is_400_and_changes_nothing(client, body, message):
    client.ok("POST", "/api/step")
    before = client.ok("GET", "/api/state")
    weights = client.ok("GET", "/api/frame")["weights"]
    status, payload = client.request("POST", "/api/config", body)
    assert status == 400 and message in payload["error"], payload
    assert client.ok("GET", "/api/state") == before
    assert client.ok("GET", "/api/frame")["weights"] == weights


@pytest.mark.parametrize(
    "method, path, raw, status, message",
    [
        ("POST", "/api/config", b"{not json", 400, "not JSON"),
        ("POST", "/api/config", b"[1, 2]", 400, "JSON object"),
        ("POST", "/api/config", b"\xff\xfe", 400, "not JSON"),
        ("GET", "/api/nothing", None, 404, "not found"),
        ("GET", "/api/config", None, 405, "not allowed"),
        ("POST", "/api/play?session=nope", None, 404, "no session"),
    ],
)
def test_malformed_requests(client, method, path, raw, status, message):
    got, payload = client.request(method, path, raw=raw, with_session="session=" not in path)
    assert got == status and message in payload["error"]
    assert client.ok("GET", "/api/state")["epoch"] == 0  # still serving, unchanged


def test_missing_session_and_oversized_body(server):
    c = Client(server)
    status, payload = c.request("GET", "/api/state")
    assert status == 400 and "missing ?session=" in payload["error"]
    status, payload = c.request("POST", "/api/sessions", raw=b"x" * (65 * 1024))
    assert status == 400 and "over" in payload["error"]
    status, payload = c.request("POST", "/api/sessions", {"config": {"hidden": "big"}})
    assert status == 400 and len(server.playground) == 0


def test_foreign_host_header_refused(client):
    status, payload = client.request("GET", "/api/state", headers={"Host": "evil.example:80"})
    assert status == 403 and "Host" in payload["error"]


def test_session_limit_and_close(server):
    clients = [Client(server).start() for _ in range(4)]
    status, payload = Client(server).request("POST", "/api/sessions", {})
    assert status == 503 and "too many sessions" in payload["error"]
    clients[0].ok("POST", "/api/close")
    assert clients[0].request("GET", "/api/state")[0] == 404
    Client(server).start()  # room again
    assert len(server.playground) == 4


def test_idle_sessions_are_reaped():
    server = make_server(port=0, max_sessions=1, idle_seconds=0.1)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Client(server).start()
        time.sleep(0.3)
        Client(server).start()  # the idle one made room
        assert len(server.playground) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_concurrent_sessions_are_independent(server):
    a = Client(server).start({"dataset": "xor", "hidden": [3], "activation": ["relu"],
                              "dropout": [0], "batch_norm": [False]})
    b = Client(server).start({"problem": "regression"})
    a.ok("POST", "/api/play")
    b.ok("POST", "/api/play")
    errors = []

    def hammer(c):
        try:
            for _ in range(20):
                c.ok("GET", "/api/state")
                c.ok("GET", "/api/frame")
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(c,)) for c in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    wait_for(lambda: a.ok("GET", "/api/state")["epoch"] > 5 and b.ok("GET", "/api/state")["epoch"] > 5)
    a.ok("POST", "/api/pause")
    b.ok("POST", "/api/pause")
    sa, sb = a.ok("GET", "/api/state"), b.ok("GET", "/api/state")
    assert sa["config"]["hidden"] == [3] and sb["config"]["problem"] == "regression"
    assert pickle.loads(a.request("GET", "/api/model.pkl")[1]).hidden_layer_sizes == (3,)
    assert isinstance(pickle.loads(b.request("GET", "/api/model.pkl")[1]), MLPRegressor)


def test_event_stream_sends_frames(server, client):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    conn.request("GET", f"/api/events?session={client.session}")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    client.ok("POST", "/api/step")
    frames = []
    while len(frames) < 2:
        line = response.fp.readline()
        if line.startswith(b"data: "):
            frames.append(json.loads(line[6:]))
    assert frames[0]["epoch"] == 0 and frames[-1]["epoch"] == 1
    conn.close()


def test_downloads_and_code_reproduce_the_model(client):
    assert client.request("GET", "/api/model.pkl")[0] == 409  # nothing trained yet
    client.ok("POST", "/api/config", {"features": ["x1", "x2", "sin_x1"], "hidden": [5, 3],
                                      "activation": ["gelu", "tanh"], "dropout": [0.1, 0],
                                      "batch_norm": [True, False], "solver": "adam",
                                      "noise": 10, "seed": 7})
    for _ in range(3):
        client.ok("POST", "/api/step")
    status, blob = client.request("GET", "/api/model.pkl")
    model = pickle.loads(blob)
    assert status == 200 and isinstance(model, MLPClassifier)
    status, csv = client.request("GET", "/api/data.csv")
    lines = csv.decode().splitlines()
    assert lines[0] == "x1,x2,y,subset" and len(lines) == 501
    status, code = client.request("GET", "/api/code")
    namespace = {}
    exec(compile(code, "playground-code", "exec"), namespace)  # noqa: S102 (our own output)
    script_model = namespace["model"]
    for mine, theirs in zip(script_model.coefs_, model.coefs_):
        np.testing.assert_array_equal(mine, theirs)
    # the CSV holds the script's data
    train = np.array([[float(v) for v in line.split(",")[:3]] for line in lines[1:]
                      if line.endswith("train")])
    np.testing.assert_array_equal(train[:, :2], namespace["X_train"])
    np.testing.assert_array_equal(train[:, 2], namespace["y_train"])


def test_diverging_run_reports_and_stops(client):
    client.ok("POST", "/api/config", {"problem": "regression", "learning_rate": 10,
                                      "solver": "sgd", "momentum": 0.99, "hidden": [8, 8],
                                      "activation": ["relu", "relu"], "dropout": [0, 0],
                                      "batch_norm": [False, False], "batch_size": 1})
    client.ok("POST", "/api/play")
    state = wait_for(lambda: (s := client.ok("GET", "/api/state"))["error"] and s)
    assert "failed" in state["error"] and not state["running"]
    assert client.request("GET", "/api/frame")[0] == 200  # still serving


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "fastmlp.playground", "--no-browser", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_command_line_start_and_clean_stop(stop):
    port = free_port()
    proc = run_cli("--port", str(port))
    try:
        line = proc.stdout.readline()
        assert line == f"fastmlp playground: http://127.0.0.1:{port}/\n"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/sessions", body=b"{}")
        session = json.loads(conn.getresponse().read())["session"]
        conn.request("POST", f"/api/play?session={session}")
        conn.getresponse().read()
        # an open event stream must not hold the shutdown up
        stream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        stream.request("GET", f"/api/events?session={session}")
        stream.getresponse()
        time.sleep(0.3)
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped" in out
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_command_line_any_port_and_host_warning():
    proc = run_cli("--port", "0", "--host", "0.0.0.0")
    try:
        line = proc.stdout.readline()
        assert line.startswith("fastmlp playground: http://0.0.0.0:") and not line.endswith(":0/\n")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "reachable from the network" in err and proc.returncode == 0


def test_command_line_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        proc = run_cli("--port", str(s.getsockname()[1]))
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "cannot listen" in err and "Traceback" not in err
