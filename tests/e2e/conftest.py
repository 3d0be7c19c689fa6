import pytest

from harness import Hark
from smtp import SmtpServer


@pytest.fixture
def hark(tmp_path):
    """A running journal + gateway; stopped (and checked for leaks) after."""
    h = Hark(tmp_path).start()
    yield h
    h.stop()


@pytest.fixture
def smtp(tmp_path):
    """A loopback SMTP server that keeps what it is sent; stopped after."""
    s = SmtpServer(tmp_path / "smtp")
    yield s
    s.stop()


@pytest.fixture
def make_hark(tmp_path):
    """Build an instance with other services or settings."""
    made = []

    def make(services=("journal", "gateway"), conf=None, start=True, sub=None):
        d = tmp_path / (sub or "h%d" % len(made))
        d.mkdir()
        h = Hark(d, services, conf)
        made.append(h)
        return h.start() if start else h
    yield make
    for h in made:
        if h.proc and h.proc.poll() is None:
            h.stop(check=False)
