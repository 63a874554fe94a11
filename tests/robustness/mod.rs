//! Junk beside valid logs: every bad object and line is accounted for in `stats`, nothing
//! panics, and the valid logs score exactly as they do alone.

use std::path::Path;

use crate::util::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("dir") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
    }
}

/// A row inside the sample's window that must not count (status 404).
fn harmless(second: u32) -> Row {
    let mut r = row("bUFcOJp2iTCS", 0, "/junk.ts").status("404");
    r.time = format!("2026-01-15\t19:55:{:02}", second % 60);
    r
}

fn write_junk(dir: &Path) {
    // A truncated gzip (its complete rows are kept: they are 404s, which never count).
    let whole = gz(format!("{HEADER_33}{}{}", harmless(1).line(), harmless(2).line()).as_bytes());
    std::fs::write(dir.join("truncated.gz"), &whole[..whole.len() - 8]).expect("write");
    // Corrupt gzip, an empty object, a text file.
    let mut corrupt = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    corrupt.extend(std::iter::repeat_n(0xA5u8, 300));
    std::fs::write(dir.join("corrupt.gz"), corrupt).expect("write");
    std::fs::write(dir.join("empty.gz"), b"").expect("write");
    std::fs::write(dir.join("notes.txt"), b"hello world\n").expect("write");
    // One line of 100 MB without a newline, gzipped (it is never held in memory whole).
    let huge = vec![b'x'; 100 << 20];
    std::fs::write(dir.join("huge-line.gz"), gz(&huge)).expect("write");
    // Bad rows, and rows that are fine but never count.
    let mut bad = HEADER_33.as_bytes().to_vec();
    bad.extend(b"2026-01-15\t19:55:00\tFRA\t5000\n"); // too few fields
    bad.extend(
        harmless(3)
            .line()
            .replace("2026-01-15", "2026-02-31")
            .as_bytes(),
    ); // no such date
    bad.extend(
        harmless(4)
            .line()
            .replace("19:55:04", "25:00:00")
            .as_bytes(),
    ); // no such time
    bad.extend(harmless(5).bytes("18446744073709551616").line().as_bytes()); // 2^64
    let mut non_utf8 = harmless(6).ua("Bot-XX").line().into_bytes();
    let at = non_utf8
        .windows(6)
        .position(|w| w == b"Bot-XX")
        .expect("ua");
    non_utf8[at + 4] = 0xFF;
    non_utf8[at + 5] = 0xFE;
    bad.extend(non_utf8);
    let mut gone = row("bUFcOJp2iTCS", 0, "/gone.ts").status("000");
    gone.time = "2026-01-15\t19:56:00".into();
    bad.extend(gone.line().as_bytes()); // the viewer went away: status 000, never counts
    std::fs::write(dir.join("bad-rows.log"), bad).expect("write");
    // A #Fields line without a field scoring needs.
    std::fs::write(
        dir.join("no-bytes.log"),
        "#Fields: date time c-ip cs-uri-stem sc-status\n2026-01-15\t19:55:00\t192.0.2.1\t/x\t200\n",
    )
    .expect("write");
    // Crafted session ids: none is a session that can be scored or written.
    let long = format!("/{}.h.p.s/seg.ts", "a".repeat(129));
    let crafted: Vec<Row> = [
        "//x.h.p.s/seg.ts",
        "/.h.p.s/seg.ts",
        "/ab%2Ecd.h.p.s/seg.ts",
        "/ab+cd.h.p.s/seg.ts",
        long.as_str(),
    ]
    .iter()
    .enumerate()
    .map(|(i, uri)| {
        let mut r = row("x", 0, "").uri(uri);
        r.time = format!("2026-01-15\t19:57:{i:02}");
        r
    })
    .collect();
    write_log(&dir.join("crafted-ids.gz"), &crafted);
}

#[test]
fn junk_beside_valid_logs_changes_no_score_and_is_all_accounted_for() {
    let dir = tempdir();
    let (valid, mixed) = (dir.path().join("valid"), dir.path().join("mixed"));
    copy_dir(&repo().join("sample-logs"), &valid);
    copy_dir(&valid, &mixed);
    write_junk(&mixed);
    let score = |d: &Path, format: &str| {
        autorevoke(&[
            "score",
            &d.display().to_string(),
            "--now",
            "latest",
            "--all",
            "--format",
            format,
        ])
    };
    let clean = score(&valid, "csv");
    let dirty = score(&mixed, "csv");
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert_eq!(
        dirty.status.code(),
        Some(3),
        "partial input: {}",
        stderr(&dirty)
    );
    assert_eq!(stdout(&dirty), stdout(&clean));

    let json = |o: std::process::Output| -> serde_json::Value {
        serde_json::from_str(&stdout(&o)).expect("json")
    };
    let (c, d) = (json(score(&valid, "json")), json(score(&mixed, "json")));
    assert_eq!(
        (&d["p50"], &d["sessions_in_window"], &d["sessions"]),
        (&c["p50"], &c["sessions_in_window"], &c["sessions"])
    );
    let (cs, ds) = (&c["stats"], &d["stats"]);
    let n = |s: &serde_json::Value, k: &str| s[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n(ds, "objects_listed"), n(cs, "objects_listed") + 8);
    assert_eq!(n(ds, "objects_failed"), 3, "{ds}");
    assert_eq!(n(ds, "objects_read"), n(cs, "objects_read") + 5);
    // notes.txt 1, the huge line 1, bad-rows.log 4.
    assert_eq!(n(ds, "rows_malformed"), 6, "{ds}");
    // truncated 2 + notes 1 + huge 1 + bad-rows 6 + crafted 5.
    assert_eq!(n(ds, "rows_read"), n(cs, "rows_read") + 15);
    assert_eq!(
        n(ds, "rows_rejected_session"),
        n(cs, "rows_rejected_session") + 4
    );
    assert_eq!(n(ds, "rows_in_scope"), n(cs, "rows_in_scope"));
    let failed: Vec<String> = d["failed_objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["object"]
                    .as_str()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or(""),
                f["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(failed.len(), 3);
    assert!(
        failed[0].starts_with("corrupt.gz: corrupt gzip"),
        "{failed:?}"
    );
    assert_eq!(
        failed[1],
        "no-bytes.log: line 1: the #Fields line lacks `sc-bytes`, which this query needs"
    );
    assert_eq!(
        failed[2],
        "truncated.gz: truncated gzip (unexpected end of data)"
    );
}
