//! The `gatehouse` binary.

use clap::Parser;

#[tokio::main]
async fn main() {
    // TLS for outbound requests: rustls on ring, before any HTTP client is built.
    gatehouse_server::outbound::install_crypto_provider();
    let cli = gatehouse_server::cli::Cli::parse();
    let code = gatehouse_server::cli::run(cli).await;
    // Every queued log line is written before the process ends.
    gatehouse_server::log_pipe::flush();
    std::process::exit(code);
}
