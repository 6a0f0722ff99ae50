//! `journey`: the local runner. See `journey --help`.

use clap::Parser;
use journey_local::cli::{exit_status, run, Cli};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    // Not locked for the whole run: `serve` logs to stderr from other threads.
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());

    match run(cli, &mut out, &mut err).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let (code, print) = exit_status(&e);
            if print {
                eprintln!("journey: {e:#}");
            }
            std::process::exit(code);
        }
    }
}
