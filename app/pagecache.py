"""Rendered pages kept while nothing they show has changed.

A board page is a function of the request, the viewer and the board version (the newest
ledger entry folded into the boards); while those are the same, the bytes are the same, so a
busy board or a wall of TV screens costs one render per change instead of one per request.
Entries also expire after ``ttl`` seconds, for edits that do not go through the ledger
(a renamed partner, a new target).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from starlette.responses import Response

# Headers that belong to one response only and must never be replayed to another viewer.
_PRIVATE = {"set-cookie", "content-length"}


@dataclass(frozen=True)
class _Page:
    body: bytes
    status: int
    headers: tuple[tuple[str, str], ...]
    born: float


class PageCache:
    def __init__(self, size: int = 4096, ttl: float = 5.0) -> None:
        self.size = size
        self.ttl = ttl
        self._pages: OrderedDict[Hashable, _Page] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Response | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if time.monotonic() - page.born > self.ttl:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
        return Response(page.body, page.status, headers=dict(page.headers))

    def clear(self) -> None:
        """Forget every page (after an edit that changes what pages show)."""
        with self._lock:
            self._pages.clear()

    def put(self, key: Hashable, response: Response) -> Response:
        """Keep ``response`` (a rendered, non-streaming one) and return it unchanged."""
        headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in _PRIVATE)
        page = _Page(bytes(response.body), response.status_code, headers, time.monotonic())
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return response
