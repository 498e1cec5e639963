"""The emulator core: routing, faults, request log, clock and the /__sandbox/ API over real HTTP."""

from __future__ import annotations

import socket
import struct
import time

import pytest
import requests
from sandbox.core import Emulator, Request, Response, json_response, route, serve
from sandbox.testing import SandboxClient, spawn


class EchoEmulator(Emulator):
    name = "echo"
    default_settings = {"greeting": "hello"}
    default_seed = {"items": 3}

    def seed_store(self, **options):
        self.items = list(range(options["items"]))

    def state(self):
        return {"items": len(self.items)}

    @route("GET", r"/items")
    def list_items(self, request: Request) -> Response:
        return json_response({"items": self.items, "greeting": self.setting("greeting")})

    @route("GET", r"/items/(?P<item_id>\d+)")
    def get_item(self, request: Request) -> Response:
        item = int(request.path_params["item_id"])
        if item not in self.items:
            return json_response({"error": "missing"}, 404)
        return json_response({"id": item, "clock": self.now()})


@pytest.fixture
def echo():
    with serve(EchoEmulator()) as running:
        yield running


def test_routes_and_path_params(echo):
    assert requests.get(f"{echo.url}/items", timeout=5).json()["items"] == [0, 1, 2]
    assert requests.get(f"{echo.url}/items/2", timeout=5).json()["id"] == 2
    assert requests.get(f"{echo.url}/items/9", timeout=5).status_code == 404
    assert requests.get(f"{echo.url}/nothing", timeout=5).status_code == 404
    assert requests.post(f"{echo.url}/items", timeout=5).status_code == 405


def test_faults_answer_then_route_resumes(echo):
    client = SandboxClient(echo.url)
    client.fault(status=503, times=2, path="^/items$", body="busy", headers={"Retry-After": "1"})
    first = requests.get(f"{echo.url}/items", timeout=5)
    assert (first.status_code, first.text, first.headers["Retry-After"]) == (503, "busy", "1")
    assert requests.get(f"{echo.url}/items/1", timeout=5).status_code == 200  # path did not match
    assert requests.get(f"{echo.url}/items", timeout=5).status_code == 503
    assert requests.get(f"{echo.url}/items", timeout=5).status_code == 200


def test_dropped_connection_fault(echo):
    SandboxClient(echo.url).fault(drop=True)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{echo.url}/items", timeout=5)
    assert requests.get(f"{echo.url}/items", timeout=5).ok


def test_an_answer_cut_after_some_bytes(echo):
    """`cut_after`: the route answers, the connection closes inside its body (fixed length)."""
    SandboxClient(echo.url).fault(cut_after=10, path="^/items$")
    with requests.get(f"{echo.url}/items", timeout=5, stream=True) as cut:
        assert cut.status_code == 200
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            b"".join(cut.iter_content(4))
    assert requests.get(f"{echo.url}/items", timeout=5).json()["items"] == [0, 1, 2]


def test_request_log_hides_credentials(echo):
    client = SandboxClient(echo.url)
    requests.get(f"{echo.url}/items", headers={"Authorization": "Bearer s3cret-token"}, timeout=5)
    log = client.requests()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/items", 200)]
    assert "s3cret-token" not in str(log)
    assert log[0]["auth"] == "Bearer"
    client.clear_requests()
    assert client.requests() == []


def test_config_seed_reset_and_clock(echo):
    client = SandboxClient(echo.url)
    assert client.configure(greeting="hi")["greeting"] == "hi"
    with pytest.raises(requests.HTTPError):
        client.configure(no_such_switch=True)
    client.seed(items=5)
    assert client.state() == {"items": 5}
    before = requests.get(f"{echo.url}/items/1", timeout=5).json()["clock"]
    client.advance_clock(3600)
    assert requests.get(f"{echo.url}/items/1", timeout=5).json()["clock"] >= before + 3600
    client.reset()
    assert (
        requests.get(f"{echo.url}/items", timeout=5).json()["greeting"] == "hello"
    )  # switches back
    assert client.state() == {"items": 5}


def test_unknown_fault_field_is_refused(echo):
    response = requests.post(
        f"{echo.url}/__sandbox/faults", json={"faults": [{"stauts": 500}]}, timeout=5
    )
    assert response.status_code == 400
    assert "stauts" in response.json()["error"]


def test_spawn_serves_in_its_own_process_with_settings_and_seed():
    process, url = spawn("planhat", settings={"log_bodies": False}, seed={"companies": 5})
    with process:  # closes the stdout pipe and waits
        try:
            client = SandboxClient(url)
            assert client.state()["companies"] == 5
            assert requests.get(f"{url}/__sandbox/config", timeout=5).json()["log_bodies"] is False
        finally:
            process.terminate()
    assert process.returncode is not None


def test_a_client_hanging_up_mid_answer_leaves_no_traceback(capfd):
    """A killed tap or `tap | head` resets its connection; the emulator shrugs, quietly."""
    with serve(EchoEmulator(seed={"items": 200_000})) as running:
        for _ in range(3):
            client = socket.create_connection((running.host, running.port))
            client.sendall(b"GET /items HTTP/1.1\r\nHost: x\r\n\r\n")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # a reset, not a polite close
        time.sleep(0.5)
        assert requests.get(f"{running.url}/items/1", timeout=5).status_code == 200
    assert "Traceback" not in capfd.readouterr().err
