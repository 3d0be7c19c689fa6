"""nats-server for the journal's jetstream engine: one node or a cluster of
three on loopback, free ports, temp dirs; each server started and stopped
by the test that made it."""
import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request

from harness import free_port, wait_for

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Node:
    """One nats-server with JetStream, its store in dir."""

    def __init__(self, dir, name, port, cluster_port=None, routes=()):
        self.dir, self.name, self.port = dir, name, port
        self.http_port = free_port()
        self.cluster_port = cluster_port
        self.routes = list(routes)
        self.proc = None
        os.makedirs(dir, exist_ok=True)
        self.conf = os.path.join(dir, "nats.conf")
        lines = ['server_name: "%s"' % name, "listen: 127.0.0.1:%d" % port,
                 "http: 127.0.0.1:%d" % self.http_port,
                 'jetstream { store_dir: "%s" }' % os.path.join(dir, "js")]
        if cluster_port:
            lines.append('cluster {\n  name: "hark"\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}' % (
                cluster_port, ", ".join("nats-route://127.0.0.1:%d" % r for r in self.routes)))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log_path = os.path.join(dir, "nats.log")

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: _listening(self.port), 20, what="nats-server %s listening" % self.name)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None

    def stop(self):
        self.kill(signal.SIGTERM)

    def jsz(self):
        """the server's JetStream report (its monitoring port)"""
        url = "http://127.0.0.1:%d/jsz?accounts=true&streams=true" % self.http_port
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())

    def stream_state(self, stream="hark"):
        """(messages, last sequence) of stream as this server itself holds
        it (its own replica), None when it holds none"""
        for acc in self.jsz().get("account_details", []):
            for st in acc.get("stream_detail", []):
                if st.get("name") == stream:
                    s = st.get("state", {})
                    return s.get("messages", 0), s.get("last_seq", 0)
        return None

    def clients(self):
        """client connections on this server (its /connz): the journal's
        when it is connected here"""
        url = "http://127.0.0.1:%d/connz" % self.http_port
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read()).get("num_connections", 0)

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class Cluster:
    """n nodes (1: a single server, no cluster)."""

    def __init__(self, dir, n=1):
        ports = [free_port() for _ in range(n)]
        cports = [free_port() for _ in range(n)] if n > 1 else [None] * n
        self.nodes = [Node(os.path.join(str(dir), "n%d" % i), "n%d" % i, ports[i], cports[i],
                           [c for j, c in enumerate(cports) if j != i and c])
                      for i in range(n)]

    def start(self):
        try:
            for n in self.nodes:
                n.start()
            if len(self.nodes) > 1:
                wait_for(self.formed, 30, interval=0.2, what="the JetStream cluster formed")
        except BaseException:
            self.stop()
            raise
        return self

    def formed(self):
        """every node sees the meta leader, and the leader every peer current"""
        for n in self.nodes:
            try:
                meta = n.jsz().get("meta_cluster", {})
            except OSError:
                return False
            if not meta.get("leader") or meta.get("cluster_size") != len(self.nodes):
                return False
            peers = meta.get("replicas", [])
            if meta["leader"] == n.name and (len(peers) != len(self.nodes) - 1 or
                                             not all(p.get("current") for p in peers)):
                return False
        return True

    def stop(self):
        for n in self.nodes:
            n.stop()

    def running(self):
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def leader(self, stream="hark"):
        """the node that leads stream, or None while there is none"""
        for n in self.running():
            try:
                for acc in n.jsz().get("account_details", []):
                    for st in acc.get("stream_detail", []):
                        if st.get("name") == stream and st.get("cluster", {}).get("leader"):
                            name = st["cluster"]["leader"]
                            return next((m for m in self.running() if m.name == name), None)
            except OSError:
                continue
        return None

    def connected(self):
        """the running node a client (the journal) is connected to, or None"""
        for n in self.running():
            try:
                if n.clients() > 0:
                    return n
            except OSError:
                continue
        return None

    @property
    def urls(self):
        return " ".join(n.url for n in self.nodes)

    def journal_conf(self, stream="hark", **extra):
        """[journal] settings for a Hark instance on this cluster."""
        conf = {"engine": "jetstream", "nats_urls": self.urls, "stream": stream,
                "replicas": str(len(self.nodes))}
        if len(self.nodes) == 1:
            conf["allow_single_node"] = "yes"
        conf.update(extra)
        return {"journal": conf}
