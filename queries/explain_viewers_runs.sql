-- `explain`, `viewers` profile: one session's playback positions, appended to
-- queries/viewers_evidence.sql. One row per run of segment numbers (a position) of a folder
-- in a minute that spans two numbers or more, with the networks that fetched it and what the
-- minute showed. Parameters: as queries/viewers_evidence.sql, and $session_id and
-- $min_cofetched_objects.
SELECT
    minute,
    folder,
    min(seg) AS seg_from,
    max(seg) AS seg_to,
    min(first_ts) AS first_ts,
    max(first_ts) AS last_ts,
    count(*) AS fetches,
    array_to_string(array_sort(array_agg(DISTINCT network)), ' ') AS networks,
    max(runs) AS runs,
    max(back_steps) AS back_steps,
    max(minute_positions) AS positions,
    max(CASE WHEN cofetched_objects >= $min_cofetched_objects THEN cofetch_networks ELSE 1 END)
        AS networks_at_once
FROM minutes
WHERE session_id = $session_id AND seg IS NOT NULL
GROUP BY minute, folder, run
HAVING max(seg) > min(seg)
ORDER BY minute, folder, seg_from
