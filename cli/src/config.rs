//! `botgate config`: the configuration file's JSON Schema (`schema`), and checking a file
//! (`check`) the way every command loads it, with every problem listed by path and line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use botgate::config::{Mode, Problem};

use crate::Outcome;

/// Arguments of `botgate config`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Print the JSON Schema of the configuration file (committed as botgate.schema.json).
    Schema,
    /// Check a configuration: every problem with its path and line; exit 0 valid, 1 invalid.
    Check(CheckArgs),
}

/// Arguments of `botgate config check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The configuration (YAML).
    #[arg(long, default_value = "examples/botgate.yaml")]
    config: PathBuf,
    /// Also resolve every ${env:..}, ${ssm:..} and ${secretsmanager:..} reference (needs the
    /// environment and AWS credentials the functions have); without it their syntax is
    /// checked and the fields holding them are not checked further.
    #[arg(long)]
    resolve: bool,
    /// Print the problems as JSON lines ({"path","line","message"}).
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<Outcome> {
    match args.command {
        Command::Schema => {
            crate::input::print_stdout(&serde_json::to_string_pretty(&botgate::config::schema())?)?;
            Ok(Outcome::Ok)
        }
        Command::Check(a) => crate::input::block_on(check(a)),
    }
}

fn print(p: &Problem, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"path": p.path, "line": p.line, "message": p.to_string()})
        );
    } else {
        println!("{p}");
    }
}

async fn check(a: CheckArgs) -> Result<Outcome> {
    let text = std::fs::read_to_string(&a.config).with_context(|| format!("cannot read {}", a.config.display()))?;
    #[cfg(feature = "aws")]
    let resolver = botgate::aws::AwsResolver::new();
    #[cfg(not(feature = "aws"))]
    let resolver = botgate::config::EnvResolver;
    let mode = if a.resolve {
        Mode::Resolve(&resolver)
    } else {
        Mode::SyntaxOnly
    };
    let problems = botgate::deps::check(&text, mode).await;
    for p in &problems {
        print(p, a.json);
    }
    if problems.is_empty() {
        if !a.json {
            eprintln!(
                "{}: valid{}",
                a.config.display(),
                if a.resolve {
                    ""
                } else {
                    " (references not resolved: --resolve checks them too)"
                }
            );
        }
        Ok(Outcome::Ok)
    } else {
        eprintln!("{}: {} problem(s)", a.config.display(), problems.len());
        Ok(Outcome::Rejected)
    }
}
