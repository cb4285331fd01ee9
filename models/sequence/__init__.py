"""Deep sequence forecasters (PyTorch Lightning), one network per file."""

MODELS: dict[str, str] = {
    "lstm": "models.sequence.lstm:LSTMForecaster",
    "gru": "models.sequence.gru:GRUForecaster",
    "transformer": "models.sequence.transformer:TransformerForecaster",
    "tft": "models.sequence.tft:TFTForecaster",
    "cnn1d": "models.sequence.cnn1d:CNN1DForecaster",
    "tcn": "models.sequence.tcn:TCNForecaster",
    "cnn_lstm": "models.sequence.cnn_lstm:CNNLSTMForecaster",
    "transformer_lstm": "models.sequence.transformer_lstm:TransformerLSTMForecaster",
}
