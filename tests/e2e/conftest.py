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


# The longest files first.  `make test-e2e` gives whole files to its two
# workers (--dist loadfile) in collection order, alphabetical by default, so
# a long file collected late ran alone at the end while the other worker sat
# idle; longest first, the short ones fill in the end.  The figures are
# seconds per file measured under `make test-e2e` on the shared machine (only
# their order matters); a file not listed runs after these, a file renamed
# only loses its place.
SLOW_FILES = {
    "test_intake.py": 384, "test_console_campaigns.py": 243, "test_loop.py": 209,
    "test_backup.py": 153, "test_privacy.py": 147, "test_mailer.py": 141,
    "test_survey.py": 117, "test_import.py": 108, "test_console_users.py": 105,
    "test_console_browser.py": 98, "test_templates.py": 96, "test_campaigns.py": 85,
    "test_console.py": 81, "test_inbox.py": 80, "test_relationship.py": 75,
    "test_scaling.py": 70, "test_gateway.py": 69, "test_journal.py": 68,
    "test_journal_jetstream.py": 67, "test_survey_pages.py": 62, "test_docs.py": 62,
    "test_customers.py": 59, "test_soak.py": 58, "test_crash.py": 57,
    "test_staff_mail.py": 56, "test_chain.py": 42,
}


def pytest_collection_modifyitems(config, items):
    # a stable sort: each file's tests keep their order (some build on
    # the one before)
    items.sort(key=lambda item: -SLOW_FILES.get(item.path.name, 0))
