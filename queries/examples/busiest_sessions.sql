-- Sessions by number of distinct IPs, then requests: a quick look for sharing without scoring.
SELECT session_id,
       count(DISTINCT request_ip) AS ips,
       count(DISTINCT user_agent) AS user_agents,
       count(*) AS requests,
       min(ts) AS first_seen, max(ts) AS last_seen
FROM logs
WHERE session_id IS NOT NULL
GROUP BY session_id
ORDER BY ips DESC, requests DESC, session_id
LIMIT 10
