-- The scope rule: the rows that count. A successful response (200, or 206 for a byte range) of
-- more than 1 KiB that carries a session. Every scoring profile and `explain` include this
-- predicate where they write {in_scope}, and the reader's filter for `--state` projections is
-- parsed from it, so the rule is written here only.
status IN (200, 206) AND bytes > 1024 AND session_id IS NOT NULL
