-- `explain`, `viewers` profile: the rows of one session that its evidence is found in, for
-- the same code that scoring runs as viewer_evidence() (src/functions/viewer_evidence) to
-- show the detail: its positions and the objects more than one network fetched at once.
-- Parameters: $window_from, $window_to, $session_id.
SELECT ts, request_ip, uri, pair_key, user_agent_key, referrer_key, country
FROM logs
WHERE {in_scope}
  AND ts >= $window_from
  AND ts <= $window_to
  AND session_id = $session_id
