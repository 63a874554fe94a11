//! The layout of `src/` (docs/architecture.md): each stage of the data flow imports only the
//! stages before it and the leaves, so the import graph has no cycle and a change to a stage
//! cannot reach back into an earlier one.

use crate::util::*;

/// The library's top-level modules in data-flow order: the leaves first, then the stages.
const ORDER: &[&str] = &[
    "error",
    "lock",
    "choice",
    "session",
    "functions",
    "aws",
    "retry",
    "source",
    "cloudfront",
    "engine",
    "score",
    "revocation",
    "waf",
    "kvs",
    "run",
    "init",
    "watch",
    "report",
    "synth",
];

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_stage_imports_a_later_stage() {
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let top = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|t| t.trim_end_matches(".rs").to_string())
            .expect("a name");
        let Some(rank) = ORDER.iter().position(|m| *m == top) else {
            // lib.rs, main.rs and the binary's cli/ sit above every stage.
            assert!(
                ["lib", "main", "cli"].contains(&top.as_str()),
                "src/{} is in no stage: add it to ORDER and docs/architecture.md",
                relative.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a source file");
        // Tests may reach anywhere; doc comments may link anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let dep: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some(dep_rank) = ORDER.iter().position(|m| *m == dep)
                    && dep_rank > rank
                {
                    wrong.push(format!("src/{}: {top} uses {dep}", relative.display()));
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 60, "{checked} files");
    assert!(wrong.is_empty(), "{wrong:#?}");
}
