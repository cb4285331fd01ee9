"""``meridian strategy create --run ID --models ... --horizon H [--name N] | list | show ID |
promote ID``: the stored strategies that are backtested, paper-traded and served."""

from __future__ import annotations

import argparse

from pipelines.cli import emit
from pipelines.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("strategy", help="strategies: create one from a run, list, show, promote")
    verbs = p.add_subparsers(dest="strategy_command", metavar="VERB", required=True)
    c = verbs.add_parser("create", help="a strategy from a run's models at one horizon, combiner fitted in the run")
    c.add_argument("--run", required=True, help="recorded run id (`meridian runs list`)")
    c.add_argument("--models", required=True, help="comma-separated model names of the run")
    c.add_argument("--horizon", type=int, required=True, help="the run's horizon in bars")
    c.add_argument("--name", help="name (default: models-h<horizon>-<rule>); a name reused gets a new version")
    c.add_argument("--symbols", help="comma-separated symbols (default: every symbol of the run)")
    c.add_argument("--rule", choices=("signal", "kelly"), default="signal", help="sizing rule")
    c.add_argument("--combiner", choices=("average", "weighted", "stacking", "bma"), default="weighted",
                   help="average: equal weights; weighted: by hit rate on earlier folds; stacking: a ridge and "
                        "logistic meta-learner per fold, trained on earlier folds; bma: Bayesian model averaging "
                        "per fold, posteriors from earlier folds")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_create)
    ls = verbs.add_parser("list", help="stored strategies, newest first")
    ls.add_argument("--status", choices=("candidate", "promoted", "retired"))
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    sh = verbs.add_parser("show", help="one strategy's full record")
    sh.add_argument("strategy_id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_show)
    pr = verbs.add_parser("promote", help="mark a strategy promoted: it is served and paper-traded")
    pr.add_argument("strategy_id")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=run_promote)


def _store(args):
    from pipelines.store import open_store
    cfg = load_config(args.config)
    return cfg, open_store(cfg.store)


def _line(s: dict) -> str:
    return (f"{s['strategy_id']}  {s['status']:9s} v{s['version']} {s['name']}: run {s['run_id']}, "
            f"{','.join(s['models'])} h{s['horizon']} {s['timeframe']}, {s['combiner']} combiner, "
            f"{s['rule']} sizing, {len(s['symbols'])} symbol(s)")


def _split(v: str | None) -> list[str] | None:
    return [x.strip() for x in v.split(",") if x.strip()] if v else None


def run_create(args: argparse.Namespace) -> int:
    from pipelines.trading import strategy as strategies
    cfg, store = _store(args)
    try:
        st = strategies.from_run(store, cfg, args.run, _split(args.models), args.horizon, args.name, args.rule,
                                 args.combiner, _split(args.symbols))
        st = strategies.save(store, st)
    finally:
        store.close()
    emit(st.summary(), args.json, "created " + _line(st.summary()))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from pipelines.trading import strategy as strategies
    _, store = _store(args)
    try:
        rows = [s.summary() for s in strategies.list_strategies(store, args.status)]
    finally:
        store.close()
    emit(rows, args.json, "\n".join(_line(r) for r in rows) or "no strategies stored")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from pipelines.trading import strategy as strategies
    _, store = _store(args)
    try:
        st = strategies.get(store, args.strategy_id)
    finally:
        store.close()
    full = st.model_dump(mode="json")
    text = "\n".join([_line(st.summary()),
                      f"  combiner after the run ({', '.join(st.models)}): "
                      + "; ".join(f"{s} {_step(p['final'])}" for s, p in st.combiner.params.items()),
                      f"  signal: threshold {st.signal.threshold:g}, shorts {'on' if st.signal.allow_short else 'off'}",
                      f"  sizing: Kelly x{st.sizing.kelly_fraction:g}, leverage {st.sizing.base_leverage:g}"
                      f"..{st.sizing.max_leverage:g}; limits: gross {st.limits.max_gross:g}x, "
                      f"per asset {st.limits.max_position:g}x",
                      f"  costs: fee {st.costs.fee_bps:g} bps, spread {st.costs.spread_bps:g} bps, slippage "
                      f"{st.costs.slippage_bps:g} bps + {st.costs.slippage_vol_mult:g} x ATR/close, financing "
                      f"{st.costs.financing_bps_per_year:g} bps/yr"])
    emit(full, args.json, text)
    return 0


def _step(step: list | dict) -> str:
    """A fitted combiner step in words: weights, or a stacking meta-learner's coefficients."""
    def nums(values):
        return ", ".join(f"{w:.3g}" for w in values)
    if isinstance(step, dict):
        return (f"stacking: expected return {nums(step['er_coef'])} ({step['er_intercept']:+.3g}) on scaled "
                f"model returns, up-probability logistic {nums(step['p_coef'])} ({step['p_intercept']:+.3g})")
    return f"weights {nums(step)}"


def run_promote(args: argparse.Namespace) -> int:
    from pipelines.trading import strategy as strategies
    _, store = _store(args)
    try:
        st = strategies.set_status(store, args.strategy_id, "promoted")
    finally:
        store.close()
    emit(st.summary(), args.json, "promoted " + _line(st.summary()))
    return 0
