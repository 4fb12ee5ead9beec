//! `herald run`: wires the pipeline, the leader and the admin API (to be written).

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run_cli(_args: RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("herald run is not written yet")
}
