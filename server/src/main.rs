//! The `ehall-bot` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    server::cli::Cli::parse().run()
}
