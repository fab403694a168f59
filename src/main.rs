use clap::Parser;
use gaiarouter::cli::{self, Cli, Command, DemoCommand, EventsCommand, ProjectionsCommand};
use gaiarouter::config::Config;
use gaiarouter::postgres::embedded::EmbeddedPostgres;
use gaiarouter::{app, observability, postgres};

/// jemalloc rather than glibc's malloc: allocation and freeing were a sixth of the
/// gateway's CPU under load (see scripts/bench/README.md). Its background threads
/// (a feature in Cargo.toml) give freed memory back to the system.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref());
    // Logging follows the configuration; an unreadable one is reported in text.
    let telemetry = observability::logs::init(config.as_ref().ok());
    let result = match config {
        Ok(config) => run(cli, config).await,
        Err(error) => Err(error),
    };
    let code = match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            std::process::ExitCode::FAILURE
        }
    };
    // The exporter's last batch goes out from a thread that blocks: not on the runtime's.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    code
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    // The embedded cluster (if any) lives exactly as long as this process.
    let embedded = match &config.database_url {
        Some(_) => None,
        None => {
            let data_dir = config.data_dir.clone();
            Some(tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data_dir)).await??)
        }
    };
    let database_url = match (&config.database_url, &embedded) {
        (Some(url), _) => url.expose().to_string(),
        (None, Some(pg)) => pg.url.clone(),
        (None, None) => anyhow::bail!("no database"),
    };
    let result = run_command(cli.command.unwrap_or(Command::Serve), config, &database_url).await;
    if let Some(pg) = embedded {
        pg.stop();
    }
    result
}

async fn run_command(command: Command, config: Config, database_url: &str) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let listen = config.listen;
            gaiarouter::http::dashboard::announce(config.static_dir.as_deref());
            let state = app::prepare(config, database_url).await?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            tracing::info!(address = %listener.local_addr()?, "GaiaRouter listening");
            let served = app::serve(state.clone(), listener, shutdown_signal()).await;
            state.shutdown().await;
            served
        }
        Command::Migrate => {
            let pool = postgres::connect(database_url, 2).await?;
            postgres::migrate(&pool).await?;
            cli::output("migrations applied");
            Ok(())
        }
        Command::Projections(command) => {
            let pool = postgres::connect(database_url, 4).await?;
            postgres::migrate(&pool).await?;
            let request_log =
                gaiarouter_projections::request_log::RequestLog { retention_days: config.request_log_retention_days };
            let runner = app::projection_runner_with(&pool, request_log);
            match command {
                ProjectionsCommand::Rebuild { name, all } => {
                    let names: Vec<String> = match (name, all) {
                        (Some(name), false) => vec![name],
                        (None, true) => runner.projectors().iter().map(|p| p.name().to_string()).collect(),
                        _ => anyhow::bail!("name a projection or pass --all"),
                    };
                    for name in names {
                        if runner.find(&name).is_none() {
                            anyhow::bail!("no projection named `{name}`");
                        }
                        let started = std::time::Instant::now();
                        let outcome = runner.rebuild_now_or_request(&name).await?;
                        cli::output(&format!("{outcome} in {:.2} s", started.elapsed().as_secs_f64()));
                    }
                }
                ProjectionsCommand::Status => {
                    for status in gaiarouter_projections::runner::projector_status(&pool, &runner).await? {
                        cli::output(&format!(
                            "{:<15} {:<12} position {:>10}  lag {} events / {:.1} s",
                            status.name, status.state, status.position, status.lag_events, status.lag_seconds
                        ));
                    }
                }
            }
            Ok(())
        }
        Command::Operator(command) => cli::operators::run(command, database_url).await,
        Command::Demo(DemoCommand::Seed { days, requests_per_day, seed }) => {
            let pool = postgres::connect(database_url, 8).await?;
            postgres::migrate(&pool).await?;
            let registry = match &config.models_file {
                Some(path) => gaiarouter::gateway::ModelRegistry::with_overrides_file(path)?,
                None => gaiarouter::gateway::ModelRegistry::new(),
            };
            let options = gaiarouter::demo::SeedOptions { days, requests_per_day, seed, end: chrono::Utc::now() };
            let started = std::time::Instant::now();
            let report = gaiarouter::demo::seed(&pool, &registry, &options).await?;
            cli::output(&format!(
                "demo: {} organizations, {} API keys; {} requests ({} failed upstream), {} refused in {} refusal events, ${} spent, over {days} days, recorded in {:.1} s",
                report.organizations,
                report.api_keys,
                report.requests,
                report.failed,
                report.refused_requests,
                report.refusal_events,
                report.cost.to_usd_decimal(),
                started.elapsed().as_secs_f64()
            ));
            Ok(())
        }
        Command::Events(EventsCommand::Archive { before, dir }) => {
            let before = gaiarouter::storage::archive::parse_month(&before)?;
            let dir = dir.unwrap_or_else(|| config.data_dir.join("archive"));
            let pool = postgres::connect(database_url, 4).await?;
            postgres::migrate(&pool).await?;
            let projectors = gaiarouter::storage::archive::request_projectors(&app::projection_runner(&pool));
            let report =
                gaiarouter::storage::archive::archive_before(&pool, before, &dir, &projectors, chrono::Utc::now())
                    .await?;
            for month in &report.archived {
                cli::output(&format!("{}: {} events -> {}", month.month.format("%Y-%m"), month.events, month.file));
            }
            for month in &report.already_archived {
                cli::output(&format!("{}: archived before", month.format("%Y-%m")));
            }
            cli::output(&format!("manifest: {}", report.manifest.display()));
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
