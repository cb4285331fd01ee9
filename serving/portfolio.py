"""Which strategy account a portfolio request means, its switch, and that account's actions.

The account itself (positions, equity, P&L, its switch) is read by the one computation
:func:`pipelines.trading.replay.account_status` (what ``meridian paper status`` prints); this
module only picks the strategy and puts the strategy's decision next to what the account holds."""

from __future__ import annotations

from pipelines.store.base import Store
from pipelines.trading.actions import trade_action
from pipelines.trading.replay import account_strategy, default_account, set_running
from pipelines.trading.strategy import Strategy, get as get_strategy, list_strategies
from serving.errors import BadParameter, NotFound


def choose_strategy(store: Store, strategy_id: str | None, account: str | None) -> Strategy:
    """The strategy named, else the one ``account`` trades, else the only promoted strategy.
    Unknown strategy or account: NotFound; several promoted and none chosen: BadParameter
    listing them."""
    if strategy_id is None and account is not None:
        strategy_id = account_strategy(store, account)
        if strategy_id is None:
            raise NotFound(f"no paper account {account!r}: give ?strategy=ID (its default account is "
                           "paper:<strategy id>), or replay one with `meridian paper replay --strategy ID`")
    if strategy_id is not None:
        try:
            return get_strategy(store, strategy_id)
        except Exception as exc:
            raise NotFound(str(exc)) from None
    promoted = list_strategies(store, "promoted")
    if not promoted:
        raise NotFound("no strategy is promoted: promote one with `meridian strategy promote ID`, "
                       "or give ?strategy=ID")
    if len(promoted) > 1:
        ids = ", ".join(sorted(s.strategy_id for s in promoted))
        raise BadParameter(f"{len(promoted)} strategies are promoted ({ids}): choose one with ?strategy=ID",
                           ("query", "strategy"))
    return promoted[0]


def switch(store: Store, running: bool, strategy_id: str | None, account: str | None) -> dict:
    """Switch a strategy account's stepping on or off (what ``POST /paper/start|stop`` and
    ``meridian paper start|stop`` do): the account of :func:`choose_strategy`'s strategy."""
    st = choose_strategy(store, strategy_id, account)
    name = account or default_account(st)
    return {"account": name, "strategy_id": st.strategy_id, **set_running(store, name, running)}


def actions(st: Strategy, account: str, decision: dict, positions: dict[str, dict]) -> dict:
    """For each symbol of the strategy: its decision at the newest decidable bar (signal, target),
    the trade that moves the account's position toward it (:func:`trade_action`) and the advice
    for the open position (``positions``: :func:`pipelines.trading.replay.account_positions`)."""
    out = []
    for sym, d in decision["symbols"].items():
        pos = positions.get(sym) or {"held": 0.0, "position_action": "NONE", "position_reason": "no position"}
        action, reason = trade_action(d["signal"], pos["held"], st.signal.allow_short)
        out.append({"symbol": sym, "current_qty": pos["held"], "signal": d["signal"], "action": action,
                    "reason": f"{reason} (strategy {st.strategy_id} at {d['ts']})",
                    "expected_return": d["expected_return"], "confidence": d["confidence"],
                    "position_action": pos["position_action"], "position_reason": pos["position_reason"],
                    "strategy_id": st.strategy_id, "target": d["target"], "ts": d["ts"]})
    return {"account": account, "strategy_id": st.strategy_id, "actions": out, "errors": []}
