-- `explain`: the distinct IPs, user agents and referers of one session's counted rows, with their
-- request counts and first/last seen (one scan: grouping sets). Parameters: $session_id,
-- $window_from, $window_to.
SELECT
    CASE
        WHEN grouping(request_ip) = 0 THEN 'ip'
        WHEN grouping(user_agent) = 0 THEN 'user_agent'
        ELSE 'referer'
    END AS kind,
    coalesce(request_ip, user_agent, referrer) AS value,
    count(*) AS requests,
    min(ts) AS first_seen,
    max(ts) AS last_seen
FROM logs
WHERE session_id = $session_id
  AND {in_scope}
  AND ts >= $window_from
  AND ts <= $window_to
GROUP BY GROUPING SETS ((request_ip), (user_agent), (referrer))
ORDER BY kind, first_seen, value
