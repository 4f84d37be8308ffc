"""The `podium` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from app.settings import get_settings

HOST, PORT = "127.0.0.1", 8000


def _database() -> Any:
    from app.db import Database

    return Database(get_settings().effective_database_url)


def cmd_migrate(args: argparse.Namespace) -> int:
    db = _database()
    db.migrate()
    print(f"Database is up to date: {_redacted(db.url)}")
    return 0


def _redacted(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


def _serve(app: Any, host: str, port: int) -> None:
    import uvicorn

    from app.server import SERVER_OPTIONS

    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, **SERVER_OPTIONS)


def cmd_serve(args: argparse.Namespace) -> int:
    from app.web import create_app

    db = _database()
    db.migrate()
    _serve(create_app(db=db, scheduler=not args.no_scheduler), args.host, args.port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import seed_demo, simulate_sales
    from app.models import utcnow
    from app.programs import current_program
    from app.web import create_app

    db = _database()
    db.migrate()
    print("Seeding the demo program (first run only)…", flush=True)
    info = seed_demo(db, utcnow())
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    url = f"http://{args.host}:{args.port}"
    print(f"\nPodium demo: {program.name} — open {url}\n")
    if info is not None:
        print("Demo logins (password for all: shown beside each):")
        for role, email, password in info.logins:
            print(f"  {role:<18} {email:<40} {password}")
        print(f"\nAPI key (shown once): {info.api_key}")
        print(
            f"  curl -H 'Authorization: Bearer {info.api_key}' {url}/api/v1/participants/<code>\n"
        )
    else:
        print(
            "The database already had a program; logins and the API key were printed on the first run."
        )
        print("Create another key with: podium apikey create NAME\n")

    async def simulator(state: Any, stop: asyncio.Event) -> None:
        if not args.no_simulator:
            await simulate_sales(state.db, program.code, stop, state.clock)

    _serve(create_app(db=db, background=[simulator], scheduler=True), args.host, args.port)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.imports import import_csv
    from app.models import utcnow

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} does not exist or is not a file", file=sys.stderr)
        return 2
    db = _database()
    db.migrate()
    with db.session() as s:
        program = _program(s, args.program)
    if program is None:
        return 2
    with path.open("rb") as fh:
        total_rows = max(0, sum(1 for _ in fh) - 1)
    try:
        with (
            path.open(encoding="utf-8-sig", newline="") as fh,
            tqdm(total=total_rows, unit="row", desc=path.name, file=sys.stderr) as bar,
        ):
            report = import_csv(
                db,
                program,
                fh,
                utcnow(),
                filename=path.name,
                source=args.source,
                progress=bar.update,
            )
    except UnicodeDecodeError:
        print("error: the file is not UTF-8 text; in Excel save as 'CSV UTF-8'", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{report.rows} rows: {report.accepted} imported, {report.duplicates} already there, "
        f"{report.rejected} rejected"
    )
    for e in report.errors:
        print(f"  line {e.line}: {e.error}")
    return 1 if report.errors else 0


def _program(session: Any, code: str | None) -> Any:
    """The program named by --program (or the newest), or None after saying what to do."""
    from app.programs import current_program

    program = current_program(session, code)
    if program is None:
        wanted = f"program '{code}' does not exist" if code else "there is no program yet"
        print(f"error: {wanted}; run `podium demo` first or pass --program CODE", file=sys.stderr)
    return program


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from app.apikeys import create_api_key

    db = _database()
    db.migrate()
    try:
        with db.write() as s:
            program = _program(s, args.program)
            if program is None:
                return 2
            secret = create_api_key(s, program, args.name, args.source)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"API key '{args.name}' for program {program.code} (shown once, keep it safe):\n{secret}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium",
        description="Podium: live leaderboards, points, tiers and badges for channel incentive programs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def server_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default=HOST, help=f"interface to listen on (default {HOST})")
        p.add_argument("--port", type=int, default=PORT, help=f"port (default {PORT})")

    demo = sub.add_parser(
        "demo",
        help="seed a demo program (if empty) and serve it with live sales",
        description="Create the demo program in data/podium.db if the database is "
        "empty, print the demo logins and an API key, start the server on "
        f"http://{HOST}:{PORT} and run a live sales simulator.",
    )
    server_args(demo)
    demo.add_argument("--no-simulator", action="store_true", help="serve without simulated sales")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="run the web server", description="Migrate, then serve.")
    server_args(serve)
    serve.add_argument(
        "--no-scheduler",
        action="store_true",
        help="web only: run no scheduled jobs here (another process closes the periods)",
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply Alembic migrations to DATABASE_URL (default data/podium.db).",
    )
    migrate.set_defaults(func=cmd_migrate)

    imp = sub.add_parser(
        "import",
        help="import sales from a CSV file",
        description="Import events from CSV (columns id,type,partner,rep,sku,units,"
        "amount,occurred_at,invoice). Bad rows are listed by line; re-importing "
        "the same file imports nothing twice. Exit code 1 if any row was rejected.",
    )
    imp.add_argument("file", help="path to the CSV file (UTF-8)")
    imp.add_argument("--program", help="program code (default: the newest program)")
    imp.add_argument(
        "--source", default="csv", help="source name the row ids are unique within (default csv)"
    )
    imp.set_defaults(func=cmd_import)

    apikey = sub.add_parser(
        "apikey", help="manage API keys", description="Manage API keys for integrations."
    )
    apikey_sub = apikey.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    create = apikey_sub.add_parser(
        "create",
        help="create a key and print it once",
        description="Create an API key for an integration (ERP, CRM, DMS).",
    )
    create.add_argument("name", help="what the key is for, e.g. erp-sap")
    create.add_argument("--source", help="source name event ids are unique within (default: NAME)")
    create.add_argument("--program", help="program code (default: the newest program)")
    create.set_defaults(func=cmd_apikey_create)
    close = sub.add_parser(
        "close-period",
        help="close a period now (or finish a close that was interrupted)",
        description="Freeze the boards of PERIOD (e.g. 2026-11, 2026-W47), pay tier bonuses, "
        "move streaks on and award placement badges, exactly once. Shows progress. A period "
        "an admin reopened is closed again.",
    )
    close.add_argument("program", help="program code")
    close.add_argument("period", help="period key, e.g. 2026-11 (month), 2026-W47 (week)")
    close.set_defaults(func=cmd_close_period)
    return parser


def cmd_close_period(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.closing import CloseRefused, Progress, close_period
    from app.models import utcnow
    from app.scheduler import wire_features

    db = _database()
    db.migrate()
    with db.session() as s:
        program = _program(s, args.program)
    if program is None:
        return 2
    wire_features()
    with tqdm(total=0, unit="step", desc=f"close {args.period}", file=sys.stderr) as bar:

        def progress(p: Progress) -> None:
            bar.total = p.total
            bar.set_postfix_str(p.unit)
            bar.update(p.done - bar.n)

        try:
            outcome = close_period(
                db, program, args.period, utcnow(), reclose=True, progress=progress
            )
        except CloseRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    record = outcome.record
    if outcome.status == "busy":
        print(f"Another process is closing {program.code} right now; try again shortly.")
        return 1
    if outcome.status == "already_closed":
        print(f"{outcome.period_key} was already closed.")
        return 0
    assert record is not None
    print(
        f"Closed {outcome.period_key}: {record.participants} participants, "
        f"{record.snapshot_rows} board rows, {record.bonuses} tier bonuses, "
        f"{record.awards} badges, {record.duration_ms / 1000:.1f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
