//! The resolve step: flags over the file over the library's defaults, errors naming the
//! setting as it was written, and every option having its config key.

use std::sync::Arc;

use clap::{CommandFactory, Parser};

use autorevoke::aws::AwsAccess;
use autorevoke::score::WindowSpec;
use autorevoke::session::SessionRule;

use super::commands::{KvsCommand, WafCommand};
use super::config::{Config, sections};
use super::resolve::Resolver;
use super::{Cli, Command};

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("autorevoke").chain(args.iter().copied())).expect("parses")
}

#[test]
fn flags_override_the_config_file_which_overrides_defaults() {
    let cfg = Config::parse(
        "[scoring]\nthreshold = 3.5\nmin_sessions = 10\nlookback_minutes = 20\n\
         [revocation]\ntable = \"T\"\nttl_days = 2\n[waf]\nrule_group = \"G\"\ncompile_after_run = true\n\
         [logs]\nlocations = [\"sample-logs\"]\nlate_margin_minutes = 5\n",
    )
    .expect("config");
    let Command::Run(run) = parse(&["run", "--threshold", "4", "--table", "Other"]).command else {
        panic!("run");
    };
    let mut r = Resolver::new(&cfg);
    let (spec, p, _) = r
        .scoring(&run.source.window, &run.source.scoring)
        .expect("params");
    assert_eq!((p.threshold, p.min_sessions, p.min_duration), (4.0, 10, 30));
    let (o, _) = r.run(&run.job, &run.source.session).expect("options");
    assert_eq!(
        (o.table.as_str(), o.ttl_days, o.dry_run),
        ("Other", 2, false)
    );
    let target = o.compile.expect("compile_after_run");
    assert_eq!(
        (
            target.rule_group.as_str(),
            target.capacity,
            target.retention_minutes
        ),
        ("G", None, 30)
    );
    assert_eq!(
        (o.breaker_min_flagged, o.allow_partial),
        (autorevoke::run::DEFAULT_BREAKER_MIN_FLAGGED, false)
    );
    let WindowSpec::Lookback { lookback, .. } = spec else {
        panic!("lookback");
    };
    assert_eq!(lookback.num_minutes(), 20);
    let plan = r.read(&run.source.read, &run.source.session).expect("read");
    assert_eq!(plan.list.late_margin_s, 5 * 60);
    assert!(super::engine::open(plan, Arc::new(AwsAccess::default()), None).is_ok());
}

#[test]
fn fail_on_overflow_comes_from_the_flag_or_the_config_file() {
    let configs = [
        Config::parse("[waf]\nrule_group = \"G\"\nfail_on_overflow = true\n").expect("config"),
        Config::parse("[waf]\nrule_group = \"G\"\nfail_on_overflow = false\n").expect("config"),
        Config::parse("[waf]\nrule_group = \"G\"\n").expect("config"),
    ];
    assert!(configs[0].waf.fail_on_overflow);
    for (args, expected) in [
        (&["waf", "compile"][..], [true, false, false]),
        (
            &["waf", "compile", "--fail-on-overflow"][..],
            [true, true, true],
        ),
    ] {
        let Command::Waf(WafCommand::Compile(c)) = parse(args).command else {
            panic!("waf compile")
        };
        assert_eq!(
            configs.each_ref().map(|cfg| Resolver::new(cfg)
                .rule_group(&c.rule_group, &c.publish)
                .expect("target")
                .1),
            expected
        );
    }
    for (args, expected) in [
        (
            &["run", "--table", "T", "--compile-waf"][..],
            [true, false, false],
        ),
        (
            &["run", "--table", "T", "--compile-waf", "--fail-on-overflow"][..],
            [true, true, true],
        ),
    ] {
        let Command::Run(run) = parse(args).command else {
            panic!("run")
        };
        assert_eq!(
            configs.each_ref().map(|cfg| Resolver::new(cfg)
                .run(&run.job, &run.source.session)
                .expect("options")
                .1),
            expected
        );
    }
}

#[test]
fn capacity_below_one_rule_and_zero_retention_are_refused() {
    let cfg = Config::default();
    for (flag, value, message) in [
        (
            "--capacity",
            "0",
            "invalid setting --capacity: 0 WCU holds no rule",
        ),
        (
            "--capacity",
            "1",
            "invalid setting --capacity: 1 WCU holds no rule",
        ),
        ("--retention", "0", "invalid setting --retention: 0 minutes"),
    ] {
        let Command::Waf(WafCommand::Compile(c)) =
            parse(&["waf", "compile", "--rule-group", "G", flag, value]).command
        else {
            panic!("waf compile")
        };
        let e = Resolver::new(&cfg)
            .rule_group(&c.rule_group, &c.publish)
            .expect_err(flag)
            .to_string();
        assert!(e.starts_with(message), "{e}");
    }
    // From the file, the error names the file's key.
    let cfg = Config::parse("[waf]\nrule_group = \"G\"\ncapacity = 1\n").expect("config");
    let Command::Waf(WafCommand::Compile(c)) = parse(&["waf", "compile"]).command else {
        panic!("waf compile")
    };
    let e = Resolver::new(&cfg)
        .rule_group(&c.rule_group, &c.publish)
        .expect_err("capacity 1")
        .to_string();
    assert!(
        e.starts_with("invalid setting [waf] capacity: 1 WCU holds no rule"),
        "{e}"
    );
}

#[test]
fn kvs_settings_come_from_flags_then_the_config_file_and_cta_refuses_waf() {
    let cfg = Config::parse(
        "[revocation]\ntable = \"T\"\n[logs]\nsession_from = \"cta\"\n\
         [kvs]\narn = \"arn:aws:cloudfront::1:key-value-store/k\"\nmax_bytes = \"1MB\"\n\
         retention_minutes = 45\n",
    )
    .expect("config");
    let Command::Kvs(KvsCommand::Publish(p)) =
        parse(&["kvs", "publish", "--key-prefix", "blocked/"]).command
    else {
        panic!("kvs publish")
    };
    let mut r = Resolver::new(&cfg);
    let table = r.table(&p.table).expect("table");
    let target = r
        .kvs(&p.kvs, &p.publish, true)
        .expect("options")
        .expect("a store");
    assert_eq!(
        (
            table.as_str(),
            target.kvs_arn.as_str(),
            target.key_prefix.as_str(),
            target.max_bytes,
            target.retention_minutes,
            r.session(&p.session)
        ),
        (
            "T",
            "arn:aws:cloudfront::1:key-value-store/k",
            "blocked/",
            Some(1_000_000),
            45,
            SessionRule::Cta
        )
    );
    let Command::Kvs(KvsCommand::Publish(p)) = parse(&["kvs", "publish"]).command else {
        panic!("kvs publish")
    };
    let e = Resolver::new(&Config::default())
        .kvs(&p.kvs, &p.publish, true)
        .expect_err("no arn");
    assert!(e.to_string().contains("--kvs-arn"), "{e}");
    // kvs publish reports as table or json only.
    assert!(Cli::try_parse_from(["autorevoke", "kvs", "publish", "--format", "csv"]).is_err());
    let Command::Kvs(KvsCommand::Publish(p)) =
        parse(&["kvs", "publish", "--kvs-arn", "a", "--key-prefix", ""]).command
    else {
        panic!("kvs publish")
    };
    let e = Resolver::new(&cfg)
        .kvs(&p.kvs, &p.publish, true)
        .expect_err("empty prefix")
        .to_string();
    assert!(
        e.starts_with("invalid setting --key-prefix: an empty prefix"),
        "{e}"
    );
    // `run` publishes only when asked, with the one --retention.
    let Command::Run(run) = parse(&["run", "--retention", "20"]).command else {
        panic!("run")
    };
    let (o, _) = Resolver::new(&cfg)
        .run(&run.job, &run.source.session)
        .expect("options");
    assert_eq!((o.kvs, o.session_from), (None, SessionRule::Cta));
    let Command::Run(run) = parse(&["run", "--retention", "20", "--kvs-arn", "arn:x"]).command
    else {
        panic!("run")
    };
    let k = Resolver::new(&cfg)
        .run(&run.job, &run.source.session)
        .expect("options")
        .0
        .kvs
        .expect("kvs");
    assert_eq!((k.kvs_arn.as_str(), k.retention_minutes), ("arn:x", 20));
    // A WAF rule cannot match a CTA session.
    let Command::Run(run) = parse(&["run", "--compile-waf", "--rule-group", "G"]).command else {
        panic!("run")
    };
    let e = Resolver::new(&cfg)
        .run(&run.job, &run.source.session)
        .expect_err("cta and waf")
        .to_string();
    assert!(
        e.starts_with("invalid setting --compile-waf: sessions are named by Common Access Tokens"),
        "{e}"
    );
    let Command::Waf(WafCommand::Compile(c)) =
        parse(&["waf", "compile", "--session-from", "cta"]).command
    else {
        panic!("waf compile")
    };
    assert!(
        Resolver::new(&Config::default())
            .waf_session(&c.session)
            .is_err()
    );
    let Command::Waf(WafCommand::Compile(c)) =
        parse(&["waf", "compile", "--session-from", "prefix"]).command
    else {
        panic!("waf compile")
    };
    let mut r = Resolver::new(&cfg);
    assert_eq!(
        r.waf_session(&c.session).expect("prefix is fine"),
        SessionRule::Prefix
    );
    assert_eq!(r.table(&c.table).expect("table"), "T");
}

#[test]
fn missing_settings_name_their_flag() {
    let cfg = Config::default();
    let Command::Run(run) = parse(&["run", "sample-logs"]).command else {
        panic!("run")
    };
    let e = Resolver::new(&cfg)
        .run(&run.job, &run.source.session)
        .expect_err("no table");
    assert!(e.to_string().contains("--table"), "{e}");
    let Command::Run(run) = parse(&["run", "--table", "T", "--compile-waf"]).command else {
        panic!("run")
    };
    assert!(
        Resolver::new(&cfg)
            .run(&run.job, &run.source.session)
            .expect_err("no group")
            .to_string()
            .contains("--rule-group")
    );
    let e = Resolver::new(&cfg)
        .read(&run.source.read, &run.source.session)
        .expect_err("no location");
    assert!(e.to_string().contains("LOCATION"), "{e}");
}

/// Arguments of one invocation: what to act on, where the output goes, and decisions for
/// one run. They have no config key, by design.
const PER_INVOCATION: &[&str] = &[
    // global
    "config",
    "quiet",
    "verbose",
    "help",
    "version",
    // what to act on
    "session_ids",
    "session_id",
    "now",
    "from",
    "to",
    "sql",
    "sql_file",
    "truth",
    "allow_for",
    "forget",
    "dry_run",
    "allow_mass_unblock",
    "exit_when_caught_up",
    // where the output goes
    "all",
    "format",
    "output",
    "json",
];

#[test]
fn every_option_has_its_config_key_named_as_its_flag() {
    fn walk(cmd: &clap::Command, path: &str, found: &mut Vec<(String, String)>) {
        for arg in cmd.get_arguments() {
            found.push((path.to_string(), arg.get_id().to_string()));
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }
    let mut args = Vec::new();
    walk(&Cli::command(), "autorevoke", &mut args);
    assert!(args.len() > 200, "{}", args.len());
    let sections = sections();
    let mut checked = 0;
    for (command, id) in &args {
        if PER_INVOCATION.contains(&id.as_str()) || command.starts_with("autorevoke synth") {
            continue;
        }
        let section = sections
            .iter()
            .find(|(_, keys)| keys.contains(id))
            .map(|(section, _)| *section)
            .unwrap_or_else(|| panic!("`{command}`: --{id} is in no config section"));
        // The file accepts the key (a wrong value type, not an unknown key).
        let e = Config::parse(&format!("[{section}]\n{id} = {{ x = 1 }}\n"))
            .expect_err("a table is no option's value");
        assert!(!e.contains("unknown field"), "[{section}] {id}: {e}");
        // And the flag is the key with dashes.
        let flag = Cli::command()
            .get_subcommands()
            .flat_map(|s| {
                std::iter::once(s)
                    .chain(s.get_subcommands())
                    .flat_map(|s| s.get_arguments())
                    .collect::<Vec<_>>()
            })
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_long().map(str::to_string));
        if let Some(flag) = flag {
            assert_eq!(flag, id.replace('_', "-"), "`{command}`: [{section}] {id}");
        }
        checked += 1;
    }
    assert!(checked > 150, "{checked}");
    // Every key of the file is some command's option.
    for (section, keys) in &sections {
        for key in keys {
            assert!(
                args.iter().any(|(_, id)| id == key),
                "[{section}] {key} is no command's option"
            );
        }
    }
}
