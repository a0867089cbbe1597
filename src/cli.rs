//! Owns the command line: `run`, `check`, `demo`, `rules test` and `export`, their exit codes, and what
//! they print. Config problems are printed, every one with its key and a hint,
//! before any socket is bound.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use palisade_models::Config;
use palisade_models::config::{ConfigError, ConfigProblem};

use crate::app::PalisadeBuilder;
use crate::{demo, logging, rules, spec};

/// Exit code for an unusable configuration.
const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure to start or run.
const EXIT_FAILURE: u8 = 1;

/// Palisade: a behavioral-analytics security sidecar for HTTP APIs.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sidecar in front of the upstream named in the config.
    Run {
        /// The config file (see palisade.example.toml).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a config and print every problem; binds nothing.
    Check {
        /// The config file to check.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Events or findings between two times as one Parquet file (polars, pandas,
    /// DuckDB), from the running sidecar (its admin API), else from the event
    /// segments and the store on disk.
    Export {
        /// The sidecar's config file.
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// From: a duration ago (1h, 30m, 2d), an RFC 3339 time or ms since the epoch.
        #[arg(long, default_value = "1h")]
        since: String,
        /// Until (not included), in the same forms; default now.
        #[arg(long)]
        until: Option<String>,
        /// Export findings instead of events.
        #[arg(long)]
        findings: bool,
        /// Only findings of this kind (repeatable; implies --findings).
        #[arg(long, value_name = "KIND")]
        kind: Vec<String>,
        /// The Parquet file to write.
        #[arg(long, short, value_name = "FILE.parquet")]
        out: PathBuf,
        /// Read the segments and the store directly, even if a sidecar answers.
        #[arg(long)]
        offline: bool,
    },
    /// Attack-signature rules: replay corpora through the engine.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// OpenAPI: compare the stored endpoint inventory with a spec.
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Run Palisade in front of a built-in sample API, with an embedded config.
    Demo {
        /// Where the proxy listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where the dashboard and admin API listen.
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin_listen: String,
        /// Run the demo's traffic (attack waves every second or so) twenty times
        /// faster: for tests.
        #[arg(long, hide = true)]
        fast: bool,
        /// Keep the demo's store (findings, blocks, baselines) in this directory,
        /// so the next run with the same --data continues from it. Without it,
        /// each run starts fresh in a temporary directory removed at exit.
        #[arg(long, value_name = "DIR")]
        data: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SpecCommand {
    /// What traffic shows that the spec does not (shadow endpoints, undeclared
    /// parameters), deprecated operations still called, and operations unused.
    Diff {
        /// The OpenAPI 3.0 or 3.1 document (YAML or JSON).
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
        /// The config: the store's path and retention, `[openapi]` options.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The store file (default: the config's, else palisade-data/palisade.redb).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
        /// Operations not called within this long are unused (default: the
        /// store's retention, 30d).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        window: Option<std::time::Duration>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Per-class detection over raw attack requests (CRS regression format,
    /// JSON lines) and the false-positive rate over benign lines.
    Test {
        /// JSON lines of raw requests, as ../shared/corpus/crs-regression.jsonl.
        #[arg(long, value_name = "FILE.jsonl")]
        corpus: Option<PathBuf>,
        /// Text, one benign line each, sent as a query value and a JSON string.
        #[arg(long, value_name = "FILE.txt")]
        benign: Option<PathBuf>,
        /// Set the engine up as this config's [signatures] does (default: defaults).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config } => match load(&config) {
            Ok(config) => {
                crate::batch::cap_polars_threads(&config.batch);
                run_blocking(async move { run(config).await })
            }
            Err(code) => code,
        },
        Command::Export {
            config,
            since,
            until,
            findings,
            kind,
            out,
            offline,
        } => match load(&config) {
            Ok(cfg) => {
                let args = crate::batch::ExportArgs {
                    since,
                    until,
                    findings,
                    kinds: kind,
                    out,
                    offline,
                };
                run_blocking(async move {
                    let rows = crate::batch::export_command(&cfg, &args).await?;
                    println!("{}: {rows} rows written (Parquet)", args.out.display());
                    Ok(())
                })
            }
            Err(code) => code,
        },
        Command::Demo {
            listen,
            admin_listen,
            fast,
            data,
        } => {
            // The demo's embedded config keeps the default [batch].
            crate::batch::cap_polars_threads(&palisade_models::config::BatchConfig::default());
            run_blocking(demo::run(listen, admin_listen, fast, data))
        }
        Command::Spec {
            command:
                SpecCommand::Diff {
                    spec,
                    config,
                    store,
                    window,
                    json,
                },
        } => spec::diff(&spec::SpecDiff {
            spec,
            config,
            store,
            window,
            json,
        }),
        Command::Rules {
            command:
                RulesCommand::Test {
                    corpus,
                    benign,
                    config,
                    json,
                },
        } => rules::test(&rules::RulesTest {
            corpus,
            benign,
            config,
            json,
        }),
    }
}

/// Loads and fully checks a config, printing every problem.
fn load(path: &Path) -> Result<Config, ExitCode> {
    let config = Config::load(path).map_err(|e| {
        eprint!("{}: {e}", path.display());
        ExitCode::from(EXIT_CONFIG)
    })?;
    let problems = preflight(&config);
    if !problems.is_empty() {
        eprint!(
            "{}: {}",
            path.display(),
            ConfigError {
                problems: problems.clone()
            }
        );
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    Ok(config)
}

/// Checks that need more than the config crate: log filter syntax, TLS material.
pub fn preflight(config: &Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if let Err(e) = logging::check_level(&config.log.level) {
        problems.push(ConfigProblem {
            key: "log.level".into(),
            message: format!("`{}` is not a valid filter: {e}", config.log.level),
            hint: "use error, warn, info, debug or trace, or directives like info,palisade_proxy=debug".into(),
        });
    }
    if let Err(e) = palisade_proxy::preflight(config) {
        if let palisade_proxy::ProxyError::OpenApi { key, message, hint } = &e {
            problems.push(ConfigProblem {
                key: key.clone(),
                message: message.clone(),
                hint: (*hint).into(),
            });
            return problems;
        }
        let (key, message) = match &e {
            palisade_proxy::ProxyError::Tls { key, message }
            | palisade_proxy::ProxyError::Config { key, message } => {
                ((*key).to_string(), message.clone())
            }
            palisade_proxy::ProxyError::Jwt { key, message } => (key.clone(), message.clone()),
            other => (String::new(), other.to_string()),
        };
        problems.push(ConfigProblem {
            key,
            message,
            hint: "check the file paths and that the PEM files hold what the key names".into(),
        });
    }
    problems
}

fn check(path: &Path) -> ExitCode {
    match load(path) {
        Ok(config) => {
            let listen: Vec<&str> = config.proxy.listen.iter().map(|a| a.raw()).collect();
            println!(
                "{}: configuration OK (listen {:?}, upstream {})",
                path.display(),
                listen,
                config.upstream.url.raw()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Runs `palisade run` until SIGTERM or SIGINT.
async fn run(config: Config) -> anyhow::Result<()> {
    logging::init(&config.log);
    let palisade = PalisadeBuilder::new(config).start()?;
    for addr in palisade.plain_addrs() {
        tracing::info!(%addr, tls = false, "proxy listening");
    }
    for addr in palisade.tls_addrs() {
        tracing::info!(%addr, tls = true, "proxy listening");
    }
    let signal = shutdown_signal().await?;
    tracing::info!(
        signal,
        "shutting down: no new connections, draining in-flight requests"
    );
    let summary = palisade.shutdown().await;
    tracing::info!(
        events = summary.totals.events,
        dropped = summary.dropped,
        "stopped"
    );
    Ok(())
}

/// Waits for SIGTERM or SIGINT; returns its name.
pub async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// Runs the control plane on a small runtime; the proxy workers have their own.
fn run_blocking<F>(fut: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("palisade: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "palisade failed");
            eprintln!("palisade: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
