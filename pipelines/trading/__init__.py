"""From predictions to positions and P&L: signal rules, sizing, risk limits, the backtester."""
