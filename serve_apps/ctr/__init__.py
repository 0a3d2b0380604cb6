"""The CTR model deployment (champion serving with ``@serve.batch``)."""
