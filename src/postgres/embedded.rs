//! An embedded, private PostgreSQL cluster for `DATABASE_URL`-less runs: created
//! under the data directory with the system's PostgreSQL binaries, reachable only
//! through a Unix socket, and stopped on shutdown. initdb and postgres refuse to
//! run as root, so as root they run as the `postgres` (or `nobody`) user.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use sha2::{Digest, Sha256};

const DATABASE: &str = "gaiarouter";
const SUPERUSER: &str = "gaiarouter";
const PORT: u16 = 5432;

pub struct EmbeddedPostgres {
    cluster_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    /// Whether this process started the cluster. Only then may it stop it: a CLI
    /// command run beside a serving gateway reuses the gateway's cluster, and
    /// stopping it on exit took the gateway's database away.
    started_here: bool,
    pub url: String,
}

impl EmbeddedPostgres {
    /// Initializes the cluster on first use, starts it (or reuses a running one)
    /// and makes sure the database exists.
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let bin_dir = find_bin_dir()?;
        let run_as = if running_as_root() { Some(unprivileged_user()?) } else { None };
        let mut cluster_dir = data_dir.join("postgres");
        if let Some(user) = run_as {
            if !prepare_dir_for(&cluster_dir, user)? {
                // The data directory sits where that user cannot go (e.g. under /root).
                cluster_dir = PathBuf::from("/var/lib/gaiarouter").join(short_hash(&data_dir));
                if !prepare_dir_for(&cluster_dir, user)? {
                    bail!("no directory usable by the PostgreSQL user; set DATABASE_URL");
                }
                tracing::info!(dir = %cluster_dir.display(), "embedded PostgreSQL data lives outside the data directory");
            }
        } else {
            std::fs::create_dir_all(&cluster_dir)?;
        }
        // Unix socket paths are limited to ~107 bytes.
        let socket_dir = if cluster_dir.as_os_str().len() < 80 {
            cluster_dir.join("socket")
        } else {
            std::env::temp_dir().join(format!("gaiarouter-pg-{}", short_hash(&cluster_dir)))
        };
        let mut pg = EmbeddedPostgres {
            url: format!("postgres://{SUPERUSER}@localhost/{DATABASE}?host={}&port={PORT}", socket_dir.display()),
            cluster_dir,
            bin_dir,
            run_as,
            started_here: false,
        };
        let pgdata = pg.cluster_dir.join("data");
        if !pgdata.join("PG_VERSION").exists() {
            tracing::info!(dir = %pgdata.display(), "initializing embedded PostgreSQL cluster");
            pg.run("initdb", |c| {
                c.arg("-D").arg(&pgdata).args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-instructions"]);
            })?;
        }
        if pg.is_running()? {
            tracing::info!("embedded PostgreSQL already running; reusing it");
        } else {
            if let Some(user) = run_as {
                prepare_dir_for(&socket_dir, user)?;
            } else {
                std::fs::create_dir_all(&socket_dir)?;
            }
            let options = format!("-c listen_addresses='' -k {} -p {PORT}", socket_dir.display());
            let log = pg.cluster_dir.join("postgres.log");
            pg.run("pg_ctl", |c| {
                c.arg("-D").arg(&pgdata).arg("-l").arg(&log).args(["-w", "-t", "60", "-o", &options, "start"]);
            })?;
            pg.started_here = true;
        }
        pg.run("psql", |c| {
            c.args(["-h"])
                .arg(&socket_dir)
                .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-d", "postgres", "-qtAc"])
                .arg(format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"));
        })
        .and_then(|out| {
            if out.trim() == "1" {
                Ok(String::new())
            } else {
                pg.run("createdb", |c| {
                    c.args(["-h"]).arg(&socket_dir).args(["-p", &PORT.to_string(), "-U", SUPERUSER, DATABASE]);
                })
            }
        })?;
        Ok(pg)
    }

    fn is_running(&self) -> anyhow::Result<bool> {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(self.cluster_dir.join("data")).arg("status");
        Ok(command.output().map(|o| o.status.success()).unwrap_or(false))
    }

    /// Stops the cluster if this process started it; a cluster it reused is left
    /// running for the process that owns it.
    pub fn stop(&self) {
        if !self.started_here {
            tracing::info!("leaving the embedded PostgreSQL running: another process started it");
            return;
        }
        let result = self.run("pg_ctl", |c| {
            c.arg("-D").arg(self.cluster_dir.join("data")).args(["-m", "fast", "-w", "stop"]);
        });
        match result {
            Ok(_) => tracing::info!("embedded PostgreSQL stopped"),
            Err(error) => tracing::warn!(%error, "stopping embedded PostgreSQL failed"),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid).current_dir("/");
        }
        command
    }

    fn run(&self, program: &str, configure: impl FnOnce(&mut Command)) -> anyhow::Result<String> {
        let mut command = self.command(program);
        configure(&mut command);
        let output = command.output().with_context(|| format!("running {program}"))?;
        if !output.status.success() {
            bail!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn short_hash(path: &Path) -> String {
    hex::encode(&Sha256::digest(path.as_os_str().as_encoded_bytes())[..8])
}

/// `GAIAROUTER_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else `initdb` on PATH.
fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("GAIAROUTER_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|dir| dir.join("initdb").exists()))
        .ok_or_else(|| {
            anyhow!("PostgreSQL binaries (initdb, pg_ctl) not found: install PostgreSQL or set DATABASE_URL")
        })
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// (uid, gid) of `postgres`, else `nobody`.
fn unprivileged_user() -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for wanted in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == wanted {
                if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                    return Ok((uid, gid));
                }
            }
        }
    }
    bail!("no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

/// Creates `dir` owned by `user`; false when that user cannot reach it.
fn prepare_dir_for(dir: &Path, (uid, gid): (u32, u32)) -> anyhow::Result<bool> {
    std::fs::create_dir_all(dir)?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    let reachable =
        Command::new("test").arg("-w").arg(dir).uid(uid).gid(gid).status().map(|s| s.success()).unwrap_or(false);
    Ok(reachable)
}
