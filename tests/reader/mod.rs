//! The CloudFront reader against real, externally written files and crafted damage.

use autorevoke::cloudfront::ReadOptions;

use crate::util::*;

#[tokio::test]
async fn aws_sample_26_fields_gzip() {
    let Some(path) = shared_sample("aws-samples_sample-cloudfront-access-logs.gz") else {
        return;
    };
    let e = engine(&[&path]);
    let csv = query_csv(
        &e,
        "SELECT count(*) AS n, min(ts) AS first, max(ts) AS last, count(cookie) AS cookies, \
         count(c_port) AS ports FROM logs",
    )
    .await;
    // 26 fields: cs(Cookie) is there, c-port (field 27) is not, so it is NULL.
    assert_eq!(
        csv,
        "n,first,last,cookies,ports\n66,2018-11-07T00:11:29Z,2018-11-07T00:13:50Z,66,0\n"
    );
    let csv = query_csv(
        &e,
        "SELECT date, time, location, bytes, request_ip, uri, status, user_agent, time_taken, \
         http_version FROM logs WHERE request_id = 'PsDv-_qwCLPFx4CUU0cHWEmaH72tmUZkj70pPiTS-8KQBa616MpB1Q=='",
    )
    .await;
    assert_eq!(
        csv,
        "date,time,location,bytes,request_ip,uri,status,user_agent,time_taken,http_version\n\
         2018-11-07,00:12:08,FRA53,376,3.120.138.129,/notavailable.json,302,\
         Mozilla/5.0%2520(compatible;%2520bingbot/2.0;%2520+http://www.bing.com/bingbot.htm),0.394,HTTP/1.1\n"
    );
    let out = e
        .run("SELECT count(*) FROM logs", None)
        .await
        .expect("runs");
    assert_eq!(out.stats.objects_read, 1);
    assert_eq!(out.stats.rows_read, 66);
    assert_eq!(out.stats.rows_malformed, 0);
    assert_eq!(out.stats.rows_without_session, 66);
}

#[tokio::test]
async fn clay_gregory_33_fields_tab_header_trailing_tab() {
    let Some(path) = shared_sample("claygregory_web-1-0-2019-12.txt") else {
        return;
    };
    let e = engine(&[&path]);
    let out = e
        .run("SELECT count(*) FROM logs", None)
        .await
        .expect("runs");
    assert_eq!((out.stats.rows_read, out.stats.rows_malformed), (3, 0));
    // Plain text (no gzip), header tokens separated by TABs, the last row ending in a TAB.
    let csv = query_csv(
        &e,
        "SELECT count(*) AS n, min(ts) AS t, sum(bytes) AS b, count(DISTINCT request_id) AS ids, \
         min(sc_content_type) AS ct, sum(c_port) AS ports, sum(sc_content_len) AS len, \
         count(sc_range_end) AS ranges, max(time_to_first_byte) AS ttfb FROM logs",
    )
    .await;
    assert_eq!(
        csv,
        "n,t,b,ids,ct,ports,len,ranges,ttfb\n3,2019-12-04T21:02:31Z,1176,3,text/html,33120,234,0,0.001\n"
    );
}

#[tokio::test]
async fn clay_gregory_24_fields() {
    let Some(path) = shared_sample("claygregory_web-1-0.txt") else {
        return;
    };
    let e = engine(&[&path]);
    let csv = query_csv(
        &e,
        "SELECT ts, location, bytes, uri, status, referrer, query_string, cookie, result_type, \
         request_bytes, http_version, ssl_protocol, fle_status FROM logs ORDER BY ts",
    )
    .await;
    assert_eq!(
        csv,
        "ts,location,bytes,uri,status,referrer,query_string,cookie,result_type,request_bytes,http_version,ssl_protocol,fle_status\n\
         2014-05-23T01:13:11Z,FRA2,182,/view/my/file.html,200,www.displaymyfiles.com,-,zip=98101,RefreshHit,,HTTP/1.1,-,\n\
         2014-05-23T01:13:12Z,LAX1,2390282,/soundtrack/happy.mp3,304,www.unknownsingers.com,a=b&c=d,zip=50158,Hit,,HTTP/1.1,-,\n"
    );
}

#[tokio::test]
async fn all_samples_together_and_recursively() {
    let Some(path) = shared_sample("SOURCES.md") else {
        return;
    };
    // The folder also holds SOURCES.md: every regular file is a log object, and that one is
    // not a CloudFront log (none of its lines is a record): a failed object, named.
    let dir = path.parent().expect("a folder");
    let out = engine(&[dir])
        .run("SELECT count(*) FROM logs", None)
        .await
        .expect("runs");
    assert_eq!(out.stats.objects_listed, 4);
    assert_eq!(out.stats.objects_read, 3);
    assert_eq!(out.stats.objects_failed, 1);
    assert!(
        out.stats.failures[0].object.ends_with("SOURCES.md")
            && out.stats.failures[0]
                .reason
                .starts_with("not a CloudFront log: none of its "),
        "{:?}",
        out.stats.failures
    );
    assert_eq!(out.stats.rows_read, 66 + 3 + 2);
    assert_eq!(out.stats.rows_malformed, 0);
}

#[tokio::test]
async fn multi_member_gzip_and_header_changes_between_members() {
    let dir = tempdir();
    let mut bytes = gz(format!("{HEADER_33}{}", row("sA", 1, "/a.ts").line()).as_bytes());
    // A second member in the 24-field order, as `cat` of two files gives.
    let header_24 = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version\n";
    let line_24: String = row("sB", 2, "/b.ts")
        .line()
        .split('\t')
        .take(24)
        .collect::<Vec<_>>()
        .join("\t");
    bytes.extend(gz(format!("{header_24}{line_24}\n").as_bytes()));
    std::fs::write(dir.path().join("two-members.log"), bytes).expect("write");
    let e = engine(&[dir.path()]);
    let csv = query_csv(&e, "SELECT session_id, uri, c_port FROM logs ORDER BY ts").await;
    assert_eq!(
        csv,
        format!(
            "session_id,uri,c_port\nsA,{}/a.ts,50000\nsB,{}/b.ts,\n",
            tok("sA"),
            tok("sB")
        )
    );
}

#[tokio::test]
async fn truncated_and_corrupt_gzip_fail_alone() {
    let dir = tempdir();
    write_log(
        &dir.path().join("good.gz"),
        &[row("s1", 1, "/a"), row("s1", 2, "/b")],
    );
    let whole = gz(format!(
        "{HEADER_33}{}{}",
        row("s2", 1, "/a").line(),
        row("s2", 2, "/b").line()
    )
    .as_bytes());
    // Without its 8-byte trailer every row inflates, but the object is incomplete.
    std::fs::write(dir.path().join("truncated.gz"), &whole[..whole.len() - 8]).expect("write");
    let mut corrupt = whole.clone();
    for b in corrupt.iter_mut().skip(12).take(40) {
        *b = 0xA5;
    }
    std::fs::write(dir.path().join("corrupt.gz"), corrupt).expect("write");
    let e = engine(&[dir.path()]);
    let out = e
        .run(
            "SELECT session_id, count(*) AS n FROM logs GROUP BY session_id ORDER BY session_id",
            None,
        )
        .await
        .expect("the run goes on");
    let s = &out.stats;
    assert_eq!(
        (s.objects_listed, s.objects_read, s.objects_failed),
        (3, 1, 2)
    );
    let failed: Vec<(String, String)> = s
        .failures
        .iter()
        .map(|f| {
            (
                f.object.rsplit('/').next().unwrap_or("").to_string(),
                f.reason.clone(),
            )
        })
        .collect();
    assert_eq!(failed[0].0, "corrupt.gz");
    assert!(failed[0].1.contains("corrupt gzip"), "{failed:?}");
    assert_eq!(
        failed[1],
        (
            "truncated.gz".to_string(),
            "truncated gzip (unexpected end of data)".to_string()
        )
    );
    // The good object is whole; the truncated one's complete rows are kept.
    let csv = query_csv(
        &e,
        "SELECT session_id, count(*) AS n FROM logs GROUP BY session_id ORDER BY session_id",
    )
    .await;
    assert_eq!(csv, "session_id,n\ns1,2\ns2,2\n");

    let strict = engine_with(
        &[dir.path()],
        ReadOptions {
            strict: true,
            ..ReadOptions::default()
        },
    );
    let err = strict
        .run("SELECT count(*) FROM logs", None)
        .await
        .expect_err("strict fails");
    assert!(err.to_string().contains(".gz: "), "{err}");
}

#[tokio::test]
async fn malformed_lines_are_counted_and_skipped() {
    let dir = tempdir();
    let good = row("s1", 1, "/a");
    let text = format!(
        "{HEADER_33}{}{}{}{}{}{}{}{}",
        good.line(),
        "2026-01-01\t00:00:02\tFRA\t5000\n", // too few fields
        row("s1", 3, "/b")
            .line()
            .replace("2026-01-01", "2026-02-30"), // no such date
        row("s1", 4, "/c").line().replace("00:00:04", "00:61:04"), // no such time
        row("s1", 5, "/d").status("OK").line(), // status
        row("s1", 6, "/e").bytes("99999999999999999999").line(), // bytes > 64 bits
        row("s1", 7, "/f").bytes("-").line(), // bytes missing
        row("s1", 8, "/g").line(),
    );
    std::fs::write(dir.path().join("mixed.log"), text).expect("write");
    let e = engine(&[dir.path()]);
    let out = e.run("SELECT uri FROM logs", None).await.expect("runs");
    let s = &out.stats;
    assert_eq!((s.rows_read, s.rows_malformed, s.objects_read), (8, 6, 1));
    let reasons: Vec<String> = s
        .malformed_samples
        .iter()
        .map(|m| format!("{}: {}", m.line, m.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            "4: expected 33 fields, found 4",
            "5: date is not YYYY-MM-DD: \"2026-02-30\"",
            "6: time is not HH:MM:SS: \"00:61:04\"",
            "7: sc-status is not a status code: \"OK\"",
            "8: sc-bytes is not a number below 2^63: \"99999999999999999999\"",
            "9: sc-bytes is not a number below 2^63: \"-\"",
        ]
    );
    assert_eq!(out.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    let strict = engine_with(
        &[dir.path()],
        ReadOptions {
            strict: true,
            ..ReadOptions::default()
        },
    );
    let err = strict
        .run("SELECT uri FROM logs", None)
        .await
        .expect_err("strict fails");
    assert!(
        err.to_string()
            .contains("mixed.log: line 4: expected 33 fields, found 4"),
        "{err}"
    );
}

#[tokio::test]
async fn non_utf8_bytes_empty_files_and_no_fields_line() {
    let dir = tempdir();
    let mut line = row("s1", 1, "/a").ua("Bot\u{1}").line().into_bytes();
    let pos = line.windows(4).position(|w| w == b"Bot\x01").expect("ua");
    line[pos + 3] = 0xFF;
    // No #Fields line: the 33-field order is assumed.
    std::fs::write(dir.path().join("raw.log"), &line).expect("write");
    std::fs::write(dir.path().join("empty.gz"), b"").expect("write");
    let e = engine(&[dir.path()]);
    let csv = query_csv(&e, "SELECT user_agent FROM logs").await;
    assert_eq!(csv, "user_agent\nBot%FF\n");
    let out = e
        .run("SELECT count(*) FROM logs", None)
        .await
        .expect("runs");
    assert_eq!(
        (
            out.stats.objects_read,
            out.stats.rows_read,
            out.stats.rows_malformed
        ),
        (2, 1, 0)
    );
}

#[tokio::test]
async fn a_fields_line_without_a_needed_field_fails_the_object_by_name() {
    let dir = tempdir();
    let text =
        "#Fields: date time sc-status c-ip cs-uri-stem\n2026-01-01\t00:00:01\t200\t192.0.2.1\t/x\n";
    std::fs::write(dir.path().join("no-bytes.log"), text).expect("write");
    let text =
        "#Fields: date time sc-status sc-bytes c-ip\n2026-01-01\t00:00:01\t200\t5000\t192.0.2.1\n";
    std::fs::write(dir.path().join("no-uri.log"), text).expect("write");
    let e = engine(&[dir.path()]);
    let out = e
        .run("SELECT request_ip FROM logs", None)
        .await
        .expect("runs");
    let reasons: Vec<&str> = out
        .stats
        .failures
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["line 1: the #Fields line lacks `sc-bytes`, which this query needs"]
    );
    assert_eq!(out.stats.objects_read, 1);
    let out = e
        .run("SELECT session_id FROM logs", None)
        .await
        .expect("runs");
    let reasons: Vec<&str> = out
        .stats
        .failures
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "line 1: the #Fields line lacks `sc-bytes`, which this query needs",
            "line 1: the #Fields line lacks `cs-uri-stem`, which this query needs",
        ]
    );
}

#[tokio::test]
async fn projection_and_filters_give_the_same_rows_as_a_full_scan() {
    let dir = tempdir();
    let rows: Vec<Row> = (0..50u32)
        .map(|i| {
            let r = row(
                if i % 3 == 0 { "sX" } else { "sY" },
                i * 7,
                &format!("/{i}.ts"),
            );
            let r = if i % 4 == 0 { r.status("304") } else { r };
            if i % 5 == 0 { r.bytes("1024") } else { r }
        })
        .collect();
    write_log(&dir.path().join("a.gz"), &rows[..25]);
    write_log(&dir.path().join("b.gz"), &rows[25..]);
    let e = engine(&[dir.path()]);
    let pushed = query_csv(
        &e,
        "SELECT session_id, uri FROM logs WHERE status IN (200, 206) AND bytes > 1024 \
         AND ts BETWEEN TIMESTAMP '2026-01-01T00:00:30Z' AND TIMESTAMP '2026-01-01T00:04:00Z' \
         AND session_id IS NOT NULL ORDER BY uri",
    )
    .await;
    // The same filter written so that nothing can be pushed down.
    let unpushed = query_csv(
        &e,
        "SELECT session_id, uri FROM logs WHERE (status + 0) IN (200, 206) AND (bytes + 0) > 1024 \
         AND to_unixtime(ts) BETWEEN 1767225630 AND 1767225840 \
         AND coalesce(session_id, '') <> '' ORDER BY uri",
    )
    .await;
    assert_eq!(pushed, unpushed);
    assert_eq!(pushed.lines().count() - 1, 18, "{pushed}");
}

/// `score DIR --now latest --all --format csv --format-in FORMAT`.
fn score_all_csv(dir: &std::path::Path, format: &str) -> std::process::Output {
    score_rules_csv(dir, format, "upstream")
}

/// `score DIR --now latest --all --format csv --format-in FORMAT --rules RULES`.
fn score_rules_csv(dir: &std::path::Path, format: &str, rules: &str) -> std::process::Output {
    autorevoke(&[
        "score",
        &dir.display().to_string(),
        "--now",
        "latest",
        "--all",
        "--format",
        "csv",
        "--format-in",
        format,
        "--rules",
        rules,
    ])
}

/// `viewers` scores of DIR (any input form), checked to exit 0 and to find the five shared
/// sessions of sample-logs (2 or 4 viewers; everyone else 1).
fn viewers_csv(dir: &std::path::Path) -> String {
    let out = score_rules_csv(dir, "auto", "viewers");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shared = stdout(&out)
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) != Some("1.0"))
        .count();
    assert_eq!(shared, 5, "{}", stdout(&out));
    stdout(&out)
}

/// The rows of a W3C log object as standard logging v2 JSON records (one object per line, W3C
/// field names as keys, string values). With `epoch`, `date` and `time` become one
/// `timestamp(ms)` field and `c-country` and `asn` are logged too.
fn w3c_to_json(w3c: &str, epoch: bool) -> String {
    let mut out = String::new();
    for row in w3c_rows(w3c) {
        let mut record: serde_json::Map<String, serde_json::Value> = row
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        if epoch {
            record.remove("date");
            record.remove("time");
            // Milliseconds within the second do not change the row's second.
            let ms = row.epoch() * 1000 + 456;
            record.insert("timestamp(ms)".into(), ms.to_string().into());
            record.insert("c-country".into(), "DE".into());
            record.insert("asn".into(), "3320".into());
        }
        out.push_str(&serde_json::Value::Object(record).to_string());
        out.push('\n');
    }
    out
}

#[test]
fn json_records_score_exactly_as_the_w3c_form_of_the_same_rows() {
    let dir = tempdir();
    let json = dir.path().join("json");
    std::fs::create_dir_all(&json).expect("mkdir");
    for (i, name) in sample_log_names().iter().enumerate() {
        let text = sample_text(name);
        let records = w3c_to_json(&text, false);
        assert!(records.starts_with("{\"c-ip\":"), "{}", &records[..80]);
        write_gz(
            &dir.path().join("epoch").join(name),
            w3c_to_json(&text, true).as_bytes(),
        );
        // Gzipped, as CloudFront delivers, and one object plain.
        if i == 0 {
            std::fs::write(json.join(name.trim_end_matches(".gz")), records).expect("write");
        } else {
            write_gz(&json.join(name), records.as_bytes());
        }
    }
    let score_as = score_all_csv;
    let score = |d: &std::path::Path| score_all_csv(d, "auto");
    let w3c = score(&repo().join("sample-logs"));
    let from_json = score(&json);
    assert_eq!(from_json.status.code(), Some(0), "{}", stderr(&from_json));
    assert_eq!(stdout(&from_json), stdout(&w3c));
    // `timestamp(ms)` instead of `date` and `time`, with `c-country` and `asn` beside.
    let from_epoch = score(&dir.path().join("epoch"));
    assert_eq!(from_epoch.status.code(), Some(0), "{}", stderr(&from_epoch));
    assert_eq!(stdout(&from_epoch), stdout(&w3c));
    // The `viewers` profile reads paths and addresses: the same answers from every form.
    let viewers = viewers_csv(&repo().join("sample-logs"));
    assert_eq!(viewers_csv(&json), viewers);
    assert_eq!(viewers_csv(&dir.path().join("epoch")), viewers);
    // Forced formats: the right one reads the same; the other form's lines are malformed.
    assert_eq!(stdout(&score_as(&json, "json")), stdout(&w3c));
    let as_w3c = score_as(&json, "w3c");
    assert_eq!(as_w3c.status.code(), Some(3), "{}", stderr(&as_w3c));
    let as_json = score_as(&repo().join("sample-logs"), "json");
    assert_eq!(as_json.status.code(), Some(3), "{}", stderr(&as_json));
    assert!(
        stderr(&as_json).contains(": line 3: not a JSON record (--format-in json)"),
        "{}",
        stderr(&as_json)
    );

    // A broken record is one malformed line, like a broken W3C row.
    std::fs::write(
        json.join("broken.json"),
        "{\"date\": \"2026-01-15\", \"ti\n",
    )
    .expect("write");
    let out = score(&json);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&w3c));
    assert!(
        stderr(&out).contains("broken.json: line 1: not a JSON log record: EOF while parsing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn parquet_objects_score_exactly_as_the_w3c_form_of_the_same_rows() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let dir = tempdir();
    let pq = dir.path().join("parquet");
    std::fs::create_dir_all(&pq).expect("mkdir");
    for name in sample_log_names() {
        let text = sample_text(&name);
        let mut names: Vec<String> = Vec::new();
        let mut columns: Vec<Vec<Option<String>>> = Vec::new();
        for line in text.lines() {
            if let Some(fields) = line.strip_prefix("#Fields:") {
                // v2 Parquet column names: the W3C names with `-()` as `_`.
                names = fields
                    .split_whitespace()
                    .map(|f| f.replace(['-', '(', ')'], "_"))
                    .collect();
                columns = vec![Vec::new(); names.len()];
            } else if !line.starts_with('#') && !line.is_empty() {
                for (c, v) in columns.iter_mut().zip(line.split('\t')) {
                    // Parquet has nulls where the W3C form writes `-`.
                    c.push((v != "-").then(|| v.to_string()));
                }
            }
        }
        assert!(names.contains(&"cs_User_Agent_".to_string()), "{names:?}");
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).expect("batch");
        let file = std::fs::File::create(pq.join(name.replace(".gz", ".parquet"))).expect("create");
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    }
    let score_as = score_all_csv;
    let score = |d: &std::path::Path| score_all_csv(d, "auto");
    let w3c = score(&repo().join("sample-logs"));
    let from_parquet = score(&pq);
    assert_eq!(
        from_parquet.status.code(),
        Some(0),
        "{}",
        stderr(&from_parquet)
    );
    assert_eq!(stdout(&from_parquet), stdout(&w3c));
    assert_eq!(viewers_csv(&pq), viewers_csv(&repo().join("sample-logs")));
    assert_eq!(stdout(&score_as(&pq, "parquet")), stdout(&w3c));
    let as_w3c = score_as(&pq, "w3c");
    assert_eq!(as_w3c.status.code(), Some(3), "{}", stderr(&as_w3c));
    assert!(
        stderr(&as_w3c).contains(".parquet: a Parquet file, not W3C text (--format-in)"),
        "{}",
        stderr(&as_w3c)
    );
    let as_parquet = score_as(&repo().join("sample-logs"), "parquet");
    assert_eq!(as_parquet.status.code(), Some(3), "{}", stderr(&as_parquet));
    assert!(
        stderr(&as_parquet).contains(".gz: not a Parquet file (--format-in parquet)"),
        "{}",
        stderr(&as_parquet)
    );
}

#[test]
fn realtime_logs_from_firehose_score_exactly_as_the_w3c_form_of_the_same_rows() {
    use autorevoke::cloudfront::RealtimeFields;
    let dir = tempdir();
    let (all, some) = (dir.path().join("all"), dir.path().join("some"));
    // Scoring's fields only, as a configuration might list them (any order).
    let chosen = "cs-referer,cs-user-agent,cs-uri-stem,sc-bytes,sc-status,c-ip,timestamp";
    let some_fields = chosen.parse::<RealtimeFields>().expect("fields").names();
    let all_fields = RealtimeFields::default().names();
    for (i, name) in sample_log_names().iter().enumerate() {
        let text = sample_text(name);
        // `E2SYNTH0EXAMPLE.2026-01-15-19.354bfce7.gz`: Firehose's `YYYY/MM/dd/HH/` prefix and
        // `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>` object names.
        let stamp = name.split('.').nth(1).expect("hour");
        let folder: Vec<&str> = stamp.split('-').collect();
        let key = format!(
            "{}/autorevoke-rt-1-{stamp}-0{i}-00-00000000-0000-0000-0000-00000000000{i}",
            folder.join("/")
        );
        let records = w3c_to_realtime(&text, &all_fields);
        assert_eq!(
            records.lines().next().map(|l| l.split('\t').count()),
            Some(45)
        );
        if i == 0 {
            // Firehose without compression.
            std::fs::create_dir_all(all.join(folder.join("/"))).expect("mkdir");
            std::fs::write(all.join(&key), &records).expect("write");
        } else {
            write_gz(&all.join(format!("{key}.gz")), records.as_bytes());
        }
        write_gz(
            &some.join(format!("{key}.gz")),
            w3c_to_realtime(&text, &some_fields).as_bytes(),
        );
    }
    let w3c = score_all_csv(&repo().join("sample-logs"), "auto");
    for format in ["auto", "realtime"] {
        let out = score_all_csv(&all, format);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert_eq!(stdout(&out), stdout(&w3c), "{format}");
    }
    assert_eq!(viewers_csv(&all), viewers_csv(&repo().join("sample-logs")));
    // Another field set: read with --realtime-fields or [logs] realtime_fields.
    let some_text = some.display().to_string();
    let csv = ["--now", "latest", "--all", "--format", "csv"];
    let out = autorevoke(
        &[
            &["score", &some_text, "--realtime-fields", chosen],
            &csv[..],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&w3c));
    let config = dir.path().join("autorevoke.toml");
    std::fs::write(
        &config,
        format!(
            "[logs]\nrealtime_fields = {:?}\n",
            chosen.split(',').collect::<Vec<_>>()
        ),
    )
    .expect("config");
    let config_text = config.display().to_string();
    let out = autorevoke(&[&["score", &some_text, "--config", &config_text], &csv[..]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&w3c));
    // Without the set, every record is malformed with the count that tells why.
    expect_exit(
        &score_all_csv(&some, "auto"),
        3,
        ": line 1: expected 45 fields (the --realtime-fields set), found 7",
    );
    // An unknown field name is a setting error (exit 2) naming it.
    let out = autorevoke(&[
        "score",
        &some_text,
        "--realtime-fields",
        "timestamp,c-ip,cs-uri",
    ]);
    expect_exit(
        &out,
        2,
        "\"cs-uri\" is not a CloudFront real-time log field",
    );
    // Forced real-time: a W3C object fails naming itself.
    expect_exit(
        &score_all_csv(&repo().join("sample-logs"), "realtime"),
        3,
        ".gz: line 1: a W3C header line, not a real-time log",
    );
}

#[test]
fn a_parquet_object_whose_rows_expand_past_the_limits_fails_alone() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, DictionaryArray, RecordBatch};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    // The audit's object: three dictionary-encoded columns holding one 1 MiB string for
    // 4,096 rows; a few kilobytes on disk, 12 GiB of rows once expanded.
    let dir = tempdir();
    for name in sample_log_names() {
        std::fs::copy(
            repo().join("sample-logs").join(&name),
            dir.path().join(&name),
        )
        .expect("copy");
    }
    // Every field of the 33-field form (v2 names), so the object's header is complete; the
    // referer, user agent and query hold the long value, the others one short value.
    let names: Vec<String> = HEADER_33
        .lines()
        .find_map(|l| l.strip_prefix("#Fields: "))
        .expect("fields")
        .split(' ')
        .map(|f| f.replace(['-', '(', ')'], "_"))
        .collect();
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| {
                Field::new(
                    n,
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    true,
                )
            })
            .collect::<Vec<_>>(),
    ));
    let long = "x".repeat(1 << 20);
    let column = |value: &str| -> ArrayRef {
        let array: DictionaryArray<Int32Type> = std::iter::repeat_n(Some(value), 4096).collect();
        Arc::new(array)
    };
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        names
            .iter()
            .map(|n| match n.as_str() {
                "cs_Referer_" | "cs_User_Agent_" | "cs_uri_query" => column(&long),
                _ => column("1"),
            })
            .collect(),
    )
    .expect("batch");
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_dictionary_page_size_limit(64 << 20)
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let path = dir
        .path()
        .join("E2SYNTH0EXAMPLE.2026-01-15-19.hostile.parquet");
    let file = std::fs::File::create(&path).expect("create");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, schema, Some(properties)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    assert!(std::fs::metadata(&path).expect("meta").len() < 64 << 10);

    let out = score_all_csv(dir.path(), "auto");
    expect_exit(
        &out,
        3,
        "hostile.parquet: cannot decode: row 1: column cs_Referer_ makes the row longer than the \
         line limit of 1048576 bytes (not a CloudFront log)",
    );
    let sample = score_all_csv(&repo().join("sample-logs"), "auto");
    assert_eq!(stdout(&out), stdout(&sample));
}
