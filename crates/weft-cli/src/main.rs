//! The `weft` binary: `weft serve` wires storage, runner and HTTP together; `weft migrate`
//! prepares the database; `weft token create` mints API tokens; every other command is a client of the REST API (see `client`).
//! This is the only place that installs a tracing subscriber and uses `anyhow`.

mod client;
mod demo;
mod output;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "weft", version, about = "Weft: a self-hostable embedded integration platform")]
struct Cli {
    #[command(flatten)]
    client: client::ClientOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Weft server (API, webhooks, runner) over embedded SQLite or PostgreSQL.
    Serve(serve::ServeArgs),
    /// Apply pending database migrations and exit (no server needed).
    Migrate(serve::MigrateArgs),
    /// Manage API tokens directly in the database (no server needed).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the master keys that encrypt stored secrets (no server needed).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new master key and re-wrap every stored secret under it, online, in batches.
    Rotate(serve::RotateArgs),
    /// How many sealed values each master key holds (a rotation is complete when the old keys
    /// hold none).
    Status(serve::KeyStatusArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new API token (and nothing else) on stdout.
    Create(serve::TokenArgs),
}

/// mimalloc instead of glibc's malloc: under load, malloc and free (and waits on glibc's arena
/// locks) took about a quarter of a node's CPU (`BENCHMARKS.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => rt.block_on(serve::serve(args)),
        Command::Migrate(args) => rt.block_on(serve::migrate(args)),
        Command::Token { command: TokenCommand::Create(args) } => rt.block_on(serve::token_create(args)),
        Command::Keys { command: KeysCommand::Rotate(args) } => rt.block_on(serve::keys_rotate(args)),
        Command::Keys { command: KeysCommand::Status(args) } => rt.block_on(serve::keys_status(args)),
        Command::Client(cmd) => return rt.block_on(client::run(&cli.client, cmd)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
