"""``voice serve`` never runs several workers on per-process rate-limit storage.

The double-submit nonce lives in the rate-limit storage; with ``memory://`` each
gunicorn worker has its own, so a double click reaching two workers would store one
student's answers twice (issue 7).
"""

from __future__ import annotations

import os

import pytest

from config import TestingConfig
from tests.web.fault_helpers import free_port
from voice import create_app
from voice.cli import SINGLE_WORKER_THREADS, ServeRefused, plan_workers


@pytest.mark.parametrize(
    ("requested", "configured", "asked", "storage", "planned"),
    [
        (None, 5, False, "memory://", (1, SINGLE_WORKER_THREADS)),
        (1, 5, True, "memory://", (1, 1)),
        (None, 1, True, "memory://", (1, 1)),
        (None, 5, True, "redis://127.0.0.1:6379", (5, 1)),
        (3, 5, True, "redis://127.0.0.1:6379", (3, 1)),
        (None, 5, False, "redis://127.0.0.1:6379", (5, 1)),
    ],
)
def test_workers_planned_for_the_storage(
    requested, configured, asked, storage, planned
):
    assert (
        plan_workers(requested, configured, asked=asked, storage_uri=storage) == planned
    )


@pytest.mark.parametrize(("requested", "configured"), [(3, 5), (None, 4)])
def test_several_workers_asked_for_on_memory_storage_are_refused(requested, configured):
    with pytest.raises(ServeRefused, match="VOICE_RATELIMIT_STORAGE_URL=redis://"):
        plan_workers(requested, configured, asked=True, storage_uri="memory://")


@pytest.fixture
def no_exec(monkeypatch):
    """Fail the test instead of replacing the test process with gunicorn."""

    def refuse(*args):
        raise AssertionError(f"gunicorn was started: {args}")

    monkeypatch.setattr(os, "execv", refuse)


def _serve(tmp_path, monkeypatch, *args, **overrides):
    monkeypatch.setenv("VOICE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("VOICE_WORKERS", raising=False)
    app = create_app(TestingConfig, overrides)
    return app.test_cli_runner().invoke(args=["serve", *args])


def test_serve_refuses_several_workers_on_memory_storage_in_one_line(
    tmp_path, monkeypatch, no_exec
):
    result = _serve(tmp_path, monkeypatch, "--workers", "3")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("voice: 3 workers need shared rate-limit storage")
    assert "VOICE_RATELIMIT_STORAGE_URL=redis://" in lines[0]


def test_serve_refuses_a_rate_limit_storage_that_does_not_answer(
    tmp_path, monkeypatch, no_exec
):
    port = free_port()  # nothing listens there
    result = _serve(
        tmp_path,
        monkeypatch,
        "--workers",
        "3",
        RATELIMIT_STORAGE_URI=f"redis://user:secret@127.0.0.1:{port}",
    )
    assert result.exit_code == 2
    assert f"127.0.0.1:{port} does not answer" in result.output
    assert "secret" not in result.output
