"""Edges of the HTTP layer: bodies cut short, chunked bodies, requests the parser refuses."""

from __future__ import annotations

import json
import socket
import struct
import time

import httpx
import pytest

from sync.apis.companies.sandbox import CompaniesServer


def _raw_exchange(sandbox: CompaniesServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        raw.sendall(data)
        chunks = []
        while chunk := raw.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_post_cut_off_mid_body_is_not_applied(sandbox: CompaniesServer, company: str) -> None:
    """A client that dies after its headers and half its body leaves no contact behind."""
    body = json.dumps({"company_id": company, "first_name": "Cut", "email": "cut@acme.com"}).encode()
    head = (
        "POST /contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        raw.sendall(head + body[:10])
    with httpx.Client(base_url=sandbox.base_url) as client:
        assert (
            client.post("/contacts", content=body, headers={"Content-Type": "application/json"}).status_code
            == 201
        )
    assert [row["first_name"] for row in sandbox.state.all_contacts()].count("Cut") == 1


def test_a_chunked_body_is_read(sandbox: CompaniesServer, company: str) -> None:
    """A POST with Transfer-Encoding: chunked is read whole and applied once."""
    body = json.dumps({"company_id": company, "first_name": "Chunk", "email": "chunk@acme.com"}).encode()
    request = (
        b"POST /contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + f"{10:x}\r\n".encode() + body[:10] + b"\r\n"
        + f"{len(body) - 10:x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    answer = _raw_exchange(sandbox, request)
    assert answer.startswith(b"HTTP/1.1 201")
    assert [row["first_name"] for row in sandbox.state.all_contacts()].count("Chunk") == 1


def test_requests_the_parser_refuses_get_json_not_html(sandbox: CompaniesServer) -> None:
    """A garbled request line and an unknown method are answered with a JSON detail, never an HTML page."""
    for request in (b"NONSENSE\r\n\r\n", b"FROB /contacts HTTP/1.1\r\nHost: x\r\n\r\n"):
        answer = _raw_exchange(sandbox, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"Content-Type: application/json" in head
        assert "detail" in json.loads(body)


def test_a_client_that_hangs_up_before_its_answer_leaves_no_traceback(
    sandbox: CompaniesServer, company: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client gone before a slow answer (a timeout, a SIGKILL) is normal: nothing on stderr."""
    sandbox.state.set_faults("slow=300@1/GET")
    request = f"GET /contacts?company_id={company}&limit=12 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        raw.sendall(request)
    deadline = time.monotonic() + 10
    while not sandbox.state.request_log() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.6)  # the answer is written (and fails) after the 300 ms fault
    assert "Traceback" not in capfd.readouterr().err
