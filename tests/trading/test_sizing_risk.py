"""Kelly sizing, dynamic leverage and the risk limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.config.trading import RiskConfig, SizingConfig
from pipelines.trading.risk import (apply_limits, correlation_limits, position_limits,
                                    stops_and_daily_limit)
from pipelines.trading.sizing import (dynamic_leverage, kelly_fraction, measured_payoff,
                                      session_liquidity, size_positions)


def test_kelly_values_and_degenerate_inputs():
    # p = 0.6, win = loss: full Kelly 0.2, a quarter of it 0.05
    assert kelly_fraction(0.6, 0.01, 0.01) == pytest.approx(0.05)
    assert kelly_fraction(0.4, 0.01, 0.01) == pytest.approx(-0.05)      # the short mirror
    assert kelly_fraction(0.55, 0.01, 0.02) == 0.0                      # negative edge: stay out
    assert kelly_fraction(0.5, 0.02, 0.01) == 0.0
    assert kelly_fraction(1.0, 0.01, 0.02) == pytest.approx(0.25)       # certainty: all of full Kelly
    assert kelly_fraction(0.0, 0.01, 0.02) == pytest.approx(-0.25)
    assert kelly_fraction(0.9, 0.01, 0.01, fraction=1.0, cap=0.5) == pytest.approx(0.5)
    for p, w, lo in ((np.nan, 0.01, 0.01), (0.7, np.nan, 0.01), (0.7, 0.01, np.nan),
                     (0.7, 0.01, 0.0), (0.7, 0.0, 0.01)):
        assert kelly_fraction(p, w, lo) == 0.0                          # no losses yet, NaN: no bet
    with pytest.raises(ValueError, match="prob_up"):
        kelly_fraction(1.2, 0.01, 0.01)
    arr = kelly_fraction(np.array([0.6, 0.4, np.nan]), 0.01, 0.01)
    assert arr.tolist() == pytest.approx([0.05, -0.05, 0.0])


def test_measured_payoff_uses_only_outcomes_already_known():
    idx = pd.date_range("2024-01-01", periods=200, freq="1h", tz="UTC")
    rng = np.random.default_rng(0)
    realized = pd.Series(rng.normal(0, 0.01, 200), index=idx)
    direction = pd.Series(np.sign(rng.normal(size=200)), index=idx)
    h = 3
    pay = measured_payoff(direction, realized, horizon=h, min_outcomes=5)
    # row t equals what the first t - h + 1 outcomes give: perturbing later outcomes changes nothing
    t = 120
    bumped = realized.copy()
    bumped.iloc[t - h + 1:] *= 50
    again = measured_payoff(direction, bumped, horizon=h, min_outcomes=5)
    pd.testing.assert_frame_equal(pay.iloc[: t + 1], again.iloc[: t + 1])
    out = (direction * realized).iloc[: t - h + 1]
    assert pay["avg_win"].iloc[t] == pytest.approx(out[out > 0].mean())
    assert pay["avg_loss"].iloc[t] == pytest.approx(-out[out < 0].mean())
    assert pay["avg_win"].iloc[:5].isna().all()                        # not enough outcomes yet


def test_dynamic_leverage_confidence_volatility_liquidity_caps():
    cfg = SizingConfig()
    lev = dynamic_leverage([0.3, 0.5, 0.65, 0.8, 0.99, np.nan], cfg=cfg)
    assert lev.tolist() == pytest.approx([5.0, 5.0, 8.75, 12.5, 12.5, 5.0])
    cut = dynamic_leverage([0.8, 0.8], vol_ratio=[1.0, 3.0], cfg=cfg)
    assert cut.tolist() == pytest.approx([12.5, 12.5 * 1.5 / 3.0])
    assert dynamic_leverage(0.99, asset_class="crypto", cfg=cfg) == pytest.approx(3.0)
    thin = dynamic_leverage(0.5, liquidity=0.1, asset_class="forex", cfg=cfg)
    busy = dynamic_leverage(0.5, liquidity=1.0, asset_class="forex", cfg=cfg)
    assert thin == pytest.approx(2.5) and busy == pytest.approx(5.0 * 1.25)
    with pytest.raises(ValueError):
        SizingConfig(base_leverage=10, max_leverage=5)


def test_session_liquidity_overlap_up_weekend_down():
    ts = pd.DatetimeIndex(["2024-03-05 14:00", "2024-03-05 03:00", "2024-03-09 14:00"], tz="UTC")
    liq = session_liquidity(ts)
    assert liq[0] == pytest.approx(1.0)            # London/New York overlap on a Tuesday
    assert 0 < liq[1] < 0.5                        # Sydney and Tokyo only
    assert liq[2] == 0.0                           # Saturday: forex is shut
    assert session_liquidity(ts, weekends=False)[2] == pytest.approx(1.0)


def test_size_positions_combines_kelly_and_leverage():
    idx = pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC")
    payoff = pd.DataFrame({"avg_win": [0.01, 0.01, np.nan], "avg_loss": [0.01, 0.01, 0.01]}, index=idx)
    tgt = size_positions(pd.Series([0.6, 0.4, 0.9], index=idx), payoff,
                         confidence=pd.Series([0.5, 0.8, 0.9], index=idx), asset_class="forex")
    assert tgt.tolist() == pytest.approx([0.05 * 5.0, -0.05 * 12.5, 0.0])


def test_position_gross_and_correlation_limits():
    cfg = RiskConfig(max_position=2.0, max_gross=3.0, corr_cap=2.0, corr_window=100, corr_every=25)
    t = position_limits(np.array([[5.0, -1.0, 0.0], [1.0, 1.0, np.nan]]), cfg)
    assert t.tolist() == [[2.0 * 3 / 3, -1.0, 0.0], [1.0, 1.0, 0.0]]
    assert np.abs(position_limits(np.array([[2.0, 2.0, 2.0]]), cfg)).sum() == pytest.approx(3.0)
    rng = np.random.default_rng(1)
    base = np.cumsum(rng.normal(0, 0.01, 300))
    close = 100 * np.exp(np.column_stack([base, base + rng.normal(0, 0.0005, 300),
                                          np.cumsum(rng.normal(0, 0.01, 300))]))
    out = correlation_limits(np.full((300, 3), 1.5), close, cfg)
    # the first two move together: capped at 2.0 together once measured; the third is left alone
    assert np.abs(out[50:, :2]).sum(axis=1) == pytest.approx(np.full(250, 2.0))
    assert (out[:, 2] == 1.5).all()
    assert (out[:10, :2] == 1.5).all()             # nothing measured yet: no cap


def _flat_market(T):
    o = np.full((T, 1), 100.0)
    return o, o + 1, o - 1, o.copy()


def test_stop_loss_take_profit_and_reentry_on_new_signal():
    o, h, lo, c = _flat_market(30)
    c[5:], o[6:], h[5:], lo[5:] = 90.0, 90.0, 91.0, 89.0   # a 10-point drop, ATR about 2
    raw = np.ones((30, 1))
    raw[15:18] = 0.0                                      # the signal goes flat, then long again
    cfg = RiskConfig(daily_loss_limit=None, take_profit_atr=None)
    out = stops_and_daily_limit(raw, o, h, lo, c, np.zeros(30, int), cfg).ravel()
    assert out[:5].tolist() == [1.0] * 5 and (out[5:15] == 0).all() and (out[18:] == 1.0).all()
    o, h, lo, c = _flat_market(20)
    c[5:], o[6:] = 110.0, 110.0                           # up 10: take profit at 4 ATR
    tp = stops_and_daily_limit(np.ones((20, 1)), o, h, lo, c, np.zeros(20, int),
                               RiskConfig(daily_loss_limit=None, stop_atr=None)).ravel()
    assert (tp[:5] == 1).all() and (tp[5:] == 0).all()
    short = stops_and_daily_limit(-np.ones((20, 1)), o, h, lo, c, np.zeros(20, int),
                                  RiskConfig(daily_loss_limit=None, take_profit_atr=None)).ravel()
    assert (short[5:] == 0).all()                        # a short stopped by the rise


def test_daily_loss_limit_flattens_until_next_day():
    o, h, lo, c = _flat_market(24)
    c[3:], o[4:] = 98.0, 98.0                            # -2% on 3x: -6% marked at bar 3's close
    day = np.arange(24) // 12
    out = stops_and_daily_limit(np.full((24, 1), 3.0), o, h, lo, c, day,
                                RiskConfig(stop_atr=None, take_profit_atr=None, daily_loss_limit=0.05)).ravel()
    assert (out[:3] == 3).all() and (out[3:12] == 0).all() and (out[12:] == 3).all()
    full = apply_limits(np.full((24, 1), 3.0), o, h, lo, c, day, RiskConfig(stop_atr=None, take_profit_atr=None))
    assert full.tolist() == out[:, None].tolist()


def test_no_trade_band_waits_for_real_changes():
    from pipelines.trading.risk import no_trade_band
    t = np.array([[0.0], [1.0], [1.1], [1.3], [1.2], [-0.1], [np.nan], [0.05]])
    out = no_trade_band(t, 0.25).ravel()
    assert out.tolist() == pytest.approx([0.0, 1.0, 1.0, 1.3, 1.3, -0.1, 0.0, 0.05])
    assert no_trade_band(t, 0.0).ravel()[2] == 1.1


def test_limits_carried_block_after_block_equal_one_call():
    """Limits applied to consecutive blocks (what the paper account does bar by bar) give what one
    call over all the bars gives: correlation groups (two assets that move together), stops,
    the daily loss limit, with blocks that split correlation periods and days."""
    from pipelines.trading.risk import Limits, atr
    cfg = RiskConfig(max_position=2.0, max_gross=4.0, corr_cap=2.0, corr_window=60, corr_every=25,
                     stop_atr=1.0, take_profit_atr=2.0, daily_loss_limit=0.02)
    rng = np.random.default_rng(7)
    T = 400
    base = np.cumsum(rng.normal(0, 0.01, T))
    close = 100 * np.exp(np.column_stack([base, base + rng.normal(0, 0.0005, T), np.cumsum(rng.normal(0, 0.01, T))]))
    open_ = np.vstack([close[:1], close[:-1]])
    high, low = np.maximum(open_, close) * 1.002, np.minimum(open_, close) * 0.998
    raw = rng.choice([-1.5, 0.0, 1.5], size=(T, 3), p=[0.2, 0.2, 0.6])
    day = np.arange(T) // 24
    whole = apply_limits(raw, open_, high, low, close, day, cfg, unit_cost=3e-4)
    assert np.abs(whole[100:, :2]).sum(axis=1).max() <= 2.0 + 1e-12          # the correlation cap binds
    assert (np.abs(whole) < np.abs(np.clip(raw, -2, 2)) - 1e-12).any()
    a = atr(high, low, close, cfg.atr_period)
    limits, got, lo = Limits(cfg, 3, unit_cost=3e-4), [], 0
    for size in [1, 24, 3, 97, 1, 1, 50] + [1] * (T - 177):
        got.append(limits.apply(raw[lo:lo + size], open_[lo:lo + size], close[lo:lo + size], a[lo:lo + size],
                                day[lo:lo + size]))
        lo += size
    np.testing.assert_array_equal(np.vstack(got), whole)
    # the ATR continued from the bar before equals one call too
    cont = atr(high[200:], low[200:], close[200:], cfg.atr_period, before=(close[199], a[199]))
    np.testing.assert_array_equal(cont, a[200:])
