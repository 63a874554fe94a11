//! The revocation table and the WAF compiler against DynamoDB and WAFv2 on the local moto
//! server (tests/moto_server.py, started by scripts/test).

use std::collections::{BTreeMap, HashMap};

use autorevoke::aws::{AwsAccess, AwsSettings};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_wafv2::types::Scope;
use chrono::Utc;

use crate::s3::{bucket_name, endpoint};
use crate::util::*;

pub struct Env {
    pub ep: String,
    pub table: String,
    pub group: String,
    pub ddb: aws_sdk_dynamodb::Client,
    pub waf: aws_sdk_wafv2::Client,
}

pub async fn setup(test: &str, table_tag: &str, group_tag: &str) -> Option<Env> {
    setup_with_capacity(test, table_tag, group_tag, "100").await
}

/// A fresh table and a rule group of `capacity` WCU, made by `autorevoke init`.
pub async fn setup_with_capacity(
    test: &str,
    table_tag: &str,
    group_tag: &str,
    capacity: &str,
) -> Option<Env> {
    let ep = endpoint()?;
    let access = AwsAccess::new(AwsSettings {
        endpoint_url: Some(ep.clone()),
        ..AwsSettings::default()
    });
    let env = Env {
        table: format!("{}{table_tag}", bucket_name(test)),
        group: format!("{}{group_tag}", bucket_name(test)),
        ddb: access.dynamodb_client().await,
        // The test's own reads retry (another test's `-busyN-` group fails ListRuleGroups for
        // everyone a few times).
        waf: aws_sdk_wafv2::Client::from_conf(
            access
                .wafv2_client()
                .await
                .config()
                .to_builder()
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(6))
                .build(),
        ),
        ep,
    };
    let out = env.cli(&[
        "init",
        "--table",
        &env.table,
        "--rule-group",
        &env.group,
        "--capacity",
        capacity,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("table {}: created", env.table)),
        "{}",
        stdout(&out)
    );
    Some(env)
}

impl Env {
    /// `run sample-logs --now latest --table <table>` with the circuit breaker at 10% (the
    /// sample flags 8.9%), plus `extra`.
    pub fn run_sample(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "run",
            "sample-logs",
            "--now",
            "latest",
            "--table",
            &self.table,
            "--max-flagged-fraction",
            "0.1",
        ];
        args.extend_from_slice(extra);
        self.cli(&args)
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--endpoint-url", &self.ep]);
        autorevoke(&all)
    }

    pub async fn items(&self) -> BTreeMap<String, HashMap<String, AttributeValue>> {
        let mut out = BTreeMap::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in page.items() {
                let id = item["session_id"].as_s().expect("id").clone();
                out.insert(id, item.clone());
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return out;
            }
        }
    }

    pub async fn group_id(&self) -> String {
        let groups = self
            .waf
            .list_rule_groups()
            .scope(Scope::Cloudfront)
            .send()
            .await
            .expect("list");
        groups
            .rule_groups()
            .iter()
            .find(|g| g.name() == Some(self.group.as_str()))
            .and_then(|g| g.id())
            .expect("id")
            .to_string()
    }

    /// (name, priority, search string) of every rule, and the lock token.
    pub async fn rules(&self) -> (Vec<(String, i32, String)>, String) {
        let g = self
            .waf
            .get_rule_group()
            .name(&self.group)
            .scope(Scope::Cloudfront)
            .id(self.group_id().await)
            .send()
            .await
            .expect("get");
        let rules = g
            .rule_group()
            .map(|rg| {
                rg.rules()
                    .iter()
                    .map(|r| {
                        let s = r
                            .statement()
                            .and_then(|s| s.byte_match_statement())
                            .expect("byte match");
                        (
                            r.name().to_string(),
                            r.priority(),
                            String::from_utf8_lossy(s.search_string().as_ref()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (rules, g.lock_token().expect("token").to_string())
    }

    pub async fn put(&self, id: &str, kind: &str, score: &str, last_updated: i64) {
        let mut item = HashMap::from([
            ("session_id".to_string(), AttributeValue::S(id.into())),
            ("type".to_string(), AttributeValue::S(kind.into())),
            (
                "reason".to_string(),
                AttributeValue::S("COMPROMISED".into()),
            ),
            ("score".to_string(), AttributeValue::N(score.into())),
            (
                "last_updated".to_string(),
                AttributeValue::N(last_updated.to_string()),
            ),
            (
                "ttl".to_string(),
                AttributeValue::N((last_updated + 86_400).to_string()),
            ),
        ]);
        if kind == "AUTO" {
            for k in ["ip_rate", "ip_penalty", "referer_penalty", "ua_penalty"] {
                item.insert(k.to_string(), AttributeValue::N("1".into()));
            }
        }
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("put");
    }
}

pub fn flagged_csv() -> Vec<(String, f64)> {
    let csv =
        std::fs::read_to_string(repo().join("tests/expected/sample-logs.score.csv")).expect("csv");
    csv.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0].to_string(), c[1].parse().expect("score"))
        })
        .collect()
}

#[tokio::test]
async fn run_writes_auto_items_with_exactly_the_contract_attributes() {
    let Some(env) = setup("attrs", "", "").await else {
        return;
    };
    let before = Utc::now().timestamp();
    let out = env.run_sample(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("wrote 5 AUTO item(s); 0 session(s) kept their MANUAL item"),
        "{}",
        stdout(&out)
    );
    let items = env.items().await;
    let expected = flagged_csv();
    assert_eq!(items.keys().cloned().collect::<Vec<_>>(), {
        let mut ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
        ids.sort();
        ids
    });
    for (id, score) in expected {
        let item = &items[&id];
        let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "ip_penalty",
                "ip_rate",
                "last_updated",
                "reason",
                "referer_penalty",
                "score",
                "session_id",
                "ttl",
                "type",
                "ua_penalty"
            ]
        );
        assert_eq!(item["type"], AttributeValue::S("AUTO".into()));
        assert_eq!(item["reason"], AttributeValue::S("COMPROMISED".into()));
        for k in [
            "score",
            "ip_rate",
            "ip_penalty",
            "referer_penalty",
            "ua_penalty",
            "last_updated",
            "ttl",
        ] {
            assert!(item[k].is_n(), "{k} is not a number: {:?}", item[k]);
        }
        let n = |k: &str| item[k].as_n().expect("n").parse::<f64>().expect("number");
        assert_eq!(n("score"), score);
        assert_eq!(
            n("score"),
            n("ip_rate") + n("ip_penalty") + n("referer_penalty") + n("ua_penalty")
        );
        let updated = n("last_updated") as i64;
        assert!(updated >= before && updated <= Utc::now().timestamp());
        assert_eq!(n("ttl") as i64, updated + 7 * 86_400);
    }
}

#[tokio::test]
async fn a_manual_revocation_stays_manual_when_run_flags_the_session() {
    let Some(env) = setup("manual", "", "").await else {
        return;
    };
    let out = env.cli(&[
        "revoke",
        "bUFcOJp2iTCS",
        "--table",
        &env.table,
        "--ttl",
        "3600",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let manual = env.items().await["bUFcOJp2iTCS"].clone();
    // The expiry as people read it, the item's ttl exactly.
    let ttl: i64 = manual["ttl"].as_n().expect("ttl").parse().expect("int");
    let expires = chrono::DateTime::from_timestamp(ttl, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        stdout(&out),
        format!(
            "revoked bUFcOJp2iTCS in {} (MANUAL, expires at {expires})\n",
            env.table
        )
    );
    let out = env.run_sample(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("wrote 4 AUTO item(s); 1 session(s) kept their MANUAL item"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("kept MANUAL: bUFcOJp2iTCS"),
        "{}",
        stdout(&out)
    );
    let items = env.items().await;
    // Still the operator's item; its last_updated is refreshed (so the compiler keeps the
    // flagged session blocked) and its 1-hour ttl raised to the AUTO item's 7 days.
    let mut kept = items["bUFcOJp2iTCS"].clone();
    let refreshed = kept.remove("last_updated").expect("last_updated");
    let raised = kept.remove("ttl").expect("ttl");
    let mut original = manual.clone();
    let revoked_at = original.remove("last_updated").expect("last_updated");
    original.remove("ttl");
    assert_eq!(kept, original);
    let t = |v: &AttributeValue| v.as_n().expect("n").parse::<i64>().expect("int");
    assert!(t(&refreshed) >= t(&revoked_at));
    assert_eq!(t(&raised), t(&refreshed) + 7 * 86_400);
    assert_eq!(manual["type"], AttributeValue::S("MANUAL".into()));
    assert_eq!(manual["score"], AttributeValue::N("0".into()));
    let n = |k: &str| manual[k].as_n().expect("n").parse::<i64>().expect("int");
    assert_eq!(n("ttl") - n("last_updated"), 3600);
    assert_eq!(items.len(), 5);
}

#[tokio::test]
async fn revoke_rejects_bad_ids_and_writes_nothing() {
    let Some(env) = setup("badid", "", "").await else {
        return;
    };
    let long = "a".repeat(129);
    for bad in ["has space", "dot.ted", "", long.as_str()] {
        let out = env.cli(&["revoke", "goodOne", bad, "--table", &env.table]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not a session id: expected 1 to 128 of [A-Za-z0-9_-]"),
            "{}",
            stderr(&out)
        );
    }
    assert!(env.items().await.is_empty());
}

#[tokio::test]
async fn sixty_flagged_sessions_are_all_written_through_throttling_and_a_rerun_keeps_the_set() {
    // The table's name asks the test server to throttle its first 5 PutItem calls.
    let Some(env) = setup("sixty", "-throttle5-x", "").await else {
        return;
    };
    let dir = tempdir();
    let logs = dir.path().join("logs");
    let synth = autorevoke(&[
        "synth",
        "--out",
        &logs.display().to_string(),
        "--viewers",
        "150",
        "--shared",
        "64",
        "--minutes",
        "15",
        "--seed",
        "60",
    ]);
    assert_eq!(synth.status.code(), Some(0), "{}", stderr(&synth));
    let l = logs.display().to_string();
    let scored = autorevoke(&["score", &l, "--now", "latest", "--format", "csv"]);
    let mut flagged: Vec<String> = stdout(&scored)
        .lines()
        .skip(1)
        .map(|x| x.split(',').next().unwrap_or("").to_string())
        .collect();
    flagged.sort();
    assert!(flagged.len() >= 60, "{} flagged", flagged.len());

    let out = env.cli(&[
        "run",
        &l,
        "--now",
        "latest",
        "--table",
        &env.table,
        "--format",
        "json",
        "--max-flagged-fraction",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(
        v["write_retries"].as_u64().is_some_and(|r| r >= 5),
        "{}",
        v["write_retries"]
    );
    let first = env.items().await;
    assert_eq!(first.keys().cloned().collect::<Vec<_>>(), flagged);

    let out = env.cli(&[
        "run",
        &l,
        "--now",
        "latest",
        "--table",
        &env.table,
        "--max-flagged-fraction",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let second = env.items().await;
    assert_eq!(
        second.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );
    for (id, item) in &second {
        assert_eq!(item["score"], first[id]["score"], "{id}");
        let t = |m: &HashMap<String, AttributeValue>| {
            m["last_updated"]
                .as_n()
                .expect("n")
                .parse::<i64>()
                .expect("int")
        };
        assert!(t(item) >= t(&first[id]));
    }
}

/// Seven items for a group of 10 WCU (5 rules): MANUAL, AUTO, one over the capacity
/// (`autoLow`) and one expired.
async fn put_compile_items(env: &Env, now: i64) {
    env.put("manualOld", "MANUAL", "0", now - 100).await;
    env.put("manualNew", "MANUAL", "0", now - 10).await;
    env.put("autoTop", "AUTO", "9.5", now - 50).await;
    env.put("autoTieOld", "AUTO", "5", now - 20).await;
    env.put("autoTieNew", "AUTO", "5", now - 5).await;
    env.put("autoLow", "AUTO", "3", now - 30).await; // over capacity
    env.put("autoExpired", "AUTO", "99", now - 3600).await; // outside the 30-minute retention
}

/// The 5 rules [`put_compile_items`] compiles to.
fn compile_items_rules() -> Vec<(String, i32, String)> {
    [
        "manualNew",
        "manualOld",
        "autoTop",
        "autoTieNew",
        "autoTieOld",
    ]
    .iter()
    .zip(1..)
    .map(|(id, p)| (format!("autorevoke-{id}"), p, format!("/{id}.")))
    .collect()
}

#[tokio::test]
async fn compile_orders_caps_and_applies_exactly_the_expected_rules() {
    let Some(env) = setup_with_capacity("compile", "", "", "10").await else {
        return;
    };
    let now = Utc::now().timestamp();
    put_compile_items(&env, now).await;

    // The dry run prints the rules, the diff and what did not fit, and changes nothing.
    let (empty, token0) = env.rules().await;
    assert!(empty.is_empty());
    let out = env.cli(&[
        "waf",
        "compile",
        "--table",
        &env.table,
        "--rule-group",
        &env.group,
        "--capacity",
        "10",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("    1  autorevoke-manualNew  block uri_path starts_with \"/manualNew.\""),
        "{text}"
    );
    assert!(text.contains("added   (5): autorevoke-manualNew autorevoke-manualOld autorevoke-autoTop autorevoke-autoTieNew autorevoke-autoTieOld"), "{text}");
    assert!(
        text.contains("did not fit the capacity (1): autoLow"),
        "{text}"
    );
    assert!(
        text.contains("dry run: the rule group was not changed"),
        "{text}"
    );
    assert_eq!(env.rules().await.1, token0);

    let out = env.cli(&[
        "waf",
        "compile",
        "--table",
        &env.table,
        "--rule-group",
        &env.group,
        "--capacity",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the rule group was updated"),
        "{}",
        stdout(&out)
    );
    let (rules, token1) = env.rules().await;
    let expected = compile_items_rules();
    assert_eq!(rules, expected);

    // Unchanged selection: no UpdateRuleGroup call, so the lock token stays.
    let out = env.cli(&[
        "waf",
        "compile",
        "--table",
        &env.table,
        "--rule-group",
        &env.group,
        "--capacity",
        "10",
    ]);
    assert!(
        stdout(&out).contains("already holds these rules: not updated"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.rules().await, (expected, token1));

    // An empty selection empties the group. (moto 5.2.5 keeps the old rules on an empty
    // update; tests/moto_server.py makes it apply the empty list, as AWS does.)
    for (id, kind, score) in [
        ("manualNew", "MANUAL", "0"),
        ("manualOld", "MANUAL", "0"),
        ("autoTop", "AUTO", "9.5"),
        ("autoTieOld", "AUTO", "5"),
        ("autoTieNew", "AUTO", "5"),
        ("autoLow", "AUTO", "3"),
    ] {
        // Out of the retention, and (MANUAL) past the TTL.
        env.put(id, kind, score, now - 90_000).await;
    }
    let out = env.cli(&[
        "waf",
        "compile",
        "--table",
        &env.table,
        "--rule-group",
        &env.group,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("removed (5)"), "{}", stdout(&out));
    assert!(env.rules().await.0.is_empty());
}

#[tokio::test]
async fn fail_on_overflow_applies_the_rules_that_fit_then_exits_8_naming_the_rest() {
    let Some(env) = setup_with_capacity("overflow", "", "", "10").await else {
        return;
    };
    let now = Utc::now().timestamp();
    put_compile_items(&env, now).await;
    let line = "autorevoke: 1 flagged session(s) did not fit the rule group's capacity (10): \
                autoLow\n";

    // A dry run answers "would this overflow": exit 8, and the group is not changed.
    let (empty, token0) = env.rules().await;
    assert!(empty.is_empty());
    let out = env.cli(&compile_args(&env, &["--fail-on-overflow", "--dry-run"]));
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert_eq!(stderr(&out), line);
    assert!(
        stdout(&out).contains("did not fit the capacity (1): autoLow"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.rules().await, (empty, token0));

    // The rules that fit are applied, then exit 8.
    let out = env.cli(&compile_args(&env, &["--fail-on-overflow"]));
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert_eq!(stderr(&out), line);
    assert!(
        stdout(&out).contains("the rule group was updated"),
        "{}",
        stdout(&out)
    );
    let (rules, token1) = env.rules().await;
    assert_eq!(rules, compile_items_rules());

    // The same from the config file's [waf] fail_on_overflow; without it, exit 0.
    let dir = tempdir();
    let config = dir.path().join("autorevoke.toml");
    std::fs::write(&config, "[waf]\nfail_on_overflow = true\n").expect("config");
    let c = config.display().to_string();
    let out = env.cli(&compile_args(&env, &["--config", &c]));
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert_eq!(stderr(&out), line);
    let out = env.cli(&compile_args(&env, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(env.rules().await, (compile_items_rules(), token1));
}

#[tokio::test]
async fn run_compile_waf_with_fail_on_overflow_exits_8_after_writing_and_compiling() {
    let Some(env) = setup_with_capacity("runoverflow", "", "", "10").await else {
        return;
    };
    // An operator's revocation comes first, so of the run's 5 flagged sessions the lowest
    // score does not fit the 5 rules.
    env.put("opFirst", "MANUAL", "0", Utc::now().timestamp() - 10)
        .await;
    let flagged: Vec<String> = flagged_csv().into_iter().map(|(id, _)| id).collect();
    let (fit, low) = flagged.split_at(4);
    let out = env.run_sample(&[
        "--compile-waf",
        "--rule-group",
        &env.group,
        "--fail-on-overflow",
    ]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "autorevoke: 1 flagged session(s) did not fit the rule group's capacity (10): {}\n",
            low[0]
        )
    );
    let mut expected = vec!["opFirst".to_string()];
    expected.extend(fit.iter().cloned());
    assert_eq!(ids(&env.rules().await.0), expected);
    // Every flagged session was written, the one left out too.
    let mut written = flagged.clone();
    written.push("opFirst".into());
    written.sort();
    assert_eq!(
        env.items().await.keys().cloned().collect::<Vec<_>>(),
        written
    );
    // Without the flag the same run exits 0.
    let out = env.run_sample(&["--compile-waf", "--rule-group", &env.group]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test]
async fn run_then_compile_from_a_config_file_and_a_second_run_changes_nothing() {
    let Some(env) = setup("e2e", "", "").await else {
        return;
    };
    let dir = tempdir();
    let config = dir.path().join("autorevoke.toml");
    std::fs::write(
        &config,
        format!(
            "[aws]\nendpoint_url = \"{}\"\n[logs]\nlocations = [\"sample-logs\"]\n[revocation]\ntable = \"{}\"\nmax_flagged_fraction = 0.1\n\
             [waf]\nrule_group = \"{}\"\ncompile_after_run = true\n",
            env.ep, env.table, env.group
        ),
    )
    .expect("config");
    let c = config.display().to_string();
    let revoke = env.cli(&["revoke", "opKeratorPick", "--config", &c]);
    assert_eq!(revoke.status.code(), Some(0), "{}", stderr(&revoke));
    let out = autorevoke(&["run", "--config", &c, "--now", "latest"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (rules, token) = env.rules().await;
    let mut expected = vec![(
        "autorevoke-opKeratorPick".to_string(),
        1,
        "/opKeratorPick.".to_string(),
    )];
    for ((id, _), p) in flagged_csv().into_iter().zip(2..) {
        expected.push((format!("autorevoke-{id}"), p, format!("/{id}.")));
    }
    assert_eq!(rules, expected);
    let items = env.items().await;
    let out = autorevoke(&["run", "--config", &c, "--now", "latest"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("already holds these rules: not updated"),
        "{}",
        stdout(&out)
    );
    // And `waf compile` on its own, after the run, finds nothing to change either.
    let out = autorevoke(&["waf", "compile", "--config", &c]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("added   (0): \nremoved (0): \nkept    (6): "),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.rules().await, (expected, token));
    assert_eq!(
        env.items().await.keys().collect::<Vec<_>>(),
        items.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_dry_run_writes_nothing_and_says_what_it_would_write() {
    let Some(ep) = endpoint() else { return };
    let out = autorevoke(&[
        "run",
        "sample-logs",
        "--now",
        "latest",
        "--table",
        "ar-never-created",
        "--dry-run",
        "--max-flagged-fraction",
        "0.1",
        "--endpoint-url",
        &ep,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("dry run: would write 5 AUTO item(s):"),
        "{text}"
    );
    for (id, _) in flagged_csv() {
        assert!(text.contains(&format!("  {id} score ")), "{text}");
    }
}

#[test]
fn run_fails_loudly_before_reading_when_the_table_is_missing() {
    let Some(ep) = endpoint() else { return };
    let out = autorevoke(&[
        "run",
        "sample-logs",
        "--now",
        "latest",
        "--table",
        "ar-no-such-table",
        "--endpoint-url",
        &ep,
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("table ar-no-such-table: "),
        "{}",
        stderr(&out)
    );
}

// --- Revocation never fails open (issue 12) ---

/// `waf compile --table T --rule-group G` plus `extra`.
fn compile_args<'a>(env: &'a Env, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "waf",
        "compile",
        "--table",
        &env.table,
        "--rule-group",
        &env.group,
    ];
    args.extend_from_slice(extra);
    args
}

fn ids(rules: &[(String, i32, String)]) -> Vec<String> {
    rules
        .iter()
        .map(|(name, _, _)| name.trim_start_matches("autorevoke-").to_string())
        .collect()
}

#[tokio::test]
async fn a_flagged_session_whose_manual_item_is_old_still_ends_up_blocked() {
    let Some(env) = setup("oldmanual", "", "").await else {
        return;
    };
    let now = Utc::now().timestamp();
    let flagged = flagged_csv();
    let top = flagged[0].0.clone();
    // An operator revoked the top session two hours ago; its TTL has passed but DynamoDB has
    // not deleted it yet, so the AUTO write's condition fails on it.
    env.put(&top, "MANUAL", "0", now - 7200).await;
    let mut stale = env.items().await[&top].clone();
    stale.insert("ttl".into(), AttributeValue::N((now - 60).to_string()));
    env.ddb
        .put_item()
        .table_name(&env.table)
        .set_item(Some(stale))
        .send()
        .await
        .expect("put");
    // Another revocation, also two hours old, with a day of TTL left: `revoke --ttl` says it
    // lasts until then, whatever the compile's 30-minute retention.
    env.put("opKeptByTtl", "MANUAL", "0", now - 7200).await;

    let out = env.run_sample(&["--compile-waf", "--rule-group", &env.group]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("wrote 4 AUTO item(s); 1 session(s) kept their MANUAL item (refreshed)"),
        "{}",
        stdout(&out)
    );
    let item = &env.items().await[&top];
    assert_eq!(item["type"], AttributeValue::S("MANUAL".into()));
    let n = |k: &str| item[k].as_n().expect("n").parse::<i64>().expect("int");
    assert!(n("last_updated") >= now, "refreshed: {item:?}");
    // Its past TTL is raised to the AUTO item's, so the TTL sweep cannot delete it while
    // the session is flagged.
    assert_eq!(n("ttl"), n("last_updated") + 7 * 86_400, "raised: {item:?}");
    let (rules, _) = env.rules().await;
    let mut expected = vec![top.clone(), "opKeptByTtl".to_string()];
    expected.extend(flagged[1..].iter().map(|(id, _)| id.clone()));
    assert_eq!(ids(&rules), expected);
}

/// Replaces `id`'s item by a copy with `ttl` set to `ttl`, or removed for None.
async fn set_ttl(env: &Env, id: &str, ttl: Option<i64>) {
    let mut item = env.items().await[id].clone();
    match ttl {
        Some(t) => item.insert("ttl".into(), AttributeValue::N(t.to_string())),
        None => item.remove("ttl"),
    };
    env.ddb
        .put_item()
        .table_name(&env.table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

#[tokio::test]
async fn a_kept_manual_item_gets_the_auto_ttl_when_its_own_is_lower_and_never_loses_or_gains_one() {
    let Some(env) = setup("manualttl", "", "").await else {
        return;
    };
    let now = Utc::now().timestamp();
    let flagged: Vec<String> = flagged_csv().into_iter().map(|(id, _)| id).collect();
    let (past, later, forever) = (&flagged[0], &flagged[1], &flagged[2]);
    // Three operator revocations of sessions the run flags, two hours old: one past its TTL
    // (not yet swept), one with 30 days left (beyond the run's 3-day AUTO ttl), one without
    // a TTL (never expires).
    let later_ttl = now + 30 * 86_400;
    for (id, ttl) in [
        (past, Some(now - 60)),
        (later, Some(later_ttl)),
        (forever, None),
    ] {
        env.put(id, "MANUAL", "0", now - 7200).await;
        set_ttl(&env, id, ttl).await;
    }
    let before = env.items().await;

    let out = env.run_sample(&["--ttl-days", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("wrote 2 AUTO item(s); 3 session(s) kept their MANUAL item (refreshed)"),
        "{}",
        stdout(&out)
    );
    let items = env.items().await;
    let n = |id: &str, k: &str| items[id][k].as_n().expect("n").parse::<i64>().expect("int");
    // The run writes every item at one time; an AUTO item's ttl is that plus 3 days.
    let written_at = n(&flagged[3], "last_updated");
    assert!(written_at >= now, "{:?}", items[&flagged[3]]);
    let auto_ttl = written_at + 3 * 86_400;
    for auto in &flagged[3..] {
        assert_eq!(items[auto]["type"], AttributeValue::S("AUTO".into()));
        assert_eq!(
            (n(auto, "last_updated"), n(auto, "ttl")),
            (written_at, auto_ttl)
        );
    }
    // Each MANUAL item is the operator's item with last_updated refreshed; only the past
    // ttl changes, to exactly the AUTO items' ttl.
    let num = |v: i64| AttributeValue::N(v.to_string());
    for (id, ttl) in [
        (past, Some(auto_ttl)),
        (later, Some(later_ttl)),
        (forever, None),
    ] {
        let mut expected = before[id].clone();
        expected.insert("last_updated".into(), num(written_at));
        match ttl {
            Some(t) => expected.insert("ttl".into(), num(t)),
            None => expected.remove("ttl"),
        };
        assert_eq!(items[id], expected, "{id}");
        assert_eq!(
            items[id]["type"],
            AttributeValue::S("MANUAL".into()),
            "{id}"
        );
    }
    assert!(!items[forever].contains_key("ttl"));
    assert_eq!(items.len(), 5);
}

#[tokio::test]
async fn compile_fails_on_unreadable_items_and_leaves_the_group_alone() {
    let Some(env) = setup("unreadable", "", "").await else {
        return;
    };
    let now = Utc::now().timestamp();
    env.put("goodOne", "AUTO", "5", now - 10).await;
    let out = env.cli(&compile_args(&env, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = env.rules().await;
    assert_eq!(ids(&before.0), ["goodOne"]);
    // A hand-edited item: lowercase type. Dropping it would unblock nothing here, but an
    // unreadable item is never dropped silently.
    env.put("handEdited", "auto", "5", now - 10).await;
    let out = env.cli(&compile_args(&env, &[]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "table {}: 1 item(s) cannot be read, so the rule group was not changed (leaving them out would unblock their sessions): item \"handEdited\": type S(\"auto\") is not AUTO or MANUAL",
            env.table
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.rules().await, before);
}

#[tokio::test]
async fn compile_refuses_a_keys_only_index() {
    let Some(env) = setup("keysonly", "", "").await else {
        return;
    };
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let table = format!("{}-keys", env.table);
    let attr = |n: &str, t| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
            .expect("attr")
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    env.ddb
        .create_table()
        .table_name(&table)
        .attribute_definitions(attr("session_id", ScalarAttributeType::S))
        .attribute_definitions(attr("reason", ScalarAttributeType::S))
        .attribute_definitions(attr("last_updated", ScalarAttributeType::N))
        .key_schema(key("session_id", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("last_updated_index")
                .key_schema(key("reason", KeyType::Hash))
                .key_schema(key("last_updated", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .expect("gsi"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("table");
    let out = env.cli(&[
        "waf",
        "compile",
        "--table",
        &table,
        "--rule-group",
        &env.group,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "invalid setting --table: table {table}: index last_updated_index projects KEYS_ONLY; it must project type and score (INCLUDE or ALL)"
        )),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn compile_checks_the_capacity_against_the_group_and_refuses_a_mass_unblock() {
    let Some(env) = setup("massunblock", "", "").await else {
        return;
    };
    let out = env.cli(&compile_args(&env, &["--capacity", "50"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "invalid setting --capacity: 50 WCU, but WAF rule group {} has a capacity of 100 WCU",
            env.group
        )),
        "{}",
        stderr(&out)
    );
    let now = Utc::now().timestamp();
    let sessions: Vec<String> = (0..12).map(|i| format!("wave{i:02}")).collect();
    for s in &sessions {
        env.put(s, "AUTO", "4", now - 60).await;
    }
    let out = env.cli(&compile_args(&env, &["--capacity", "100"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let full = env.rules().await;
    assert_eq!(full.0.len(), 12);
    // Every item is now out of the retention (a wrong table or clock would look the same).
    for s in &sessions {
        env.put(s, "AUTO", "4", now - 3600).await;
    }
    let out = env.cli(&compile_args(&env, &[]));
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "WAF rule group {}: refused: the compile would remove 12 of its 12 rules",
            env.group
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.rules().await, full);
    let out = env.cli(&compile_args(&env, &["--allow-mass-unblock"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(env.rules().await.0.is_empty());
}

#[tokio::test]
async fn every_aws_call_is_retried_through_throttling() {
    // Both names ask the test server to fail the first 2 calls of each operation on them:
    // DescribeTable, CreateTable, UpdateTimeToLive, Query, UpdateItem with ThrottlingException;
    // CreateRuleGroup, GetRuleGroup and ListRuleGroups with WAFInternalErrorException.
    let Some(env) = setup("busy", "-busy2-x", "-busy2-x").await else {
        return;
    };
    let now = Utc::now().timestamp();
    env.put("busyManual", "MANUAL", "0", now - 10).await;
    // No --rule-group-id: the id is looked up with ListRuleGroups.
    let out = env.run_sample(&["--compile-waf", "--rule-group", &env.group]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (rules, _) = env.rules().await;
    let mut expected = vec!["busyManual".to_string()];
    expected.extend(flagged_csv().into_iter().map(|(id, _)| id));
    assert_eq!(ids(&rules), expected);
}

#[tokio::test]
async fn a_tripped_breaker_writes_nothing_but_still_compiles_so_expired_rules_go() {
    let Some(env) = setup("breakercompile", "", "").await else {
        return;
    };
    let now = Utc::now().timestamp();
    env.put("expiring", "AUTO", "6", now - 60).await;
    let out = env.cli(&compile_args(&env, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ids(&env.rules().await.0), ["expiring"]);
    env.put("expiring", "AUTO", "6", now - 3600).await;
    // 5 of 56 flagged (8.9%) trips the 5% breaker once it applies from 5 flagged sessions.
    let out = env.cli(&[
        "run",
        "sample-logs",
        "--now",
        "latest",
        "--table",
        &env.table,
        "--breaker-min-flagged",
        "5",
        "--compile-waf",
        "--rule-group",
        &env.group,
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed (1): autorevoke-expiring"),
        "{}",
        stdout(&out)
    );
    assert!(env.rules().await.0.is_empty());
    assert_eq!(env.items().await.keys().collect::<Vec<_>>(), ["expiring"]);
}

#[tokio::test]
async fn a_dry_run_compile_counts_the_items_the_same_dry_run_would_write() {
    let Some(env) = setup("dry-compile", "", "").await else {
        return;
    };
    let out = env.run_sample(&["--dry-run", "--compile-waf", "--rule-group", &env.group]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("dry run: would write 5 AUTO item(s):"),
        "{text}"
    );
    let added: Vec<String> = text
        .lines()
        .find_map(|l| l.strip_prefix("added   (5): "))
        .unwrap_or_else(|| panic!("no 5 rules added in:\n{text}"))
        .split(' ')
        .map(|r| r.trim_start_matches("autorevoke-").to_string())
        .collect();
    // Nothing was written or applied.
    assert!(env.items().await.is_empty());
    assert!(env.rules().await.0.is_empty());
    // The real run applies exactly the rules the dry run showed, in its order.
    let out = env.run_sample(&["--compile-waf", "--rule-group", &env.group]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ids(&env.rules().await.0), added);
}

#[tokio::test]
async fn a_false_positive_is_unrevoked_listed_and_left_alone_by_later_runs() {
    let Some(env) = setup("unrevoke", "", "").await else {
        return;
    };
    let out = env.run_sample(&["--compile-waf", "--rule-group", &env.group]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let flagged = ids(&env.rules().await.0);
    assert_eq!(flagged.len(), 5, "{flagged:?}");
    let list = |env: &Env| -> Vec<serde_json::Value> {
        let out = env.cli(&[
            "revocations",
            "list",
            "--table",
            &env.table,
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).expect("json")
    };
    let listed = list(&env);
    assert_eq!(listed.len(), 5);
    assert!(
        listed
            .iter()
            .all(|i| i["state"] == "revoked" && i["type"] == "AUTO")
    );

    // The operator lifts one (a false positive) for two hours.
    let (wrong, forgotten) = (flagged[0].clone(), flagged[1].clone());
    let out = env.cli(&["unrevoke", &wrong, "--table", &env.table, "--for", "2h"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let item = env.items().await[&wrong].clone();
    assert_eq!(item["type"], AttributeValue::S("MANUAL".into()));
    assert_eq!(item["reason"], AttributeValue::S("ALLOWED".into()));
    let n = |m: &HashMap<String, AttributeValue>, k: &str| {
        m[k].as_n().expect("n").parse::<i64>().expect("int")
    };
    assert_eq!(n(&item, "ttl") - n(&item, "last_updated"), 7200);
    let until = chrono::DateTime::from_timestamp(n(&item, "ttl"), 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        stdout(&out),
        format!(
            "allowed {wrong} in {} until {until}: its rule goes at the next compile, and run \
             does not revoke it again before then\n",
            env.table
        )
    );
    let listed = list(&env);
    let entry = listed
        .iter()
        .find(|i| i["session_id"] == wrong.as_str())
        .expect("listed");
    assert_eq!(
        (&entry["state"], &entry["reason"]),
        (&"allowed".into(), &"ALLOWED".into())
    );
    assert_eq!(entry["expires"], until.as_str());

    // The next run flags it again and leaves it alone; the compile drops its rule.
    let out = env.run_sample(&["--compile-waf", "--rule-group", &env.group]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "  left alone, allowed by an operator (unrevoke): {wrong}\n"
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.items().await[&wrong], item, "the marker is untouched");
    let rules = ids(&env.rules().await.0);
    assert_eq!(rules, flagged[1..].to_vec());

    // --forget only deletes: the compile drops the rule; a later run may revoke again.
    let out = env.cli(&["unrevoke", &forgotten, "--table", &env.table, "--forget"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!env.items().await.contains_key(&forgotten));
    let out = env.cli(&compile_args(&env, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ids(&env.rules().await.0), flagged[2..].to_vec());
    // Ids are checked before anything is written.
    let out = env.cli(&["unrevoke", "good", "bad.id", "--table", &env.table]);
    expect_exit(&out, 2, "\"bad.id\" is not a session id");
    assert!(!env.items().await.contains_key("good"));
    // The table view, for people.
    let out = env.cli(&["revocations", "list", "--table", &env.table]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("4 item(s)\n"), "{}", stdout(&out));
}

#[tokio::test]
async fn aws_failures_are_one_line_naming_the_resource_or_the_credential_source() {
    let Some(ep) = endpoint() else {
        return;
    };
    // A missing table: one line with the service's message, exit 4.
    let out = autorevoke(&[
        "run",
        "sample-logs",
        "--now",
        "latest",
        "--table",
        "no-such-table",
        "--endpoint-url",
        &ep,
    ]);
    assert_eq!(
        stderr(&out),
        "autorevoke: table no-such-table: ResourceNotFoundException: Requested resource not \
         found: Table: no-such-table not found\n"
    );
    assert_eq!(out.status.code(), Some(4));
    // No credentials anywhere (cron's bare environment): at once, one line, naming where it
    // looked; with a named profile, naming the profile.
    let home = tempdir();
    for (extra, looked) in [
        (
            None,
            "looked in the default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ),
        (
            Some("nosuch"),
            "looked in profile nosuch (--aws-profile/--profile)",
        ),
    ] {
        let started = std::time::Instant::now();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_autorevoke"));
        command
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .current_dir(repo())
            .args(["run", "sample-logs", "--now", "latest", "--table", "t"])
            .args(["--endpoint-url", &ep]);
        if let Some(profile) = extra {
            command.args(["--profile", profile]);
        }
        let out = command.output().expect("runs");
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(6), "{text}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "retried: {:?}",
            started.elapsed()
        );
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("autorevoke: table t: no valid AWS credentials (")
                && text.contains(looked),
            "{text}"
        );
        assert!(text.len() < 600, "{} characters: {text}", text.len());
    }
    // A query error is printed once.
    let out = autorevoke(&["query", "sample-logs", "--sql", "SELECT nosuch FROM logs"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).matches("No field named nosuch").count(),
        1,
        "{}",
        stderr(&out)
    );
}
