"""Loopback servers speaking Reddit's OAuth + listing format and the X/Twitter v2 recent-search
format, over real HTTP on 127.0.0.1 (praw and tweepy talk to them unchanged)."""

from __future__ import annotations

import base64
import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Loopback:
    """``routes[(method, path)] = fn(query, headers, body) -> (status, json)``; ``faults[path]``
    is a list of statuses answered first."""

    def __init__(self) -> None:
        self.routes: dict = {}
        self.faults: dict[str, list[int]] = defaultdict(list)
        self.requests: list[tuple[str, str, dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _serve(self, method: str) -> None:
                u = urlparse(self.path)
                q = {k: v[-1] for k, v in parse_qs(u.query).items()}
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                outer.requests.append((method, u.path, q, dict(self.headers)))
                if outer.faults.get(u.path):
                    status, payload = outer.faults[u.path].pop(0), {"message": "scripted fault"}
                elif (method, u.path) in outer.routes:
                    status, payload = outer.routes[(method, u.path)](q, self.headers, body)
                else:
                    status, payload = 404, {"message": "Not Found", "error": 404}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "Loopback":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def reddit_post(pid: str, sub: str, created: float, title: str, selftext: str = "") -> dict:
    return {"kind": "t3", "data": {
        "id": pid, "name": f"t3_{pid}", "title": title, "selftext": selftext, "created_utc": created,
        "subreddit": sub, "subreddit_name_prefixed": f"r/{sub}", "author": "someone", "score": 12,
        "num_comments": 3, "permalink": f"/r/{sub}/comments/{pid}/post/", "url": f"https://www.reddit.com/r/{sub}/comments/{pid}/post/",
        "is_self": True, "over_18": False}}


def serve_reddit(lb: Loopback, posts: dict[str, list[dict]], client_id: str, secret: str) -> None:
    """Token endpoint (HTTP basic auth with the app's id and secret) and /r/<sub>/new listings,
    newest first, paged with ``after``."""
    def token(q, headers, body):
        want = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        if headers.get("Authorization") != want:
            return 401, {"message": "Unauthorized", "error": 401}
        return 200, {"access_token": "loopback-token", "token_type": "bearer", "expires_in": 86400, "scope": "*"}

    def listing(sub):
        def fn(q, headers, body):
            if headers.get("Authorization") != "bearer loopback-token":
                return 401, {"message": "Unauthorized", "error": 401}
            items = posts[sub]
            start = 0
            if q.get("after"):
                start = next(i for i, p in enumerate(items) if p["data"]["name"] == q["after"]) + 1
            page = items[start:start + min(int(q.get("limit", 25)), 100)]  # Reddit caps a page at 100
            after = page[-1]["data"]["name"] if page and start + len(page) < len(items) else None
            return 200, {"kind": "Listing", "data": {"after": after, "dist": len(page), "children": page,
                                                     "before": None, "modhash": None}}
        return fn

    lb.routes[("POST", "/api/v1/access_token")] = token
    for sub in posts:
        lb.routes[("GET", f"/r/{sub}/new")] = listing(sub)


def serve_x(lb: Loopback, posts: list[dict], token: str) -> None:
    """/2/tweets/search/recent: newest first, ``since_id`` and ``next_token`` paging."""
    def search(q, headers, body):
        if headers.get("Authorization") != f"Bearer {token}":
            return 401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
        items = [p for p in posts if not q.get("since_id") or int(p["id"]) > int(q["since_id"])]
        start = int(q.get("next_token", "0"))
        page = items[start:start + int(q.get("max_results", 10))]
        if not page:
            return 200, {"meta": {"result_count": 0}}
        meta = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
        if start + len(page) < len(items):
            meta["next_token"] = str(start + len(page))
        return 200, {"data": page, "meta": meta}
    lb.routes[("GET", "/2/tweets/search/recent")] = search


def x_post(pid: int, created: str, text: str) -> dict:
    return {"id": str(pid), "text": text, "created_at": created, "lang": "en",
            "edit_history_tweet_ids": [str(pid)], "public_metrics": {"retweet_count": 1, "reply_count": 0,
                                                                     "like_count": 4, "quote_count": 0}}
