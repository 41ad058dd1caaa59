"""Load on the student flow: Student Voice against a bare baseline, in the same run.

Students fetch the survey link, press Start (typing a ballot code in code mode), answer
the shipped three-page pulse and submit, exactly as a browser does: every page's CSRF
token and signed form state is read from the HTML and posted back. Both servers run
under gunicorn with the same number of workers on a fresh database of the same kind;
the baseline (``bench/baseline_app.py``) answers the same addresses and writes the
same rows with plain SQLAlchemy and nothing else.

    python bench/load.py submissions --db sqlite --clients 50 100 200
    python bench/load.py submissions --db postgres --clients 50 --codes
    python bench/load.py nothing-lost --db postgres --clients 200 --total 5000

Every request goes to 127.0.0.1; every run is bounded by ``--duration`` or
``--total`` and a deadline. PostgreSQL runs use their own database (``voice_bench``, or ``$BENCH_PG_DB``),
dropped and re-created each run, never the test database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import itertools
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECRET = "bench-secret-" + secrets.token_hex(8)
PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_BENCH_DB = os.environ.get("BENCH_PG_DB", "voice_bench")
#: Shared rate-limit storage for the app's workers (``voice serve`` refuses
#: per-process ``memory://`` with several workers); emptied before every app run.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
#: gunicorn workers for both servers: `voice serve`'s default on this machine.
WORKERS = max(2, (os.cpu_count() or 1) * 2 + 1)
#: Survey links (one per group): a school answers through many links at once.
LINKS = 64

#: The answers a student posts on each page of the shipped pulse.
PULSE_PAGES = (
    {
        "q-pulse_group_belong": "4",
        "q-pulse_school_belong": "2",
        "q-pulse_be_myself": "5",
    },
    {
        "q-pulse_adult_to_go_to": "3",
        "q-pulse_adults_understand": "1",
        "q-pulse_feel_safe": "4",
        "q-pulse_identity_respected": "5",
        "q-pulse_treated_unfairly": "2",
    },
    {
        "q-pulse_group_heard": "4",
        "q-pulse_better_since_last": "3",
        "q-pulse_open_next_step": "More clubs after school",
        "q-pulse_open_anything_else": "",
    },
)
#: Rows one complete pulse response writes.
ANSWERS_PER_RESPONSE = 10
COMMENTS_PER_RESPONSE = 1

_HIDDEN = re.compile(r'name="(csrf_token|state)"[^>]*?value="([^"]*)"')


# --- the database -------------------------------------------------------------------


def database_url(kind: str, tmp: Path) -> str:
    """Return a fresh, empty database of ``kind`` (its schema not yet created)."""
    if kind == "sqlite":
        path = tmp / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(
            f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)"
        )
        connection.exec_driver_sql(f"CREATE DATABASE {PG_BENCH_DB}")
    admin.dispose()
    return str(sa.make_url(PG_ADMIN_URL).set(database=PG_BENCH_DB)).replace(
        "+psycopg", ""
    )


def server_env(url: str) -> dict[str, str]:
    """Return the environment both servers and the seeding run with."""
    return {
        **os.environ,
        "VOICE_DATABASE_URL": url,
        "VOICE_SECRET_KEY": SECRET,
        "VOICE_WORKERS": str(WORKERS),
        "VOICE_RATELIMIT_STORAGE_URL": REDIS_URL,
        "VOICE_INSTANCE_PATH": str(Path(url.split("///")[-1]).parent)
        if url.startswith("sqlite")
        else "/tmp/voice-bench-instance",
    }


def prepare(kind: str, tmp: Path, codes_per_link: int) -> tuple[str, list[list[str]]]:
    """Create the schema and an open pulse on ``LINKS`` links, with codes if asked.

    :return: the database URL, and per link ``[token, code, code, ...]``
    """
    url = database_url(kind, tmp)
    env = server_env(url)
    subprocess.run([str(BIN / "voice"), "init"], env=env, check=True, cwd=ROOT)
    os.environ.update({k: env[k] for k in ("VOICE_DATABASE_URL", "VOICE_SECRET_KEY")})
    os.environ["VOICE_INSTANCE_PATH"] = env["VOICE_INSTANCE_PATH"]
    from voice import create_app
    from voice.ballots import generate_code, hash_code
    from voice.extensions import db
    from voice.instruments import instrument_to_snapshot, load_instrument
    from voice.models import (
        AccessMode,
        AffinityGroup,
        BallotCode,
        School,
        Survey,
        SurveyAudience,
        SurveyStatus,
    )

    app = create_app()
    snapshot = instrument_to_snapshot(
        load_instrument(ROOT / "surveys" / "affinity-pulse.v1.yaml")
    )
    links: list[list[str]] = []
    with app.app_context():
        now = datetime.now(UTC)
        school = School(name="Bench High", slug="bench-high", district="Bench")
        survey = Survey(
            school=school,
            slug="bench-wave",
            title="Bench pulse",
            instrument_key=snapshot["slug"],
            instrument_version=snapshot["version"],
            instrument_snapshot=snapshot,
            wave_label="Bench",
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=1),
            status=SurveyStatus.open,
            access_mode=AccessMode.codes if codes_per_link else AccessMode.link,
        )
        db.session.add_all([school, survey])
        for n in range(LINKS):
            group = AffinityGroup(school=school, name=f"Group {n}", slug=f"group-{n}")
            audience = SurveyAudience(
                survey=survey, group=group, token=secrets.token_urlsafe(24)
            )
            db.session.add_all([group, audience])
            db.session.flush()
            codes = [generate_code() for _ in range(codes_per_link)]
            db.session.add_all(
                BallotCode(
                    survey_id=survey.id,
                    audience_id=audience.id,
                    code_hash=hash_code(SECRET, survey.id, code),
                )
                for code in codes
            )
            links.append([audience.token, *codes])
        db.session.commit()
        db.engine.dispose()
    return url, links


def stored(url: str) -> dict[str, int]:
    """Count responses, and responses missing any answer or comment row."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        responses = connection.exec_driver_sql("SELECT count(*) FROM response").scalar()
        incomplete = connection.exec_driver_sql(
            "SELECT count(*) FROM response r WHERE"
            f" (SELECT count(*) FROM answer a WHERE a.response_id = r.id)"
            f" <> {ANSWERS_PER_RESPONSE} OR"
            " (SELECT count(*) FROM comment c WHERE c.response_id = r.id)"
            f" <> {COMMENTS_PER_RESPONSE}"
        ).scalar()
    engine.dispose()
    return {"responses": int(responses or 0), "incomplete": int(incomplete or 0)}


# --- the servers --------------------------------------------------------------------


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


@dataclass
class Server:
    """A gunicorn master in its own process group."""

    target: str
    url: str
    process: subprocess.Popen[bytes]

    def worker_memory_mib(self) -> list[tuple[float, float]]:
        """Return each worker's resident and private (unshared) memory in MiB.

        Resident memory counts pages a worker shares with the gunicorn master
        (``preload_app``); private memory is what each extra worker costs.
        """
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        sizes = []
        for pid in children.read_text().split():
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            kib = {
                name: int(value)
                for name, value in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M)
            }
            private = kib["Private_Clean"] + kib["Private_Dirty"]
            sizes.append((kib["Rss"] / 1024, private / 1024))
        return sizes

    def stop(self) -> None:
        """Stop the master and its workers."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_server(target: str, url: str, log: Path) -> Server:
    """Start Student Voice (``voice serve``) or the baseline under gunicorn.

    :param log: file for the server's own output (gunicorn and errors)
    """
    port = free_port()
    if target == "app":
        import redis

        redis.from_url(REDIS_URL).flushdb()
        command = [str(BIN / "voice"), "serve", "--port", str(port)]
    else:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--chdir",
            str(ROOT / "bench"),
            "baseline_app:create_app()",
        ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_env(url),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(target, f"http://127.0.0.1:{port}", process)
    # Every worker must have booted (imports done) before the clock starts: wait for
    # a run of quick answers, which only a fully booted pool gives.
    deadline = time.monotonic() + 300
    quick = 0
    while time.monotonic() < deadline and quick < 3 * WORKERS:
        began = time.monotonic()
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=5):
                quick = quick + 1 if time.monotonic() - began < 0.25 else 0
        except OSError:
            quick = 0
            time.sleep(0.5)
    if quick < 3 * WORKERS:
        server.stop()
        raise RuntimeError(f"{target} did not start")
    return server


# --- the students -------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw."""

    journeys: list[float] = field(default_factory=list)
    submits: list[float] = field(default_factory=list)
    acknowledged: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        """Count one failed journey by its kind."""
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def add(self, other: Tally) -> None:
        """Take in what another tally saw."""
        self.journeys += other.journeys
        self.submits += other.submits
        self.acknowledged += other.acknowledged
        for kind, number in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + number


def hidden_fields(page: str) -> dict[str, str]:
    """Return the CSRF token and form state of a page."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


async def journey(
    session: aiohttp.ClientSession, base: str, link: list[str], tally: Tally
) -> bool:
    """Play one student from opening the link to the success redirect."""
    token = link[0]
    code = link.pop() if len(link) > 1 else None
    began = time.perf_counter()
    query = {"lang": "en"}
    async with session.get(f"{base}/s/{token}", params=query) as reply:
        if reply.status != 200:
            tally.error(f"open {reply.status}")
            return False
        fields = hidden_fields(await reply.text())
    start = {"csrf_token": fields.get("csrf_token", "")}
    if code:
        start["code"] = code
    async with session.post(
        f"{base}/s/{token}/start", params=query, data=start
    ) as reply:
        if reply.status != 200:
            tally.error(f"start {reply.status}")
            return False
        fields = hidden_fields(await reply.text())
    for number, answers in enumerate(PULSE_PAGES, start=1):
        last = number == len(PULSE_PAGES)
        data = {**fields, "action": "submit" if last else "next", **answers}
        sent = time.perf_counter()
        async with session.post(
            f"{base}/s/{token}/answers",
            params=query,
            data=data,
            allow_redirects=False,
        ) as reply:
            body = await reply.text()
            if last:
                if reply.status != 303 or "/thanks" not in reply.headers.get(
                    "Location", ""
                ):
                    tally.error(f"submit {reply.status}")
                    return False
                tally.submits.append(time.perf_counter() - sent)
            elif reply.status != 200:
                tally.error(f"page {reply.status}")
                return False
            fields = hidden_fields(body)
    tally.journeys.append(time.perf_counter() - began)
    tally.acknowledged += 1
    return True


async def drive(
    base: str,
    links: list[list[str]],
    clients: int,
    *,
    duration: float | None = None,
    total: int | None = None,
    warmup: float = 5.0,
) -> tuple[Tally, float]:
    """Run ``clients`` students in parallel until ``duration`` or ``total`` is reached.

    A journey counts where it ends: inside the measured window (after ``warmup``,
    before ``duration`` runs out) or not. Failures count wherever they happen.

    :return: the tally of journeys finished in the measured window (with every
        failure of the run), and the window's length
    """
    warm = Tally()
    measured = Tally()
    turn = itertools.cycle(range(len(links)))
    started = time.perf_counter()
    measure_from = started + (warmup if duration else 0.0)
    stop_at = started + warmup + duration if duration else started + 3600
    remaining = [total] if total else None

    async def student() -> None:
        timeout = aiohttp.ClientTimeout(total=120)
        connector = aiohttp.TCPConnector(limit=1, force_close=True)
        async with aiohttp.ClientSession(
            timeout=timeout,
            connector=connector,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        ) as session:
            while time.perf_counter() < stop_at:
                if remaining is not None:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                session.cookie_jar.clear()
                one = Tally()
                try:
                    ok = await journey(session, base, links[next(turn)], one)
                except (aiohttp.ClientError, TimeoutError) as error:
                    one.error(type(error).__name__)
                    ok = False
                ended = time.perf_counter()
                (measured if measure_from <= ended <= stop_at else warm).add(one)
                if remaining is not None and not ok:
                    remaining[0] += 1  # a failed journey is retried by a student

    await asyncio.gather(*(student() for _ in range(clients)))
    for kind, number in warm.errors.items():
        measured.errors[kind] = measured.errors.get(kind, 0) + number
    elapsed = duration or time.perf_counter() - started
    return measured, elapsed


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile of ``values`` in milliseconds (0 when empty)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0] * 1000
    return (
        statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]
        * 1000
    )


# --- the commands -------------------------------------------------------------------


def run_submissions(args: argparse.Namespace) -> None:
    """Measure throughput and latency of app and baseline at each concurrency."""
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    print(header(args))
    print(
        "| db | mode | clients | server | journeys/s | journey p50 ms | journey p99 ms"
        " | submit p50 ms | submit p99 ms | errors | stored (complete)"
        " | worker RSS / private MiB | load avg |"
    )
    print("|" + "---|" * 13)
    codes = args.codes_per_link if args.codes else 0
    targets = [t for t in args.targets if not (args.codes and t == "baseline")]
    for clients in args.clients:
        pooled: dict[str, tuple[Tally, float]] = {}
        for turn in range(args.rounds):
            # Alternate the order, so a change in the machine's load during the
            # run weighs on both servers alike.
            for target in targets if turn % 2 == 0 else targets[::-1]:
                tally, elapsed = run_one(args, tmp, codes, clients, target)
                seen, time_so_far = pooled.get(target, (Tally(), 0.0))
                seen.add(tally)
                pooled[target] = (seen, time_so_far + elapsed)
        if "app" in pooled and "baseline" in pooled:
            app, base = pooled["app"], pooled["baseline"]
            ratio = (len(app[0].journeys) / app[1]) / (len(base[0].journeys) / base[1])
            p99 = percentile(app[0].journeys, 0.99) / percentile(base[0].journeys, 0.99)
            rounds = f" ({args.rounds} rounds pooled)" if args.rounds > 1 else ""
            print(
                f"|  |  | {clients} | **app/baseline**{rounds} | **{ratio:.0%}** |"
                f"  | **{p99:.2f}x** |  |  |  |  |  |  |",
                flush=True,
            )


def run_one(
    args: argparse.Namespace, tmp: Path, codes: int, clients: int, target: str
) -> tuple[Tally, float]:
    """Run one server on a fresh database for ``--duration``; print its row."""
    url, links = prepare(args.db, tmp, codes)
    server = start_server(target, url, tmp / f"{target}.log")
    try:
        tally, elapsed = asyncio.run(
            drive(server.url, links, clients, duration=args.duration)
        )
        memory = server.worker_memory_mib()
        load = os.getloadavg()[0]
    finally:
        server.stop()
    counts = stored(url)
    rate = len(tally.journeys) / elapsed
    errors = sum(tally.errors.values())
    print(
        f"| {args.db} | {'codes' if args.codes else 'link'} | {clients}"
        f" | {target} | {rate:.1f} | {percentile(tally.journeys, 0.5):.0f}"
        f" | {percentile(tally.journeys, 0.99):.0f}"
        f" | {percentile(tally.submits, 0.5):.0f}"
        f" | {percentile(tally.submits, 0.99):.0f}"
        f" | {errors}{' ' + str(tally.errors) if errors else ''}"
        f" | {counts['responses']} ({counts['responses'] - counts['incomplete']}"
        f" complete)"
        f" | {statistics.median(m[0] for m in memory):.0f}"
        f" / {statistics.median(m[1] for m in memory):.0f}"
        f" | {load:.1f} |",
        flush=True,
    )
    return tally, elapsed


def run_nothing_lost(args: argparse.Namespace) -> None:
    """Submit exactly ``--total`` responses with ``--clients`` students; count them."""
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    print(header(args))
    url, links = prepare(args.db, tmp, 0)
    server = start_server("app", url, tmp / "app.log")
    began = time.perf_counter()
    try:
        tally, _ = asyncio.run(
            drive(server.url, links, args.clients, total=args.total, warmup=0)
        )
    finally:
        server.stop()
    elapsed = time.perf_counter() - began
    counts = stored(url)
    ok = (
        tally.acknowledged == args.total
        and counts["responses"] == args.total
        and counts["incomplete"] == 0
    )
    print(
        f"| {args.db} | {args.clients} | {tally.acknowledged} acknowledged"
        f" | {counts['responses']} stored | {counts['incomplete']} incomplete"
        f" | {sum(tally.errors.values())} failed attempts {tally.errors or ''}"
        f" | {elapsed:.0f} s | {'PASS' if ok else 'FAIL'} |"
    )
    if not ok:
        sys.exit(1)


def run_pages(args: argparse.Namespace) -> None:
    """Time page renders against a stored release of ``--responses`` responses.

    The release is built by ``bench/report_bench.py``'s set-up (a closed wave, ten
    groups, the real ``results.build_release``), in its own process; the pages are
    rendered in this one with Flask's test client, signed in as the right role.
    """
    import multiprocessing
    import tempfile

    from report_bench import setup

    folder = tempfile.mkdtemp(prefix="pages-bench-")
    database = str(Path(folder) / "bench.sqlite3")
    os.environ["VOICE_INSTANCE_PATH"] = folder
    os.environ["VOICE_DATABASE_URL"] = f"sqlite:///{database}"
    builder = multiprocessing.get_context("spawn").Process(
        target=setup, args=(database, args.responses)
    )
    builder.start()
    builder.join()
    if builder.exitcode != 0:
        raise SystemExit("setup failed")
    print(header(args))
    from voice import create_app
    from voice.accounts import hash_password
    from voice.extensions import db
    from voice.models import (
        AffinityGroup,
        GroupMembership,
        Role,
        School,
        StaffUser,
        Survey,
        SurveyAudience,
        SurveyStatus,
    )

    app = create_app(overrides={"RATELIMIT_ENABLED": False})
    with app.app_context():
        school = db.session.scalar(sa.select(School))
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == "fall-2026"))
        group = db.session.scalar(
            sa.select(AffinityGroup).where(AffinityGroup.slug == "lsa")
        )
        password = hash_password("bench-password-2026")
        people = {}
        for role in (Role.facilitator, Role.leader):
            user = StaffUser(
                school=school,
                email=f"{role.value}@bench.example",
                name=role.value,
                role=role,
                password_hash=password,
            )
            if role is Role.facilitator:
                user.memberships = [GroupMembership(group=group)]
            db.session.add(user)
            people[role] = user.email
        # The student page needs an open wave; its render does not depend on counts.
        now = datetime.now(UTC)
        pulse = Survey(
            school=school,
            slug="open-pulse",
            title=survey.title,
            instrument_key=survey.instrument_key,
            instrument_version=survey.instrument_version,
            instrument_snapshot=survey.instrument_snapshot,
            wave_label="Now",
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=1),
            status=SurveyStatus.open,
        )
        token = secrets.token_urlsafe(24)
        db.session.add(SurveyAudience(survey=pulse, group=group, token=token))
        survey_id, group_id = survey.id, group.id
        db.session.commit()

    def signed_in(email: str):
        client = app.test_client()
        page = client.get("/staff/login").get_data(as_text=True)
        token = hidden_fields(page)["csrf_token"]
        reply = client.post(
            "/staff/login",
            data={
                "csrf_token": token,
                "email": email,
                "password": "bench-password-2026",
            },
        )
        assert reply.status_code == 302, reply.status_code
        return client

    student = app.test_client()
    pages = (
        ("student: survey link", student, f"/s/{token}?lang=en"),
        ("student: survey link (es)", student, f"/s/{token}?lang=es"),
        (
            "group workspace",
            signed_in(people[Role.facilitator]),
            f"/review/surveys/{survey_id}/groups/{group_id}",
        ),
        (
            "school overview",
            signed_in(people[Role.leader]),
            f"/review/surveys/{survey_id}",
        ),
    )
    print(f"| page | status | cold ms | median ms ({args.runs} warm) | max ms | KB |")
    print("|---|---|---|---|---|---|")
    for name, client, path in pages:
        timings = []
        for _ in range(args.runs + 1):
            with app.app_context():
                began = time.perf_counter()
                reply = client.get(path)
                body = reply.get_data()
                timings.append((time.perf_counter() - began) * 1000)
        print(
            f"| {name} | {reply.status_code} | {timings[0]:.0f}"
            f" | {statistics.median(timings[1:]):.0f} | {max(timings[1:]):.0f}"
            f" | {len(body) / 1024:.0f} |",
            flush=True,
        )


def header(args: argparse.Namespace) -> str:
    """Describe the machine and the command, for the results file."""
    return (
        f"<!-- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()},"
        f" {os.cpu_count()} cores, Python {platform.python_version()},"
        f" {WORKERS} gunicorn workers, {LINKS} links;"
        f" python bench/load.py {' '.join(sys.argv[1:])} -->"
    )


def main() -> None:
    """Parse the command line and run one benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    submissions = commands.add_parser("submissions", help="app vs baseline")
    submissions.add_argument("--clients", type=int, nargs="+", default=[50, 100, 200])
    submissions.add_argument("--duration", type=float, default=20.0)
    submissions.add_argument(
        "--targets", nargs="+", default=["app", "baseline"], choices=["app", "baseline"]
    )
    submissions.add_argument(
        "--rounds", type=int, default=1, help="alternate app and baseline N times"
    )
    submissions.add_argument("--codes", action="store_true", help="ballot codes")
    submissions.add_argument("--codes-per-link", type=int, default=200)
    submissions.set_defaults(run=run_submissions)
    lost = commands.add_parser("nothing-lost", help="N responses in, N stored")
    lost.add_argument("--clients", type=int, default=200)
    lost.add_argument("--total", type=int, default=5000)
    lost.set_defaults(run=run_nothing_lost)
    pages = commands.add_parser("pages", help="render times from a stored release")
    pages.add_argument("--responses", type=int, default=50_000)
    pages.add_argument("--runs", type=int, default=20)
    pages.set_defaults(run=run_pages, db="sqlite")
    for command in (submissions, lost):
        command.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
        command.add_argument("--tmp", default="/tmp/voice-bench")
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    args.run(args)


if __name__ == "__main__":
    main()
