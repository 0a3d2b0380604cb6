"""The safe executor without Ray: requests (:mod:`.service`), the work loop's rounds
(:mod:`.engine`), adapters per tenant (:mod:`.platforms`), settings (:mod:`.config`)."""
