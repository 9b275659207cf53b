//! `brickyard`, or under the names `heketi` and `heketi-cli`, their
//! personalities. The name the binary was started under picks one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use brickyard::cli;
use brickyard::config::{Config, Flags, ProcessEnv};
use brickyard::logging::LogControl;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser)]
#[command(
    name = "brickyard",
    version,
    about = "GlusterFS volume management speaking Heketi's REST API",
    after_help = EXAMPLES
)]
struct Brickyard {
    #[command(flatten)]
    global: cli::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Without --config: local development mode.
    Serve(ServeArgs),
    /// Run the CSI driver (Kubernetes), or print PVs for existing volumes
    Csi(brickyard::csi::CsiArgs),
    /// Print the mock executor's node state of a store (JSON), changing nothing
    MockState(MockStateArgs),
    #[command(flatten)]
    Client(cli::Command),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions { shell: clap_complete::Shell },
}

const EXAMPLES: &str = "Examples:
  brickyard serve                                   # local development server
  brickyard serve --config /etc/heketi/heketi.json  # as Heketi
  heketi-cli topology load --json=topology.json
  heketi-cli volume create --size=10
  heketi-cli volume list
  heketi-cli topology info";

/// heketi-cli's own command line.
#[derive(Parser)]
#[command(name = "heketi-cli", disable_version_flag = true, after_help = EXAMPLES)]
struct HeketiCli {
    #[command(flatten)]
    global: cli::Global,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<HeketiCliCommand>,
}

#[derive(Subcommand)]
enum HeketiCliCommand {
    #[command(flatten)]
    Client(cli::Command),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions { shell: clap_complete::Shell },
}

fn completions(shell: clap_complete::Shell, mut command: clap::Command, name: &str) -> ExitCode {
    clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Heketi's configuration file (heketi.json), used unchanged.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Turn JWT authentication off.
    #[arg(long)]
    disable_auth: bool,
    /// Address to listen on, ADDR:PORT.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Store directory (overrides glusterfs.db).
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(clap::Args)]
struct MockStateArgs {
    /// The store directory whose mock node state to read (the server may
    /// run; `GET /internal/mock/state` asks a running one).
    #[arg(long)]
    store: PathBuf,
}

/// The mock's node state beside a store: its snapshot with its change log
/// replayed, read only.
fn mock_state(args: &MockStateArgs) -> ExitCode {
    let path = brickyard::config::mock_state_path(&args.store);
    let nodes = match brickyard::executor::mock::read_state(&path) {
        Ok(nodes) => nodes,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serde_json::to_string_pretty(&nodes) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: cannot print the mock node state: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Heketi's own server command line.
#[derive(Parser)]
#[command(name = "heketi", disable_version_flag = true)]
struct Heketi {
    /// Configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Disable authentication.
    #[arg(long)]
    disable_auth: bool,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<HeketiCommand>,
}

#[derive(Subcommand)]
enum HeketiCommand {
    /// Offline database tools
    Db {
        #[command(subcommand)]
        command: HeketiDbCommand,
    },
}

#[derive(Subcommand)]
enum HeketiDbCommand {
    /// Export the store as JSON (the server must be stopped)
    Export(brickyard::dbtool::DbFileArgs),
    /// Import a JSON export into a store
    Import(brickyard::dbtool::ImportArgs),
}

fn serve(flags: Flags) -> ExitCode {
    let config = match Config::load(&flags, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let log = LogControl::install(config.log_level.as_deref());
    brickyard::memory::limit_malloc_arenas();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ERROR: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(brickyard::server::run(config, log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "heketi-cli" {
        let args = HeketiCli::parse_from(cli::rewrite_args(std::env::args_os().collect()));
        if args.version {
            println!("heketi-cli v10.4.0 (Brickyard {VERSION})");
            return ExitCode::SUCCESS;
        }
        return match args.command {
            Some(HeketiCliCommand::Client(command)) => cli::run(&args.global, command),
            Some(HeketiCliCommand::Completions { shell }) => completions(shell, HeketiCli::command(), "heketi-cli"),
            None => {
                eprintln!("Error: no command given (try heketi-cli --help)");
                ExitCode::from(255)
            }
        };
    }
    if name == "heketi" {
        let args = Heketi::parse();
        if args.version {
            println!("Heketi v10.4.0 (Brickyard {VERSION})");
            return ExitCode::SUCCESS;
        }
        match &args.command {
            Some(HeketiCommand::Db {
                command: HeketiDbCommand::Export(export),
            }) => return cli::heketi_db_export(export),
            Some(HeketiCommand::Db {
                command: HeketiDbCommand::Import(import),
            }) => return cli::heketi_db_import(import),
            None => {}
        }
        return serve(Flags {
            config: args.config,
            disable_auth: args.disable_auth,
            ..Flags::default()
        });
    }
    let args = Brickyard::parse_from(cli::rewrite_args(std::env::args_os().collect()));
    match args.command {
        Command::Client(command) => cli::run(&args.global, command),
        Command::Completions { shell } => completions(shell, Brickyard::command(), "brickyard"),
        Command::MockState(a) => mock_state(&a),
        Command::Csi(a) => {
            let _log = LogControl::install(None);
            brickyard::csi::run(a)
        }
        Command::Serve(a) => serve(Flags {
            config: a.config,
            disable_auth: a.disable_auth,
            listen: a.listen,
            store: a.store,
        }),
    }
}
