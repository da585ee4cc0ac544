"""Predictors: one small contract (`fit(train, valid=None)`, `predict(data)`) for every model."""
