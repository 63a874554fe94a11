-- Which networks and devices used one session, and when (forensics: "who shared this token?").
-- Replace the session id.
SELECT request_ip, user_agent, referrer,
       min(ts) AS first_seen, max(ts) AS last_seen,
       count(*) AS requests, count(DISTINCT uri) AS objects
FROM logs
WHERE session_id = 'bUFcOJp2iTCS'
GROUP BY request_ip, user_agent, referrer
ORDER BY first_seen, request_ip
