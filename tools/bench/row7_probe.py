#!/usr/bin/env python3
"""row7_probe.py - the measuring side of bench row 7 (control plane), standard library only.

  ready   flips one pod between NotReady and Ready (its manifest file rewritten and renamed
          into place, or the object applied on fake-apiserver's admin endpoint) and times,
          from the moment of the change, each sample:
            noticed   the change reaching an independent watcher (inotify on the directory,
                      or a watch stream of its own on the API server): the floor
            kernel    the pod's backend id in the pool's active generation of the pinned
                      `pools` / `pool_backends` maps (bpf(2) lookups, every ~0.3 ms)
            l4        a fresh SYN to the L4 VIP answered (one new connection every 1 ms from
                      the client namespace; the pool has no other ready pod, so XDP drops
                      every SYN until the pod is in the kernel's set)
            l7        a request through the L7 gateway answered 200 (one at a time on a
                      kept-alive connection, 1 ms apart; 503 while no pod is ready)
          and, when the pod goes NotReady, `down`: until the kernel's set is empty again.
          One JSON line per sample on stdout.
  conns   opens N connections to HOST:PORT, then sends one request on each and keeps them
          open, reading the VmRSS and open fds of the process under test (--pid) before,
          with N idle connections, after one request each, and after they close. One JSON
          line on stdout.
  sync    watches an agent that was started at --t0 (epoch seconds) until its sources report
          synced (the control socket's `status`, as `inferlb status -j` asks it; every 10 ms)
          and each of the --pools pools named PREFIX1..PREFIXn holds --expect ready backends in
          its active generation of the pinned `pools` map (every 2 ms); then reads the agent's
          VmRSS and VmHWM, checks the kernel's sets in full (pool_backends -> backends: distinct
          ids, state ready, the right pool, distinct addresses), waits --settle seconds, reads
          VmRSS and the agent's CPU over the wait, and counts the pods the agent has scraped.
          One JSON line on stdout.
"""
import argparse
import ctypes
import json
import os
import platform
import random
import resource
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.request

# ---- bpf(2) on pinned maps ----

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), 321)
_SYS_SETNS = {"x86_64": 308, "aarch64": 268}.get(platform.machine(), 308)
BPF_MAP_LOOKUP_ELEM, BPF_OBJ_GET, BPF_OBJ_GET_INFO_BY_FD = 1, 7, 15
CLONE_NEWNET = 0x40000000


def _bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    r = _libc.syscall(_SYS_BPF, cmd, buf, len(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r, buf


class Map:
    def __init__(self, path):
        p = ctypes.create_string_buffer(path.encode())
        self.fd, _ = _bpf(BPF_OBJ_GET, struct.pack("=QIIi4x", ctypes.addressof(p), 0, 0, 0))
        info = ctypes.create_string_buffer(80)
        _bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack("=IIQ", self.fd, 80, ctypes.addressof(info)))
        _, _, self.key_size, self.value_size, self.max_entries = struct.unpack_from("=IIIII", info.raw)
        self.key = ctypes.create_string_buffer(self.key_size)
        self.val = ctypes.create_string_buffer(self.value_size)
        self.attr = ctypes.create_string_buffer(
            struct.pack("=IIQQQ", self.fd, 0, ctypes.addressof(self.key), ctypes.addressof(self.val), 0), 32)

    def get_u32(self, k):
        """The value at u32 key k (raw bytes), None when absent."""
        struct.pack_into("=I", self.key, 0, k)
        if _libc.syscall(_SYS_BPF, BPF_MAP_LOOKUP_ELEM, self.attr, 32) < 0:
            return None
        return self.val.raw


class Kernel:
    """The pool's ready set as XDP reads it (include/inferlb.h)."""
    MAX_POOLS, MAX_POOL_BACKENDS = 32, 512

    def __init__(self, pin_dir, pool_name):
        self.pools = Map(pin_dir + "/pools")
        self.pool_backends = Map(pin_dir + "/pool_backends")
        self.backends = Map(pin_dir + "/backends")
        if self.pools.value_size != 112 or self.backends.value_size != 44:
            raise SystemExit("row7_probe: pinned maps do not have the layout of include/inferlb.h")
        self.pool_name = pool_name
        self.pool_id = None

    def find_pool(self):
        for pid in range(1, self.MAX_POOLS):
            v = self.pools.get_u32(pid)
            if v and v[16:112].split(b"\0")[0].decode() == self.pool_name:
                self.pool_id = pid
                return pid
        return None

    def find_backend(self, ip):
        want = socket.inet_aton(ip)
        for bid in range(1, self.backends.max_entries):
            v = self.backends.get_u32(bid)
            if v and v[0] == 4 and v[4:8] == want and struct.unpack_from("=I", v, 40)[0] == self.pool_id:
                return bid
        return None

    def ready_ids(self):
        v = self.pools.get_u32(self.pool_id)
        if not v:
            return []
        gen, _, c0, c1 = struct.unpack_from("=IIII", v, 0)
        gen &= 1
        n = min(c1 if gen else c0, self.MAX_POOL_BACKENDS)
        base = (self.pool_id * 2 + gen) * self.MAX_POOL_BACKENDS
        out = []
        for i in range(n):
            b = self.pool_backends.get_u32(base + i)
            if b:
                out.append(struct.unpack("=I", b)[0])
        return out


def now_ms():
    return time.monotonic_ns() / 1e6


# ---- network namespaces: probe sockets are made in the client's ----

class Netns:
    def __init__(self, path):
        self.own = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.other = os.open(path, os.O_RDONLY) if path else None

    def socket(self):
        if self.other is None:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if _libc.syscall(_SYS_SETNS, self.other, CLONE_NEWNET) < 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _libc.syscall(_SYS_SETNS, self.own, CLONE_NEWNET)


# ---- the change: a manifest file, or an object on the API server ----

def pod_yaml(name, ip, app, ready):
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels:
    app: {app}
spec:
  nodeName: node-a
  containers:
  - name: vllm
    image: vllm
    ports:
    - containerPort: 8000
status:
  phase: Running
  podIP: {ip}
  conditions:
  - type: Ready
    status: "{'True' if ready else 'False'}"
"""


class FileSource:
    IN_MOVED_TO, IN_CLOEXEC, IN_NONBLOCK = 0x80, 0o2000000, 0o4000

    def __init__(self, path, name, ip, app):
        self.path, self.name, self.ip, self.app = path, name, ip, app
        self.ifd = _libc.inotify_init1(self.IN_CLOEXEC | self.IN_NONBLOCK)
        _libc.inotify_add_watch(self.ifd, os.path.dirname(path).encode(), self.IN_MOVED_TO)
        self.noticed = None

    def set_ready(self, ready):
        tmp = os.path.join(os.path.dirname(self.path), ".row7.tmp")
        with open(tmp, "w") as f:
            f.write(pod_yaml(self.name, self.ip, self.app, ready))
        self.noticed = None
        self._drain()
        self.noticed = None
        t0 = now_ms()
        os.rename(tmp, self.path)
        return t0

    def _drain(self):
        try:
            while os.read(self.ifd, 65536):
                self.noticed = now_ms()
        except BlockingIOError:
            pass

    def poll_noticed(self):
        if self.noticed is None:
            self._drain()
        return self.noticed


class KubeSource:
    """Applies through the admin endpoint; a watch of its own on the pods gives the floor."""

    def __init__(self, admin, api, token, ca, name, ip, app):
        self.admin, self.name, self.ip, self.app = admin, name, ip, app
        self.lock = threading.Lock()
        self.want = None
        self.noticed = None
        ctx = ssl.create_default_context(cafile=ca)
        host, port = api.split("//")[1].split(":")
        self.ws = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
        self.ws.sendall((f"GET /api/v1/namespaces/default/pods?watch=1 HTTP/1.1\r\nHost: {host}\r\n"
                         f"Authorization: Bearer {open(token).read().strip()}\r\n"
                         "Accept: application/json\r\n\r\n").encode())
        threading.Thread(target=self._watch, daemon=True).start()
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _watch(self):
        buf = b""
        f = self.ws.makefile("rb")
        while f.readline() not in (b"\r\n", b""):
            pass  # the response head
        while True:
            size = f.readline()
            if not size:
                return
            n = int(size.strip() or b"0", 16)
            if n == 0:
                return
            buf += f.read(n)
            f.readline()
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                t = now_ms()
                try:
                    ev = json.loads(line)
                    obj = ev["object"]
                    if obj.get("metadata", {}).get("name") != self.name:
                        continue
                    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                                for c in obj.get("status", {}).get("conditions", []))
                except (ValueError, KeyError, AttributeError):
                    continue
                with self.lock:
                    if self.want is not None and ready == self.want and self.noticed is None:
                        self.noticed = t

    def set_ready(self, ready):
        body = pod_yaml(self.name, self.ip, self.app, ready).encode()
        req = urllib.request.Request(self.admin + "/admin/apply", data=body, method="POST")
        with self.lock:
            self.want, self.noticed = ready, None
        t0 = now_ms()
        self.opener.open(req, timeout=5).read()
        return t0

    def poll_noticed(self):
        with self.lock:
            return self.noticed


# ---- probes through the lanes ----

class L7Probe:
    def __init__(self, ns, addr, host, body):
        self.ns, self.addr = ns, addr
        self.req = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.sock = None
        self.buf = b""
        self.busy = False
        self.errors = []  # connections that ended without a response, by the status before
        self.last_status = 0

    def send(self):
        if self.sock is None:
            self.last_status = 0
            self.sock = self.ns.socket()
            self.sock.settimeout(2)
            self.sock.connect(self.addr)
            self.sock.setblocking(False)
        self.buf = b""
        self.sock.sendall(self.req)
        self.busy = True

    def on_readable(self):
        """The status of a complete response, or None while it is incomplete."""
        try:
            d = self.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError as e:  # reset: counted, and the next probe connects again
            self.errors.append(f"{self.last_status}:{e.__class__.__name__}")
            self.close()
            return 0
        if not d:
            self.errors.append(f"{self.last_status}:closed")
            self.close()
            return 0
        self.buf += d
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        self.last_status = status
        hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(b":", 1) for l in lines[1:] if b":" in l)}
        n = int(hdrs.get(b"content-length", b"-1"))
        if n < 0 or hdrs.get(b"connection", b"").lower() == b"close":
            self.close()
            return status
        if len(rest) < n:
            return None
        self.busy = False
        return status

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
        self.busy = False


def cmd_ready(a):
    ns = Netns(a.client_netns)
    kern = Kernel(a.pin_dir, a.pool)
    if a.mode == "manifests":
        src = FileSource(a.file, a.pod, a.pod_ip, a.app)
    else:
        src = KubeSource(a.admin, a.api, a.token, a.ca, a.pod, a.pod_ip, a.app)
    body = json.dumps({"model": a.model, "messages": [{"role": "user", "content": "Ready?"}],
                       "max_tokens": 4}).encode()
    l7 = L7Probe(ns, (a.gw, a.gw_port), a.host, body)

    # first Ready: the pool and the pod's backend id as the kernel has them
    src.set_ready(True)
    deadline = time.monotonic() + 15
    bid = None
    while time.monotonic() < deadline:
        if kern.pool_id or kern.find_pool():
            bid = kern.find_backend(a.pod_ip)
            if bid and bid in kern.ready_ids():
                break
        time.sleep(0.01)
    else:
        raise SystemExit(f"row7_probe: pod {a.pod_ip} never became ready in pool {a.pool}")
    print(f"row7_probe: pool {a.pool} id {kern.pool_id}, backend {bid}", file=sys.stderr)

    for i in range(a.samples):
        # NotReady, and wait for the kernel to drop the pod
        t0 = src.set_ready(False)
        down = None
        while now_ms() - t0 < a.timeout * 1000:
            if bid not in kern.ready_ids():
                down = now_ms() - t0
                break
            time.sleep(0.0003)
        if down is None:
            print(json.dumps({"i": i, "error": "the pod never left the kernel's set"}), flush=True)
            continue
        # let the L7 table follow and the agent settle; a random phase against its 50 ms tick
        time.sleep(a.gap_ms / 1000 + random.random() * 0.05)
        if a.cold_neigh:
            # a pod the node has never talked to: its address not in the neighbour table
            subprocess.run(["ip", "neigh", "del", a.pod_ip, "dev", a.cold_neigh],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        l7.close()
        res = {"i": i, "down_ms": round(down, 3), "noticed_ms": None, "kernel_ms": None, "l4_ms": None,
               "l7_ms": None}
        pending = []
        syns = 0
        next_syn = next_l7 = 0.0
        t0 = src.set_ready(True)
        poller = select.poll()
        fdmap = {}
        while now_ms() - t0 < a.timeout * 1000:
            t = now_ms()
            if res["noticed_ms"] is None:
                n = src.poll_noticed()
                if n is not None:
                    res["noticed_ms"] = round(n - t0, 3)
            if res["kernel_ms"] is None and bid in kern.ready_ids():
                res["kernel_ms"] = round(now_ms() - t0, 3)
            if res["l4_ms"] is None and t >= next_syn:
                s = ns.socket()
                s.setblocking(False)
                try:
                    s.connect((a.vip, a.vip_port))
                except BlockingIOError:
                    pass
                pending.append(s)
                syns += 1
                fdmap[s.fileno()] = s
                poller.register(s, select.POLLOUT)
                next_syn = t + 1.0
            if res["l7_ms"] is None and not l7.busy and t >= next_l7:
                try:
                    l7.send()
                    poller.register(l7.sock, select.POLLIN)
                    fdmap[l7.sock.fileno()] = l7
                except OSError as e:
                    l7.errors.append(f"{l7.last_status}:send:{e.__class__.__name__}")
                    l7.close()
                    next_l7 = t + 1.0
            for fd, ev in poller.poll(0.3):
                o = fdmap.get(fd)
                if o is l7:
                    st = l7.on_readable()
                    if st is None:
                        continue
                    if not l7.busy:
                        try:
                            poller.unregister(fd)
                        except KeyError:
                            pass
                        fdmap.pop(fd, None)
                    if st == 200:
                        res["l7_ms"] = round(now_ms() - t0, 3)
                        l7.close()
                    next_l7 = now_ms() + 1.0
                elif o is not None:
                    poller.unregister(fd)
                    fdmap.pop(fd, None)
                    if o.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and res["l4_ms"] is None:
                        res["l4_ms"] = round(now_ms() - t0, 3)
            if res["l4_ms"] is not None:
                for s in pending:
                    if s.fileno() >= 0:
                        try:
                            poller.unregister(s)
                        except KeyError:
                            pass
                        fdmap.pop(s.fileno(), None)
                        s.close()
                pending = []
            if all(res[k] is not None for k in ("noticed_ms", "kernel_ms", "l4_ms", "l7_ms")):
                break
        for s in pending:
            s.close()
        if l7.busy:
            l7.close()
        res["syns"] = syns
        if l7.errors:
            res["l7_errors"] = l7.errors
        l7.errors = []
        print(json.dumps(res), flush=True)
    return 0


# ---- conns: N kept-alive connections ----

def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fds(pid, want, cmp, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cmp(proc_fds(pid), want):
            return True
        time.sleep(0.05)
    return False


def cmd_conns(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.n + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.n + 4096), hard))
    body = json.dumps({"model": a.model, "messages": [{"role": "user", "content": "Explain Kubernetes in one sentence."}],
                       "max_tokens": 50}).encode()
    req = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {a.host_header}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    out = {"n": a.n}
    time.sleep(0.3)
    out["rss0_kb"], out["fds0"] = proc_rss_kb(a.pid), proc_fds(a.pid)

    # connect, at most a.window in flight
    ep = select.epoll()
    socks, connecting, errors = [], {}, 0
    t0 = time.monotonic()
    i = 0
    while (i < a.n or connecting) and time.monotonic() - t0 < 60:
        while i < a.n and len(connecting) < a.window:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((a.addr, a.port))
            except BlockingIOError:
                pass
            connecting[s.fileno()] = s
            ep.register(s.fileno(), select.EPOLLOUT)
            i += 1
        for fd, ev in ep.poll(0.05):
            s = connecting.pop(fd)
            ep.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                socks.append(s)
            else:
                errors += 1
                s.close()
    out["connected"], out["connect_errors"], out["connect_s"] = len(socks), errors, round(time.monotonic() - t0, 3)
    # the process under test has accepted them all (or stopped accepting)
    wait_fds(a.pid, out["fds0"] + len(socks), lambda x, y: x >= y, 10)
    time.sleep(a.settle)
    out["rss1_kb"], out["fds1"] = proc_rss_kb(a.pid), proc_fds(a.pid)

    # one request on each; the connection stays open
    if a.requests:
        bufs = {}
        ok = bad = 0
        t0 = time.monotonic()
        idx = 0
        inflight = {}
        while (idx < len(socks) or inflight) and time.monotonic() - t0 < 60:
            while idx < len(socks) and len(inflight) < a.window:
                s = socks[idx]
                idx += 1
                try:
                    s.sendall(req)
                except OSError:
                    bad += 1
                    continue
                inflight[s.fileno()] = s
                bufs[s.fileno()] = b""
                ep.register(s.fileno(), select.EPOLLIN)
            for fd, ev in ep.poll(0.05):
                s = inflight[fd]
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                done = False
                if not d:
                    bad += 1
                    done = True
                else:
                    bufs[fd] += d
                    head, sep, rest = bufs[fd].partition(b"\r\n\r\n")
                    if sep:
                        m = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                        n = int(m[0].split(b":")[1]) if m else 0
                        if len(rest) >= n:
                            done = True
                            if head.split()[1] == b"200":
                                ok += 1
                            else:
                                bad += 1
                if done:
                    ep.unregister(fd)
                    del inflight[fd]
                    del bufs[fd]
        out["responses_200"], out["request_errors"], out["request_s"] = ok, bad + len(inflight), round(time.monotonic() - t0, 3)
        time.sleep(a.settle)
        out["rss2_kb"], out["fds2"] = proc_rss_kb(a.pid), proc_fds(a.pid)
        out["open_after_requests"] = sum(1 for s in socks if _alive(s))

    for s in socks:
        s.close()
    wait_fds(a.pid, out["fds0"] + 70, lambda x, y: x <= y, 10)
    time.sleep(a.settle)
    out["rss3_kb"], out["fds3"] = proc_rss_kb(a.pid), proc_fds(a.pid)
    print(json.dumps(out), flush=True)
    return 0


def _alive(s):
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


# ---- sync: a fresh agent's initial list of many pods ----

def ctl_call(path, cmd, timeout=5.0):
    """One request on the agent's control socket, as the CLI sends it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            data += d
    finally:
        s.close()
    return json.loads(data)


def proc_field_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])  # utime + stime, every thread of the process


class PoolSets:
    """The pools' ready sets in the pinned maps (include/inferlb.h), by pool name."""

    def __init__(self, pin_dir, names):
        self.k = Kernel(pin_dir, None)
        self.names = names
        self.ids = {}

    def counts(self):
        """{name: ready backends in the active generation}, for the pools found so far."""
        if len(self.ids) < len(self.names):
            for pid in range(1, Kernel.MAX_POOLS):
                v = self.k.pools.get_u32(pid)
                if v:
                    n = v[16:112].split(b"\0")[0].decode(errors="replace")
                    if n in self.names:
                        self.ids[n] = pid
        out = {}
        for n, pid in self.ids.items():
            v = self.k.pools.get_u32(pid)
            if v:
                gen, _, c0, c1 = struct.unpack_from("=IIII", v, 0)
                out[n] = c1 if gen & 1 else c0
        return out

    def verify(self, expect):
        """The whole of each ready set, read back: problems found (empty when all is well)."""
        problems, seen_ids, seen_addrs = [], set(), set()
        for n in self.names:
            pid = self.ids.get(n)
            if pid is None:
                problems.append(f"{n}: no pool")
                continue
            self.k.pool_id = pid
            ids = self.k.ready_ids()
            if len(ids) != expect:
                problems.append(f"{n}: {len(ids)} ready ids, not {expect}")
            for bid in ids:
                b = self.k.backends.get_u32(bid)
                if bid in seen_ids:
                    problems.append(f"{n}: backend {bid} twice")
                seen_ids.add(bid)
                if not b or b[1] != 1 or struct.unpack_from("=I", b, 40)[0] != pid:
                    problems.append(f"{n}: backend {bid} not ready in this pool")
                    continue
                seen_addrs.add(bytes(b[0:1] + b[4:20]))
        in_use = 0
        for bid in range(1, self.k.backends.max_entries):
            b = self.k.backends.get_u32(bid)
            if b and b[1] != 0:
                in_use += 1
        return problems[:10], len(seen_ids), len(seen_addrs), in_use


def cmd_sync(a):
    names = [f"{a.namespace}/{a.pool_prefix}{k}" for k in range(1, a.pools + 1)]
    out = {"pools": a.pools, "expect_per_pool": a.expect, "socket_s": None, "synced_s": None, "kernel_s": None}
    sets = None
    next_status = 0.0
    last_counts = {}
    while True:
        now = time.time()
        if now - a.t0 > a.timeout:
            out["error"] = f"not synced after {a.timeout} s; kernel sets {last_counts}"
            break
        if not os.path.exists(f"/proc/{a.pid}"):
            out["error"] = "the agent exited"
            break
        if out["synced_s"] is None and now >= next_status:
            next_status = now + a.status_every
            try:
                st = ctl_call(a.socket, "status")
                t = time.time()
                if out["socket_s"] is None:
                    out["socket_s"] = round(t - a.t0, 4)
                srcs = st.get("sources") or []
                if srcs and all(src.get("synced") for src in srcs):
                    out["synced_s"] = round(t - a.t0, 4)
                    out["rss_synced_kb"] = proc_field_kb(a.pid, "VmRSS")
            except (OSError, ValueError):
                pass
        if out["kernel_s"] is None:
            if sets is None and all(os.path.exists(f"{a.pin_dir}/{m}") for m in ("pools", "pool_backends", "backends")):
                try:
                    sets = PoolSets(a.pin_dir, names)
                except (OSError, SystemExit):
                    sets = None
            if sets is not None:
                last_counts = sets.counts()
                if len(last_counts) == len(names) and all(c == a.expect for c in last_counts.values()):
                    out["kernel_s"] = round(time.time() - a.t0, 4)
        if out["synced_s"] is not None and out["kernel_s"] is not None:
            break
        time.sleep(a.poll)
    if "error" in out:
        print(json.dumps(out), flush=True)
        return 1
    out["sync_s"] = max(out["synced_s"], out["kernel_s"])
    out["rss_sync_kb"] = proc_field_kb(a.pid, "VmRSS")
    problems, ids, addrs, in_use = sets.verify(a.expect)
    out.update(kernel_ready=ids, kernel_distinct_addrs=addrs, kernel_backends_in_use=in_use, problems=problems)
    st = ctl_call(a.socket, "status")
    src = (st.get("sources") or [{}])[0]
    out["source_objects"] = {k.get("name"): k.get("objects") for k in src.get("kinds", []) if k.get("objects")}
    c0, w0 = proc_ticks(a.pid), time.time()
    time.sleep(a.settle)
    c1, w1 = proc_ticks(a.pid), time.time()
    out["rss_settled_kb"] = proc_field_kb(a.pid, "VmRSS")
    out["hwm_kb"] = proc_field_kb(a.pid, "VmHWM")
    out["settle_s"] = a.settle
    out["cpu_settle_pct"] = round((c1 - c0) / os.sysconf("SC_CLK_TCK") / (w1 - w0) * 100, 1)
    try:
        bs = ctl_call(a.socket, "backends").get("backends", [])
        ages = [b.get("metrics_age_ms", -1) for b in bs]
        out["agent_backends"] = len(bs)
        out["scraped_once"] = sum(1 for x in ages if x >= 0)
        out["scraped_fresh"] = sum(1 for x in ages if 0 <= x < a.fresh_ms)
    except (OSError, ValueError) as e:
        out["backends_error"] = str(e)
    print(json.dumps(out), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ready")
    r.add_argument("--mode", choices=["manifests", "kube"], required=True)
    r.add_argument("--file", help="manifests: the pod's manifest file")
    r.add_argument("--admin", help="kube: fake-apiserver's admin URL")
    r.add_argument("--api", help="kube: https://HOST:PORT of the API")
    r.add_argument("--token", help="kube: file with the bearer token")
    r.add_argument("--ca", help="kube: CA certificate file")
    r.add_argument("--pin-dir", required=True)
    r.add_argument("--pool", required=True, help="namespace/name")
    r.add_argument("--pod", required=True)
    r.add_argument("--pod-ip", required=True)
    r.add_argument("--app", required=True)
    r.add_argument("--client-netns", help="make probe sockets in this network namespace")
    r.add_argument("--vip", required=True)
    r.add_argument("--vip-port", type=int, default=80)
    r.add_argument("--gw", required=True)
    r.add_argument("--gw-port", type=int, default=8888)
    r.add_argument("--host", required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--samples", type=int, default=50)
    r.add_argument("--timeout", type=float, default=3.0, help="seconds per sample")
    r.add_argument("--gap-ms", type=float, default=30)
    r.add_argument("--cold-neigh", metavar="DEV", help="delete the pod's neighbour entry on DEV before each Ready")
    c = sub.add_parser("conns")
    c.add_argument("--addr", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--n", type=int, default=10000)
    c.add_argument("--pid", type=int, required=True)
    c.add_argument("--host-header", required=True)
    c.add_argument("--model", required=True)
    c.add_argument("--window", type=int, default=256)
    c.add_argument("--settle", type=float, default=1.0)
    c.add_argument("--no-requests", dest="requests", action="store_false")
    y = sub.add_parser("sync")
    y.add_argument("--t0", type=float, required=True, help="when the agent was started, epoch seconds")
    y.add_argument("--pid", type=int, required=True, help="the agent")
    y.add_argument("--socket", required=True, help="the agent's control socket")
    y.add_argument("--pin-dir", required=True)
    y.add_argument("--namespace", default="default")
    y.add_argument("--pool-prefix", required=True, help="pools PREFIX1 .. PREFIXn")
    y.add_argument("--pools", type=int, required=True)
    y.add_argument("--expect", type=int, required=True, help="ready backends per pool")
    y.add_argument("--timeout", type=float, default=120.0, help="seconds from --t0")
    y.add_argument("--poll", type=float, default=0.002, help="seconds between looks at the maps")
    y.add_argument("--status-every", type=float, default=0.01, help="seconds between status requests")
    y.add_argument("--settle", type=float, default=3.0, help="seconds after sync before the second VmRSS")
    y.add_argument("--fresh-ms", type=float, default=1000.0, help="a scrape younger than this counts as fresh")
    a = p.parse_args()
    return {"ready": cmd_ready, "conns": cmd_conns, "sync": cmd_sync}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
