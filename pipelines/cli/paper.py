"""``meridian paper run|status|replay|reset|start|stop``: a strategy's paper account.

``start``/``stop`` switch an account's stepping (the live loop and ``meridian paper run`` honour
the switch): through the served API (``POST /paper/start|stop``) with ``--server URL``, else on
the configured store directly; both record the same switch (:func:`serving.portfolio.switch`)."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.jobs import paper as job
from pipelines.store import open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paper", help="paper trading: run the loop, or show the account")
    verbs = p.add_subparsers(dest="paper_command", metavar="VERB", required=True)
    r = verbs.add_parser("run", help="poll the store for closed bars, trade them through a strategy's paper account")
    job.add_arguments(r)
    r.set_defaults(func=run)
    s = verbs.add_parser("status", help="a strategy account: equity, P&L today/total, positions, fills, costs")
    s.add_argument("--strategy", required=True, help="stored strategy id")
    s.add_argument("--account", help="account name (default: paper:<strategy id>)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=show)
    rp = verbs.add_parser("replay", help="replay stored bars one at a time through a strategy's paper account")
    rp.add_argument("--strategy", required=True, help="stored strategy id (`meridian strategy list`)")
    rp.add_argument("--symbols", help="comma-separated symbols (default: the strategy's)")
    rp.add_argument("--since", help="first bar of a new account (default: the first the run predicted)")
    rp.add_argument("--until", help="last bar to replay")
    rp.add_argument("--account", help="account name (default: paper:<strategy id>)")
    rp.add_argument("--max-bars", type=int, help="stop after this many bars (resume by running again)")
    rp.add_argument("--capital", type=float, help="starting capital (default: the configured initial cash)")
    rp.add_argument("--flush-every", type=int, default=500, help="bars between writes of the decisions to the store")
    rp.add_argument("--json", action="store_true", help="print the result as JSON")
    rp.set_defaults(func=replay)
    rs = verbs.add_parser("reset", help="forget a strategy account's decisions and state")
    rs.add_argument("--account", help="account name")
    rs.add_argument("--strategy", help="the strategy whose default account (paper:<id>) is reset")
    rs.add_argument("--json", action="store_true", help="print the result as JSON")
    rs.set_defaults(func=reset)
    for verb, what in (("start", "resume"), ("stop", "pause")):
        sw = verbs.add_parser(verb, help=f"{what} a strategy account's stepping (live loop and `paper run`)")
        sw.add_argument("--strategy", help="stored strategy id (default: the one --account trades, else the only "
                        "promoted strategy)")
        sw.add_argument("--account", help="account name (default: paper:<strategy id>)")
        sw.add_argument("--server", metavar="URL", help="the Meridian API (e.g. http://127.0.0.1:8000): switch "
                        "through POST /paper/" + verb + " (default: switch in the configured store)")
        sw.add_argument("--api-key", help="the API's write key (default: the configured serving.api_key)")
        sw.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the API")
        sw.add_argument("--json", action="store_true", help="print the result as JSON")
        sw.set_defaults(func=switch, running=verb == "start")


def _text(out: dict) -> str:
    if not out.get("as_of"):
        return (f"account {out['account']} ({out['strategy_id']}) has processed no bars yet"
                + ("; switched off (POST /paper/start resumes it)" if out.get("running") is False else ""))
    return (f"account {out['account']} ({out['strategy_id']}) at {out['as_of']}: equity {out['equity']:.2f}, "
            f"P&L today {out['pnl_today']:+.2f}, total {out['pnl_total']:+.2f}; {out['fills']} fills; "
            f"final_equity {out['final_equity']:.10g}"
            + ("; switched off (POST /paper/start resumes it)" if out.get("running") is False else "") + "\n"
            + "".join(f"  {s}: {w:+.3g}x equity\n" for s, w in out["positions"].items()))


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    out = job.run(cfg, args.strategy, args.symbols.split(",") if args.symbols else None, args.account,
                  args.since, args.interval, args.max_cycles or None, args.flush_every)
    emit(out, args.json, _text(out) + f"{out['processed_bars']} bar(s) processed in {out['cycles']} poll(s)")
    return 0


def show(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    store = open_store(cfg.store)
    try:
        out = job.status(store, cfg, args.strategy, args.account)
    finally:
        store.close()
    emit(out, args.json, _text(out))
    return 0


def replay(args: argparse.Namespace) -> int:
    import time
    from pipelines.trading import strategy as strategies
    from pipelines.trading.replay import StrategyAccount
    cfg = load_config(args.config)
    store = open_store(cfg.store)
    try:
        st = strategies.get(store, args.strategy)
        acct = StrategyAccount(store, st, args.symbols.split(",") if args.symbols else None, args.account,
                               args.flush_every)
        t0 = time.perf_counter()
        n = acct.replay(args.since, args.until, args.max_bars)
        secs = time.perf_counter() - t0
        out = acct.summary(args.capital or cfg.portfolio.initial_cash)
    finally:
        store.close()
    out.update(processed_bars=n, seconds=round(secs, 3), bars_per_second=round(n / secs, 1) if secs > 0 else None)
    emit(out, args.json, _text(out) + f"{n} bar(s) replayed in {secs:.2f} s")
    return 0


def reset(args: argparse.Namespace) -> int:
    from pipelines.errors import ConfigError
    from pipelines.trading.replay import reset as reset_account
    if not (args.account or args.strategy):
        raise ConfigError("give --account NAME or --strategy ID")
    account = args.account or f"paper:{args.strategy}"
    cfg = load_config(args.config)
    store = open_store(cfg.store)
    try:
        n = reset_account(store, account)
    finally:
        store.close()
    emit({"account": account, "decisions_removed": n}, args.json, f"account {account} reset ({n} decisions removed)")
    return 0


def switch(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.server:
        key = args.api_key or (cfg.serving.api_key.get_secret_value() if cfg.serving.api_key else None)
        out = _post(args.server, f"/paper/{'start' if args.running else 'stop'}",
                    {k: v for k, v in (("strategy", args.strategy), ("account", args.account)) if v}, key, args.timeout)
    else:
        from serving.portfolio import switch as switch_account
        store = open_store(cfg.store)
        try:
            out = switch_account(store, args.running, args.strategy, args.account)
        finally:
            store.close()
    state = "running" if out["running"] else "stopped (`meridian paper start` resumes it)"
    emit(out, args.json, f"account {out['account']} ({out['strategy_id']}): {state}")
    return 0


def _post(server: str, path: str, body: dict, key: str | None, timeout: float) -> dict:
    """POST ``body`` to the API; a failure is a one-line :class:`~pipelines.errors.MeridianError`."""
    import requests
    from pipelines.errors import MeridianError
    base = server.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise MeridianError(f"--server must be an http(s) URL, got {server!r}")
    try:
        r = requests.post(base + path, json=body, headers={"X-API-Key": key} if key else {}, timeout=timeout)
    except requests.ConnectionError:
        raise MeridianError(f"the Meridian API at {base} is not reachable: start it (`meridian serve`) "
                            "or check --server") from None
    except requests.Timeout:
        raise MeridianError(f"the Meridian API at {base} did not answer {path} within {timeout:g} s") from None
    try:
        payload = r.json()
    except ValueError:
        payload = None
    if r.status_code >= 400 or not isinstance(payload, dict):
        detail = payload.get("detail") if isinstance(payload, dict) else None
        if isinstance(detail, list):   # the framework's validation errors
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        hint = " (give --api-key or set MERIDIAN__SERVING__API_KEY)" if r.status_code in (401, 403) else ""
        raise MeridianError(f"the Meridian API at {base} answered {path} with HTTP {r.status_code}: "
                            f"{detail or r.reason or 'no JSON body'}{hint}")
    return payload
