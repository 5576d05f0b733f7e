//! `switchboard-mock-upstream --port P [--latency-ms N] [--chunks N] [--chunk-delay-ms N]`
//!
//! Serves the mock provider on 127.0.0.1 until interrupted, for benchmarks (as the "direct"
//! baseline) and demos. Prints the listening address as one line on stdout. Requests are
//! counted but not kept, so memory stays flat under load.

use std::process::ExitCode;
use std::time::Duration;

use switchboard_mock_upstream::{MockOptions, MockUpstream};

const USAGE: &str = "usage: switchboard-mock-upstream [--port P] [--latency-ms N] [--chunks N] [--chunk-delay-ms N]";

fn parse_args() -> Result<MockOptions, String> {
    let mut opts = MockOptions {
        record: false,
        ..MockOptions::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{flag}: `{v}` is not a whole number"))
        };
        match flag.as_str() {
            "--port" => {
                opts.port = u16::try_from(number(&value)?).map_err(|_| "--port: too big")?
            }
            "--latency-ms" => opts.latency = Duration::from_millis(number(&value)?),
            "--chunks" => {
                opts.chunks =
                    usize::try_from(number(&value)?.max(1)).map_err(|_| "--chunks: too big")?
            }
            "--chunk-delay-ms" => opts.chunk_delay = Duration::from_millis(number(&value)?),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(opts)
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mock = match MockUpstream::start_with(opts).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("switchboard-mock-upstream: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    announce(&mock);
    let _ = tokio::signal::ctrl_c().await;
    mock.shutdown().await;
    ExitCode::SUCCESS
}

#[expect(
    clippy::print_stdout,
    reason = "the listening address on stdout is how scripts find the server"
)]
fn announce(mock: &MockUpstream) {
    println!("{}", mock.addr());
}
