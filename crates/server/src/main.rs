//! `dialtone`: the node binary.
#![forbid(unsafe_code)]

/// Print to standard output, ignoring a closed or broken stdout: a node must keep serving
/// when nobody reads what it says (a supervisor that closed the pipe, a detached terminal).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// jemalloc, not the system allocator: glibc's per-thread arenas keep what a burst of calls
/// freed (the transactions held for Timers J, L and M) as resident memory for good, where
/// jemalloc returns it (`bench/run sip-node`: 654 MB against 262 MB resident 40 s after
/// 60,000 calls to 30,000 registered devices). Its background threads (the
/// `background_threads` feature) purge freed pages while the node is idle, too.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cli;
mod config;
mod cti;
mod demo;
mod hold_music;
mod live;
mod metrics;
mod node;
mod play;
mod prompts;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use config::Config;

#[derive(Parser)]
#[command(
    name = "dialtone",
    version,
    about = "Open-source call control and Unified CM-compatible applications"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service of a node.
    Serve {
        /// Configuration file (TOML); defaults apply without one.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Load the demo company into an empty database on first start.
        #[arg(long)]
        demo: bool,
    },
    /// Write a documented example configuration.
    Init {
        /// Where to write it ("-" for standard output).
        #[arg(long, short, default_value = "dialtone.toml")]
        output: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Import a CSV file (the Bulk Administration Tool): all rows or none.
    Import {
        /// What the file holds: users, devices, device-profiles, directory-numbers, ...
        kind: String,
        file: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Dialed Number Analyzer: how the dial plan routes a number, and why.
    Dna {
        /// The dialled number (codes after '#').
        digits: String,
        /// Calling search spaces in search order (line's, then device's); repeatable.
        #[arg(long)]
        css: Vec<String>,
        /// The calling number.
        #[arg(long, default_value = "0")]
        calling: String,
        /// The calling device's pool (resolves the Standard Local Route Group).
        #[arg(long)]
        device_pool: Option<String>,
        /// Analyse digit by digit instead of en bloc.
        #[arg(long)]
        overlap: bool,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// What a running node is doing: readiness, registrations and live calls.
    Status {
        /// The node's API, when not the one the configuration describes.
        #[arg(long)]
        url: Option<String>,
        /// The administrator's password (or DIALTONE_ADMIN_PASSWORD).
        #[arg(long, env = "DIALTONE_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// CTI from the command line.
    Cti {
        #[command(subcommand)]
        command: CtiCommand,
    },
    /// Push a CiscoIPPhone object (a file) to phones: each checks the credentials with its
    /// Authentication URL, then carries it out.
    Push {
        /// Device names, comma-separated (SEP001122334455,SEP...).
        devices: String,
        /// The object to send, e.g. a CiscoIPPhoneExecute or CiscoIPPhoneText.
        file: PathBuf,
        /// The node's API, when not the one the configuration describes.
        #[arg(long)]
        url: Option<String>,
        /// Who pushes: an application user with Standard Phone Push Rights (the administrator
        /// by default); the phones check the same credentials.
        #[arg(long)]
        user: Option<String>,
        /// Its password (or DIALTONE_PUSH_PASSWORD).
        #[arg(long, env = "DIALTONE_PUSH_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Extension Mobility: who is logged in where; log users in and out.
    Em {
        #[command(subcommand)]
        command: EmCommand,
        /// The node's API, when not the one the configuration describes.
        #[arg(long, global = true)]
        url: Option<String>,
        /// The administrator's password (or DIALTONE_ADMIN_PASSWORD).
        #[arg(
            long,
            env = "DIALTONE_ADMIN_PASSWORD",
            hide_env_values = true,
            global = true
        )]
        password: Option<String>,
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
    },
    /// Send a tone or an audio file as G.711 RTP to an address, unicast or multicast (a
    /// 239.x.y.z address), as a page would: can the phones hear a stream from this host?
    Play(play::Request),
    /// Export records as CSV in the import format.
    Export {
        kind: String,
        /// Where to write it (standard output when left out).
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EmCommand {
    /// Every login: device, user, profile, since, until.
    List,
    /// Log a user in to a device (their default device profile unless one is named).
    Login {
        device: String,
        user: String,
        #[arg(long)]
        profile: Option<String>,
    },
    /// Log out (or force out) whoever is logged in to a device.
    Logout { device: String },
}

#[derive(Subcommand)]
enum CtiCommand {
    /// Print the events of lines (and devices) as they happen, one JSON object a line.
    Watch {
        /// Directory numbers to watch.
        #[arg(required = true)]
        lines: Vec<String>,
        /// Devices to watch too; repeatable.
        #[arg(long)]
        device: Vec<String>,
        /// The node's API, when not the one the configuration describes.
        #[arg(long)]
        url: Option<String>,
        /// The application user (the administrator by default).
        #[arg(long)]
        user: Option<String>,
        /// Its password (or DIALTONE_CTI_PASSWORD).
        #[arg(long, env = "DIALTONE_CTI_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Exit code for a configuration that cannot be used.
const EXIT_BAD_CONFIG: u8 = 2;

fn load_config(path: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("dialtone: bad configuration: {e}");
        ExitCode::from(EXIT_BAD_CONFIG)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Init { output, force } => init(&output, force),
        Command::Serve { config, demo } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            run(node::serve(config, demo))
        }
        Command::Import { kind, file, config } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            run(cli::import(config, kind, file))
        }
        Command::Dna {
            digits,
            css,
            calling,
            device_pool,
            overlap,
            json,
            config,
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let question = dialtone_admin::dna::Question {
                digits,
                css,
                calling,
                device_pool,
                external_mask: None,
                mode: Some(if overlap {
                    dialtone_dialplan::Mode::Overlap
                } else {
                    dialtone_dialplan::Mode::EnBloc
                }),
            };
            run(cli::dna(config, question, json))
        }
        Command::Status {
            url,
            password,
            config,
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            run(cli::status(config, url, password))
        }
        Command::Cti {
            command:
                CtiCommand::Watch {
                    lines,
                    device,
                    url,
                    user,
                    password,
                    config,
                },
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let user = user.unwrap_or_else(|| config.admin.user_id.clone());
            run(cli::cti_watch(config, url, user, password, lines, device))
        }
        Command::Push {
            devices,
            file,
            url,
            user,
            password,
            config,
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let user = user.unwrap_or_else(|| config.admin.user_id.clone());
            let devices = devices
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect();
            run(cli::push(config, url, user, password, devices, file))
        }
        Command::Em {
            command,
            url,
            password,
            config,
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let Some(password) = password else {
                eprintln!("dialtone: --password (or DIALTONE_ADMIN_PASSWORD) is needed");
                return ExitCode::from(EXIT_BAD_CONFIG);
            };
            let request = match command {
                EmCommand::List => cli::EmRequest::List,
                EmCommand::Login {
                    device,
                    user,
                    profile,
                } => cli::EmRequest::Login {
                    device,
                    user,
                    profile,
                },
                EmCommand::Logout { device } => cli::EmRequest::Logout { device },
            };
            run(cli::em(config, url, password, request))
        }
        Command::Play(request) => run(play::play(request)),
        Command::Export {
            kind,
            output,
            config,
        } => {
            let config = match load_config(config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            run(cli::export(config, kind, output))
        }
    }
}

fn run(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dialtone: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dialtone: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init(output: &std::path::Path, force: bool) -> ExitCode {
    let text = config::example();
    if output.as_os_str() == "-" {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    if output.exists() && !force {
        eprintln!(
            "dialtone: {} exists; use --force to overwrite it",
            output.display()
        );
        return ExitCode::FAILURE;
    }
    match std::fs::write(output, text) {
        Ok(()) => {
            println!("wrote {}", output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dialtone: cannot write {}: {e}", output.display());
            ExitCode::FAILURE
        }
    }
}
