//! `gaiarouter operators list|create|disable|enable|delete|set-password|end-sessions`,
//! run straight against the database (`DATABASE_URL`), for when nobody can log in.

use std::sync::Arc;

use uuid::Uuid;

use super::{output, show_once, OperatorCommand};
use crate::admin::operators::{find_operator_by_username, list_operators};
use crate::admin::{Actor, AdminService};
use crate::auth::key_cache::KeyCache;
use crate::auth::password;
use crate::postgres;

fn password_from_env() -> (String, bool) {
    match std::env::var("GAIAROUTER_OPERATOR_PASSWORD") {
        Ok(password) if !password.is_empty() => (password, false),
        _ => (password::generate_password(), true),
    }
}

pub async fn run(command: OperatorCommand, database_url: &str) -> anyhow::Result<()> {
    let pool = postgres::connect(database_url, 4).await?;
    postgres::migrate(&pool).await?;
    let admin = AdminService::new(pool.clone(), Arc::new(KeyCache::default()));
    admin.repair_views().await?;
    let actor = Actor::system("cli");
    let find = |username: String| {
        let pool = pool.clone();
        async move {
            find_operator_by_username(&pool, &username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no operator named `{username}`"))
        }
    };
    let failed = |e: crate::admin::AdminError| anyhow::anyhow!(e);
    match command {
        OperatorCommand::List => {
            for operator in list_operators(&pool).await.map_err(failed)? {
                let status = if operator.disabled { "disabled" } else { "active" };
                output(&format!("{}  {:<9} {}", operator.id, status, operator.username));
            }
        }
        OperatorCommand::Create { username } => {
            let (password, generated) = password_from_env();
            let id: Uuid = admin.create_operator(&username, password.clone(), &actor).await.map_err(failed)?;
            output(&format!("operator `{username}` created with id {id}"));
            if generated {
                show_once(&format!("Password for `{username}`: {password}"));
            }
        }
        OperatorCommand::Disable { username } => {
            admin.disable_operator(find(username.clone()).await?.id, &actor).await.map_err(failed)?;
            output(&format!("operator `{username}` disabled"));
        }
        OperatorCommand::Enable { username } => {
            admin.enable_operator(find(username.clone()).await?.id, &actor).await.map_err(failed)?;
            output(&format!("operator `{username}` enabled"));
        }
        OperatorCommand::Delete { username } => {
            admin.delete_operator(find(username.clone()).await?.id, &actor).await.map_err(failed)?;
            output(&format!("operator `{username}` deleted"));
        }
        OperatorCommand::SetPassword { username } => {
            let id = find(username.clone()).await?.id;
            let (password, generated) = password_from_env();
            admin.change_operator_password(id, password.clone(), None, &actor).await.map_err(failed)?;
            output(&format!("password of `{username}` changed; its sessions have ended"));
            if generated {
                show_once(&format!("New password for `{username}`: {password}"));
            }
        }
        OperatorCommand::EndSessions { username } => {
            admin.end_operator_sessions(find(username.clone()).await?.id, &actor).await.map_err(failed)?;
            output(&format!("every session of `{username}` has ended"));
        }
    }
    Ok(())
}
