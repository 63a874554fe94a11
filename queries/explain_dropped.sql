-- `explain`: every row of one session, by the first rule that drops it (or `counted`): the
-- window, then the parts of queries/in_scope.sql one by one (a unit test checks that
-- `counted` is exactly what the scope rule keeps). Parameters: $session_id, $window_from,
-- $window_to.
SELECT
    CASE
        WHEN ts < $window_from OR ts > $window_to THEN 'outside the window'
        WHEN status NOT IN (200, 206) THEN 'status not 200/206'
        WHEN bytes <= 1024 THEN 'bytes <= 1024'
        ELSE 'counted'
    END AS verdict,
    count(*) AS rows
FROM logs
WHERE session_id = $session_id
GROUP BY 1
ORDER BY 1
