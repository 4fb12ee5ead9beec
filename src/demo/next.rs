//! The commands to try after the demo, filled in with this run's addresses and ids.

use std::net::SocketAddr;

use super::cast::{Cast, Role};

pub struct Next<'a> {
    /// The database URL, password redacted.
    pub database_url: &'a str,
    pub throwaway: bool,
    pub api_addr: SocketAddr,
    pub admin_token: &'a str,
    pub cast: &'a Cast,
    pub keep_running: bool,
}

impl std::fmt::Display for Next<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let db = self.database_url;
        let api = self.api_addr;
        let token = self.admin_token;
        let dead = self.cast.webhooks.iter().find(|w| w.role == Role::Dead);
        if !self.keep_running {
            if self.throwaway {
                writeln!(
                    f,
                    "The throwaway database is gone now. To look around while everything is \
                     still up:\n  herald demo --keep-running\n"
                )?;
            }
            writeln!(f, "Next:")?;
        } else {
            writeln!(f, "Everything is still running:")?;
            writeln!(f, "  database      {db}")?;
            writeln!(f, "  admin API     http://{api}")?;
            writeln!(f, "  admin token   {token}")?;
            writeln!(f, "\nTry:")?;
        }
        writeln!(f, "  # every delivery and every attempt is a row:")?;
        writeln!(
            f,
            "  psql '{db}' -c \"select w.description, d.status, d.attempt_count, \
             d.last_status_code, d.last_error from herald.webhook_deliveries d join \
             herald.user_webhooks w on w.id = d.webhook_id order by d.created_at\""
        )?;
        writeln!(
            f,
            "  psql '{db}' -c \"select delivery_id, attempt, status_code, error, duration_ms \
             from herald.delivery_attempts order by started_at\""
        )?;
        if let Some(dead) = dead {
            writeln!(
                f,
                "  # the admin API: the dead webhook, tripped by its breaker:"
            )?;
            writeln!(
                f,
                "  curl -s -H 'Authorization: Bearer {token}' \
                 http://{api}/v1/users/{}/webhooks/{}/deliveries",
                dead.user_id, dead.id
            )?;
        }
        writeln!(
            f,
            "  curl -s -H 'Authorization: Bearer {token}' http://{api}/metrics"
        )?;
        writeln!(f, "  # run the worker against your own database:")?;
        writeln!(
            f,
            "  DATABASE_URL=postgres://... HERALD_ADMIN_TOKEN=$(openssl rand -hex 24) \
             herald run --migrate"
        )?;
        writeln!(f, "  # the numbers Herald holds itself to (BENCHMARKS.md):")?;
        write!(f, "  herald bench")?;
        if self.keep_running {
            write!(f, "\n\nPress Ctrl-C to stop.")?;
        }
        Ok(())
    }
}
