use std::process::ExitCode;

use clap::Parser;
use docspace_dropbox_bridge::app::Application;
use docspace_dropbox_bridge::cli::{Cli, Command, DemoArgs};
use docspace_dropbox_bridge::config::Config;
use docspace_dropbox_bridge::{commands, store, telemetry};

/// mimalloc rather than the system allocator: a webhook's delivery is allocated on a runtime
/// thread and freed on the SQLite ingest thread (and its reply the other way round), and glibc's
/// malloc takes a lock on the other thread's arena for each such free. With mimalloc the bridge
/// spends about a fifth less CPU per webhook (`cargo bench --bench ingest`). Its arena is
/// committed as it is used (`.cargo/config.toml`), which keeps an export's peak RSS under 64 MiB.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    // `demo` brings its own configuration (stand-ins, temporary database).
    if let Command::Demo(args) = command {
        return demo(args).await;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    if let Command::Serve = command {
        let _written_out_at_exit = telemetry::init_service_logging(config.log_format);
        return match Application::start(config).await {
            Ok(app) => {
                app.run_until_signal().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    telemetry::init_logging(config.log_format);
    match command {
        Command::Serve => unreachable!("handled above"),
        Command::Migrate => migrate(&config.database_url).await,
        Command::Check => commands::check::run(config).await,
        Command::SyncGroups(args) => commands::sync_groups::run(config, args).await,
        Command::Export(args) => commands::export::run(config, args).await,
        Command::Jobs(command) => commands::jobs::run(config, command).await,
        Command::SyncFiles(args) => commands::sync_files::run(config, args).await,
        Command::Demo(_) => unreachable!("handled above"),
    }
}

/// `migrate`: creates the database when missing and brings its schema up to date.
async fn migrate(database_url: &str) -> ExitCode {
    eprintln!("database: {}", commands::describe_database(database_url));
    match store::connect(database_url).await {
        Ok(_) => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "demo")]
async fn demo(args: DemoArgs) -> ExitCode {
    commands::demo::run(args).await
}

#[cfg(not(feature = "demo"))]
async fn demo(_: DemoArgs) -> ExitCode {
    eprintln!(
        "error: this build has no demo: it was built without the `demo` feature, so the DocSpace \
         and Dropbox stand-ins are not in it (production builds and the Docker image leave them \
         out). Build with default features to try it: `cargo run --release -- demo`."
    );
    ExitCode::from(2)
}
