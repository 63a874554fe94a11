-- `explain`, `viewers` profile: the media objects of one session fetched by more than one
-- network within $co_fetch_seconds, appended to queries/viewers_evidence.sql. One row per
-- (object, network) with its first fetch. Parameters: as queries/viewers_evidence.sql, and
-- $session_id.
SELECT
    minute,
    object,
    network,
    min(first_ts) AS first_ts,
    count(*) AS fetches
FROM minutes
WHERE session_id = $session_id AND object_networks >= 2
GROUP BY minute, object, network
ORDER BY object, first_ts, network
