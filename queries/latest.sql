-- The newest row time in the logs: what `--now latest` resolves to.
SELECT max(ts) AS latest FROM logs
