-- Requests per minute and status class: is delivery healthy, and how much would scoring count?
SELECT date_trunc('minute', ts) AS minute,
       count(*) AS requests,
       count(*) FILTER (WHERE status IN (200, 206) AND bytes > 1024) AS countable,
       count(*) FILTER (WHERE status >= 400 OR status = 0) AS errors,
       sum(bytes) AS bytes
FROM logs
GROUP BY 1
ORDER BY 1
