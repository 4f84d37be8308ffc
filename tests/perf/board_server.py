"""The app on one uvicorn worker, plus the benchmark's anchor route: the same bytes as the
board page, pre-rendered. ``python -m tests.perf.board_server DATABASE_URL PORT ANCHOR_FILE``"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.db import Database
from app.web import create_app


def main() -> None:
    url, port, anchor_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    app = create_app(db=Database(url))
    cached: dict[str, bytes] = {}

    async def prerendered(request: Request) -> Response:
        # Read once per ?board=N: the benchmark writes the file after fetching the real page.
        board = request.query_params.get("board", "")
        body = cached.get(board)
        if body is None:
            body = cached[board] = anchor_file.read_bytes()
        return Response(body, media_type="text/html; charset=utf-8")

    # Beside the board route, so both pay the same route matching.
    where = next(i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/boards")
    app.router.routes.insert(where, Route("/_bench/prerendered", prerendered))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
