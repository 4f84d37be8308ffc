"""Three app processes on one PostgreSQL database, each with its own scheduler, catching up 20
ended daily periods at start and sweeping every second: 20 close records, each tier bonus once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.db import Database
from app.ingest import ingest_events
from app.models import JobRun, LedgerEntry, PeriodClose, Program, TierBonus
from game.periods import local_midnight_utc
from tests.factories import make_world, sale

pytestmark = pytest.mark.postgres
TIERS = {"metric": "units", "tiers": [{"name": "Bronze", "threshold": 1, "bonus_points": 10}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_three_processes_with_schedulers_close_twenty_periods_once(postgres_db: Database) -> None:
    db = postgres_db
    zone = ZoneInfo("Asia/Jakarta")
    today = datetime.now(UTC).astimezone(zone).date()
    first = today - timedelta(days=20)
    make_world(db, partners=2, reps_per_partner=2, tiers=TIERS, cadence="day")
    with db.write() as s:
        program = s.execute(sa.select(Program)).scalar_one()
        program.starts_at = local_midnight_utc(first, zone)
        program.ends_at = local_midnight_utc(today + timedelta(days=30), zone)
        s.add(program)
    # One sale per rep per day: every period pays each of the 4 reps one Bronze bonus.
    events = [
        sale(f"{d}-{rep}", partner="PT" + rep[1:4], rep=rep,
             occurred_at=f"{first + timedelta(days=d)}T12:00:00+07:00")
        for d in range(20) for rep in ("R00000", "R00001", "R00100", "R00101")
    ]  # fmt: skip
    assert ingest_events(db, program, "erp", events, datetime.now(UTC)).accepted == 80
    procs = []
    env = {**os.environ, "PYTHONPATH": "."}
    try:
        for _ in range(3):
            port = _free_port()
            procs.append((port, subprocess.Popen(
                [sys.executable, "-m", "tests.app.test_scheduler_processes", db.url, str(port)],
                env=env,
            )))  # fmt: skip
        deadline = time.monotonic() + 120
        finished = 0
        while time.monotonic() < deadline:
            with db.session() as s:
                finished = s.execute(
                    sa.select(sa.func.count()).select_from(PeriodClose)
                    .where(col(PeriodClose.state) == "finished")
                ).scalar_one()  # fmt: skip
            if finished >= 20:
                break
            time.sleep(0.5)
        for port, _proc in procs:  # every process is up and serving beside its scheduler
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        time.sleep(2)  # two more sweeps of each process: nothing more to close
    finally:
        for _port, proc in procs:
            proc.send_signal(signal.SIGTERM)
        for _port, proc in procs:
            proc.wait(timeout=30)
    with db.session() as s:
        keys = s.execute(sa.select(col(PeriodClose.period_key), col(PeriodClose.state))).all()
        assert sorted(keys) == [(str(first + timedelta(days=d)), "finished") for d in range(20)]
        assert s.execute(sa.select(sa.func.count()).select_from(TierBonus)).scalar_one() == 80
        bonus = s.execute(
            sa.select(sa.func.count())
            .select_from(LedgerEntry)
            .where(col(LedgerEntry.kind) == "bonus")
        ).scalar_one()
        assert bonus == 80
        hosts = set(
            s.execute(sa.select(col(JobRun.host)).where(col(JobRun.job) == "close")).scalars()
        )
    assert hosts, "the closes were made by the schedulers"


def _serve() -> None:
    import uvicorn

    from app import scheduler
    from app.web import create_app

    scheduler.SWEEP_SECONDS = 1
    url, port = sys.argv[1], int(sys.argv[2])
    app = create_app(db=Database(url), scheduler=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    _serve()
