//! The command line: a thin layer over the library. [`groups`] are the option groups (each
//! one struct for its flags and its config file section), [`commands`] what each subcommand
//! takes, [`resolve`] the one step from flags and file to the library's settings, [`engine`]
//! opens the logs, [`output`] picks where a report goes, [`progress`] what stderr shows.

pub mod commands;
pub mod config;
pub mod engine;
pub mod groups;
pub mod options;
pub mod output;
pub mod progress;
pub mod resolve;
pub mod values;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use autorevoke::Result;
use commands::{
    EvaluateArgs, ExplainArgs, InitArgs, KvsCommand, QueryArgs, RevocationsCommand, RevokeArgs,
    RunArgs, ScoreArgs, SynthArgs, UnrevokeArgs, WafCommand,
};
use config::Config;
use groups::AwsArgs;

/// Finds shared (compromised) video playback sessions in CloudFront access logs and revokes them.
#[derive(Debug, Parser)]
#[command(name = "autorevoke", version, about, max_term_width = 100)]
pub struct Cli {
    /// A TOML file holding any option of any command (see autorevoke.example.toml and
    /// docs/configuration.md); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print nothing on stderr but a fatal error: no progress bar, no warnings (the exit
    /// code still tells partial input).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Structured logs on stderr: -v what the run does (listing, queries, writes), -vv every
    /// object and request, -vvv other crates too. Replaces the progress bar.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How chatty stderr is.
    pub fn verbosity(&self) -> progress::Verbosity {
        progress::Verbosity {
            quiet: self.quiet,
            verbose: self.verbose,
        }
    }

    /// The config file's contents (empty without `--config`).
    pub fn load_config(&self) -> Result<Config> {
        match &self.config {
            Some(path) => Config::load(path),
            None => Ok(Config::default()),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every session of a window and report the flagged ones (a dry run: writes only to
    /// stdout or --output).
    Score(ScoreArgs),
    /// The scheduled job: score the window and write one AUTO item per flagged session to the
    /// revocation table (never replacing a MANUAL item); optionally compile the WAF rule group.
    Run(Box<RunArgs>),
    /// Revoke sessions by hand: write MANUAL items.
    Revoke(RevokeArgs),
    /// Lift revocations (a false positive): the sessions' rules go at the next compile, and
    /// `run` leaves them alone for a while (--for) even when it flags them again.
    Unrevoke(UnrevokeArgs),
    /// The revocation table's items.
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// The WAF rule group.
    #[command(subcommand)]
    Waf(WafCommand),
    /// The CloudFront KeyValueStore revocation list.
    #[command(subcommand)]
    Kvs(KvsCommand),
    /// Create the revocation table and the WAF rule group when they do not exist.
    Init(InitArgs),
    /// Explain one session's score: p50, each component with its inputs, its IPs, user agents
    /// and referers, and the rows each rule dropped. Works under the threshold too.
    Explain(ExplainArgs),
    /// Score a window and compare with a truth file (as `synth` writes): precision, recall,
    /// and the false positives grouped by cause.
    Evaluate(EvaluateArgs),
    /// Run any SQL over the logs, as the table `logs` (forensics).
    Query(QueryArgs),
    /// Write realistic CloudFront logs with planted shared sessions, and their truth file.
    Synth(SynthArgs),
    /// Score CloudFront real-time logs from a Kinesis data stream continuously: every
    /// --every, the window of the last --lookback minutes of event time is scored and written
    /// as `run` does (docs/realtime.md).
    Watch(Box<commands::WatchArgs>),
    /// Run a Ballista scheduler for `--cluster df://HOST:PORT` (it plans the queries and
    /// hands their tasks to the executors).
    #[cfg(feature = "cluster")]
    Scheduler(ClusterProcess<groups::SchedulerArgs>),
    /// Run a Ballista executor of a scheduler (it reads the logs and runs the tasks).
    #[cfg(feature = "cluster")]
    Executor(ClusterProcess<groups::ExecutorArgs>),
}

/// A cluster process's options and its AWS access (it lists or reads the logs).
#[derive(Debug, clap::Args)]
pub struct ClusterProcess<T: clap::Args> {
    #[command(flatten)]
    pub process: T,
    #[command(flatten)]
    pub aws: AwsArgs,
}
