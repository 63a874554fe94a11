//! Common Access Token sessions end to end, and `kvs publish` against a real local
//! implementation of the CloudFront KeyValueStore API: ministack (its data plane checks
//! ETags), started by scripts/test (AUTOREVOKE_TEST_KVS_ENDPOINT), with the revocation table
//! on moto (AUTOREVOKE_TEST_ENDPOINT).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};

use autorevoke::aws::{AwsAccess, AwsSettings};
use autorevoke::session::cta::{Cti, encode_token};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;

use crate::revocation::{Env, setup};
use crate::s3::bucket_name;
use crate::util::*;

/// ministack's endpoint, or None (and a "skipped" line; a failure under CI).
pub fn kvs_endpoint() -> Option<String> {
    let e = std::env::var("AUTOREVOKE_TEST_KVS_ENDPOINT").ok();
    if e.is_none() {
        skip(
            "no local KeyValueStore endpoint (AUTOREVOKE_TEST_KVS_ENDPOINT; scripts/test sets it)",
        );
    }
    e
}

/// One plain HTTP/1.1 request to ministack: (status, ETag header, body).
fn http(
    ep: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let host = ep.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to ministack");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let etag = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("etag").then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, etag, body.to_string())
}

/// A fresh KeyValueStore (CreateKeyValueStore on ministack's CloudFront control plane); its ARN.
fn create_store(ep: &str, test: &str) -> String {
    let name = bucket_name(test);
    let xmlns = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
    let body = format!(
        "<CreateKeyValueStoreRequest xmlns=\"{xmlns}\"><Name>{name}</Name>\
         </CreateKeyValueStoreRequest>"
    );
    let (status, _, text) = http(
        ep,
        "POST",
        "/2020-05-31/key-value-store",
        &[("Content-Type", "application/xml")],
        &body,
    );
    assert_eq!(status, 201, "{text}");
    let arn = text
        .split("<ARN>")
        .nth(1)
        .and_then(|s| s.split("</ARN>").next())
        .expect("ARN");
    arn.to_string()
}

/// The KeyValueStore client of the tests: `--endpoint-url` as given (the SDK's rules alone
/// would send it to `<account>.127.0.0.1`).
async fn kvs_client(ep: &str) -> aws_sdk_cloudfrontkeyvaluestore::Client {
    AwsAccess::new(AwsSettings {
        endpoint_url: Some(ep.into()),
        ..AwsSettings::default()
    })
    .kvs_client()
    .await
}

async fn etag(c: &aws_sdk_cloudfrontkeyvaluestore::Client, arn: &str) -> String {
    let out = c
        .describe_key_value_store()
        .kvs_arn(arn)
        .send()
        .await
        .expect("describe");
    out.e_tag().to_string()
}

async fn keys(c: &aws_sdk_cloudfrontkeyvaluestore::Client, arn: &str) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut token = None;
    loop {
        let page = c
            .list_keys()
            .kvs_arn(arn)
            .max_results(50)
            .set_next_token(token)
            .send()
            .await
            .expect("list");
        for i in page.items() {
            all.insert(i.key().to_string(), i.value().to_string());
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return all;
        }
    }
}

async fn put_key(c: &aws_sdk_cloudfrontkeyvaluestore::Client, arn: &str, key: &str, value: &str) {
    let tag = etag(c, arn).await;
    c.put_key()
        .kvs_arn(arn)
        .if_match(tag)
        .key(key)
        .value(value)
        .send()
        .await
        .expect("put key");
}

/// The revocation table and a KeyValueStore.
struct Kvs {
    env: Env,
    ep: String,
    arn: String,
    client: aws_sdk_cloudfrontkeyvaluestore::Client,
}

async fn kvs_setup(test: &str) -> Option<Kvs> {
    let ep = kvs_endpoint()?;
    let env = setup(test, "", "").await?;
    let arn = create_store(&ep, test);
    let client = kvs_client(&ep).await;
    Some(Kvs {
        env,
        ep,
        arn,
        client,
    })
}

impl Kvs {
    /// `autorevoke ARGS` with DynamoDB on moto and the KeyValueStore on ministack (one
    /// endpoint each, from the per-service variables).
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_autorevoke"))
            .args(args)
            .current_dir(repo())
            .env("AWS_ENDPOINT_URL_DYNAMODB", &self.env.ep)
            .env("AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE", &self.ep)
            .output()
            .expect("the binary runs")
    }

    fn publish(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "kvs",
            "publish",
            "--table",
            &self.env.table,
            "--kvs-arn",
            &self.arn,
        ];
        args.extend_from_slice(extra);
        self.cli(&args)
    }

    /// An item as `run` or `revoke` writes it, under `reason`.
    async fn put(&self, id: &str, kind: &str, score: &str, last_updated: i64, reason: &str) {
        self.env.put(id, kind, score, last_updated).await;
        self.env
            .ddb
            .update_item()
            .table_name(&self.env.table)
            .key("session_id", AttributeValue::S(id.into()))
            .update_expression("SET reason = :r")
            .expression_attribute_values(":r", AttributeValue::S(reason.into()))
            .send()
            .await
            .expect("reason");
    }
}

fn value(kind: &str, reason: &str, score: &str, revoked_at: i64, expires_at: i64) -> String {
    format!(
        "{{\"type\":\"{kind}\",\"reason\":\"{reason}\",\"score\":{score},\
         \"revoked_at\":{revoked_at},\"expires_at\":{expires_at}}}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_writes_exactly_the_expected_keys_and_a_second_publish_changes_nothing() {
    let Some(k) = kvs_setup("kvs-exact").await else {
        return;
    };
    let now = Utc::now().timestamp();
    let reason = "COMPROMISED";
    k.put("manualNew", "MANUAL", "0", now - 10, reason).await;
    k.put("autoHigh", "AUTO", "7.5", now - 60, reason).await;
    k.put("autoLow", "AUTO", "3.25", now - 120, reason).await;
    k.put("expiredAuto", "AUTO", "9", now - 3600, reason).await;
    k.put("bad.id", "MANUAL", "0", now - 5, reason).await;
    // A CTA session's item: not this rule's, never published under `prefix`.
    k.put("ctaSession", "AUTO", "8", now - 30, "COMPROMISED_CTA")
        .await;
    // Another application's key, and a stale key of ours.
    put_key(&k.client, &k.arn, "config:theme", "dark").await;
    put_key(&k.client, &k.arn, "revoked:gone", "{}").await;

    let out = k.publish(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = BTreeMap::from([
        ("config:theme".to_string(), "dark".to_string()),
        (
            "revoked:autoHigh".to_string(),
            value("AUTO", reason, "7.5", now - 60, now - 60 + 1800),
        ),
        (
            "revoked:autoLow".to_string(),
            value("AUTO", reason, "3.25", now - 120, now - 120 + 1800),
        ),
        // A MANUAL item within the retention: its `ttl` is not read (the index does not
        // project it), so its value names the retention's end.
        (
            "revoked:manualNew".to_string(),
            value("MANUAL", reason, "0.0", now - 10, now - 10 + 1800),
        ),
    ]);
    assert_eq!(keys(&k.client, &k.arn).await, expected);
    let text = stdout(&out);
    assert!(
        text.contains("added   (3): revoked:manualNew revoked:autoHigh revoked:autoLow"),
        "{text}"
    );
    assert!(text.contains("deleted (1): revoked:gone"), "{text}");
    assert!(
        text.contains("invalid session ids, never published: [\"bad.id\"]"),
        "{text}"
    );

    // Unchanged table: one DescribeKeyValueStore and the listing, no UpdateKeys.
    let before = etag(&k.client, &k.arn).await;
    let out = k.publish(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["updates"], 0);
    assert_eq!(v["kept"], 3);
    assert_eq!(v["etag_before"], serde_json::Value::String(before.clone()));
    assert_eq!(etag(&k.client, &k.arn).await, before, "no UpdateKeys call");

    // autoLow leaves the retention: its key is deleted, the others stay.
    k.put("autoLow", "AUTO", "3.25", now - 7200, reason).await;
    let out = k.publish(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deleted (1): revoked:autoLow"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        etag(&k.client, &k.arn).await,
        before,
        "a dry run changes nothing"
    );
    let out = k.publish(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut after = expected.clone();
    after.remove("revoked:autoLow");
    assert_eq!(keys(&k.client, &k.arn).await, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_size_budget_keeps_the_highest_priority_sessions_and_a_mass_unblock_is_refused() {
    let Some(k) = kvs_setup("kvs-budget").await else {
        return;
    };
    let now = Utc::now().timestamp();
    for i in 0..12 {
        k.put(
            &format!("s{i:02}"),
            "AUTO",
            &format!("{}", 20 - i),
            now - 60,
            "COMPROMISED",
        )
        .await;
    }
    // Each key and value takes 110 bytes: 400 hold three.
    let out = k.publish(&["--max-bytes", "400"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mine: Vec<String> = keys(&k.client, &k.arn).await.into_keys().collect();
    assert_eq!(mine, ["revoked:s00", "revoked:s01", "revoked:s02"]);
    assert!(
        stdout(&out)
            .contains("did not fit the size budget (9): s03 s04 s05 s06 s07 s08 s09 s10 s11"),
        "{}",
        stdout(&out)
    );
    let out = k.publish(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(keys(&k.client, &k.arn).await.len(), 12);
    // Every item leaves the retention: deleting 12 of 12 keys is refused without the flag.
    for i in 0..12 {
        k.put(&format!("s{i:02}"), "AUTO", "5", now - 7200, "COMPROMISED")
            .await;
    }
    let before = etag(&k.client, &k.arn).await;
    expect_exit(
        &k.publish(&[]),
        7,
        "the publish would delete 12 of its 12 keys under \"revoked:\"",
    );
    assert_eq!(etag(&k.client, &k.arn).await, before);
    let out = k.publish(&["--allow-mass-unblock"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(keys(&k.client, &k.arn).await.is_empty());
}

/// Writes a key of another application through ministack's data plane right before the first
/// UpdateKeys is sent: the ETag the publisher read is then stale.
#[derive(Debug)]
struct ConcurrentWriter {
    ep: String,
    arn: String,
    done: AtomicBool,
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for ConcurrentWriter {
    fn name(&self) -> &'static str {
        "ConcurrentWriter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let r = context.request();
        let update = r.method() == "POST" && r.uri().ends_with("/keys");
        if update && !self.done.swap(true, Ordering::SeqCst) {
            let arn = self.arn.replace(':', "%3A").replace('/', "%2F");
            let (_, tag, _) = http(
                &self.ep,
                "GET",
                &format!("/key-value-stores/{arn}"),
                &[],
                "",
            );
            let (status, _, body) = http(
                &self.ep,
                "PUT",
                &format!("/key-value-stores/{arn}/keys/other%3Awriter"),
                &[("If-Match", &tag), ("Content-Type", "application/json")],
                r#"{"Value":"theirs"}"#,
            );
            assert_eq!(status, 200, "{body}");
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrent_writers_etag_conflict_is_retried() {
    let Some(ep) = kvs_endpoint() else {
        return;
    };
    use autorevoke::kvs::{KeyValueStore, PublishSettings};
    use autorevoke::revocation::{ItemType, RevocationItem};
    let arn = create_store(&ep, "kvs-conflict");
    let base = kvs_client(&ep).await;
    let writer = ConcurrentWriter {
        ep: ep.clone(),
        arn: arn.clone(),
        done: AtomicBool::new(false),
    };
    let client = aws_sdk_cloudfrontkeyvaluestore::Client::from_conf(
        base.config().to_builder().interceptor(writer).build(),
    );
    let now = Utc::now().timestamp();
    let item = |id: &str| RevocationItem {
        session_id: id.into(),
        item_type: ItemType::Auto,
        score: 4.0,
        last_updated: now,
        ttl: None,
    };
    let selection = autorevoke::revocation::select(vec![item("one"), item("two")], now, 30);
    let settings = PublishSettings {
        key_prefix: "revoked:".into(),
        reason: "COMPROMISED",
        retention_minutes: 30,
        max_bytes: None,
    };
    let outcome = KeyValueStore::new(client, &arn)
        .publish(&selection, &settings, false, false)
        .await
        .expect("published");
    assert_eq!((outcome.conflict_retries, outcome.updates), (1, 1));
    let all: Vec<String> = keys(&base, &arn).await.into_keys().collect();
    assert_eq!(all, ["other:writer", "revoked:one", "revoked:two"]);
    assert_eq!(
        outcome.before.other_keys, 1,
        "the second read saw the other key"
    );
    assert_eq!(etag(&base, &arn).await, outcome.etag_after);
}

/// `synth` with the same seed under `rule`, scored as CSV (every session).
fn synth_scores(dir: &std::path::Path, name: &str, rule: &str) -> (std::path::PathBuf, String) {
    let logs = dir.join(name);
    synth_into(
        &logs,
        &["--session-from", rule, "--viewers", "40", "--shared", "4"],
    );
    let out = score_csv(&logs, rule, &[]);
    (logs, out)
}

fn score_csv(logs: &std::path::Path, rule: &str, extra: &[&str]) -> String {
    let text = logs.display().to_string();
    let mut args = vec![
        "score",
        &text,
        "--now",
        "latest",
        "--all",
        "--format",
        "csv",
        "--session-from",
        rule,
    ];
    args.extend_from_slice(extra);
    let out = autorevoke(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

/// A W3C log's rows as real-time records (the default 45 fields), the `CAT` query parameter
/// moved into the `CTA-Common-Access-Token` header of `cs-headers`.
fn w3c_to_realtime_with_headers(w3c: &str) -> String {
    use autorevoke::cloudfront::RealtimeFields;
    let mut out = String::new();
    for row in w3c_rows(w3c) {
        let query = row.value("cs-uri-query");
        let token = query.strip_prefix("CAT=");
        let record: Vec<String> = RealtimeFields::default()
            .names()
            .iter()
            .map(|field| match *field {
                "timestamp" => format!("{}.250", row.epoch()),
                "cs-uri-query" => "-".to_string(),
                "cs-headers" => match token {
                    Some(t) => format!("Host:d.net%0ACTA-Common-Access-Token:{t}%0AAccept:*/*"),
                    None => "Host:d.net%0AAccept:*/*".to_string(),
                },
                other => row.realtime_value(other),
            })
            .collect();
        out.push_str(&record.join("\t"));
        out.push('\n');
    }
    out
}

#[test]
fn cta_tokens_in_the_path_query_and_header_give_the_same_scores_as_the_prefix_form() {
    let dir = tempdir();
    let (_, prefix) = synth_scores(dir.path(), "prefix", "prefix");
    let (cta_logs, cta) = synth_scores(dir.path(), "cta", "cta");
    assert!(prefix.lines().count() > 30, "{prefix}");
    assert_eq!(cta, prefix);
    // Both placements are in the set.
    let text: String = std::fs::read_dir(&cta_logs)
        .expect("logs")
        .map(|e| inflated(&e.expect("entry").path()))
        .collect();
    assert!(text.contains("\tCAT="), "query tokens");
    assert!(
        text.lines().any(|l| l
            .split('\t')
            .nth(7)
            .is_some_and(|uri| uri.len() > 60 && !uri.starts_with("/vod/"))),
        "path tokens"
    );
    // The prefix rule finds no session in CTA logs; the CTA rule none in prefix logs.
    let none = score_csv(&cta_logs, "prefix", &["--allow-empty"]);
    assert_eq!(none.lines().count(), 1, "{none}");
    // Real-time records: the query's tokens travel in the header instead.
    let realtime = dir.path().join("realtime");
    std::fs::create_dir_all(&realtime).expect("mkdir");
    for (i, entry) in std::fs::read_dir(&cta_logs).expect("logs").enumerate() {
        let records = w3c_to_realtime_with_headers(&inflated(&entry.expect("entry").path()));
        write_gz(&realtime.join(format!("rt-{i}.gz")), records.as_bytes());
    }
    assert_eq!(
        score_csv(&realtime, "cta", &["--format-in", "realtime"]),
        prefix
    );
    // `explain` and `query` name the same sessions.
    let first = prefix
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .expect("a session");
    let out = autorevoke(&[
        "explain",
        first,
        &cta_logs.display().to_string(),
        "--now",
        "latest",
        "--session-from",
        "cta",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rows of this session in the logs:"),
        "{}",
        stdout(&out)
    );
    let sql =
        format!("SELECT count(DISTINCT session_id) AS n FROM logs WHERE session_id = '{first}'");
    let out = autorevoke(&[
        "query",
        &realtime.display().to_string(),
        "--sql",
        &sql,
        "--format",
        "csv",
        "--session-from",
        "cta",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n1\n");
}

/// `synth --session-from cta` logs plus one file of requests whose tokens give no session:
/// (reason, line) for each kind.
fn junk_rows() -> Vec<(&'static str, String)> {
    // 61(17([h'a10105', {}, h'a10400', h'00'])): claims {4: 0}, no claim 7.
    let no_cti = "2D3RhEOhAQWgQ6EEAEEA";
    let bad_id = encode_token(&Cti::Text("has.dot".into()), 0);
    vec![
        ("undecodable", "CAT=garbage-token".to_string()),
        ("without_cti", format!("CAT={no_cti}")),
        ("bad_id", format!("CAT={bad_id}")),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_cta_sessions_counts_undecodable_tokens_and_publishes_only_flagged_ones() {
    let Some(k) = kvs_setup("kvs-cta").await else {
        return;
    };
    let dir = tempdir();
    let logs = dir.path().join("logs");
    synth_into(&logs, &["--session-from", "cta"]);
    // Requests with bad tokens, several per kind, at the end of the window.
    let mut rows = Vec::new();
    for (n, (_, query)) in junk_rows().iter().enumerate() {
        for i in 0..3u32 {
            let line = row("x", 0, "/vod/a/seg.ts").line();
            let mut fields: Vec<String> = line.trim_end().split('\t').map(str::to_string).collect();
            fields[0] = "2026-01-15".into();
            fields[1] = format!("19:59:{:02}", n as u32 * 3 + i);
            fields[7] = "/vod/big-match-live/720p/seg_00001.ts".into();
            fields[11] = query.clone();
            rows.push(fields.join("\t"));
        }
    }
    let text = format!("{HEADER_33}{}\n", rows.join("\n"));
    write_gz(
        &logs.join("E2SYNTH0EXAMPLE.2026-01-15-19.junk.gz"),
        text.as_bytes(),
    );
    let out = autorevoke(&[
        "score",
        &logs.display().to_string(),
        "--now",
        "latest",
        "--format",
        "json",
        "--session-from",
        "cta",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let stats = &v["stats"];
    assert_eq!(
        (
            &stats["rows_rejected_session"],
            &stats["rows_rejected_undecodable"],
            &stats["rows_rejected_without_cti"],
            &stats["rows_rejected_bad_id"]
        ),
        (&9.into(), &3.into(), &3.into(), &3.into()),
        "{stats}"
    );
    let flagged: Vec<String> = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["session_id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(flagged.len(), 5, "{flagged:?}");
    // `run --kvs-arn`: the AUTO items carry the CTA reason; the store gets exactly the
    // flagged sessions; `waf compile` refuses CTA sessions.
    let out = k.cli(&[
        "run",
        &logs.display().to_string(),
        "--now",
        "latest",
        "--table",
        &k.env.table,
        "--max-flagged-fraction",
        "0.2",
        "--session-from",
        "cta",
        "--kvs-arn",
        &k.arn,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let items = k.env.items().await;
    let mut written: Vec<&String> = items.keys().collect();
    written.sort();
    let mut want: Vec<&String> = flagged.iter().collect();
    want.sort();
    assert_eq!(written, want);
    assert!(
        items
            .values()
            .all(|i| i["reason"].as_s().ok().map(String::as_str) == Some("COMPROMISED_CTA"))
    );
    let published: Vec<String> = keys(&k.client, &k.arn).await.into_keys().collect();
    let mut expected: Vec<String> = flagged.iter().map(|id| format!("revoked:{id}")).collect();
    expected.sort();
    assert_eq!(published, expected);
    // Publishing the same rule again changes nothing.
    let before = etag(&k.client, &k.arn).await;
    let out = k.publish(&["--session-from", "cta"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("kept    (5)"), "{}", stdout(&out));
    assert_eq!(etag(&k.client, &k.arn).await, before);
    let out = k.cli(&[
        "waf",
        "compile",
        "--table",
        &k.env.table,
        "--rule-group",
        &k.env.group,
        "--session-from",
        "cta",
    ]);
    expect_exit(&out, 2, "a WAF URI-path rule cannot match them");
}

#[test]
#[cfg(feature = "cluster")]
fn cta_sessions_read_the_same_on_ballista_and_from_a_state_stamped_with_the_rule() {
    let dir = tempdir();
    let (logs, cta) = synth_scores(dir.path(), "cta", "cta");
    // Ballista in the process: the rule travels with the plan (ReadOptions).
    assert_eq!(score_csv(&logs, "cta", &["--cluster", "standalone"]), cta);
    // A state kept under one rule is not used under the other; under its own it serves all.
    let state = dir.path().join("state");
    let state_text = state.display().to_string();
    let from_state = |rule: &str| {
        let out = autorevoke(&[
            "score",
            &logs.display().to_string(),
            "--now",
            "latest",
            "--format",
            "json",
            "--session-from",
            rule,
            "--state",
            &state_text,
            // Under the other rule the logs hold no session: nothing to score, allowed here.
            "--allow-empty",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        (
            v["stats"]["objects_from_state"].as_u64().unwrap_or(0),
            v["stats"]["objects_read"].as_u64().unwrap_or(0),
            v["flagged"].as_u64().unwrap_or(0),
        )
    };
    let (none, read, flagged) = from_state("prefix");
    assert_eq!((none, flagged), (0, 0));
    assert_eq!(from_state("cta"), (0, read, 4));
    assert_eq!(from_state("cta"), (read, read, 4));
    assert_eq!(score_csv(&logs, "cta", &["--state", &state_text]), cta);
}
