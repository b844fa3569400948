"""The stack tests' fakes, one stdlib-only process in a container with ``network_mode: none``.

The stack's services join its loopback namespace (``network_mode: "service:fakes"``), so on 127.0.0.1
they find:

- a **Telegram Bot API** (``/bot<token>/<method>``): long-polled ``getUpdates`` with offset
  confirmation, ``sendMessage``, ``sendChatAction``, ``deleteWebhook``; a *stall* switch makes
  ``getUpdates`` hang, as an unreachable Telegram does;
- an **OpenAI-compatible Router** (``/v1/chat/completions`` with and without streaming,
  ``/v1/models``, ``/v1/embeddings``) that answers ``fake-router reply: <the last user text>``;
- an **Apprise JSON sink** (any POST) that keeps every page it receives.

Every request is recorded with the SHA-256 of the credential it carried (never the credential).

The test reaches nothing in the namespace by network: it talks to the **control API**, HTTP on a unix
socket in a bind-mounted directory: ``GET /state``, ``POST /telegram/message``, ``POST /telegram/stall``
and ``POST /probe``, which makes one HTTP request to 127.0.0.1 from inside the namespace for it (how the
test calls a stack's hooks, LiteLLM, PocketBase or the socket proxy).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STALL_LIMIT_SECONDS = 600.0
LONG_POLL_LIMIT_SECONDS = 50.0


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class State:
    """Everything the fakes saw and hold, behind one condition variable."""

    def __init__(self, models: list[str]) -> None:
        self.cond = threading.Condition()
        self.models = models
        self.calls: list[dict[str, Any]] = []
        self.pages: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.next_update_id = 1000
        self.next_message_id = 1
        self.stalled = False

    def record(self, **call: Any) -> None:
        with self.cond:
            call["t"] = time.time()
            self.calls.append(call)
            self.cond.notify_all()

    def snapshot(self) -> dict[str, Any]:
        with self.cond:
            return {
                "calls": list(self.calls),
                "pages": list(self.pages),
                "pending_updates": len(self.updates),
                "stalled": self.stalled,
            }


def text_of(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class Handler(BaseHTTPRequestHandler):
    """Shared plumbing: JSON bodies in and out, no access log (the control socket has no address)."""

    protocol_version = "HTTP/1.1"
    server_version = "cfa-stacks-fakes"
    state: State

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle(self) -> None:
        # A client that gives up (a timed-out long poll, a probe's caller) is not an error here.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self) -> Any:
        raw = self.body()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return {}

    def send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class TelegramHandler(Handler):
    def do_GET(self) -> None:
        self.handle_call(self.query_params())

    def do_POST(self) -> None:
        params = self.query_params()
        body = self.json_body()
        if isinstance(body, dict):
            params.update(body)
        self.handle_call(params)

    def query_params(self) -> dict[str, Any]:
        query = urllib.parse.urlsplit(self.path).query
        return {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}

    def handle_call(self, params: dict[str, Any]) -> None:
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = parts[0][3:], parts[1]
        state = self.state
        state.record(kind="telegram", method=method, token_sha256=sha256(token), params=_safe(params))
        if method == "getUpdates":
            self.send_json(200, {"ok": True, "result": self.get_updates(params)})
        elif method == "sendMessage":
            with state.cond:
                message_id = state.next_message_id
                state.next_message_id += 1
            result = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": params.get("chat_id"), "type": "private"},
                "text": params.get("text"),
            }
            self.send_json(200, {"ok": True, "result": result})
        elif method in ("deleteWebhook", "sendChatAction", "setMyCommands"):
            self.send_json(200, {"ok": True, "result": True})
        elif method == "getMe":
            result = {"id": 1, "is_bot": True, "first_name": "fake", "username": "fake_bot"}
            self.send_json(200, {"ok": True, "result": result})
        else:
            self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found: method"})

    def get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        state = self.state
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), LONG_POLL_LIMIT_SECONDS)
        deadline = time.monotonic() + wait
        stall_end = time.monotonic() + STALL_LIMIT_SECONDS
        with state.cond:
            # An offset confirms every update below it for good.
            state.updates = [u for u in state.updates if u["update_id"] >= offset]
            while True:
                now = time.monotonic()
                if state.stalled and now < stall_end:
                    # A stalled Telegram: the request hangs, long polls already waiting included
                    # (the client's read timeout ends it).
                    state.cond.wait(1.0)
                elif state.updates or now >= deadline:
                    return list(state.updates)
                else:
                    state.cond.wait(deadline - now)


class RouterHandler(Handler):
    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.state.record(kind="router", method="GET", path=path, auth_sha256=self.auth_sha256())
        if path.rstrip("/").endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.state.models]
            self.send_json(200, {"object": "list", "data": data})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        body = self.json_body()
        body = body if isinstance(body, dict) else {}
        raw_messages = body.get("messages")
        messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
        user_texts = [text_of(m.get("content")) for m in messages if isinstance(m, dict)]
        user_texts = [
            text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"
        ] or user_texts
        last = user_texts[-1] if user_texts else ""
        self.state.record(
            kind="router",
            method="POST",
            path=path,
            auth_sha256=self.auth_sha256(),
            model=body.get("model"),
            stream=bool(body.get("stream")),
            user_text=last[-2000:],
            all_text=" ".join(user_texts)[-8000:],
        )
        if path.endswith("/chat/completions"):
            self.completion(str(body.get("model") or "fake"), f"fake-router reply: {last[-500:]}", body)
        elif path.endswith("/embeddings"):
            inputs = body.get("input")
            count = len(inputs) if isinstance(inputs, list) else 1
            data = [{"object": "embedding", "index": i, "embedding": [0.1] * 8} for i in range(count)]
            usage = {"prompt_tokens": 1, "total_tokens": 1}
            self.send_json(200, {"object": "list", "data": data, "model": body.get("model"), "usage": usage})
        else:
            self.send_json(404, {"error": {"message": "not found"}})

    def auth_sha256(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        if header.lower().startswith("bearer "):
            return sha256(header[7:].strip())
        return None

    def completion(self, model: str, answer: str, request: dict[str, Any]) -> None:
        created = int(time.time())
        ident = f"chatcmpl-fake-{created}"
        usage = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
        if not request.get("stream"):
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
            payload = {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
            self.send_json(200, payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
        deltas: list[dict[str, Any]] = [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None},
            {"index": 0, "delta": {"content": answer}, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": "stop"},
        ]
        for choice in deltas:
            self.wfile.write(f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode())
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            self.wfile.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class SinkHandler(Handler):
    """Apprise's ``json://`` posts {"version", "title", "message", "type", ...}; keep each one."""

    def do_POST(self) -> None:
        raw = self.body()
        try:
            page: Any = json.loads(raw)
        except ValueError:
            page = {"raw": raw.decode(errors="replace")}
        with self.state.cond:
            self.state.pages.append({"path": self.path, "t": time.time(), "body": page})
            self.state.cond.notify_all()
        self.send_json(200, {"ok": True})


class ControlHandler(Handler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.send_json(200, {"ok": True})
        elif self.path == "/state":
            self.send_json(200, self.state.snapshot())
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self.json_body()
        body = body if isinstance(body, dict) else {}
        state = self.state
        if self.path == "/telegram/message":
            with state.cond:
                update_id = state.next_update_id
                state.next_update_id += 1
                chat_id = int(body["chat_id"])
                message = {
                    "message_id": update_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                    "from": {"id": abs(chat_id), "is_bot": False, "first_name": "Tester"},
                    "text": str(body["text"]),
                }
                state.updates.append({"update_id": update_id, "message": message})
                state.cond.notify_all()
            self.send_json(200, {"update_id": update_id})
        elif self.path == "/telegram/stall":
            with state.cond:
                state.stalled = bool(body.get("stalled"))
                state.cond.notify_all()
            self.send_json(200, {"stalled": state.stalled})
        elif self.path == "/probe":
            self.send_json(200, probe(body))
        else:
            self.send_json(404, {"error": "not found"})


def probe(request: dict[str, Any]) -> dict[str, Any]:
    """One HTTP request to 127.0.0.1 from inside the namespace; nothing else is ever dialled."""
    url = urllib.parse.urlsplit(str(request.get("url", "")))
    if url.scheme != "http" or url.hostname != "127.0.0.1" or url.port is None:
        return {"error": "only http://127.0.0.1:<port>/ URLs are probed"}
    headers = request.get("headers") if isinstance(request.get("headers"), dict) else {}
    body = request.get("body")
    data = body.encode() if isinstance(body, str) else None
    target = url.path or "/"
    if url.query:
        target += "?" + url.query
    connection = http.client.HTTPConnection("127.0.0.1", url.port, timeout=float(request.get("timeout", 30)))
    try:
        connection.request(str(request.get("method", "GET")), target, body=data, headers=headers or {})
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        return {"status": response.status, "headers": dict(response.getheaders()), "body": text}
    except (OSError, http.client.HTTPException) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        connection.close()


def _safe(params: dict[str, Any]) -> dict[str, Any]:
    """Request parameters as recorded: JSON values, long texts cut."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and len(value) > 4000:
            value = value[:4000]
        out[key] = value
    return out


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def handler_for(base: type[Handler], state: State) -> type[Handler]:
    return type(base.__name__, (base,), {"state": state})


def serve(args: argparse.Namespace) -> None:
    state = State([m for m in args.models.split(",") if m])
    servers: list[ThreadingHTTPServer] = []
    for base, port in (
        (TelegramHandler, args.telegram),
        (RouterHandler, args.router),
        (SinkHandler, args.sink),
    ):
        if port:
            server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(base, state))
            server.daemon_threads = True
            servers.append(server)
    control_path = Path(args.control)
    control_path.unlink(missing_ok=True)
    control = UnixHTTPServer(args.control, handler_for(ControlHandler, state))
    # The test process on the host connects to it; the directory is the test's private one.
    control_path.chmod(0o666)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    started = {"event": "fakes.started", "ports": [args.telegram, args.router, args.sink]}
    sys.stdout.write(json.dumps(started) + "\n")
    sys.stdout.flush()
    control.serve_forever()


def check(path: str) -> int:
    """Healthcheck: the control socket answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(path)
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0].split()
            return 0 if status_line[1:2] == [b"200"] else 1
    except OSError:
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--control", default="/control/fakes.sock")
    parser.add_argument("--telegram", type=int, default=0)
    parser.add_argument("--router", type=int, default=0)
    parser.add_argument("--sink", type=int, default=0)
    parser.add_argument("--models", default="")
    parser.add_argument("--check", action="store_true", help="exit 0 if the control socket answers")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.control)
    serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
