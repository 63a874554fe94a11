//! The scheduling recipes of `deploy/`, as the README shows them: the cron line run under
//! cron's bare environment (so a bare command name or a relative path would fail here as it
//! fails there), its lock and its failure hook, and the systemd units checked by systemd.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// The file's text, which docs/operations.md must show as it is.
fn recipe(name: &str) -> String {
    let text = std::fs::read_to_string(repo().join("deploy").join(name)).expect("recipe");
    let doc = std::fs::read_to_string(repo().join("docs/operations.md")).expect("operations");
    assert!(
        doc.contains(&text),
        "docs/operations.md does not show deploy/{name} as it is"
    );
    text
}

/// The cron line's command (after the five time fields and the user), with the paths of the
/// machine it would run on replaced by this test's.
fn cron_command(binary: &Path, config: &Path, work: &Path) -> String {
    let text = recipe("cron/autorevoke");
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("a cron line");
    let fields: Vec<&str> = line.splitn(7, ' ').collect();
    assert_eq!(&fields[..6], ["*/5", "*", "*", "*", "*", "root"], "{line}");
    fields[6]
        .replace("/usr/local/bin/autorevoke", &binary.display().to_string())
        .replace("/etc/autorevoke.toml", &config.display().to_string())
        .replace(
            "/run/lock/autorevoke.lock",
            &work.join("lock").display().to_string(),
        )
        .replace(
            "/var/log/autorevoke.log",
            &work.join("log").display().to_string(),
        )
        .replace(
            "/usr/bin/logger",
            &work.join("logger").display().to_string(),
        )
}

/// Runs `command` as cron does: `/bin/sh -c` with only HOME, LOGNAME, SHELL and
/// PATH=/usr/bin:/bin.
fn as_cron(command: &str, home: &Path) -> std::process::Output {
    Command::new("/usr/bin/env")
        .args(["-i", &format!("HOME={}", home.display())])
        .args(["LOGNAME=root", "SHELL=/bin/sh", "PATH=/usr/bin:/bin"])
        .args(["/bin/sh", "-c", command])
        .current_dir("/")
        .output()
        .expect("sh runs")
}

#[test]
fn the_cron_line_runs_under_crons_environment_locks_and_reports_failures() {
    if !Path::new("/usr/bin/flock").exists() {
        skip("no /usr/bin/flock (util-linux)");
        return;
    }
    let Some(endpoint) = crate::s3::endpoint() else {
        return;
    };
    let work = tempdir();
    // Credentials where a cron job finds them: the user's ~/.aws (cron passes no AWS_*).
    let home = work.path().join("home");
    std::fs::create_dir_all(home.join(".aws")).expect("home");
    std::fs::write(
        home.join(".aws/credentials"),
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .expect("credentials");
    let table = crate::s3::bucket_name("cron");
    let out = autorevoke(&[
        "init",
        "--table",
        &table,
        "--rule-group",
        &table,
        "--endpoint-url",
        &endpoint,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The failure hook: records its arguments (syslog is not the test's to read).
    let logger = work.path().join("logger");
    std::fs::write(
        &logger,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\n",
            work.path().join("syslog").display()
        ),
    )
    .expect("logger");
    let chmod = Command::new("/bin/chmod")
        .arg("+x")
        .arg(&logger)
        .status()
        .expect("chmod");
    assert!(chmod.success());
    // A config naming the sample logs by absolute path (cron starts in the user's home).
    let config = work.path().join("autorevoke.toml");
    std::fs::write(
        &config,
        format!(
            "[logs]\nlocations = [\"{}\"]\n[revocation]\ntable = \"{table}\"\n\
             [aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n",
            repo().join("sample-logs").display()
        ),
    )
    .expect("config");
    let binary = Path::new(env!("CARGO_BIN_EXE_autorevoke"));
    let command = cron_command(binary, &config, work.path());
    // The sample's rows are in January 2026: at the current time the window is empty, so the
    // run exits 9 naming the cause, and the hook gets the code.
    let out = as_cron(&command, &home);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = std::fs::read_to_string(work.path().join("log")).expect("the log file");
    assert!(
        log.contains("autorevoke: nothing to score: no rows in the window"),
        "{log}"
    );
    let syslog = std::fs::read_to_string(work.path().join("syslog")).expect("the hook ran");
    assert_eq!(
        syslog,
        format!(
            "-t autorevoke -p user.err run failed with exit code 9, see {}\n",
            work.path().join("log").display()
        )
    );
    // While another run holds the lock, the next one is skipped with 75.
    let mut holder = Command::new("/usr/bin/flock")
        .arg(work.path().join("lock"))
        .args(["/bin/sleep", "30"])
        .spawn()
        .expect("holder");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = as_cron(&command, &home);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let syslog = std::fs::read_to_string(work.path().join("syslog")).expect("the hook ran");
    assert!(
        syslog.ends_with(&format!(
            "run failed with exit code 75, see {}\n",
            work.path().join("log").display()
        )),
        "{syslog}"
    );
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        skip("no systemd-analyze");
        return;
    };
    assert!(probe.status.success());
    let work = tempdir();
    let binary = env!("CARGO_BIN_EXE_autorevoke");
    let mut units = Vec::new();
    for name in ["autorevoke.service", "autorevoke.timer"] {
        // The binary where this test has it: verify checks that ExecStart= can run.
        let text = recipe(&format!("systemd/{name}")).replace("/usr/local/bin/autorevoke", binary);
        let path = work.path().join(name);
        std::fs::write(&path, text).expect("unit");
        units.push(path.display().to_string());
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("verify runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "warnings from systemd-analyze verify");
}
