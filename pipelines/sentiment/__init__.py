"""Sentiment: scorers (VADER, FinBERT, their composite), scored news and the sentiment features."""
