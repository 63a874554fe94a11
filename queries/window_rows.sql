-- Why a window held no session to score (run only when it held none): its rows, and those
-- of them that carry a session under the session rule. Parameters: $window_from, $window_to.
SELECT count(*) AS rows_in_window, count(session_id) AS with_session
FROM logs
WHERE ts >= $window_from AND ts <= $window_to
