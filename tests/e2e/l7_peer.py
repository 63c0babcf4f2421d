#!/usr/bin/env python3
"""l7_peer.py - the raw-socket ends test_l7_edges needs that curl cannot be:

  serve ADDR PORT SIZE      a pod answering every POST with SIZE deterministic bytes
                            (Content-Length, or chunked when the request asks for
                            "stream": true), and an idle vLLM /metrics page; a request
                            whose prompt is "extra" gets bytes nobody asked for after its
                            answer, in the answer's last write and 0.2 s later; "short"
                            and "split" get a few bytes (in one write; head and body
                            apart), "cut" the head of a short answer and then a close
  body SIZE                 prints those SIZE bytes (what a direct answer is compared to)
  pipeline HOST PORT VHOST MODEL N...
                            one connection, the requests (max_tokens N each) written in a
                            single send; prints completion_tokens of each answer, in order
  burst HOST PORT VHOST MODEL N
                            N connections opened first, then N requests written in one
                            go (they reach the gateway in one wakeup); prints the statuses
  idle HOST PORT VHOST MODEL
                            one request, then waits without a request: prints the seconds
                            until the gateway closes the connection
  pipeline-error HOST PORT VHOST SIZE
                            one connection, three requests in a single write: a POST
                            answered with SIZE bytes, one with a body that is not JSON
                            (400 from the gateway itself), the first again; reads nothing
                            for 1.5 s, then prints each status and whether each 200's body
                            is whole, in order
  pipeline-short HOST PORT VHOST SIZE
                            the same with a request whose prompt is "short" in the middle:
                            the pod answers it with a few bytes in one write (the sockmap
                            path's inline answer, sent by the agent from its end event)
  pipeline-split HOST PORT VHOST SIZE
                            the same, the pod writing that answer's head and body apart
  halfclose HOST PORT VHOST SIZE AGENT_PID
                            a POST with Connection: close whose SIZE-byte answer it leaves
                            unread; once the pod has sent it all, shuts its sending side and
                            waits 2 s; then reads the answer. Prints the agent's CPU ms over
                            those 2 s and whether the body arrived whole ("whole"/"short")
"""
import json
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHORT = b"a short answer\n"
METRICS = b"""# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="bulk"} 0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="bulk"} 0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="bulk"} 0.1
"""


def pattern(size):
    """SIZE bytes no two megabytes of which are alike (a shifted or lost block shows)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += b"%08d|" % i
        i += 1
    return bytes(out[:size])


def serve(addr, port, size):
    data = pattern(size)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            body = METRICS if self.path == "/metrics" else b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            req = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            chunked = b'"stream": true' in req or b'"stream":true' in req
            if b'"prompt":"cut"' in req:
                # a short answer's head, then the pod goes away before its body
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(SHORT))
                time.sleep(0.05)
                self.close_connection = True
                return
            if b'"prompt":"short"' in req or b'"prompt":"split"' in req:
                # one write (one skb), or the head and then the body ("split")
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(SHORT)
                if b'"prompt":"split"' in req:
                    self.wfile.write(head)
                    time.sleep(0.05)
                    self.wfile.write(SHORT)
                else:
                    self.wfile.write(head + SHORT)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                step = 65536 + 17  # sizes that straddle segments and headers
                for off in range(0, len(data), step):
                    part = data[off:off + step]
                    self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if b'"prompt":"extra"' in req:
                    self.wfile.write(data + b"EXTRA")
                    time.sleep(0.2)
                    self.wfile.write(b"MORE")
                else:
                    self.wfile.write(data)

    ThreadingHTTPServer((addr, port), Handler).serve_forever()


def request(vhost, model, max_tokens):
    body = json.dumps({"model": model, "prompt": "count to %d" % max_tokens, "max_tokens": max_tokens,
                       "ignore_eos": True}).encode()
    return (b"POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (vhost.encode(), len(body))) + body


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def response(self):
        """One response with Content-Length: (status, body)."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buf) < length:
            self.fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body


def pipeline(host, port, vhost, model, counts):
    sock = socket.create_connection((host, port), timeout=20)
    sock.sendall(b"".join(request(vhost, model, n) for n in counts))
    reader = Reader(sock)
    out = []
    for _ in counts:
        status, body = reader.response()
        out.append(str(json.loads(body)["usage"]["completion_tokens"]) if status == 200 else "status-%d" % status)
    print(" ".join(out))


def burst(host, port, vhost, model, n):
    socks = [socket.create_connection((host, port), timeout=60) for _ in range(n)]
    for sock in socks:
        sock.sendall(request(vhost, model, 1))
    print(" ".join(str(Reader(sock).response()[0]) for sock in socks))


def idle(host, port, vhost, model):
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(request(vhost, model, 2))
    reader = Reader(sock)
    status, _ = reader.response()
    if status != 200:
        print("status-%d" % status)
        return
    start = time.monotonic()
    try:
        while True:
            reader.fill()
    except EOFError:
        print("%.2f" % (time.monotonic() - start))
    except socket.timeout:
        print("open")


def pipeline_three(host, port, vhost, size, middle):
    good = b'{"model":"bulk","prompt":"x"}'
    short = b'{"model":"bulk","prompt":"%s"}' % middle.encode()
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
           b"Content-Length: %%d\r\n\r\n" % vhost.encode())
    mid = (req % 1) + b"{" if middle == "error" else (req % len(short)) + short
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall((req % len(good)) + good + mid + (req % len(good)) + good)
    time.sleep(1.5)
    reader = Reader(sock)
    out = []
    for _ in range(3):
        status, body = reader.response()
        kind = "-whole" if body == pattern(size) else "-short" if body == SHORT else "-broken"
        out.append("%d%s" % (status, kind if status == 200 else ""))
    print(" ".join(out))


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // os.sysconf("SC_CLK_TCK")


def halfclose(host, port, vhost, size, agent_pid):
    body = b'{"model":"bulk","prompt":"x"}'
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (vhost.encode(), len(body), body))
    first = sock.recv(1)
    time.sleep(1.0)  # the pod has written it all; most of it waits for this client
    sock.shutdown(socket.SHUT_WR)
    before = cpu_ms(agent_pid)
    time.sleep(2.0)
    spent = cpu_ms(agent_pid) - before
    data = bytearray(first)
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    print(spent, "whole" if rest == pattern(size) else "short %d" % len(rest))


def main(argv):
    if len(argv) >= 4 and argv[0] == "serve":
        serve(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) == 2 and argv[0] == "body":
        sys.stdout.buffer.write(pattern(int(argv[1])))
    elif len(argv) >= 6 and argv[0] == "pipeline":
        pipeline(argv[1], int(argv[2]), argv[3], argv[4], [int(n) for n in argv[5:]])
    elif len(argv) == 6 and argv[0] == "burst":
        burst(argv[1], int(argv[2]), argv[3], argv[4], int(argv[5]))
    elif len(argv) == 5 and argv[0] == "idle":
        idle(argv[1], int(argv[2]), argv[3], argv[4])
    elif len(argv) == 5 and argv[0] in ("pipeline-error", "pipeline-short", "pipeline-split"):
        pipeline_three(argv[1], int(argv[2]), argv[3], int(argv[4]), argv[0].split("-")[1])
    elif len(argv) == 6 and argv[0] == "halfclose":
        halfclose(argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
