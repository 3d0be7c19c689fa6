import pytest

from harness import Hark
from smtp import SmtpServer


@pytest.fixture
def engine():
    """The journal's engine; a module that runs against both overrides this
    with params=["sqlite", "jetstream"]."""
    return "sqlite"


@pytest.fixture
def journal_store(engine, tmp_path):
    """[journal] settings for the engine: for jetstream a nats-server of the
    test's own (one node), stopped after the instance."""
    if engine != "jetstream":
        yield {}
        return
    from natsrv import Cluster
    c = Cluster(tmp_path / "nats", 1).start()
    yield c.journal_conf()
    c.stop()


def _merged(conf, store):
    conf = {k: dict(v) for k, v in (conf or {}).items()}
    for sec, kv in store.items():
        conf.setdefault(sec, {}).update(kv)
    return conf


@pytest.fixture
def hark(tmp_path, journal_store):
    """A running journal + gateway; stopped (and checked for leaks) after."""
    h = Hark(tmp_path, conf=_merged(None, journal_store)).start()
    yield h
    h.stop()


@pytest.fixture
def smtp(tmp_path):
    """A loopback SMTP server that keeps what it is sent; stopped after."""
    s = SmtpServer(tmp_path / "smtp")
    yield s
    s.stop()


@pytest.fixture
def make_hark(tmp_path, journal_store):
    """Build an instance with other services or settings."""
    made = []

    def make(services=("journal", "gateway"), conf=None, start=True, sub=None):
        d = tmp_path / (sub or "h%d" % len(made))
        d.mkdir()
        h = Hark(d, services, _merged(conf, journal_store))
        made.append(h)
        return h.start() if start else h
    yield make
    for h in made:
        if h.proc and h.proc.poll() is None:
            h.stop(check=False)
