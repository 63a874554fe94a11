-- The newest row time from $since on: what `--now latest` resolves to. The lower bound lets
-- the reader list and read only the objects of the newest hours.
SELECT max(ts) AS latest FROM logs WHERE ts >= $since
