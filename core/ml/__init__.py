"""Model training without Ray: features, datasets, XGBoost models, evaluation, the registry.

Ray Tune drives it from ``training/``; the CTR deployment in ``serve_apps/ctr/`` serves it.
"""
