//! The `autorevoke` binary: parses flags, calls one library function per subcommand, prints,
//! and maps the outcome to the documented exit codes.

mod cli;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use autorevoke::aws::AwsAccess;
use autorevoke::cloudfront::StatsSnapshot;
use autorevoke::score::{ScoreParams, WindowSpec};
use autorevoke::synth::{self, SynthConfig};
use autorevoke::{LogEngine, report, score};

use cli::commands::{
    EvaluateArgs, ExplainArgs, InitArgs, KvsCommand, KvsPublishArgs, QueryArgs, RevocationsCommand,
    RevokeArgs, RunArgs, ScoreArgs, ScoringSource, SynthArgs, UnrevokeArgs, WafCommand,
    WafCompileArgs,
};
use cli::engine::aws_access;
use cli::output::output_target;
use cli::progress::Verbosity;
use cli::resolve::Resolver;
use cli::{Cli, Command};

/// Exit code: the run completed and read all of its input.
const EXIT_OK: u8 = 0;
/// Exit code: the run failed (I/O, query, or a strict-mode input error).
const EXIT_FAILURE: u8 = 1;
/// Exit code: bad flags or settings (clap uses it too).
const EXIT_USAGE: u8 = 2;
/// Exit code: the run completed, but some objects failed or lines were malformed.
const EXIT_PARTIAL: u8 = 3;
/// Exit code: an AWS resource does not exist (no such bucket).
const EXIT_NOT_FOUND: u8 = 4;
/// Exit code: AWS denied access.
const EXIT_ACCESS_DENIED: u8 = 5;
/// Exit code: no (valid) AWS credentials.
const EXIT_NO_CREDENTIALS: u8 = 6;
/// Exit code: a safety limit stopped the change: the circuit breaker (too many sessions
/// flagged, nothing written) or a mass unblock (`waf compile` would remove most rules).
const EXIT_BREAKER: u8 = 7;
/// Exit code: with `--fail-on-overflow`, a compile left flagged sessions out for lack of
/// capacity (the rules that fit were applied; in a dry run, would be).
const EXIT_OVERFLOW: u8 = 8;
/// Exit code: the window held nothing to score (no log objects at the location, no rows in
/// the window, no session tokens); the cause is on stderr. `--allow-empty` makes it 0.
const EXIT_EMPTY: u8 = 9;

/// How a failed object that is not a CloudFront log at all is reported.
const NOT_A_LOG: &str = "not a CloudFront log";

/// Caps glibc's malloc at two arenas. By default each thread that allocates while another
/// holds an arena's lock gets an arena of its own (up to eight per core), and the freed pages
/// of every arena stay mapped, so a long run's peak memory grows with the threads rather than
/// with what it holds (docs/performance.md). Set before any thread starts, unless
/// `MALLOC_ARENA_MAX` is set in the environment.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fewer_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator; no thread has started yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fewer_malloc_arenas() {}

fn main() -> ExitCode {
    fewer_malloc_arenas();
    let cli = Cli::parse();
    let ui = cli.verbosity();
    ui.init_logs();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("autorevoke: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let outcome = runtime.block_on(run(cli, ui));
    cli::engine::remove_stdin_spool();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Name the library's own error when DataFusion wrapped it (a failed listing).
            // The library error says what it was doing and why, once; the chain of its
            // sources would repeat DataFusion's message for every layer that wraps it.
            match innermost(&e) {
                // A setting the library named by its key: say it as the flag.
                Some(autorevoke::Error::Setting { setting, reason }) => eprintln!(
                    "autorevoke: invalid setting {}: {reason}",
                    cli::resolve::flag_of(setting).unwrap_or_else(|| setting.clone())
                ),
                Some(inner) => eprintln!("autorevoke: {inner}"),
                None => eprintln!("autorevoke: {e:#}"),
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The exit code of a failed run, from the library error inside it (also when DataFusion
/// wrapped it while listing).
fn exit_code(e: &anyhow::Error) -> u8 {
    use autorevoke::Error;
    use autorevoke::error::AwsErrorKind;
    match innermost(e) {
        Some(Error::Setting { .. } | Error::Location { .. }) => EXIT_USAGE,
        Some(Error::Refused { .. }) => EXIT_BREAKER,
        Some(Error::Aws { kind, .. }) => match kind {
            AwsErrorKind::NotFound => EXIT_NOT_FOUND,
            AwsErrorKind::AccessDenied => EXIT_ACCESS_DENIED,
            AwsErrorKind::NoCredentials => EXIT_NO_CREDENTIALS,
            AwsErrorKind::Other => EXIT_FAILURE,
        },
        _ => EXIT_FAILURE,
    }
}

/// The deepest library error in a chain (a `Query` error may wrap a listing error).
fn innermost(e: &anyhow::Error) -> Option<&autorevoke::Error> {
    let mut found = None;
    for cause in e.chain() {
        if let Some(err) = cause.downcast_ref::<autorevoke::Error>() {
            found = Some(err);
        }
    }
    found
}

async fn run(cli: Cli, ui: Verbosity) -> anyhow::Result<u8> {
    let cfg = cli.load_config()?;
    let mut r = Resolver::new(&cfg);
    let outcome = match cli.command {
        Command::Score(args) => run_score(args, &mut r, ui).await,
        Command::Run(args) => run_job(*args, &mut r, ui).await,
        Command::Revoke(args) => run_revoke(args, &mut r).await,
        Command::Unrevoke(args) => run_unrevoke(args, &mut r).await,
        Command::Revocations(RevocationsCommand::List(args)) => {
            let table = r.table(&args.table)?;
            let aws = aws_access(&mut r, &args.aws);
            let items = autorevoke::revocation::list_revocations(&aws, &table).await?;
            let now = chrono::Utc::now().timestamp();
            with_output(None, |out| {
                report::render_revocations(&items, now, args.format, out)
            })?;
            Ok(EXIT_OK)
        }
        Command::Waf(WafCommand::Compile(args)) => run_waf_compile(args, &mut r).await,
        Command::Kvs(KvsCommand::Publish(args)) => run_kvs_publish(args, &mut r).await,
        Command::Init(args) => run_init(args, &mut r).await,
        Command::Explain(args) => run_explain(args, &mut r, ui).await,
        Command::Evaluate(args) => run_evaluate(args, &mut r, ui).await,
        Command::Query(args) => run_query(args, &mut r, ui).await,
        Command::Synth(args) => run_synth(args, ui),
        Command::Watch(args) => {
            let mut options = r.watch(&args)?;
            // `-q`: no tick lines either.
            options.tick_lines = !ui.quiet;
            let aws = aws_access(&mut r, &args.aws);
            let summary = autorevoke::watch::watch(options, aws).await?;
            if !ui.quiet {
                eprintln!(
                    "autorevoke watch: stopped after {} tick(s), {} record(s) read, {} \
                     session(s) written",
                    summary.ticks,
                    summary.records,
                    summary.written.len()
                );
            }
            Ok(EXIT_OK)
        }
        #[cfg(feature = "cluster")]
        Command::Scheduler(args) => {
            let options = r.scheduler(&args.process)?;
            let aws = aws_access(&mut r, &args.aws);
            if !ui.quiet {
                eprintln!("autorevoke scheduler: listening on {}", options.bind);
            }
            autorevoke::engine::ballista::serve_scheduler(options, aws).await?;
            Ok(EXIT_OK)
        }
        #[cfg(feature = "cluster")]
        Command::Executor(args) => {
            let options = r.executor(&args.process)?;
            let aws = aws_access(&mut r, &args.aws);
            if !ui.quiet {
                eprintln!(
                    "autorevoke executor: listening on {}, scheduler {}:{}",
                    options.bind, options.scheduler.0, options.scheduler.1
                );
            }
            autorevoke::engine::ballista::serve_executor(options, aws).await?;
            Ok(EXIT_OK)
        }
    };
    // A setting the library named by its key, as the user wrote it: flag or [section] key.
    outcome.map_err(|e| match e.downcast::<autorevoke::Error>() {
        Ok(error) => anyhow::Error::from(r.render(error)),
        Err(other) => other,
    })
}

/// A scoring command's checked settings and the engine over its logs.
struct ScoringRun {
    /// The window.
    spec: WindowSpec,
    /// The scoring parameters.
    params: ScoreParams,
    /// The AWS access shared by the reads and any writes.
    aws: Arc<AwsAccess>,
    /// The engine over the logs.
    engine: LogEngine,
    /// A window with nothing to score is a success (`--allow-empty`).
    allow_empty: bool,
}

/// Checks the window and parameters (before any I/O), then opens the logs, telling the
/// progress display about the scans.
fn prepare(
    source: &ScoringSource,
    r: &mut Resolver<'_>,
    ui: Verbosity,
) -> anyhow::Result<ScoringRun> {
    let (spec, params, allow_empty) = r.scoring(&source.window, &source.scoring)?;
    let plan = r.read(&source.read, &source.session)?;
    let aws = aws_access(r, &source.aws);
    let engine = cli::engine::open(plan, Arc::clone(&aws), ui.progress())?;
    Ok(ScoringRun {
        spec,
        params,
        aws,
        engine,
        allow_empty,
    })
}

/// Parquet is binary: it goes to a file, never to a terminal.
fn check_parquet_output(parquet: bool, output: Option<&Path>) -> anyhow::Result<()> {
    if parquet && output.is_none() {
        return Err(autorevoke::Error::Setting {
            setting: "--format parquet".into(),
            reason: "needs --output FILE".into(),
        }
        .into());
    }
    Ok(())
}

async fn run_score(args: ScoreArgs, r: &mut Resolver<'_>, ui: Verbosity) -> anyhow::Result<u8> {
    let (format, output) =
        output_target(args.format, args.output.as_deref(), report::Format::Table);
    check_parquet_output(format == report::Format::Parquet, output.as_deref())?;
    let ScoringRun {
        spec,
        params,
        engine,
        allow_empty,
        ..
    } = prepare(&args.source, r, ui)?;
    let report = score::score(&engine, spec, params).await?;
    with_output(output.as_deref(), |out| {
        report::render(&report, format, args.all, out)
    })?;
    let code = finish(&report.stats, ui);
    Ok(empty_or(code, &report, allow_empty, ui))
}

/// `code`, or [`EXIT_EMPTY`] (with the cause on stderr) when a complete read found nothing
/// to score and that is not allowed. Lost input (exit 3) says more and wins.
fn empty_or(code: u8, report: &score::ScoreReport, allow_empty: bool, ui: Verbosity) -> u8 {
    if !report.empty || code != EXIT_OK {
        return code;
    }
    if !ui.quiet {
        let reason = report.not_scored_reason.as_deref().unwrap_or("no session");
        eprintln!("autorevoke: nothing to score: {reason}");
    }
    if allow_empty { EXIT_OK } else { EXIT_EMPTY }
}

async fn run_explain(args: ExplainArgs, r: &mut Resolver<'_>, ui: Verbosity) -> anyhow::Result<u8> {
    let ScoringRun {
        spec,
        params,
        engine,
        ..
    } = prepare(&args.source, r, ui)?;
    let explained = score::explain::explain(&engine, spec, params, &args.session_id).await?;
    with_output(None, |out| match args.format {
        report::RunFormat::Json => report::render_explain_json(&explained, out),
        report::RunFormat::Table => report::render_explain(&explained, out),
    })?;
    Ok(finish(&explained.report.stats, ui))
}

async fn run_evaluate(
    args: EvaluateArgs,
    r: &mut Resolver<'_>,
    ui: Verbosity,
) -> anyhow::Result<u8> {
    let truth = score::evaluate::read_truth(&args.truth)?;
    let ScoringRun {
        spec,
        params,
        engine,
        ..
    } = prepare(&args.source, r, ui)?;
    let report = score::score(&engine, spec, params).await?;
    let evaluation = score::evaluate::evaluate(&report, &truth);
    with_output(None, |out| {
        report::render_evaluation(
            &evaluation,
            args.json || args.format == report::RunFormat::Json,
            out,
        )
    })?;
    Ok(finish(&report.stats, ui))
}

async fn run_job(args: RunArgs, r: &mut Resolver<'_>, ui: Verbosity) -> anyhow::Result<u8> {
    let (options, fail_on_overflow) = r.run(&args.job, &args.source.session)?;
    let ScoringRun {
        spec,
        params,
        aws,
        engine,
        allow_empty,
    } = prepare(&args.source, r, ui)?;
    let report = autorevoke::run::run(&engine, &aws, spec, params, &options).await?;
    if let Some(window) = &report.score.window {
        // Housekeeping: a failure costs disk space, never a score.
        match engine.prune_state(window.from).await {
            Ok(deleted) => tracing::info!(deleted, "pruned the state"),
            Err(e) => eprintln!("autorevoke: warning: pruning the state: {e}"),
        }
    }
    with_output(None, |out| report::render_run(&report, args.format, out))?;
    let code = finish(&report.score.stats, ui);
    if let Some(reason) = &report.partial {
        eprintln!("autorevoke: {reason}");
    }
    let overflow = report
        .compile
        .as_ref()
        .and_then(|c| overflow_code(c, fail_on_overflow));
    if let Some(reason) = &report.breaker {
        eprintln!("autorevoke: circuit breaker: {reason}");
        return Ok(EXIT_BREAKER);
    }
    // A scheduled job pointed at something that is not CloudFront logs is misconfigured, not
    // short of a few objects: fail.
    let strangers: Vec<&str> = report
        .score
        .stats
        .failures
        .iter()
        .filter(|f| f.reason.starts_with(NOT_A_LOG))
        .map(|f| f.object.as_str())
        .collect();
    if !strangers.is_empty() {
        eprintln!(
            "autorevoke: {} of the objects read are not CloudFront logs ({}): check the \
             location",
            strangers.len(),
            strangers.join(", ")
        );
        return Ok(EXIT_FAILURE);
    }
    Ok(overflow.unwrap_or_else(|| empty_or(code, &report.score, allow_empty, ui)))
}

async fn run_unrevoke(args: UnrevokeArgs, r: &mut Resolver<'_>) -> anyhow::Result<u8> {
    let minutes = args
        .allow_for
        .unwrap_or(autorevoke::revocation::DEFAULT_ALLOW_MINUTES);
    if !(minutes.is_finite() && minutes > 0.0) {
        return Err(autorevoke::Error::Setting {
            setting: "--for".into(),
            reason: "must be a positive duration".into(),
        }
        .into());
    }
    let seconds = (minutes * 60.0).round() as u64;
    let table = r.table(&args.table)?;
    let aws = aws_access(r, &args.aws);
    let items =
        autorevoke::revocation::unrevoke(&aws, &table, &args.session_ids, seconds, args.forget)
            .await?;
    let forgotten = if args.forget {
        args.session_ids.clone()
    } else {
        Vec::new()
    };
    with_output(None, |out| {
        report::render_unrevoke(&items, &forgotten, &table, out)
    })?;
    Ok(EXIT_OK)
}

async fn run_revoke(args: RevokeArgs, r: &mut Resolver<'_>) -> anyhow::Result<u8> {
    let table = r.table(&args.table)?;
    let ttl = r.manual_ttl(&args.ttl);
    let rule = r.session(&args.session);
    let aws = aws_access(r, &args.aws);
    let items = autorevoke::revocation::revoke(&aws, &table, &args.session_ids, ttl, rule).await?;
    with_output(None, |out| report::render_revoke(&items, &table, out))?;
    Ok(EXIT_OK)
}

async fn run_waf_compile(args: WafCompileArgs, r: &mut Resolver<'_>) -> anyhow::Result<u8> {
    r.waf_session(&args.session)?;
    let table = r.table(&args.table)?;
    let (target, fail_on_overflow) = r.rule_group(&args.rule_group, &args.publish)?;
    let aws = aws_access(r, &args.aws);
    let compiled =
        autorevoke::waf::compile_waf(&aws, &table, &target, args.dry_run, Vec::new()).await?;
    with_output(None, |out| report::render_compile(&compiled, out))?;
    Ok(overflow_code(&compiled, fail_on_overflow).unwrap_or(EXIT_OK))
}

/// With `--fail-on-overflow` (`fail`), a compile that left sessions out for lack of capacity
/// names them on stderr and gives [`EXIT_OVERFLOW`]; otherwise None.
fn overflow_code(compile: &autorevoke::waf::CompileReport, fail: bool) -> Option<u8> {
    let overflow = &compile.compiled.overflow;
    if !fail || overflow.is_empty() {
        return None;
    }
    let ids: Vec<&str> = overflow.iter().map(|i| i.session_id.as_str()).collect();
    eprintln!(
        "autorevoke: {} flagged session(s) did not fit the rule group's capacity ({}): {}",
        ids.len(),
        compile.capacity,
        ids.join(" ")
    );
    Some(EXIT_OVERFLOW)
}

async fn run_kvs_publish(args: KvsPublishArgs, r: &mut Resolver<'_>) -> anyhow::Result<u8> {
    let table = r.table(&args.table)?;
    let target = r
        .kvs(&args.kvs, &args.publish, true)?
        .context("a KeyValueStore to publish into")?;
    let rule = r.session(&args.session);
    let aws = aws_access(r, &args.aws);
    let published = autorevoke::kvs::publish_kvs(&aws, &table, &target, rule, args.dry_run).await?;
    with_output(None, |out| match args.format {
        report::RunFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &report::kvs_json(&published))?;
            writeln!(out)
        }
        report::RunFormat::Table => report::render_kvs(&published, out),
    })?;
    Ok(EXIT_OK)
}

async fn run_init(args: InitArgs, r: &mut Resolver<'_>) -> anyhow::Result<u8> {
    let table = r.table(&args.table)?;
    let (rule_group, capacity) = r.new_rule_group(&args.rule_group())?;
    let aws = aws_access(r, &args.aws);
    let made = autorevoke::init::init(&aws, &table, &rule_group, capacity).await?;
    with_output(None, |out| {
        report::render_init(&made, &table, &rule_group, out)
    })?;
    Ok(EXIT_OK)
}

async fn run_query(args: QueryArgs, r: &mut Resolver<'_>, ui: Verbosity) -> anyhow::Result<u8> {
    let (format, output) = output_target(
        args.format,
        args.output.as_deref(),
        report::QueryFormat::Table,
    );
    check_parquet_output(format == report::QueryFormat::Parquet, output.as_deref())?;
    let sql = match (&args.sql, &args.sql_file) {
        (Some(sql), _) => sql.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading --sql-file {}", path.display()))?,
        (None, None) => anyhow::bail!("give --sql or --sql-file"),
    };
    let plan = r.read(&args.read, &args.session)?;
    let aws = aws_access(r, &args.aws);
    let engine = cli::engine::open(plan, aws, ui.progress())?.with_bounds(args.from, args.to);
    let result = engine.run(&sql, None).await?;
    with_output(output.as_deref(), |out| {
        report::render_batches(&result.schema, &result.batches, format, out)
            .map_err(io::Error::other)
    })?;
    Ok(finish(&result.stats, ui))
}

fn run_synth(args: SynthArgs, ui: Verbosity) -> anyhow::Result<u8> {
    let truth = args
        .truth
        .clone()
        .unwrap_or_else(|| synth::default_truth_path(&args.out));
    if !ui.quiet {
        eprintln!(
            "autorevoke synth: simulating {} viewers and {} shared sessions over {} minutes (seed {})",
            args.viewers, args.shared, args.minutes, args.seed
        );
    }
    // A line per tenth of the files: a large set takes minutes.
    let mut shown = 0;
    let mut progress = |p: synth::SynthProgress| {
        if ui.quiet {
            return;
        }
        match p {
            synth::SynthProgress::Simulated { requests } => {
                eprintln!("autorevoke synth: {requests} requests simulated; writing the logs")
            }
            synth::SynthProgress::Wrote { files, of } => {
                let tenth = files * 10 / of.max(1);
                if tenth > shown {
                    shown = tenth;
                    eprintln!("autorevoke synth: wrote {files} of {of} files");
                }
            }
        }
    };
    let summary = synth::generate_with_progress(
        &SynthConfig {
            out: args.out.clone(),
            truth: truth.clone(),
            viewers: args.viewers,
            shared: args.shared,
            minutes: args.minutes,
            end: args.end,
            seed: args.seed,
            files_per_hour: args.files_per_hour,
            late_fraction: args.late_fraction,
            confounders: args.confounders(),
            session_from: args.session_from,
        },
        &mut progress,
    )?;
    if ui.quiet {
        return Ok(EXIT_OK);
    }
    eprintln!(
        "autorevoke: wrote {} files ({} rows, {} bytes uncompressed) to {} and {} sessions to {}",
        summary.files,
        summary.rows,
        summary.bytes,
        args.out.display(),
        summary.sessions,
        truth.display()
    );
    Ok(EXIT_OK)
}

/// Writes to `path` (or stdout), flushing and naming the file in errors.
fn with_output(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::new(file);
            write(&mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("writing {}", path.display()))
        }
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            match write(&mut out).and_then(|()| out.flush()) {
                // A closed pipe (`| head`) is not a failure.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("writing to stdout"),
            }
        }
    }
}

/// Reports lost input on stderr (`object: reason`; not with `-q`) and picks the exit code.
fn finish(stats: &StatsSnapshot, ui: Verbosity) -> u8 {
    let code = if stats.is_partial() {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    };
    if ui.quiet {
        return code;
    }
    for note in &stats.notes {
        eprintln!("autorevoke: note: {note}");
    }
    for f in &stats.failures {
        eprintln!("autorevoke: {}: {}", f.object, f.reason);
    }
    for m in &stats.malformed_samples {
        eprintln!("autorevoke: {}: line {}: {}", m.object, m.line, m.reason);
    }
    let unshown = stats
        .rows_malformed
        .saturating_sub(stats.malformed_samples.len() as u64);
    if unshown > 0 {
        eprintln!("autorevoke: … and {unshown} more malformed lines");
    }
    if stats.is_partial() {
        eprintln!(
            "autorevoke: partial input: {} object(s) failed, {} malformed line(s) skipped",
            stats.objects_failed, stats.rows_malformed
        );
    }
    code
}
